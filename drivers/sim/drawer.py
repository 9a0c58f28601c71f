"""The drawer's twin for `make run`: a pulse is a line in a log file and an open drawer.

A person at the demo closes it by touching `<log dir>/close` (the watch thread notices), a test by
calling shut()."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from ..drawer.base import DEFAULT_PULSE_MS, Clock, DrawerError, DrawerEvent, Watcher, check_pulse_ms, utc_now

log = logging.getLogger(__name__)


class SimDrawer:
    has_sensor = True

    def __init__(self, log_path: str | Path, pulse_ms: int = DEFAULT_PULSE_MS, now: Clock = utc_now,
                 poll_s: float = 0.25) -> None:
        self._pulse_ms = check_pulse_ms(pulse_ms)
        self.log_path = Path(log_path)
        self.close_flag = self.log_path.parent / "close"
        self._now = now
        self._poll_s = poll_s
        self._open = False
        self._lock = threading.RLock()
        self._watcher: Watcher | None = None

    def pulse(self) -> None:
        at = self._now()
        with self._lock:
            self.close_flag.unlink(missing_ok=True)  # a touch from before this opening means nothing
            try:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                with self.log_path.open("a", encoding="utf-8") as f:
                    f.write(f"{at.isoformat()} pulse_ms={self._pulse_ms}\n")
            except OSError as exc:
                raise DrawerError(f"simulated drawer log not writable: {exc}") from exc
            log.info("drawer_pulse driver=sim pulse_ms=%d", self._pulse_ms)
            self._set(True)

    def shut(self) -> None:
        """Someone pushes the drawer closed."""
        self._set(False)

    def is_open(self) -> bool:
        self._take_close_flag()
        return self._open

    def watch(self, on_event: Callable[[DrawerEvent], None]) -> None:
        with self._lock:
            if self._watcher is not None:
                raise DrawerError("drawer is already being watched")
            self._watcher = Watcher("drawer-sim", self._poll, on_event, self._now, self._open)
            self._watcher.start()

    def close(self) -> None:
        with self._lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop(self._poll_s + 1.0)

    def _set(self, opened: bool) -> None:
        with self._lock:
            self._open = opened
            if self._watcher is not None:
                self._watcher.feed(opened)

    def _take_close_flag(self) -> None:
        with self._lock:
            if self.close_flag.exists():
                self.close_flag.unlink(missing_ok=True)
                self._set(False)

    def _poll(self, stop: threading.Event) -> list[bool | None]:
        if not stop.wait(self._poll_s):
            self._take_close_flag()
        return []  # _set() already fed the watcher
