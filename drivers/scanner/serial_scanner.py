"""A scanner in USB virtual-COM (CDC-ACM) mode: codes arrive as text lines, free of keyboard layouts.

Same rule as the keyboard wedge: deliver only codes that arrived whole and clean. Line noise, a
wrong baud rate or an unplug mid-code drop the code with a log line rather than ring up garbage."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

import serial

from drivers.scanner.base import ThreadedScanner, close_quietly

log = logging.getLogger(__name__)

_TERMINATORS = re.compile(rb"[\r\n\t]")
_PERMISSION_FIX = ("add the service user to the 'dialout' group (usermod -aG dialout USER, then restart "
                   "the service)")


class LineDecoder:
    """Splits a byte stream into codes on CR, LF, CRLF or Tab; pure, so tests feed it directly."""

    def __init__(self, max_length: int = 256, max_gap_s: float = 0.5):
        self.max_length = max_length
        self.max_gap_s = max_gap_s
        self._buffer = bytearray()
        self._overlong: int | None = None  # bytes of a too-long code, counted (not kept) to its end
        self._last_at: float | None = None

    @property
    def pending(self) -> int:
        return len(self._buffer) if self._overlong is None else self._overlong

    def feed(self, data: bytes, now: float) -> list[str]:
        """Take bytes received at `now` (monotonic seconds); return the codes they complete."""
        # A scanner sends a code in one go; bytes after a pause are a new code, not the rest of one.
        if self._last_at is not None and now - self._last_at > self.max_gap_s:
            self._drop(f"gap gap_ms={round((now - self._last_at) * 1000)}")
        self._last_at = now
        codes: list[str] = []
        parts = _TERMINATORS.split(data)
        for i, part in enumerate(parts):
            if self._overlong is not None:
                self._overlong += len(part)
            else:
                self._buffer += part
                if len(self._buffer) > self.max_length:
                    self._overlong = len(self._buffer)
                    self._buffer.clear()
            if i < len(parts) - 1:  # a terminator followed this part
                code = self._take()
                if code is not None:
                    codes.append(code)
        return codes

    def reset(self, reason: str) -> None:
        self._drop(reason)
        self._last_at = None

    def _take(self) -> str | None:
        if self._overlong is not None:
            self._drop("")
            return None
        raw = bytes(self._buffer)
        self._buffer.clear()
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            _log_drop("bad_utf8", len(raw))
            return None
        if not text:
            return None  # the LF of a CRLF, or a blank line: nothing was lost
        if not text.isprintable():
            _log_drop("non_printable", len(text))
            return None
        return text

    def _drop(self, reason: str) -> None:
        if self._overlong is not None:
            _log_drop(f"too_long max={self.max_length}", self._overlong)
        elif self._buffer:
            _log_drop(reason, len(self._buffer))
        self._buffer.clear()
        self._overlong = None


def _log_drop(reason: str, chars: int) -> None:
    log.warning("scanner_drop reason=%s chars=%d", reason, chars)


class SerialScanner(ThreadedScanner):
    def __init__(self, url: str, baudrate: int = 9600,
                 opener: Callable[..., Any] = serial.serial_for_url, retry_s: float = 0.5, *,
                 decoder: LineDecoder | None = None, read_timeout_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(f"serial:{url}", retry_s=retry_s, clock=clock)
        self.url = url
        self.baudrate = baudrate
        self.decoder = decoder or LineDecoder()
        self._opener = opener
        self._read_timeout_s = read_timeout_s  # a backstop: stop() cancels the read at once
        self._port: Any = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            port = self._open()
            if port is None:
                self._stopping.wait(self._retry_s)
                continue
            self._port = port
            try:
                self.connected = True
                self._problem = None
                log.info("scanner_connected scanner=%s", self.name)
                self._read(port)
            except OSError as exc:  # serial.SerialException is an OSError too
                log.warning("scanner_disconnected scanner=%s errno=%s error=%s", self.name, exc.errno, exc)
                self.decoder.reset("disconnect")
                self._stopping.wait(self._retry_s)  # a vanished port reappears only after udev has run
            finally:
                self.connected = False
                self._port = None
                close_quietly(port)
        self.decoder.reset("stop")

    def _open(self) -> Any:
        try:
            return self._opener(self.url, baudrate=self.baudrate, timeout=self._read_timeout_s)
        except OSError as exc:
            self._note_open_failure(exc, _PERMISSION_FIX)
            return None

    def _read(self, port: Any) -> None:
        while not self._stopping.is_set():
            data = port.read(max(1, port.in_waiting))
            if not data:
                continue
            for code in self.decoder.feed(data, self._clock()):
                self._deliver(code)

    def _wake(self) -> None:
        super()._wake()
        port = self._port
        if port is not None:
            try:
                port.cancel_read()
            except (OSError, AttributeError):
                pass  # closed meanwhile, or a transport without cancel: the read timeout ends it

