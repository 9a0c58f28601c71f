"""A whole-screen notice that keeps the till shut: a title in red, what it means, and a detail line.
The clock gate (clockwait.py) and the journal stop (journalstop.py) each fill one."""

from __future__ import annotations

from kivy.lang import Builder
from kivy.properties import StringProperty
from kivy.uix.screenmanager import Screen

Builder.load_string("""
#:import FONT appliance.ui.widgets.FONT
#:import FONT_BIG appliance.ui.widgets.FONT_BIG

<NoticeScreen>:
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


class NoticeScreen(Screen):
    title = StringProperty("")
    body = StringProperty("")
    detail = StringProperty("")
