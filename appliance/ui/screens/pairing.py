"""Dinero (placeholder)."""

from __future__ import annotations

from kivy.uix.screenmanager import Screen


class PairingScreen(Screen):
    pass


SCREEN = PairingScreen
