"""Retur (placeholder)."""

from __future__ import annotations

from kivy.uix.screenmanager import Screen


class ReturnsScreen(Screen):
    def start(self, receipt_number: int) -> None:
        self.receipt_number = receipt_number


SCREEN = ReturnsScreen
