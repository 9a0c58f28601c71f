"""A fake ESC/POS network printer (raw TCP, like port 9100) on 127.0.0.1, for tests.

It records every byte it receives, answers DLE EOT n status queries from its settings, and can
be told to go down (the listener closes: connections are refused) and come back on the same
port, to vanish after N more bytes (a printer unplugged mid-receipt: the connection is reset),
or to report paper out, cover open, paper low or the drawer open.

    with FakeNetworkPrinter() as fake:               # started
        printer = open_receipt_printer({"kind": "network", "host": "127.0.0.1", "port": fake.port})
        printer.send(job)
        assert fake.jobs() == [job]
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from types import TracebackType

from drivers.printer.escpos_read import Op, TruncatedError, parse_escpos

DLE_EOT = b"\x10\x04"
OK = 0x12  # the fixed bits of every status byte: bit 1 and bit 4 set


class FakeNetworkPrinter:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._chunks: list[bytearray] = []  # per connection, in accept order
        self._drop_after: int | None = None
        self.queries: list[int] = []  # every DLE EOT n answered (or not), in order
        self.answer = True  # False: a printer that never answers status queries
        self.paper_out = self.cover_open = self.paper_low = self.drawer_open = self.offline = False
        self.connections_accepted = 0

    # --- life cycle -----------------------------------------------------------------------

    def start(self) -> FakeNetworkPrinter:
        self._listen()
        return self

    def stop(self) -> None:
        self._close_listener()
        self._reset_connections()
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> FakeNetworkPrinter:
        return self.start() if self._listener is None else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def go_down(self) -> None:
        """Switched off: open connections are reset and new ones refused, until come_back()."""
        self._close_listener()
        self._reset_connections()

    def come_back(self) -> None:
        self._listen()

    # --- faults and status ----------------------------------------------------------------

    def drop_after(self, n: int) -> None:
        """Keep the next n bytes received, then reset that connection (once)."""
        with self._lock:
            self._drop_after = n

    def set_status(self, *, paper_out: bool | None = None, cover_open: bool | None = None,
                   paper_low: bool | None = None, drawer_open: bool | None = None,
                   offline: bool | None = None, answer: bool | None = None) -> None:
        with self._lock:
            for key, value in (("paper_out", paper_out), ("cover_open", cover_open), ("paper_low", paper_low),
                               ("drawer_open", drawer_open), ("offline", offline), ("answer", answer)):
                if value is not None:
                    setattr(self, key, value)

    def status_byte(self, n: int) -> int:
        """What an Epson printer answers to DLE EOT n in the current state."""
        stopped = self.offline or self.cover_open or self.paper_out
        if n == 1:
            return OK | (0x04 if self.drawer_open else 0) | (0x08 if stopped else 0)
        if n == 2:
            return OK | (0x04 if self.cover_open else 0) | (0x20 if self.paper_out else 0)
        if n == 4:
            return OK | (0x0C if self.paper_low else 0) | (0x60 if self.paper_out else 0)
        return OK

    # --- what arrived ---------------------------------------------------------------------

    @property
    def received(self) -> bytes:
        """Every byte received, all connections, in order."""
        with self._lock:
            return b"".join(bytes(c) for c in self._chunks)

    @property
    def connections(self) -> list[bytes]:
        with self._lock:
            return [bytes(c) for c in self._chunks]

    def jobs(self) -> list[bytes]:
        """The print data split into jobs: a job ends at its cut (GS V) plus whatever follows
        before the next ESC @ (the drawer kick); status queries are left out. An unfinished
        tail (no cut, or cut off mid-command) is the last job."""
        jobs: list[bytes] = []
        for data in self.connections:
            try:
                ops = parse_escpos(data).ops
                tail = b""
            except TruncatedError as exc:
                ops, tail = parse_escpos(data[:exc.offset]).ops, data[exc.offset:]
            jobs.extend(_split_jobs(ops, tail))
        return jobs

    def wait_jobs(self, n: int, timeout: float = 5.0) -> list[bytes]:
        """The jobs, once at least n have arrived (the till's send returns before this server's
        thread has read the bytes) or the timeout passed."""
        deadline = time.monotonic() + timeout
        while len(jobs := self.jobs()) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return jobs

    def wait_for(self, n: int, timeout: float = 5.0) -> bytes:
        """Block until at least n bytes have arrived (all connections); returns them."""
        with self._changed:
            self._changed.wait_for(lambda: sum(map(len, self._chunks)) >= n, timeout)
        return self.received

    # --- the server -----------------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(8)
        self.port = listener.getsockname()[1]
        self._listener = listener
        t = threading.Thread(target=self._accept, args=(listener,), name=f"fake-printer-{self.port}",
                             daemon=True)
        self._threads.append(t)
        t.start()

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked in its thread
            except OSError:
                pass
            listener.close()

    def _reset_connections(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            _reset(conn)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                buf = bytearray()
                self._chunks.append(buf)
                self._conns.append(conn)
                self.connections_accepted += 1
            t = threading.Thread(target=self._serve, args=(conn, buf), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket, buf: bytearray) -> None:
        tail = b""  # the last bytes of the previous chunk: a query may straddle two reads
        while True:
            try:
                chunk = conn.recv(4096)
            except OSError:
                break
            if not chunk:
                break
            with self._changed:
                drop = False
                if self._drop_after is not None:
                    if len(chunk) >= self._drop_after:
                        chunk, drop, self._drop_after = chunk[:self._drop_after], True, None
                    else:
                        self._drop_after -= len(chunk)
                buf.extend(chunk)
                self._changed.notify_all()
                answers = b"" if drop else self._answers(tail + chunk, len(tail))
            tail = (tail + chunk)[-2:]
            if drop:
                _reset(conn)
                break
            if answers:
                try:
                    conn.sendall(answers)
                except OSError:
                    break
        with self._lock:
            if conn in self._conns:
                self._conns.remove(conn)
        conn.close()

    def _answers(self, data: bytes, skip: int) -> bytes:
        """Replies to every DLE EOT n that ends in the new bytes (a real printer also reacts to
        the sequence wherever it occurs, even inside image data)."""
        out = bytearray()
        i = data.find(DLE_EOT)
        while i >= 0 and i + 2 < len(data):
            if i + 2 >= skip and 1 <= data[i + 2] <= 4:
                self.queries.append(data[i + 2])
                if self.answer:
                    out.append(self.status_byte(data[i + 2]))
            i = data.find(DLE_EOT, i + 1)
        return bytes(out)


def _reset(conn: socket.socket) -> None:
    """Close with RST, as a printer losing power would look to the till."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close()


def _split_jobs(ops: list[Op], tail: bytes) -> list[bytes]:
    jobs: list[bytes] = []
    current = bytearray()
    after_cut = False
    for op in ops:
        if op.name == "status_query":
            continue
        if op.name == "init" and after_cut:
            jobs.append(bytes(current))
            current, after_cut = bytearray(), False
        current.extend(op.raw)
        after_cut = after_cut or op.name == "cut"
    current.extend(tail)
    if current:
        jobs.append(bytes(current))
    return jobs
