"""Cashier login: pick your name, type your PIN. A wrong PIN is journalled by the core and says so."""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.properties import ListProperty, StringProperty
from kivy.uix.screenmanager import Screen

from ..i18n import _


class LoginScreen(Screen):
    cashiers = ListProperty([])   # [(id, name)]
    chosen = StringProperty("")
    chosen_name = StringProperty("")

    def on_pre_enter(self, *_args: Any) -> None:
        from ...store.settings import cashiers
        app = App.get_running_app()
        self.ids.pad.text = ""
        app.backend.call(lambda t: [(c.id, c.name) for c in cashiers(t.conn)], done=self._show)

    def _show(self, people: list[tuple[str, str]]) -> None:
        from ..widgets import TouchButton
        self.cashiers = people
        box = self.ids.people
        box.clear_widgets()
        for cid, name in people:
            b = TouchButton(text=name, key=f"cashier-{cid}")
            b.bind(on_release=lambda _b, cid=cid, name=name: self.choose(cid, name))
            box.add_widget(b)
        if len(people) == 1:
            self.choose(*people[0])

    def choose(self, cashier_id: str, name: str) -> None:
        self.chosen, self.chosen_name = cashier_id, name
        self.ids.pad.text = ""

    def login(self) -> None:
        app = App.get_running_app()
        if not self.chosen:
            app.notify(_("Vælg dit navn først."), error=True)
            return
        pin = self.ids.pad.text
        app.backend.call(lambda t: t.cashier(self.chosen, pin), done=self._in, failed=self._refused)

    def _in(self, cashier: Any) -> None:
        app = App.get_running_app()
        session = app.session
        if session.cashier is None or session.cashier.id != cashier.id:
            session.new_basket()
        session.cashier = cashier
        self.ids.pad.text = ""
        app.clear_message()
        app.show("sale")
        app.save_session()

    def _refused(self, exc: BaseException) -> None:
        app = App.get_running_app()
        self.ids.pad.text = ""
        app.notify(_("Forkert PIN. Prøv igen."), error=True)


SCREEN = LoginScreen
