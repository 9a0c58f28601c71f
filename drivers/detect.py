"""Which till devices are plugged in, for `till hw list` and the setup screen's suggestions.

Each udev device is classified on its own properties, so the rules are testable from recorded
`udevadm info` output. A suggestion is only a suggestion: the installer confirms it before it becomes a
setting, so the rules prefer missing an exotic device to calling an office keyboard a scanner."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from .drawer.gpio import list_gpio_chips

log = logging.getLogger(__name__)

DeviceKind = str  # "receipt_printer" | "label_printer" | "scanner" | "serial_scanner" | "gpio_chip"


@dataclass(frozen=True)
class FoundDevice:
    kind: DeviceKind
    name: str
    spec: dict[str, object]  # what a settings row for this device would hold
    detail: str


RECEIPT_PRINTER_VENDORS = {
    "04b8": "Epson",
    "0519": "Star Micronics",
    "1d90": "Citizen",
    "2730": "Citizen",
    "1504": "Bixolon",
}
# 0416 (Winbond) and 1fc9 (NXP) are chip makers whose ids sit on many cheap ESC/POS printers but also on
# other gadgets, and 0483 (STMicro) on almost anything: these count only by product id or printer class.
CHIP_VENDOR_PRINTERS = {
    ("0416", "5011"): "ESC/POS printer (Xprinter or similar)",
    ("1fc9", "2016"): "ESC/POS printer (Xprinter or similar)",
    ("0483", "5743"): "ESC/POS printer (Xprinter or similar)",
}
CHIP_VENDORS = {"0416": "Winbond-based", "1fc9": "NXP-based", "0483": "STM-based"}
BROTHER = "04f9"
BROTHER_QL = {
    "2028": "QL-570",
    "2042": "QL-700",
    "209b": "QL-800",
    "209c": "QL-810W",
    "209d": "QL-820NWB",
    "20a7": "QL-1100",
}
ZEBRA_PRINTERS = "0a5f"
SCANNER_VENDORS = {
    "0c2e": "Honeywell",
    "05e0": "Zebra (Symbol)",
    "05f9": "Datalogic",
    "1eab": "Newland",
}
SCANNERISH_WORDS = ("barcode", "scanner")
PRINTER_CLASS = ":0701"  # USB interface class 07 (printer), subclass 01; any protocol


def _clean(value: str) -> str:
    return value.replace("_", " ").strip()


def _ids(props: Mapping[str, str]) -> tuple[str, str]:
    vendor = props.get("ID_VENDOR_ID", "").lower()
    product = props.get("ID_MODEL_ID", "").lower()
    if not vendor and props.get("PRODUCT"):  # bare uevent (no udev database): PRODUCT=4b8/e28/100
        parts = props["PRODUCT"].split("/")
        if len(parts) >= 2:
            vendor, product = parts[0].lower().zfill(4), parts[1].lower().zfill(4)
    return vendor, product


def _name(props: Mapping[str, str], vendor_name: str, fallback_model: str = "") -> str:
    model = _clean(props.get("ID_MODEL", "")) or fallback_model
    if not model:
        return vendor_name
    if model.lower().startswith(vendor_name.split()[0].lower()):
        return model
    return f"{vendor_name} {model}"


def _link(props: Mapping[str, str], prefix: str, suffix: str = "") -> str | None:
    for link in props.get("DEVLINKS", "").split():
        if link.startswith(prefix) and link.endswith(suffix):
            return link
    return None


def _usb_spec(vendor: str, product: str) -> dict[str, object]:
    return {"kind": "usb", "vendor_id": vendor, "product_id": product}


def _classify_usb_device(props: Mapping[str, str]) -> FoundDevice | None:
    vendor, product = _ids(props)
    if not vendor:
        return None
    ids = f"{vendor}:{product}"
    printer_class = PRINTER_CLASS in props.get("ID_USB_INTERFACES", "")
    if vendor == BROTHER:
        model = BROTHER_QL.get(product)
        if model is None:  # a Brother office printer or a P-touch: not ours to drive
            return None
        # brother_ql's own identifier form, so the spec goes straight to its pyusb backend
        target = f"usb://0x{vendor}:0x{product}"
        return FoundDevice("label_printer", f"Brother {model}",
                           {"kind": "brother_ql", "target": target, "model": model},
                           f"{ids} Brother QL raster (switch Editor Lite off)")
    if vendor == ZEBRA_PRINTERS:
        return FoundDevice("label_printer", _name(props, "Zebra"), {"kind": "zpl", "target": f"usb://{ids}"},
                           f"{ids} ZPL")
    if vendor in RECEIPT_PRINTER_VENDORS:
        maker = RECEIPT_PRINTER_VENDORS[vendor]
        detail = f"{ids} ESC/POS"
        if maker == "Star Micronics":
            detail += " (only if the printer is set to ESC/POS emulation; TSP100 models print raster only)"
        return FoundDevice("receipt_printer", _name(props, maker), _usb_spec(vendor, product), detail)
    if (vendor, product) in CHIP_VENDOR_PRINTERS:
        label = CHIP_VENDOR_PRINTERS[(vendor, product)]
        return FoundDevice("receipt_printer", _name(props, label), _usb_spec(vendor, product),
                           f"{ids} ESC/POS")
    if printer_class and vendor not in SCANNER_VENDORS:
        maker = CHIP_VENDORS.get(vendor) or _clean(props.get("ID_VENDOR", "")) or "USB"
        return FoundDevice("receipt_printer", _name(props, f"{maker} printer"), _usb_spec(vendor, product),
                           f"{ids} USB printer class, assuming ESC/POS")
    return None


def _scannerish(props: Mapping[str, str], *paths: str | None) -> bool:
    text = " ".join([props.get("ID_VENDOR", ""), props.get("ID_MODEL", ""), props.get("ID_SERIAL", ""),
                     *(p or "" for p in paths)]).lower()
    return any(word in text for word in SCANNERISH_WORDS)


def _classify_input(props: Mapping[str, str]) -> FoundDevice | None:
    devname = props.get("DEVNAME", "")
    if not devname.startswith("/dev/input/event") or props.get("ID_INPUT_KEYBOARD") != "1":
        return None  # the parent inputN node, mice, joysticks, ...
    by_id = _link(props, "/dev/input/by-id/", "-event-kbd")
    vendor, product = _ids(props)
    if vendor not in SCANNER_VENDORS and not _scannerish(props, by_id):
        return None  # an ordinary keyboard: never grab it
    path = by_id or _link(props, "/dev/input/by-path/") or devname
    maker = SCANNER_VENDORS.get(vendor) or _clean(props.get("ID_VENDOR", "")) or "Barcode scanner"
    return FoundDevice("scanner", _name(props, maker), {"kind": "evdev", "path": path},
                       f"{vendor}:{product} keyboard wedge at {devname}")


def _classify_tty(props: Mapping[str, str]) -> FoundDevice | None:
    if props.get("ID_BUS") != "usb" or not props.get("DEVNAME"):
        return None
    by_id = _link(props, "/dev/serial/by-id/")
    vendor, product = _ids(props)
    if vendor not in SCANNER_VENDORS and not _scannerish(props, by_id):
        return None  # a USB-serial adapter or a modem; could be anything
    device = by_id or _link(props, "/dev/serial/by-path/") or props["DEVNAME"]
    maker = SCANNER_VENDORS.get(vendor) or _clean(props.get("ID_VENDOR", "")) or "Barcode scanner"
    return FoundDevice("serial_scanner", _name(props, maker), {"kind": "serial", "device": device},
                       f"{vendor}:{product} serial (CDC-ACM) at {props['DEVNAME']}")


def classify(props: Mapping[str, str]) -> FoundDevice | None:
    """What one udev device is to the till, or None if it is nothing we drive."""
    subsystem = props.get("SUBSYSTEM")
    if subsystem == "usb" and props.get("DEVTYPE") == "usb_device":
        return _classify_usb_device(props)
    if subsystem == "input":
        return _classify_input(props)
    if subsystem == "tty":
        return _classify_tty(props)
    return None


class UdevDevice(Protocol):
    """What detect reads of a pyudev.Device."""

    @property
    def properties(self) -> Mapping[str, str]: ...


class UdevContext(Protocol):
    """What detect asks of a pyudev.Context (a fake one in tests)."""

    def list_devices(self, **query: str) -> Iterable[UdevDevice]: ...


def _udev_properties(context: UdevContext | None) -> Iterator[dict[str, str]]:
    if context is None:
        import pyudev

        context = pyudev.Context()
    queries: tuple[dict[str, str], ...] = (
        {"subsystem": "usb", "DEVTYPE": "usb_device"}, {"subsystem": "input"}, {"subsystem": "tty"})
    for query in queries:
        for device in context.list_devices(**query):
            props = dict(device.properties)
            props.setdefault("SUBSYSTEM", query["subsystem"])
            yield props


def detect(context: UdevContext | None = None, chips_dir: str = "/dev") -> list[FoundDevice]:
    """Everything found; where udev or GPIO cannot be read (a container, another OS) the rest still is."""
    found: list[FoundDevice] = []
    try:
        for props in _udev_properties(context):
            device = classify(props)
            if device is not None and device not in found:
                found.append(device)
    except Exception as exc:  # no libudev, no /sys, a permission: report what we have
        log.warning("detect_udev_failed error=%r", exc)
    try:
        for path, label, lines in list_gpio_chips(chips_dir):
            found.append(FoundDevice("gpio_chip", label, {"kind": "gpio", "chip": label},
                                     f"{path}, {lines} lines; choose the drive line"))
    except Exception as exc:
        log.warning("detect_gpio_failed error=%r", exc)
    log.info("detect_done found=%d", len(found))
    return found
