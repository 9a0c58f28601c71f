"""Rapporter (placeholder)."""

from __future__ import annotations

from kivy.uix.screenmanager import Screen


class ReportsScreen(Screen):
    pass


SCREEN = ReportsScreen
