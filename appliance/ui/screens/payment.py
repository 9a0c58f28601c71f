"""Betaling (placeholder)."""

from __future__ import annotations

from kivy.uix.screenmanager import Screen


class PaymentScreen(Screen):
    pass


SCREEN = PaymentScreen
