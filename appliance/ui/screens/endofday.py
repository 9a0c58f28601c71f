"""Dagsafslutning (placeholder)."""

from __future__ import annotations

from kivy.uix.screenmanager import Screen


class EndOfDayScreen(Screen):
    pass


SCREEN = EndOfDayScreen
