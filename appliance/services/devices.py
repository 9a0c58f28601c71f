"""The shop's devices: which ones are configured (settings rows), opening them, and the queue that
carries their events (scans, drawer sensor) from driver threads to the till's own thread.

Device settings are JSON specs in the meta table under `device.<role>`; each is checked by building
the driver (which touches no hardware until first use) before it is saved, and every change is
journalled. Specs never hold secrets."""

from __future__ import annotations

import json
import logging
import queue
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drivers.drawer.base import Drawer, DrawerError, DrawerEvent, check_pulse_ms
from drivers.scanner.base import Scan, Scanner

from ..store.db import transaction
from ..store.settings import get_meta, set_meta
from .till import Till

if TYPE_CHECKING:  # the printer drivers load python-escpos, PIL and brother_ql: only when used
    from drivers.printer.label import LabelLayout

log = logging.getLogger(__name__)

ROLES = ("printer", "drawer", "scanner", "labels", "terminal")
LAYOUT_KEY = "label.layout"


class DeviceError(ValueError):
    """A device setting that cannot work (bad spec, unknown kind)."""


def _key(role: str) -> str:
    if role not in ROLES:
        raise DeviceError(f"device role must be one of {', '.join(ROLES)}, not {role!r}")
    return f"device.{role}"


def device_settings(till: Till) -> dict[str, dict[str, Any] | None]:
    out: dict[str, dict[str, Any] | None] = {}
    for role in ROLES:
        raw = get_meta(till.conn, _key(role))
        out[role] = json.loads(raw) if raw else None
    return out


def label_layout(till: Till) -> LabelLayout:
    from drivers.printer.label import LabelLayout

    raw = get_meta(till.conn, LAYOUT_KEY)
    return LabelLayout.from_settings(json.loads(raw)) if raw else LabelLayout()


def sim_specs(base: Path) -> dict[str, dict[str, Any]]:
    """Simulated twins of every device, writing under `base` (used by `make run` and the demo)."""
    return {
        "printer": {"kind": "sim", "dir": str(base / "printer"), "paper_mm": 80},
        "drawer": {"kind": "sim", "dir": str(base / "drawer")},
        "scanner": {"kind": "sim", "fifo": str(base / "scanner.fifo")},
        "labels": {"kind": "sim", "dir": str(base / "labels")},
        # the customer takes a moment to tap the card: the status dialog (with Cancel) is seen
        "terminal": {"kind": "sim", "dir": str(base / "terminal"), "delay_s": 1.0},
    }


def set_device(till: Till, role: str, spec: Mapping[str, Any] | None, who: str) -> dict[str, Any] | None:
    """Check and save one device's spec (None removes it); journalled as a settings change."""
    key = _key(role)
    from ..requests import RequestError
    from ..requests.devices import device_spec
    try:  # its declared schema first, then the driver's own checks
        clean = device_spec(role, spec) if spec is not None else None
    except RequestError as exc:
        raise DeviceError(str(exc)) from exc
    if clean is not None:
        try:
            closer = _build(role, clean, None, data_dir=till.data_dir)
        except (ValueError, TypeError, KeyError, DrawerError) as exc:
            raise DeviceError(f"{role}: {exc}") from exc
        _close(closer)
    with transaction(till.conn):
        set_meta(till.conn, key, json.dumps(clean, sort_keys=True) if clean else "")
        till.journal.append("settings_change", who, {"key": key, "value": clean})
    if role == "printer":
        till.prints_receipts = clean is not None
    return clean


def set_label_layout(till: Till, values: Mapping[str, Any], who: str) -> LabelLayout:
    from drivers.printer.label import LabelLayout

    from ..requests import RequestError
    from ..requests.devices import label_layout as layout_schema
    try:
        layout = LabelLayout.from_settings(layout_schema(values))
    except RequestError as exc:
        raise DeviceError(str(exc)) from exc
    except (ValueError, TypeError) as exc:
        raise DeviceError(f"label layout: {exc}") from exc
    with transaction(till.conn):
        set_meta(till.conn, LAYOUT_KEY, json.dumps(dict(values), sort_keys=True))
        till.journal.append("settings_change", who, {"key": LAYOUT_KEY, "value": dict(values)})
    return layout


