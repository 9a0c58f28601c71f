"""A drawer wired to the Pi's own GPIO header (through a MOSFET or relay), for shops without a receipt
printer that has a DK port.

The kernel access sits behind `LinePort`; `GpiodPort` is the only code that touches libgpiod, and it is
kept small because it can only run on a Pi. Everything with a decision in it lives in `GpioDrawer`."""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

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

CONSUMER = "tillbox-drawer"  # what `gpioinfo` shows as the lines' owner
# Header GPIO chip labels: the number of the chip changes between kernels (gpiochip4 -> gpiochip0 on a
# Pi 5 in 6.6.45), the label does not.
PI_CHIP_LABELS = {"pi5": "pinctrl-rp1", "pi4": "pinctrl-bcm2711", "pi3": "pinctrl-bcm2835"}


class LinePort(Protocol):
    """The kernel seam. Levels are logical: True = drive on / drawer open, polarity is the port's job."""

    has_sensor: bool

    def set_drive(self, active: bool) -> None: ...

    def read_sensor(self) -> bool: ...

    def wait_sensor_edge(self, timeout_s: float) -> list[tuple[bool, int]]: ...

    def close(self) -> None: ...


def _gpiod(module: ModuleType | None) -> Any:
    if module is not None:
        return module
    try:
        return importlib.import_module("gpiod")
    except ImportError as exc:  # not Linux, or the package is missing
        raise DrawerError(f"the gpiod package (libgpiod v2 bindings) is not available: {exc}") from exc


def _chip_number(name: str) -> int:
    digits = name.removeprefix("gpiochip")
    return int(digits) if digits.isdigit() else 1 << 30


def list_gpio_chips(chips_dir: str = "/dev",
                    gpiod_module: ModuleType | None = None) -> list[tuple[str, str, int]]:
    """(path, label, number of lines) of every GPIO chip, each chip once even where a compatibility
    symlink (gpiochip4 -> gpiochip0 on some Pi 5 kernels) names it twice."""
    root = Path(chips_dir)
    try:
        names = sorted((p.name for p in root.iterdir() if p.name.startswith("gpiochip")), key=_chip_number)
    except OSError:
        return []
    if not names:
        return []
    g = _gpiod(gpiod_module)
    found: list[tuple[str, str, int]] = []
    seen: set[str] = set()
    for name in names:
        path = str(root / name)
        real = os.path.realpath(path)
        if real in seen or not g.is_gpiochip_device(path):
            continue
        seen.add(real)
        try:
            with g.Chip(path) as chip:
                info = chip.get_info()
        except OSError as exc:
            log.warning("gpio_chip_unreadable path=%s error=%r", path, exc)
            continue
        found.append((path, info.label, info.num_lines))
    return found


def find_chip(label: str, chips_dir: str = "/dev", gpiod_module: ModuleType | None = None) -> str:
    """The path of the chip with this label; the error names what was there instead."""
    chips = list_gpio_chips(chips_dir, gpiod_module)
    for path, chip_label, _lines in chips:
        if chip_label == label:
            return path
    there = ", ".join(f"{chip_label} ({path})" for path, chip_label, _ in chips) or "none"
    raise DrawerError(f"no GPIO chip labelled {label!r} in {chips_dir}; found: {there}")


