"""Walking a screen's touch targets, for the layout tests that run the kiosk in a child process at
each display size: one walk, each test applying its own rule to what it finds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def buttons(root: Any) -> Iterator[tuple[Any, bool, bool]]:
    """(button, held by a scrolling list, under a hidden parent) for every TouchButton under `root`
    that is drawn and enabled."""
    from kivy.uix.scrollview import ScrollView  # a RecycleView is one too

    from appliance.ui.widgets import TouchButton
    stack = [root]
    while stack:
        w = stack.pop()
        stack.extend(w.children)
        if not isinstance(w, TouchButton) or w.opacity == 0 or w.disabled or w.height <= 1:
            continue
        scrolls, hidden, p = False, False, w.parent
        while p is not None and p is not p.parent:
            scrolls = scrolls or isinstance(p, ScrollView)
            hidden = hidden or p.opacity == 0
            p = p.parent
        yield w, scrolls, hidden


def in_window(w: Any, window: Any) -> bool:
    """The whole button inside the window (a pixel of slack for rounding)."""
    x, y = w.to_window(w.x, w.y)
    return -1 <= x and x + w.width <= window.width + 1 and -1 <= y and y + w.height <= window.height + 1