@dataclass
class Devices:
    """What the till talks to. Any role may be None (not configured). Driver threads put events
    on `events`; the till's thread takes them off (`services.drawer.process_events`, the UI)."""
    printer: Any = None
    drawer: Drawer | None = None
    scanner: Scanner | None = None
    labels: Any = None
    terminal: Any = None
    mobilepay: Any = None  # not a device but a service the counter talks to (services.mobilepay_setup)
    specs: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    events: queue.Queue[tuple[str, Any]] = field(default_factory=queue.Queue)
    last_pulse: datetime | None = None  # when the till last opened the drawer (sensor matching)
    opened_at: datetime | None = None   # when the sensor last saw it open
    on_event: Callable[[], None] | None = None

    def start_watching(self) -> None:
        """Sensor and scanner threads, for a long-running till (kiosk, `hw test scanner`)."""
        if self.drawer is not None:
            self.drawer.watch(lambda ev: self.post("drawer", ev))
        if self.scanner is not None:
            self.scanner.start(lambda scan: self.post("scan", scan))

    def post(self, kind: str, payload: Any) -> None:
        """An event for the till's thread; `on_event` (thread-safe, e.g. the kiosk's Clock trigger)
        wakes it at once instead of at its next poll."""
        self.events.put((kind, payload))
        if self.on_event is not None:
            self.on_event()

    def close(self) -> None:
        if self.scanner is not None:
            self.scanner.stop()
        for dev in (self.drawer, self.printer, self.labels, self.terminal, self.mobilepay):
            _close(dev)


def _close(dev: object) -> None:
    close = getattr(dev, "close", None)
    if callable(close):
        try:
            close()
        except Exception as exc:  # a device already gone must not stop the others closing
            log.warning("event=device_close_failed error=%s", exc)


def _build(role: str, spec: dict[str, Any], printer: Any, now: Callable[[], Any] | None = None,
           data_dir: Path | None = None) -> Any:
    kind = spec.get("kind")
    if role == "printer":
        from drivers.backends import open_receipt_printer
        return open_receipt_printer(spec)
    if role == "labels":
        from drivers.backends import open_label_printer
        return open_label_printer(spec)
    if role == "drawer":
        return _drawer(spec, printer, now)
    if role == "scanner":
        return _scanner(spec)
    if role == "terminal":
        return _terminal(spec, data_dir)
    raise DeviceError(f"unknown device role {role!r} (kind {kind!r})")


def _drawer(spec: dict[str, Any], printer: Any, now: Callable[[], Any] | None) -> Drawer:
    from drivers.drawer.gpio import GpiodPort, GpioDrawer
    from drivers.drawer.kick import KickDrawer
    from drivers.sim.drawer import SimDrawer

    extra: dict[str, Any] = {"now": now} if now is not None else {}
    kind = spec.get("kind")
    pulse_ms = check_pulse_ms(int(spec.get("pulse_ms", 200)))  # before any line is claimed
    if kind == "gpio":
        port = GpiodPort(str(spec["chip"]), int(spec["line"]),
                         int(spec["sensor_line"]) if spec.get("sensor_line") is not None else None,
                         active_low_drive=bool(spec.get("active_low", False)))
        return GpioDrawer(port, pulse_ms=pulse_ms, **extra)
    if kind == "printer_kick":
        if printer is None:
            # While only checking a spec there is no printer yet; a kick needs one at run time.
            return KickDrawer(lambda _b: None, pin=int(spec.get("pin", 2)), pulse_ms=pulse_ms, **extra)
        status = (lambda: printer.status().drawer_open) if spec.get("sensor", True) else None
        return KickDrawer(printer.send, pin=int(spec.get("pin", 2)), pulse_ms=pulse_ms, status=status,
                          **extra)
    if kind == "sim":
        return SimDrawer(Path(str(spec["dir"])) / "drawer.log", **extra)
    raise ValueError(f"drawer kind must be gpio, printer_kick or sim, not {kind!r}")


