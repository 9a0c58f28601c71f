"""The real receipt printer: ESC/POS jobs through python-escpos's transports (Usb, Serial,
Network), and the printer's status by DLE EOT.

A job goes out in one write, so the printer never sees half a receipt followed by the next one.
Any transport error closes the connection and raises PrinterUnavailable; the next send opens a
new one, so a printer that was switched off and on again just works. On a network printer the
job is followed by one DLE EOT 1: TCP accepts bytes into the kernel's buffer even when the
printer has already gone, and the printer's reply (or the reset instead of one) is how we know.
Nothing touches hardware until the first send or status."""

from __future__ import annotations

from . import escpos_cache  # noqa: F401  (must come before escpos: see there)

# isort: split

import logging
import re
import socket
import threading
from collections.abc import Callable, Mapping

import serial
import usb.core
from escpos.escpos import Escpos
from escpos.exceptions import DeviceNotFoundError
from escpos.printer import Network, Serial, Usb

from .base import UNREACHABLE, PrinterStatus, PrinterUnavailable, ReceiptPrinterPort
from .document import COLUMNS_BY_PAPER, Document
from .escpos_out import check_printer, printer_model, profile_columns, render_escpos

log = logging.getLogger(__name__)

DLE_EOT = b"\x10\x04"
# Every DLE EOT reply byte has bits 1 and 4 set and bits 0 and 7 clear; anything else is not a
# status reply (an echo, a stray byte), and is treated as "the printer did not say".
_FIXED_MASK, _FIXED_BITS = 0x93, 0x12
_TRANSPORT_ERRORS = (OSError, DeviceNotFoundError, usb.core.NoBackendError)  # socket, serial, USB
NETWORK_TIMEOUT_S = 10.0
USB_TIMEOUT_MS = 10_000
SERIAL_WRITE_TIMEOUT_S = 10.0


def _status_byte(b: int | None) -> int | None:
    return b if b is not None and (b & _FIXED_MASK) == _FIXED_BITS else None


def parse_status(printer: int | None, offline: int | None, paper: int | None, *,
                 drawer_open_high: bool = True) -> PrinterStatus:
    """Replies to DLE EOT 1 (printer), 2 (offline cause) and 4 (roll paper), Epson's meanings.
    Whether drawer pin 3 high means open depends on the drawer's switch: `drawer_open_high`."""
    p, o, r = _status_byte(printer), _status_byte(offline), _status_byte(paper)
    paper_out = None
    if o is not None or r is not None:
        paper_out = bool((o or 0) & 0x20) or bool((r or 0) & 0x60)
    return PrinterStatus(
        online=p is not None and not p & 0x08,
        paper_low=None if r is None else bool(r & 0x0C),
        paper_out=paper_out,
        cover_open=None if o is None else bool(o & 0x04),
        drawer_open=None if p is None else bool(p & 0x04) == drawer_open_high,
    )


class UrlSerial(Serial):
    """python-escpos's Serial opened with pyserial's serial_for_url, so `loop://` (tests) and
    `rfc2217://` / `socket://` serial servers work as well as /dev/tty*; with a write timeout, so
    a printer holding flow control off raises instead of hanging the till."""

    def __init__(self, devfile: str, baudrate: int = 38400, *,
                 write_timeout: float = SERIAL_WRITE_TIMEOUT_S, **kwargs: object) -> None:
        super().__init__(devfile=devfile, baudrate=baudrate, **kwargs)
        self.write_timeout = write_timeout

    def open(self, raise_not_found: bool = True) -> None:
        if self._device:
            self.close()
        try:
            self.device = serial.serial_for_url(
                self.devfile, baudrate=self.baudrate, bytesize=self.bytesize, parity=self.parity,
                stopbits=self.stopbits, timeout=self.timeout, xonxoff=self.xonxoff, dsrdtr=self.dsrdtr,
                write_timeout=self.write_timeout)
        except (ValueError, serial.SerialException) as exc:
            self.device = None  # type: ignore[assignment]  # python-escpos types it as open; None is "closed"
            if raise_not_found:
                raise DeviceNotFoundError(f"Unable to open serial printer on {self.devfile}: {exc}") from exc
            log.error("serial_printer_not_found device=%s error=%s", self.devfile, exc)


class TcpPrinter(Network):
    """python-escpos's Network, but a failed connect closes its socket (python-escpos leaves it
    to the garbage collector, once per retry against a switched-off printer)."""

    def open(self, raise_not_found: bool = True) -> None:
        if self._device:
            self.close()
        try:
            self.device = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            self.device = None  # type: ignore[assignment]  # python-escpos types it as open; None is "closed"
            if raise_not_found:
                raise DeviceNotFoundError(f"Could not connect to {self.host}:{self.port}: {exc}") from exc
            log.error("network_printer_not_found host=%s port=%s error=%s", self.host, self.port, exc)


