"""An in-memory LinePort, so GpioDrawer's timing and sensor logic run for real without a Pi.

Every drive change is stamped with the injected monotonic clock; with the same fake clock driving the
drawer's sleep, the recorded timeline shows exactly how long the solenoid would have been on."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable


class FakeLinePort:
    def __init__(self, has_sensor: bool = True, sensor_open: bool = False,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.has_sensor = has_sensor
        self.drive = False
        self.timeline: list[tuple[float, bool]] = []  # (monotonic time, drive level) per set_drive call
        self.closed = False
        self.drive_error: OSError | None = None  # raised by the next set_drive(True), as a failing line would
        self._monotonic = monotonic
        self._sensor = sensor_open
        self._edges: queue.Queue[list[tuple[bool, int]]] = queue.Queue()

    def set_drive(self, active: bool) -> None:
        if self.closed:
            raise OSError("line request released")
        if active and self.drive_error is not None:
            error, self.drive_error = self.drive_error, None
            raise error
        self.drive = active
        self.timeline.append((self._monotonic(), active))

    def read_sensor(self) -> bool:
        if not self.has_sensor:
            raise OSError("no sensor line requested")
        return self._sensor

    def set_sensor(self, opened: bool) -> None:
        """Change the level without an edge event (the state before anyone watches)."""
        self._sensor = opened

    def push_edges(self, *levels: bool) -> None:
        """Queue one batch of edges, as one kernel read would return them; the level ends at the last."""
        stamp = int(self._monotonic() * 1e9)
        if levels:
            self._sensor = levels[-1]
        self._edges.put([(level, stamp + i) for i, level in enumerate(levels)])

    def wait_sensor_edge(self, timeout_s: float) -> list[tuple[bool, int]]:
        if not self.has_sensor:
            return []
        try:
            return self._edges.get(timeout=timeout_s)
        except queue.Empty:
            return []

    def close(self) -> None:
        if self.drive:
            self.set_drive(False)
        self.closed = True
        self._edges.put([])  # wake a waiting watcher
