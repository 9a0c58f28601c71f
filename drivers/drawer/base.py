"""What every cash drawer offers the till, and the safety rules all of them share.

The drawer's solenoid is rated for short pulses only (the DK-port electrics forbid more than 510 ms), so
the pulse length is checked once, where the configuration enters, and every driver serialises its pulses
through a `PulseGate` that keeps a rest time between them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

log = logging.getLogger(__name__)

MIN_PULSE_MS = 50  # shorter and many solenoids do not pull the latch
MAX_PULSE_MS = 500  # a margin under the 510 ms the drawer electrics allow
DEFAULT_PULSE_MS = 200
DEFAULT_MIN_INTERVAL_MS = 1000

Clock = Callable[[], datetime]


class DrawerError(Exception):
    """The drawer could not be driven or read (hardware missing, busy, or failing)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DrawerEvent:
    opened: bool
    at: datetime

    def __post_init__(self) -> None:
        # Drawer openings go to the journal next to sales; a naive time would be ambiguous there.
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("DrawerEvent.at must be timezone-aware")


class Drawer(Protocol):
    has_sensor: bool

    def pulse(self) -> None: ...

    def is_open(self) -> bool | None: ...

    def watch(self, on_event: Callable[[DrawerEvent], None]) -> None: ...

    def close(self) -> None: ...


def check_pulse_ms(pulse_ms: int) -> int:
    """Refuse a pulse the solenoid is not built for; called at construction so a bad setting fails early."""
    if isinstance(pulse_ms, bool) or not isinstance(pulse_ms, int):
        raise ValueError(f"drawer pulse must be a whole number of ms, got {pulse_ms!r}")
    if not MIN_PULSE_MS <= pulse_ms <= MAX_PULSE_MS:
        raise ValueError(
            f"drawer pulse {pulse_ms} ms is outside {MIN_PULSE_MS}-{MAX_PULSE_MS} ms "
            f"(the drawer solenoid must not be driven longer than 510 ms)"
        )
    return pulse_ms


def check_interval_ms(min_interval_ms: int) -> int:
    if isinstance(min_interval_ms, bool) or not isinstance(min_interval_ms, int) or min_interval_ms < 0:
        raise ValueError(f"minimum interval between drawer pulses must be ms >= 0, got {min_interval_ms!r}")
    return min_interval_ms


class PulseGate:
    """One pulse at a time, and a rest after each.

    The rest is measured from the end of a pulse to the start of the next, so the coil always cools for
    the whole interval whatever the pulse length. A pulse asked for sooner waits out the remainder rather
    than being dropped: the cashier pressed "open" and the drawer should open."""

    def __init__(self, min_interval_ms: int, sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._interval_s = check_interval_ms(min_interval_ms) / 1000
        self._sleep = sleep
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._free_at: float | None = None

    @contextmanager
    def turn(self, busy_s: float = 0.0) -> Iterator[float]:
        """Hold the gate for one pulse; yields the seconds waited. `busy_s` is how long the coil stays
        driven after the block ends (a printer fires the pulse after it has received the command)."""
        with self._lock:
            waited = 0.0
            if self._free_at is not None:
                waited = max(0.0, self._free_at - self._monotonic())
                if waited > 0:
                    self._sleep(waited)
            try:
                yield waited
            finally:
                self._free_at = self._monotonic() + busy_s + self._interval_s


class Watcher:
    """A daemon thread that turns sensor readings into open/close events.

    `poll` blocks until it has readings or the stop event is set, and returns the levels seen (None =
    unknown right now). Only changes become events: a repeat of the level last seen is no news. When the
    level is not known at the start, the first reading only sets it. A failing callback is logged and
    never stops the thread."""

    def __init__(self, name: str, poll: Callable[[threading.Event], Iterable[bool | None]],
                 on_event: Callable[[DrawerEvent], None], now: Clock, initial: bool | None,
                 error_pause_s: float = 1.0) -> None:
        self._name = name
        self._poll = poll
        self._on_event = on_event
        self._now = now
        self._last = initial
        self._error_pause_s = error_pause_s
        self._lock = threading.RLock()  # re-entrant: a callback may itself change a simulated drawer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def feed(self, opened: bool | None) -> None:
        if opened is None:
            return
        with self._lock:
            if opened == self._last:
                return
            known = self._last is not None
            self._last = opened
            if not known:
                return
            event = DrawerEvent(opened=opened, at=self._now())
            log.info("drawer_event watcher=%s opened=%s at=%s", self._name, opened, event.at.isoformat())
            try:
                self._on_event(event)
            except Exception as exc:
                log.error("drawer_event_callback_failed watcher=%s error=%r", self._name, exc)

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                levels = list(self._poll(self._stop))
            except Exception as exc:
                if self._stop.is_set():
                    break
                log.warning("drawer_watch_failed watcher=%s error=%r", self._name, exc)
                self._stop.wait(self._error_pause_s)
                continue
            for level in levels:
                self.feed(level)
