"""Indstillinger (placeholder)."""

from __future__ import annotations

from kivy.uix.screenmanager import Screen


class SettingsScreen(Screen):
    pass


SCREEN = SettingsScreen
