"""The base of a settings page, shared by settings.py and the sections kept in modules of their own
(settings_saft.py), so that neither imports the other."""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.uix.boxlayout import BoxLayout

from ..i18n import _


def _app() -> Any:
    return App.get_running_app()


def _danish(exc: BaseException) -> str:
    """Errors from our own Danish services pass through; anything else gets a plain sentence."""
    from ...services.products import ProductError
    if isinstance(exc, ProductError):
        return str(exc)
    return _("Det lykkedes ikke: {error}").format(error=exc)


class Section(BoxLayout):
    """One settings page; `load()` fills it from the till."""

    @property
    def screen(self) -> Any:
        return _app().screen("settings")

    def load(self) -> None:
        pass

    def call(self, fn: Any, *args: Any, done: Any = None) -> None:
        _app().backend.call(fn, *args, done=done, failed=self.failed)

    def failed(self, exc: BaseException) -> None:
        _app().notify(_danish(exc), error=True)