class GpiodPort:
    """LinePort over libgpiod v2. The lines stay claimed (and the drive held inactive) until close()."""

    def __init__(self, chip_label: str, drive_line: int, sensor_line: int | None = None,
                 active_low_drive: bool = False, sensor_active_low: bool = True, debounce_ms: int = 20,
                 chips_dir: str = "/dev", gpiod_module: ModuleType | None = None) -> None:
        if sensor_line is not None and sensor_line == drive_line:
            raise ValueError(f"drawer drive and sensor cannot share GPIO line {drive_line}")
        g = _gpiod(gpiod_module)
        self._g = g
        path = find_chip(chip_label, chips_dir, g)
        ln = g.line
        config: dict[int, Any] = {drive_line: g.LineSettings(
            direction=ln.Direction.OUTPUT, active_low=active_low_drive, output_value=ln.Value.INACTIVE)}
        if sensor_line is not None:
            config[sensor_line] = g.LineSettings(
                direction=ln.Direction.INPUT, bias=ln.Bias.PULL_UP, active_low=sensor_active_low,
                edge_detection=ln.Edge.BOTH, debounce_period=timedelta(milliseconds=debounce_ms))
        try:
            with g.Chip(path) as chip:
                self._req = chip.request_lines(config=config, consumer=CONSUMER)
        except OSError as exc:
            lines = sorted(config)
            raise DrawerError(f"cannot claim GPIO lines {lines} on {path} ({chip_label}): {exc}") from exc
        self._drive = drive_line
        self._sensor = sensor_line
        self.has_sensor = sensor_line is not None
        self._lock = threading.Lock()  # libgpiod objects want external synchronisation
        log.info("gpio_drawer_claimed chip=%s path=%s drive=%d sensor=%s", chip_label, path, drive_line,
                 sensor_line)

    def set_drive(self, active: bool) -> None:
        value = self._g.line.Value.ACTIVE if active else self._g.line.Value.INACTIVE
        with self._lock:
            self._req.set_value(self._drive, value)

    def read_sensor(self) -> bool:
        if self._sensor is None:
            raise DrawerError("this drawer has no sensor line")
        with self._lock:
            return bool(self._req.get_value(self._sensor) == self._g.line.Value.ACTIVE)

    def wait_sensor_edge(self, timeout_s: float) -> list[tuple[bool, int]]:
        if self._sensor is None or not self._req.wait_edge_events(timeout_s):
            return []
        rising = self._g.EdgeEvent.Type.RISING_EDGE  # logical: the kernel applies active_low to edges
        with self._lock:
            events = self._req.read_edge_events()
        return [(ev.event_type == rising, ev.timestamp_ns) for ev in events if ev.line_offset == self._sensor]

    def close(self) -> None:
        with self._lock:
            try:
                self._req.set_value(self._drive, self._g.line.Value.INACTIVE)
            finally:
                self._req.release()


class GpioDrawer:
    """Pulses the drive line and reports the drawer switch."""

    def __init__(self, port: LinePort, pulse_ms: int = DEFAULT_PULSE_MS,
                 min_interval_ms: int = DEFAULT_MIN_INTERVAL_MS, sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic, now: Clock = utc_now,
                 edge_timeout_s: float = 0.5) -> None:
        self._pulse_ms = check_pulse_ms(pulse_ms)
        self._gate = PulseGate(min_interval_ms, sleep, monotonic)
        self._port = port
        self._sleep = sleep
        self._now = now
        self._edge_timeout_s = edge_timeout_s  # how quickly close() can stop the watch thread
        self.has_sensor = port.has_sensor
        self._watcher: Watcher | None = None
        self._lock = threading.Lock()
        self._closed = False

    def pulse(self) -> None:
        if self._closed:
            raise DrawerError("drawer is closed")
        with self._gate.turn() as waited:
            log.info("drawer_pulse driver=gpio pulse_ms=%d waited_ms=%d", self._pulse_ms,
                     round(waited * 1000))
            try:
                try:
                    self._port.set_drive(True)
                    self._sleep(self._pulse_ms / 1000)
                finally:
                    self._port.set_drive(False)  # never leave the solenoid on
            except OSError as exc:
                raise DrawerError(f"drawer pulse failed: {exc}") from exc

    def is_open(self) -> bool | None:
        if not self.has_sensor:
            return None
        try:
            return self._port.read_sensor()
        except OSError as exc:
            raise DrawerError(f"drawer sensor unreadable: {exc}") from exc

    def watch(self, on_event: Callable[[DrawerEvent], None]) -> None:
        if not self.has_sensor:
            return
        with self._lock:
            if self._watcher is not None:
                raise DrawerError("drawer is already being watched")
            self._watcher = Watcher("drawer-gpio", self._poll, on_event, self._now, self.is_open())
            self._watcher.start()

    def _poll(self, _stop: threading.Event) -> list[bool | None]:
        return [level for level, _ts in self._port.wait_sensor_edge(self._edge_timeout_s)]

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._watcher is not None:
                self._watcher.stop(self._edge_timeout_s + 1.0)
        self._port.close()
