"""The screen the kiosk shows when the journal fails its start-up check (services/startup_check.py):
the till does not open, so no sale goes on top of a record that cannot be proven. It says what
failed and what the manager can do, in Danish."""

from __future__ import annotations

from typing import Any

from .i18n import _
from .notice import NoticeScreen

NAME = "journalstop"


def show_stop(manager: Any, problem: str, first_bad: int | None = None) -> NoticeScreen:
    screen = NoticeScreen(name=NAME)
    screen.title = _("Salget er stoppet: journalen kan ikke bekræftes")
    screen.body = _("Kassens elektroniske journal er ændret eller beskadiget, så den ikke længere kan "
                    "bevises over for Skattestyrelsen. Der kan ikke sælges, før det er undersøgt. "
                    "Ring til din leverandør, og rør ikke kassens data. En leder kan se fejlen med "
                    "'till journal verify'.")
    screen.detail = (_("Fejl i journalpost {nr}: {problem}").format(nr=first_bad, problem=problem)
                     if first_bad is not None else _("Fejl: {problem}").format(problem=problem))
    manager.add_widget(screen)
    manager.current = NAME
    return screen
