"""The simulated scanner: codes written to a named pipe (or typed on the terminal) arrive as scans.

`echo 5701234567899 > scanner.fifo` from any shell scans a code into a running `make run` till, and
tests write into the same pipe. The pipe is reopened whenever its last writer closes, so any number
of writers can come and go."""

from __future__ import annotations

import logging
import os
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from drivers.scanner.base import ThreadedScanner

log = logging.getLogger(__name__)


class SimScanner(ThreadedScanner):
    def __init__(self, fifo: str | None, keyboard: bool = False, stdin: TextIO = sys.stdin, *,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__("sim", clock=clock)
        self.fifo = fifo
        self.keyboard = keyboard
        self._stdin = stdin
        self._fifo_fd = -1
        self._buffers: dict[str, bytearray] = {"fifo": bytearray(), "stdin": bytearray()}

    def _prepare(self) -> None:
        # Done before start() returns, so a writer may open the pipe right away.
        if self.fifo is None:
            return
        path = Path(self.fifo)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            os.mkfifo(path, 0o600)
        elif not stat.S_ISFIFO(path.stat().st_mode):
            raise ValueError(f"{path} exists and is not a named pipe")
        self._open_fifo()

    def _run(self) -> None:
        stdin_fd = self._stdin_fd() if self.keyboard else -1
        try:
            if self.fifo is not None and self._fifo_fd < 0:
                self._open_fifo()
            self.connected = True
            while not self._stopping.is_set():
                for fd in self._wait_readable([fd for fd in (self._fifo_fd, stdin_fd) if fd >= 0]):
                    if self._stopping.is_set():
                        break
                    if fd == stdin_fd:
                        if not self._read("stdin", fd):
                            log.info("scanner_keyboard_closed scanner=%s", self.name)
                            stdin_fd = -1
                    elif not self._read("fifo", fd):
                        self._open_fifo()  # last writer gone: a fresh open waits for the next one
        finally:
            self.connected = False
            if self._fifo_fd >= 0:
                os.close(self._fifo_fd)
                self._fifo_fd = -1

    def _read(self, source: str, fd: int) -> bool:
        """Deliver the complete lines now readable on fd; False at end of file."""
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return True
        buffer = self._buffers[source]
        if not data:
            line = bytes(buffer)  # `echo -n CODE > fifo` has no newline: the close ends the code
            buffer.clear()
            self._deliver_line(line)
            return False
        buffer += data
        *lines, rest = bytes(buffer).split(b"\n")
        buffer[:] = rest
        for line in lines:
            self._deliver_line(line)
        return True

    def _deliver_line(self, line: bytes) -> None:
        code = line.decode("utf-8", errors="replace").strip()
        if code:
            self._deliver(code)

    def _open_fifo(self) -> None:
        assert self.fifo is not None
        # Non-blocking: opening for reading must not wait for a writer, or stop() could hang here.
        fd = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
        old, self._fifo_fd = self._fifo_fd, fd  # open the new end first: writers always find a reader
        if old >= 0:
            os.close(old)

    def _stdin_fd(self) -> int:
        try:
            return self._stdin.fileno()
        except (AttributeError, OSError, ValueError) as exc:  # pytest's captured stdin has no fd
            log.warning("scanner_keyboard_unavailable scanner=%s error=%s", self.name, exc)
            return -1
