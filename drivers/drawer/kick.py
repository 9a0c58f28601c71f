"""The drawer on the receipt printer's DK port: the printer fires the solenoid when told to with ESC p.

No wiring to the Pi and it works on any host, so it is the recommended drawer. The open sensor, where
the drawer has one, is read back through the printer's real-time status (DLE EOT 1), which the printer
driver owns; we only take a callable."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .base import (
    DEFAULT_MIN_INTERVAL_MS,
    DEFAULT_PULSE_MS,
    Clock,
    DrawerError,
    DrawerEvent,
    PulseGate,
    Watcher,
    check_pulse_ms,
    utc_now,
)

log = logging.getLogger(__name__)

_PIN_TO_M = {2: 0, 5: 1}  # DK connector pin 2 = drawer 1, pin 5 = drawer 2


def kick_bytes(pin: int, pulse_ms: int) -> bytes:
    """ESC p m t1 t2: on time t1 and off time t2 in 2 ms units (rounded down, never longer than asked)."""
    if pin not in _PIN_TO_M:
        raise ValueError(f"drawer kick pin must be 2 or 5 (the DK connector's drive pins), got {pin!r}")
    units = check_pulse_ms(pulse_ms) // 2
    return bytes((0x1B, 0x70, _PIN_TO_M[pin], units, units))


class KickDrawer:
    def __init__(self, send: Callable[[bytes], None], pin: int = 2, pulse_ms: int = DEFAULT_PULSE_MS,
                 status: Callable[[], bool | None] | None = None,
                 min_interval_ms: int = DEFAULT_MIN_INTERVAL_MS, poll_s: float = 0.25,
                 sleep: Callable[[float], None] = time.sleep, monotonic: Callable[[], float] = time.monotonic,
                 now: Clock = utc_now) -> None:
        self._command = kick_bytes(pin, pulse_ms)
        self._pin = pin
        self._pulse_ms = pulse_ms
        self._send = send
        self._status = status
        self._gate = PulseGate(min_interval_ms, sleep, monotonic)
        self._poll_s = poll_s
        self._now = now
        self.has_sensor = status is not None
        self._watcher: Watcher | None = None
        self._lock = threading.Lock()
        self._status_failing = False

    def pulse(self) -> None:
        # The printer fires the pulse after it has the bytes, so the coil is busy for pulse_ms after send.
        with self._gate.turn(busy_s=self._pulse_ms / 1000) as waited:
            log.info("drawer_pulse driver=kick pin=%d pulse_ms=%d waited_ms=%d", self._pin, self._pulse_ms,
                     round(waited * 1000))
            try:
                self._send(self._command)
            except Exception as exc:
                raise DrawerError(f"drawer kick could not be sent to the printer: {exc}") from exc

    def is_open(self) -> bool | None:
        if self._status is None:
            return None
        try:
            return self._status()
        except Exception as exc:
            raise DrawerError(f"drawer status unreadable from the printer: {exc}") from exc

    def watch(self, on_event: Callable[[DrawerEvent], None]) -> None:
        if self._status is None:
            return
        with self._lock:
            if self._watcher is not None:
                raise DrawerError("drawer is already being watched")
            self._watcher = Watcher("drawer-kick", self._poll, on_event, self._now, self._read_quietly())
            self._watcher.start()

    def _poll(self, stop: threading.Event) -> list[bool | None]:
        if stop.wait(self._poll_s):
            return []
        return [self._read_quietly()]

    def _read_quietly(self) -> bool | None:
        """A status that fails while polling is logged once per outage, not four times a second."""
        try:
            level = self.is_open()
        except DrawerError as exc:
            if not self._status_failing:
                log.warning("drawer_status_failed driver=kick error=%r", exc.__cause__ or exc)
            self._status_failing = True
            return None
        if self._status_failing:
            log.info("drawer_status_recovered driver=kick")
            self._status_failing = False
        return level

    def close(self) -> None:
        with self._lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop(self._poll_s + 1.0)
