"""Kasse (placeholder)."""

from __future__ import annotations

from kivy.uix.screenmanager import Screen


class CashScreen(Screen):
    pass


SCREEN = CashScreen