class ReceiptPrinter:
    """One ESC/POS printer behind a python-escpos transport. Thread-safe: a status poll never
    lands in the middle of a job."""

    def __init__(self, transport: Escpos, profile: str = "default", columns: int = 48,
                 codepage: str = "CP865", *, name: str | None = None, status_timeout: float = 1.0,
                 confirm: bool | None = None, drawer_open_high: bool = True,
                 answers_status: bool = True) -> None:
        check_printer(profile, codepage, columns)
        self.transport = transport
        self.profile, self.columns, self.codepage = profile, columns, codepage.upper()
        self.name = name or type(transport).__name__.lower()
        self.status_timeout = status_timeout
        self.confirm = isinstance(transport, Network) if confirm is None else confirm
        self.drawer_open_high = drawer_open_high
        self.answers_status = answers_status  # False for clones that never answer DLE EOT
        self._lock = threading.Lock()

    def render(self, doc: Document) -> bytes:
        return render_escpos(doc, self.profile, self.columns, self.codepage)

    def send(self, job: bytes) -> None:
        """The whole job in one write. Raises PrinterUnavailable if it did not get there."""
        with self._lock:
            try:
                self.transport._raw(job)  # opens the connection if needed
                if self.confirm and self.answers_status:
                    self._confirm()
            except _TRANSPORT_ERRORS as exc:
                self._drop()
                log.warning("receipt_send_failed printer=%s bytes=%d error=%r", self.name, len(job), str(exc))
                raise PrinterUnavailable(f"receipt printer {self.name} is unavailable: {exc}") from exc
        log.info("receipt_sent printer=%s bytes=%d", self.name, len(job))

    def status(self) -> PrinterStatus:
        """DLE EOT 1, 2 and 4, each answered within status_timeout; never raises. A printer set
        up as not answering status is online when its connection opens, and says nothing else."""
        with self._lock:
            if not self.answers_status:
                try:
                    self._drop()  # a fresh connection is the only sign of life such a printer gives
                    if not self.transport.device:  # python-escpos opens it on first access
                        raise DeviceNotFoundError(f"{self.name} did not open")
                    return PrinterStatus(True, None, None, None, None)
                except _TRANSPORT_ERRORS as exc:
                    self._drop()
                    log.info("receipt_status_unreachable printer=%s error=%r", self.name, str(exc))
                    return UNREACHABLE
            replies: list[int | None] = []
            try:
                for n in (1, 2, 4):
                    self.transport._raw(DLE_EOT + bytes((n,)))
                    reply = self._read(self.status_timeout)
                    if reply is None and n == 1:
                        log.info("receipt_status_silent printer=%s", self.name)
                        return UNREACHABLE
                    replies.append(reply[-1] if reply else None)  # the last byte: the newest answer
            except _TRANSPORT_ERRORS as exc:
                self._drop()
                log.info("receipt_status_unreachable printer=%s error=%r", self.name, str(exc))
                return UNREACHABLE
        return parse_status(*replies, drawer_open_high=self.drawer_open_high)

    def close(self) -> None:
        with self._lock:
            self._drop()

    # --- transport seams ------------------------------------------------------------------

    def _confirm(self) -> None:
        self.transport._raw(DLE_EOT + b"\x01")
        reply = self._read(self.status_timeout)
        if reply is None:  # some clones never answer; the job may well be printing
            log.warning("receipt_no_status_reply printer=%s", self.name)
        elif (b := _status_byte(reply[-1])) is not None and b & 0x08:
            log.warning("receipt_printer_offline printer=%s status=0x%02x", self.name, b)

    def _read(self, timeout: float) -> bytes | None:
        """Up to 16 bytes from the printer; None if it said nothing within `timeout`."""
        t = self.transport
        dev = t.device
        if isinstance(t, Network):
            old = dev.gettimeout()
            dev.settimeout(timeout)
            try:
                data = dev.recv(16)
            except TimeoutError:
                return None
            finally:
                dev.settimeout(old)
            if not data:
                raise ConnectionError("the printer closed the connection")
            return data
        if isinstance(t, Serial):
            old = dev.timeout
            dev.timeout = timeout
            try:
                return bytes(dev.read(16)) or None
            finally:
                dev.timeout = old
        if isinstance(t, Usb):
            try:
                return bytes(dev.read(t.in_ep, 16, int(timeout * 1000))) or None
            except usb.core.USBTimeoutError:
                return None
        try:
            return bytes(t._read()) or None
        except NotImplementedError:
            return None

    def _drop(self) -> None:
        try:
            self.transport.close()
        except Exception as exc:  # a dead device may fail to close; it is gone either way
            log.debug("receipt_close_failed printer=%s error=%r", self.name, str(exc))
        self.transport.device = False  # python-escpos reopens on next use only from False


# --- construction from settings -------------------------------------------------------------

