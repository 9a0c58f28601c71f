"""The screen the kiosk shows when the journal fails its start-up check (services/startup_check.py):
the till does not open, so no sale goes on top of a record that cannot be proven. It says what
failed and what the manager can do, in Danish."""

from __future__ import annotations

from typing import Any

from kivy.lang import Builder
from kivy.properties import StringProperty
from kivy.uix.screenmanager import Screen

from .i18n import _

NAME = "journalstop"

Builder.load_string("""
#:import FONT appliance.ui.widgets.FONT
#:import FONT_BIG appliance.ui.widgets.FONT_BIG

<JournalStopScreen>:
    BoxLayout:
        orientation: "vertical"
        padding: 40
        spacing: 24
        Label:
            text: root.title
            color: 0.75, 0.15, 0.15, 1
            font_size: FONT_BIG
            bold: True
            text_size: self.width, None
            halign: "center"
        Label:
            text: root.body
            color: 0.1, 0.1, 0.1, 1
            font_size: FONT
            text_size: self.width, None
            halign: "center"
        Label:
            text: root.detail
            color: 0.35, 0.35, 0.35, 1
            font_size: FONT
            text_size: self.width, None
            halign: "center"
""")


class JournalStopScreen(Screen):
    title = StringProperty("")
    body = StringProperty("")
    detail = StringProperty("")


def show_stop(manager: Any, problem: str, first_bad: int | None = None) -> JournalStopScreen:
    screen = JournalStopScreen(name=NAME)
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
