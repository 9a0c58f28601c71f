"""Driving the kiosk without a person: real touches (a MotionEvent through the event loop),
scans through the devices' event queue, frames stepped by hand, screenshots. The tour and the UI
tests use it; nothing here is used by the till itself.

Call `prepare()` before anything imports Kivy: it chooses the offscreen SDL driver and the size."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def prepare(offscreen: bool = True, size: tuple[int, int] = (1280, 800)) -> None:
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    os.environ.setdefault("KIVY_CLIPBOARD", "dummy")  # no X clipboard tools on a till
    if offscreen:
        os.environ["SDL_VIDEODRIVER"] = "offscreen"
    from kivy.config import Config
    Config.set("graphics", "width", str(size[0]))
    Config.set("graphics", "height", str(size[1]))
    Config.set("kivy", "log_level", "warning")
    Config.set("input", "mouse", "mouse,disable_multitouch")


class Driver:
    def __init__(self, app: Any):
        import sys

        from kivy.base import runTouchApp
        sys.stderr = sys.__stderr__  # Kivy routes stderr into its logger; tracebacks must show
        self.app = app
        app._run_prepare()
        runTouchApp(embedded=True)
        self.step(3)

    def step(self, frames: int = 1) -> None:
        from kivy.base import EventLoop
        for _ in range(frames):
            EventLoop.idle()

    def until(self, condition: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
        """Step frames until condition() is true (the backend answers through the Clock)."""
        deadline = time.monotonic() + timeout
        while True:
            self.step()
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:g} s for {what or condition}")
            time.sleep(0.005)

    def settle(self) -> None:
        """Let every backend call in flight finish and its result reach the screen."""
        from concurrent.futures import Future
        done: Future = Future()
        self.app.backend.call(lambda _t: None, done=lambda _r: done.set_result(True))
        self.until(done.done, what="the backend to settle")
        self.step(2)

    def key(self, key: str) -> Any:
        from .widgets import find_key
        widget = find_key(self.app.manager.current_screen, key) or find_key(self.app.root, key)
        if widget is None:
            raise LookupError(f"no button {key!r} on the {self.app.manager.current} screen")
        return widget

    def tap(self, key_or_widget: Any, settle: bool = True) -> None:
        """A finger on the centre of the widget: down, up, through the whole event loop; then (unless
        `settle` is False, to see a dialog while a device works) every backend call finished."""
        self.step(2)  # new widgets get their place in the layout pass of the next frame
        widget = self.key(key_or_widget) if isinstance(key_or_widget, str) else key_or_widget
        if widget.disabled:
            raise AssertionError(f"{getattr(widget, 'key', widget)} is disabled")
        self._into_view(widget)
        x, y = widget.to_window(*widget.center)
        touch = _touch(x, y)
        from kivy.base import EventLoop
        EventLoop.post_dispatch_input("begin", touch)
        self.step()
        EventLoop.post_dispatch_input("end", touch)
        self.step()
        if settle:
            self.settle()

    def _into_view(self, widget: Any) -> None:
        """A button in a scrolled list is scrolled into view first, as a finger would."""
        from kivy.uix.scrollview import ScrollView
        parent = widget.parent
        while parent is not None and parent is not parent.parent:
            if isinstance(parent, ScrollView):
                x, y = widget.to_window(*widget.center)
                if not parent.collide_point(*parent.to_parent(*parent.to_widget(x, y))):
                    parent.scroll_to(widget, padding=4, animate=False)
                    self.step(2)
                return
            parent = parent.parent

    def type_pin(self, digits: str) -> None:
        for d in digits:
            self.tap(f"pad-{d}")

    def scan(self, code: str) -> None:
        from drivers.scanner.base import Scan
        devices = self.app.backend.devices
        devices.post("scan", Scan(code, "test", time.monotonic()))
        self.until(devices.events.empty, what="the scan to be taken")
        self.step(2)
        self.settle()

    def login(self, cashier: str, pin: str) -> None:
        self.app.show("login")
        self.settle()
        self.tap(f"cashier-{cashier}")
        self.type_pin(pin)
        self.tap("login")

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.step(2)
        self.app.root.export_to_png(str(path))
        return path

    def close(self) -> None:
        self.app.stop()



_touch_class: Any = None


def _touch(x: float, y: float) -> Any:
    """One finger at window position (x, y), made as Kivy's UnitTestTouch makes it, without
    importing kivy.tests.common: that pulls pytest (~20 MB) into the driven kiosk's memory."""
    global _touch_class
    from kivy.base import EventLoop
    if _touch_class is None:
        from kivy.input.motionevent import MotionEvent

        class Touch(MotionEvent):
            def depack(self, args: dict) -> None:
                self.sx, self.sy = args["x"], args["y"]
                super().depack(args)
        _touch_class = Touch
    win = EventLoop.window
    touch = _touch_class("UnitTestTouch", 99, {"x": x / (win.width - 1.0), "y": y / (win.height - 1.0)},
                         is_touch=True, type_id="touch")
    touch.profile = ["pos"]
    return touch
