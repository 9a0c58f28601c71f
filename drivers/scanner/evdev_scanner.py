"""A USB keyboard-wedge scanner read straight from its evdev node, grabbed so keys never reach the UI.

Shops unplug scanners (to reach the back of the counter, to swap a broken one): the reader treats the
device vanishing as normal, drops the half code it was typing, and waits for the stable by-id link to
come back, then opens and grabs it again. The device is behind `opener`, so tests drive the whole loop
with a fake device."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

import evdev

from drivers.scanner.base import ThreadedScanner, close_quietly
from drivers.scanner.wedge import WedgeDecoder

log = logging.getLogger(__name__)

BY_ID_DIR = "/dev/input/by-id"
_PERMISSION_FIX = ("add the service user to the 'input' group (usermod -aG input USER, then restart "
                   "the service) or give it the device with a udev rule")


class InputEventLike(Protocol):
    type: int
    code: int
    value: int

    def timestamp(self) -> float: ...


class InputDeviceLike(Protocol):
    """The part of evdev.InputDevice the reader uses."""

    def fileno(self) -> int: ...

    def grab(self) -> None: ...

    def read(self) -> Iterable[InputEventLike]: ...

    def close(self) -> None: ...


def find_scanners(by_id_dir: str = BY_ID_DIR) -> list[str]:
    """Stable paths of keyboard-like devices; a scanner is one of them (its name says whose)."""
    folder = Path(by_id_dir)
    if not folder.is_dir():
        return []
    return sorted(str(p) for p in folder.glob("*-event-kbd"))


class EvdevScanner(ThreadedScanner):
    def __init__(self, path: str, layout: str = "us",
                 opener: Callable[[str], InputDeviceLike] = evdev.InputDevice,
                 exists: Callable[[str], bool] = os.path.exists, retry_s: float = 0.5, *,
                 decoder: WedgeDecoder | None = None, clock: Callable[[], float] = time.monotonic):
        super().__init__(f"evdev:{path}", retry_s=retry_s, clock=clock)
        self.path = path
        self.decoder = decoder or WedgeDecoder(layout=layout)
        self._opener = opener
        self._exists = exists

    def _run(self) -> None:
        while not self._stopping.is_set():
            if not self._wait_for_path():
                return
            device = self._open()
            if device is None:
                self._stopping.wait(self._retry_s)
                continue
            try:
                self.connected = True
                self._problem = None
                log.info("scanner_connected scanner=%s", self.name)
                self._read(device)
            except OSError as exc:  # ENODEV when unplugged; any other read error is handled the same
                log.warning("scanner_disconnected scanner=%s errno=%s error=%s",
                            self.name, exc.errno, exc.strerror or exc)
                self.decoder.reset("disconnect")
            finally:
                self.connected = False
                close_quietly(device)
        self.decoder.reset("stop")

    def _wait_for_path(self) -> bool:
        """Wait (stop-aware) until the device link exists; False if stop() came first."""
        while not self._exists(self.path):
            self._note_problem("missing", "scanner_waiting scanner=%s reason=missing", self.name)
            if self._stopping.wait(self._retry_s):
                return False
        return not self._stopping.is_set()

    def _open(self) -> InputDeviceLike | None:
        try:
            device = self._opener(self.path)
        except OSError as exc:
            self._note_open_failure(exc, _PERMISSION_FIX)
            return None
        try:
            device.grab()
        except OSError as exc:
            # EBUSY: another program holds the grab; reading anyway would type codes into the UI.
            self._note_problem(f"grab:{exc.errno}", "scanner_grab_failed scanner=%s errno=%s error=%s",
                               self.name, exc.errno, exc.strerror or exc)
            close_quietly(device)
            return None
        return device

    def _read(self, device: InputDeviceLike) -> None:
        while not self._stopping.is_set():
            if not self._wait_readable([device]) or self._stopping.is_set():
                continue
            try:
                events = list(device.read())
            except BlockingIOError:
                continue
            for event in events:
                code = self.decoder.feed(event.type, event.code, event.value, event.timestamp())
                if code is not None:
                    self._deliver(code)