def _terminal(spec: dict[str, Any], data_dir: Path | None) -> Any:
    """The card terminal: nexo to an Adyen terminal on the LAN (its passphrase in secrets/terminal.json,
    0600), or `sim`: the terminal simulator started in this process, speaking the same protocol."""
    from drivers.terminal.client import TerminalClient
    from drivers.terminal.security import SharedKey

    from ..dinero.tokens import TokenStore
    if data_dir is None:
        raise ValueError("a terminal needs the till's data folder (for its key)")
    store = TokenStore(data_dir, "terminal")
    kind = spec.get("kind")
    if kind == "nexo":
        secret = (store.load() or {}).get("passphrase")
        if not secret:
            raise ValueError("the terminal's passphrase is not set (till hw terminal-key)")
        key = SharedKey(str(spec["key_id"]), str(secret), int(spec.get("key_version", 1)))
        return TerminalClient(str(spec["url"]), key, poi_id=str(spec["poi_id"]),
                              sale_id=str(spec.get("sale_id", "TILLBOX")))
    if kind == "sim":
        import secrets as random_secrets

        from drivers.terminal.simulator import TerminalSimulator, load_script
        record = store.load() or {}
        if not record.get("passphrase"):
            record = store.update(passphrase=random_secrets.token_urlsafe(24), key_id="sim", key_version=1)
        key = SharedKey(str(record["key_id"]), str(record["passphrase"]), int(record["key_version"]))
        folder = Path(str(spec["dir"]))
        folder.mkdir(parents=True, exist_ok=True)
        script = folder / "script.json"  # optional: what the next customers' cards do (decline, ...)
        sim = TerminalSimulator(key=key, ledger=folder / "ledger.jsonl", poi_id="SIM-1",
                                delay=float(spec.get("delay_s", 0.0)),
                                script=load_script(script) if script.exists() else None).start()
        return SimulatedTerminal(sim, key)
    raise ValueError(f"terminal kind must be nexo or sim, not {kind!r}")


class SimulatedTerminal:
    """A TerminalClient talking to a simulator this process runs; closing stops the simulator."""

    def __init__(self, sim: Any, key: Any):
        from drivers.terminal.client import TerminalClient
        self.sim = sim
        self.client = TerminalClient(sim.url, key, poi_id="SIM-1", sale_id="TILLBOX", timeout=30)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if callable(close):
            close()
        self.sim.stop()


def _scanner(spec: dict[str, Any]) -> Scanner:
    kind = spec.get("kind")
    if kind == "evdev":
        from drivers.scanner.evdev_scanner import EvdevScanner
        return EvdevScanner(str(spec["path"]), layout=str(spec.get("layout", "us")))
    if kind == "serial":
        from drivers.scanner.serial_scanner import SerialScanner
        return SerialScanner(str(spec["device"]), baudrate=int(spec.get("baudrate", 9600)))
    if kind == "sim":
        from drivers.sim.scanner import SimScanner
        return SimScanner(str(spec["fifo"]) if spec.get("fifo") else None,
                          keyboard=bool(spec.get("keyboard", False)))
    raise ValueError(f"scanner kind must be evdev, serial or sim, not {kind!r}")


def open_devices(till: Till, roles: tuple[str, ...] = ROLES) -> Devices:
    """Build the configured devices. A device whose spec no longer builds is left out with a log
    line (the till still sells; `till hw list` shows the problem)."""
    specs = device_settings(till)
    devices = Devices(specs=specs)
    for role in ("printer", "labels", "drawer", "scanner", "terminal"):  # a kick drawer needs the printer
        spec = specs.get(role)
        if role not in roles or not spec:
            continue
        try:
            dev = _build(role, spec, devices.printer, till.now, till.data_dir)
        except (ValueError, TypeError, KeyError, OSError, DrawerError) as exc:
            log.warning("event=device_unusable role=%s error=%s", role, exc)
            continue
        setattr(devices, role, dev)
    return devices


def wait_scan(devices: Devices, timeout_s: float) -> Scan | None:
    """The next scan from the configured scanner (other events are put back afterwards)."""
    held: list[tuple[str, Any]] = []
    found: Scan | None = None
    try:
        while found is None:
            kind, payload = devices.events.get(timeout=timeout_s)
            if kind == "scan":
                found = payload
            else:
                held.append((kind, payload))
    except queue.Empty:
        pass
    for item in held:
        devices.events.put(item)
    return found


__all__ = ["ROLES", "DeviceError", "Devices", "DrawerEvent", "device_settings", "label_layout",
           "open_devices", "set_device", "set_label_layout", "sim_specs", "wait_scan"]
