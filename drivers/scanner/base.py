"""What every barcode scanner offers the till, and the reader-thread plumbing they share.

Scanners read on their own daemon thread and call `on_scan` from it; the till marshals scans to its
own thread. Stopping must never wait on hardware, so every blocking wait in a reader goes through
`_wait_readable` (poll that also watches a wake-up pipe) or `_stopping.wait` (an Event)."""

from __future__ import annotations

import errno
import logging
import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scan:
    code: str
    source: str
    at: float  # time.monotonic() when the terminator arrived


OnScan = Callable[[Scan], None]


class Scanner(Protocol):
    name: str
    connected: bool

    def start(self, on_scan: OnScan) -> None: ...

    def stop(self) -> None: ...


class ThreadedScanner:
    """Start/stop, a crash-proof reader thread and safe delivery; subclasses write `_run`.

    `_run` returns when `_stopping` is set; an unexpected exception is logged and `_run` is called
    again after `retry_s`, so a driver bug or odd device costs one scan, not the scanner."""

    def __init__(self, name: str, retry_s: float = 0.5, clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.connected = False
        self._retry_s = retry_s
        self._clock = clock
        self._on_scan: OnScan | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake_r = -1
        self._wake_w = -1
        self._problem: str | None = None  # last logged reason for not reading, to log each once

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, on_scan: OnScan) -> None:
        if self._thread is not None:
            raise RuntimeError(f"scanner {self.name} already started")
        self._on_scan = on_scan
        self._stopping.clear()
        self._wake_r, self._wake_w = os.pipe()
        try:
            self._prepare()
        except BaseException:
            self._close_wake_pipe()
            raise
        self._thread = threading.Thread(target=self._main, name=f"scanner:{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        self._wake()
        if thread is threading.current_thread():
            return  # stop() from on_scan: the thread ends when the callback returns
        thread.join(timeout_s)
        self._thread = None
        if thread.is_alive():  # keep the pipe open: the stuck thread may still poll it
            log.warning("scanner_stop_timeout scanner=%s", self.name)
            return
        self._close_wake_pipe()

    # --- for subclasses -------------------------------------------------------------------------

    def _prepare(self) -> None:
        """Runs in start(), before the thread: for set-up that callers rely on once start() returns."""

    def _run(self) -> None:
        raise NotImplementedError

    def _wake(self) -> None:
        """Interrupt any blocking wait of the reader thread; subclasses add their own (cancel_read)."""
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def _note_problem(self, key: str, msg: str, *args: object) -> None:
        """Retrying twice a second must not flood the log: a problem is logged when it starts or
        changes (under the subclass's module logger). Reset `_problem` to None once reading again."""
        if self._problem != key:
            self._problem = key
            logging.getLogger(type(self).__module__).warning(msg, *args)

    def _note_open_failure(self, exc: OSError, permission_fix: str) -> None:
        """A device that would not open: the fix when it is a permission, else the error (each once)."""
        if exc.errno == errno.EACCES:
            self._note_problem("eacces", "scanner_open_failed scanner=%s errno=%s fix=\"%s\"",
                               self.name, exc.errno, permission_fix)
        else:
            self._note_problem(f"open:{exc.errno}", "scanner_open_failed scanner=%s errno=%s error=%s",
                               self.name, exc.errno, exc.strerror or exc)

    def _wait_readable(self, sources: list[Any]) -> list[Any]:
        """Block until one of `sources` (fds or objects with fileno()) is readable or stop() is called.

        Returns the readable sources (hang-ups and errors count: the following read reports them)."""
        poller = select.poll()
        by_fd: dict[int, Any] = {}
        for source in sources:
            fd = source if isinstance(source, int) else source.fileno()
            by_fd[fd] = source
            poller.register(fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        ready = poller.poll()
        return [by_fd[fd] for fd, _ in ready if fd in by_fd]

    def _deliver(self, code: str) -> None:
        if self._stopping.is_set():
            return  # the rest of a batch read before stop(): the caller no longer wants scans
        scan = Scan(code=code, source=self.name, at=self._clock())
        # The code itself is not logged: MobilePay QR codes carry a phone number.
        log.info("scanner_scan scanner=%s chars=%d", self.name, len(code))
        if self._on_scan is None:
            return
        try:
            self._on_scan(scan)
        except Exception:
            log.exception("scanner_callback_failed scanner=%s", self.name)

    # --- internals ------------------------------------------------------------------------------

    def _main(self) -> None:
        while not self._stopping.is_set():
            try:
                self._run()
            except Exception:
                log.exception("scanner_crashed scanner=%s retry_s=%s", self.name, self._retry_s)
            self.connected = False
            self._stopping.wait(self._retry_s)  # only waits if _run gave up without a stop
        self.connected = False

    def _close_wake_pipe(self) -> None:
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1


def close_quietly(device: Any) -> None:
    """Close a device that may already be gone (closing also releases an evdev grab)."""
    try:
        device.close()
    except OSError:
        pass
