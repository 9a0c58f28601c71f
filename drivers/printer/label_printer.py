"""Label printers the till can print price labels on: Zebra (ZPL over TCP 9100 or USB), Brother QL
(raster through brother_ql's own backends) and the simulated one.

Connections are opened per print job and closed after: label printing is rare, and a printer that
was switched off in between then just works again. Every transport failure becomes
LabelPrinterUnavailable, so the till has one thing to catch and show."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import usb.core
import usb.util
from brother_ql import BrotherQLError
from brother_ql.backends.helpers import send as brother_send

from .base import LabelPrinter, LabelPrinterUnavailable
from .brother import (
    DEFAULT_MODEL,
    brother_label_for,
    brother_label_spec,
    brother_model,
    brother_raster,
    brother_render_layout,
)
from .label import Label, LabelLayout
from .label_image import render_label
from .zpl import labels_zpl

log = logging.getLogger(__name__)

RAW_PORT = 9100


class BulkOut(Protocol):
    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...


UsbOpener = Callable[[int, int], BulkOut | None]


def _split(target: str, schemes: tuple[str, ...]) -> tuple[str, str]:
    scheme, sep, rest = target.partition("://")
    if not sep or scheme not in schemes or not rest:
        starts = " or ".join(s + "://" for s in schemes)
        raise ValueError(f"label printer target {target!r} must start with {starts}")
    return scheme, rest


def _host_port(target: str) -> tuple[str, int]:
    parts = urlsplit(target)
    try:
        port = parts.port or RAW_PORT
    except ValueError:
        raise ValueError(f"label printer target {target!r} has a bad port") from None
    if not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"label printer target {target!r} must be tcp://host[:port]")
    return parts.hostname, port


def _usb_ids(rest: str, target: str) -> tuple[int, int]:
    try:
        vendor, product = (int(p, 16) for p in rest.split("/")[0].split(":"))
    except ValueError:
        raise ValueError(f"label printer target {target!r} must be usb://<vendor>:<product> in hex") from None
    if not (0 <= vendor <= 0xFFFF and 0 <= product <= 0xFFFF):
        raise ValueError(f"label printer target {target!r} has USB ids out of range")
    return vendor, product


class _PyUsbBulkOut:
    """The first bulk OUT endpoint of a USB printer; the kernel's usblp is detached for the job."""

    def __init__(self, dev: Any) -> None:
        self._dev = dev
        self._reattach = False
        with suppress(NotImplementedError, usb.core.USBError):
            if dev.is_kernel_driver_active(0):
                dev.detach_kernel_driver(0)
                self._reattach = True
        try:
            cfg = dev.get_active_configuration()
        except usb.core.USBError:  # not configured yet
            dev.set_configuration()
            cfg = dev.get_active_configuration()
        intf = cfg[(0, 0)]
        self._ep = usb.util.find_descriptor(intf, custom_match=lambda e: (
            usb.util.endpoint_direction(e.bEndpointAddress) == usb.util.ENDPOINT_OUT
            and usb.util.endpoint_type(e.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK))
        if self._ep is None:
            raise OSError("USB printer has no bulk OUT endpoint")

    def write(self, data: bytes) -> None:
        self._ep.write(data, timeout=15000)

    def close(self) -> None:
        usb.util.dispose_resources(self._dev)
        if self._reattach:
            with suppress(NotImplementedError, usb.core.USBError):
                self._dev.attach_kernel_driver(0)


def open_usb_bulk_out(vendor: int, product: int) -> BulkOut | None:
    """The real pyusb seam: None when no such device is plugged in."""
    dev = usb.core.find(idVendor=vendor, idProduct=product)
    return None if dev is None else _PyUsbBulkOut(dev)


_USB_ERRORS = (usb.core.USBError, usb.core.NoBackendError)


class ZebraPrinter:
    """ZPL to tcp://host[:9100] (raw port) or usb://vendor:product (e.g. usb://0a5f:0181)."""

    def __init__(self, target: str, *, timeout: float = 10.0,
                 usb_open: UsbOpener = open_usb_bulk_out) -> None:
        self.target = target
        self._scheme, rest = _split(target, ("tcp", "usb"))
        if self._scheme == "tcp":
            self._address = _host_port(target)
        else:
            self._ids = _usb_ids(rest, target)
        self._timeout = timeout
        self._usb_open = usb_open

    def print_labels(self, labels: Sequence[Label], layout: LabelLayout) -> None:
        if not labels:
            return
        data = labels_zpl(labels, layout).encode("utf-8")
        if self._scheme == "tcp":
            self._send_tcp(data)
        else:
            self._send_usb(data)
        log.info("labels_printed driver=zpl target=%s labels=%d copies=%d bytes=%d",
                 self.target, len(labels), layout.copies, len(data))

    def _send_tcp(self, data: bytes) -> None:
        try:
            with socket.create_connection(self._address, timeout=self._timeout) as sock:
                sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            log.warning("label_printer_unavailable driver=zpl target=%s error=%s", self.target, exc)
            raise LabelPrinterUnavailable(f"Zebra printer at {self.target} is not reachable: {exc}") from exc

    def _send_usb(self, data: bytes) -> None:
        vendor, product = self._ids
        try:
            out = self._usb_open(vendor, product)
            if out is None:
                raise LabelPrinterUnavailable(f"no USB label printer {vendor:04x}:{product:04x} is connected")
            try:
                out.write(data)
            finally:
                out.close()
        except (OSError, *_USB_ERRORS) as exc:
            log.warning("label_printer_unavailable driver=zpl target=%s error=%s", self.target, exc)
            raise LabelPrinterUnavailable(f"USB label printer {self.target} failed: {exc}") from exc


_BROTHER_BACKENDS = {"tcp": "network", "usb": "pyusb", "file": "linux_kernel"}
BrotherSend = Callable[..., dict[str, Any]]


class BrotherQLPrinter:
    """Brother QL through brother_ql's backends: tcp://host:9100, usb://0x04f9:0x209b or
    file:///dev/usb/lp0. `label` names the brother_ql label (e.g. "62" for endless tape) when the
    layout's own size would pick another."""

    def __init__(self, target: str, model: str = DEFAULT_MODEL, *, label: str | None = None,
                 send: BrotherSend = brother_send) -> None:
        scheme, rest = _split(target, tuple(_BROTHER_BACKENDS))
        if scheme == "tcp":
            _host_port(target)
        elif scheme == "usb":
            _usb_ids(rest, target)
        brother_model(model)
        if label is not None:
            brother_label_spec(label, model)
        self.target, self.model, self.label = target, model, label
        self._backend = _BROTHER_BACKENDS[scheme]
        self._send = send

    def print_labels(self, labels: Sequence[Label], layout: LabelLayout) -> None:
        if not labels:
            return
        label_id = self.label or brother_label_for(layout, self.model)
        page = brother_render_layout(layout, label_id)
        images = [render_label(lab, page) for lab in labels for _ in range(layout.copies)]
        data = brother_raster(images, self.model, label_id, cut=True)
        try:
            status = self._send(data, printer_identifier=self.target, backend_identifier=self._backend,
                                blocking=True)
        except (OSError, ValueError, AssertionError, BrotherQLError, *_USB_ERRORS) as exc:
            # pyusb's backend reports a missing printer as ValueError / AssertionError
            log.warning("label_printer_unavailable driver=brother_ql target=%s error=%s", self.target, exc)
            raise LabelPrinterUnavailable(f"Brother QL printer {self.target} failed: {exc}") from exc
        if status.get("outcome") == "error":
            errors = ", ".join((status.get("printer_state") or {}).get("errors", [])) or "unknown error"
            log.warning("label_printer_error driver=brother_ql target=%s errors=%s", self.target, errors)
            raise LabelPrinterUnavailable(f"Brother QL printer {self.target} reports: {errors}")
        log.info("labels_printed driver=brother_ql target=%s label=%s labels=%d pages=%d bytes=%d",
                 self.target, label_id, len(labels), len(images), len(data))


_SPEC_KEYS = {"zpl": {"target", "timeout"}, "brother_ql": {"target", "model", "label"}, "sim": {"dir"}}


def open_label_printer(spec: Mapping[str, object],
                       simulated: Callable[[Path], LabelPrinter] | None = None) -> LabelPrinter:
    """{"kind": "zpl", "target": ...} | {"kind": "brother_ql", "target": ..., "model": ...} |
    {"kind": "sim", "dir": ...}; a wrong spec is a ValueError naming the key."""
    kind = spec.get("kind")
    if kind not in _SPEC_KEYS:
        raise ValueError(f"label printer kind must be one of {', '.join(_SPEC_KEYS)}, got {kind!r}")
    unknown = set(spec) - _SPEC_KEYS[kind] - {"kind"}
    if unknown:
        raise ValueError(f"unknown label printer setting(s) for {kind}: {', '.join(sorted(unknown))}")
    required = "dir" if kind == "sim" else "target"
    value = spec.get(required)
    if not isinstance(value, str | Path) or not str(value):
        raise ValueError(f"label printer {kind} needs {required!r}")
    if kind == "sim":  # the simulated back end is handed in (drivers.backends): drivers never import twins
        if simulated is None:
            raise ValueError("label printer kind 'sim' needs the simulated back end (drivers.backends)")
        return simulated(Path(value))
    if kind == "zpl":
        timeout = spec.get("timeout", 10.0)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 120:
            raise ValueError("label printer 'timeout' must be 0-120 seconds")
        return ZebraPrinter(str(value), timeout=float(timeout))
    model, label = spec.get("model", DEFAULT_MODEL), spec.get("label")
    if not isinstance(model, str):
        raise ValueError("label printer 'model' must be a Brother QL model name")
    if label is not None and not isinstance(label, str):
        raise ValueError("label printer 'label' must be a brother_ql label id")
    return BrotherQLPrinter(str(value), model, label=label)
