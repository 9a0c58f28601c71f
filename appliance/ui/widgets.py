"""Shared widgets: big touch buttons (at least 9 mm on any of the supported displays), the numeric
pad, and the message line. Their looks live in tillbox.kv."""

from __future__ import annotations

from kivy.metrics import mm, sp
from kivy.properties import NumericProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.gridlayout import GridLayout

TOUCH = mm(9)      # the smallest touch target (the floor)
ROW = mm(11)       # the usual button height
FONT = sp(18)
FONT_BIG = sp(30)


class TouchButton(Button):
    """A button with a stable `key` tests and the tour can find it by, whatever its language."""
    key = StringProperty("")


class NumPad(GridLayout):
    """Digits, comma, back and clear; writes into `text` as a kroner amount or a PIN."""
    text = StringProperty("")
    max_length = NumericProperty(9)
    allow_comma = ObjectProperty(True)
    secret = ObjectProperty(False)

    def press(self, key: str) -> None:
        if key == "C":
            self.text = ""
        elif key == "<":
            self.text = self.text[:-1]
        elif key == ",":
            if self.allow_comma and "," not in self.text and len(self.text) < self.max_length:
                self.text = (self.text or "0") + ","
        elif len(self.text) < self.max_length:
            if "," in self.text and len(self.text.split(",")[1]) >= 2:
                return
            self.text += key


class MessageLine(BoxLayout):
    text = StringProperty("")
    level = StringProperty("info")  # info | error


def find_key(root: object, key: str) -> TouchButton | None:
    """The first TouchButton with this key under `root` (visible or not)."""
    stack = [root]
    while stack:
        w = stack.pop()
        if isinstance(w, TouchButton) and w.key == key:
            return w
        stack.extend(getattr(w, "children", []))
    return None