_COMMON_KEYS = {"kind", "profile", "paper_mm", "codepage", "columns", "status"}
_KIND_KEYS: dict[str, tuple[set[str], set[str]]] = {  # required, optional
    "usb": ({"vendor_id", "product_id"}, {"in_ep", "out_ep"}),
    "serial": ({"device"}, {"baudrate"}),
    "network": ({"host"}, {"port"}),
    "sim": ({"dir"}, set()),
}


def _text(spec: Mapping[str, object], key: str, default: str | None = None) -> str:
    value = spec.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"printer spec {key!r} must be a non-empty string, not {value!r}")
    return value.strip()


def _whole(spec: Mapping[str, object], key: str, default: int, lo: int, hi: int) -> int:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"printer spec {key!r} must be a whole number {lo}-{hi}, not {value!r}")
    return value


def _usb_id(spec: Mapping[str, object], key: str) -> int:
    value = spec.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 0xFFFF:
        return value
    if isinstance(value, str) and re.fullmatch(r"(0x)?[0-9a-fA-F]{1,4}", value.strip()):
        return int(value.strip().removeprefix("0x"), 16)
    raise ValueError(f"printer spec {key!r} must be a USB id like '04b8', not {value!r}")


def open_receipt_printer(spec: Mapping[str, object],
                         simulated: Callable[[str, str, int, str], ReceiptPrinterPort] | None = None
                         ) -> ReceiptPrinterPort:
    """A printer from its settings. Validates everything, touches no hardware; a bad spec raises
    ValueError naming the key. Keys: kind (usb | serial | network | sim) and its own keys
    (vendor_id, product_id [, in_ep, out_ep] | device [, baudrate] | host [, port] | dir), plus
    profile (python-escpos name, "default"), paper_mm (58 | 80; 80), codepage ("CP865") and
    columns (default: the paper's, fewer if the profile's head is narrower); status (true; false
    for a printer that never answers DLE EOT, so the print queue does not wait on its silence)."""
    kind = spec.get("kind")
    if not isinstance(kind, str) or kind not in _KIND_KEYS:
        raise ValueError(f"printer spec 'kind' must be one of {', '.join(_KIND_KEYS)}, not {kind!r}")
    required, optional = _KIND_KEYS[kind]
    for key in spec:
        if key not in _COMMON_KEYS | required | optional:
            raise ValueError(f"printer spec has unknown key {key!r} for kind {kind!r}")
    for key in sorted(required):
        if key not in spec:
            raise ValueError(f"printer spec for kind {kind!r} needs key {key!r}")
    profile = _text(spec, "profile", "default")
    codepage = _text(spec, "codepage", "CP865").upper()
    paper_mm = spec.get("paper_mm", 80)
    if not isinstance(paper_mm, int) or isinstance(paper_mm, bool) or paper_mm not in COLUMNS_BY_PAPER:
        raise ValueError(f"printer spec 'paper_mm' must be one of {sorted(COLUMNS_BY_PAPER)}, "
                         f"not {paper_mm!r}")
    try:
        printer_model(profile)  # the profile alone first, to name the right key
    except ValueError as exc:
        raise ValueError(f"printer spec 'profile': {exc}") from exc
    columns = profile_columns(profile, COLUMNS_BY_PAPER[paper_mm])
    if "columns" in spec:
        columns = _whole(spec, "columns", columns, 16, 80)
    try:
        check_printer(profile, codepage, columns)
    except ValueError as exc:
        raise ValueError(f"printer spec 'codepage': {exc}") from exc

    if kind == "sim":  # the simulated back end is handed in (drivers.backends): drivers never import twins
        if simulated is None:
            raise ValueError("printer spec kind 'sim' needs the simulated back end (drivers.backends)")
        return simulated(_text(spec, "dir"), profile, columns, codepage)
    if kind == "usb":
        vid, pid = _usb_id(spec, "vendor_id"), _usb_id(spec, "product_id")
        transport: Escpos = Usb(vid, pid, timeout=USB_TIMEOUT_MS, in_ep=_whole(spec, "in_ep", 0x82, 1, 0xFF),
                                out_ep=_whole(spec, "out_ep", 0x01, 1, 0xFF), profile=profile)
        name = f"usb:{vid:04x}:{pid:04x}"
    elif kind == "serial":
        device = _text(spec, "device")
        transport = UrlSerial(device, _whole(spec, "baudrate", 38400, 1200, 921600), profile=profile)
        name = f"serial:{device}"
    else:
        host = _text(spec, "host")
        port = _whole(spec, "port", 9100, 1, 65535)
        transport = TcpPrinter(host, port, timeout=NETWORK_TIMEOUT_S, profile=profile)
        name = f"network:{host}:{port}"
    answers = spec.get("status", True)
    if not isinstance(answers, bool):
        raise ValueError(f"printer spec 'status' must be true or false, not {answers!r}")
    return ReceiptPrinter(transport, profile, columns, codepage, name=name, answers_status=answers)
