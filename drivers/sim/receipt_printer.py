"""The receipt printer's simulated twin, for `make run` and tests: same render/send/status/close
as ReceiptPrinter, but each job is parsed back and left in a folder as NNNN.txt and NNNN.png.

It parses the real ESC/POS bytes (not the Document), so what lands in the folder is what a real
printer would have been told. Its paper, cover and power can be changed by attributes (tests) or
by editing <dir>/state.json while the till runs ({"paper_out": true} pulls the paper out)."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from drivers.printer.base import PrinterStatus, PrinterUnavailable
from drivers.printer.document import Document
from drivers.printer.escpos_out import check_printer, codepage_slots, dot_width, render_escpos
from drivers.printer.escpos_read import Parsed, parse_escpos, render_png, render_text

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
KICKS_FILE = "kicks.log"
STATE_KEYS = ("online", "paper_low", "paper_out", "cover_open", "drawer_open")
_JOB_FILE = re.compile(r"^(\d{4,})\.(txt|png)$")


class SimReceiptPrinter:
    def __init__(self, directory: str | os.PathLike[str], profile: str = "default", columns: int = 48,
                 codepage: str = "CP865", *, clock: Callable[[], datetime] | None = None) -> None:
        check_printer(profile, codepage, columns)  # a bad profile or page fails at set-up, not at a sale
        self.dir = Path(directory)
        self.profile, self.columns, self.codepage = profile, columns, codepage.upper()
        self.dots = dot_width(profile, columns)
        self.online = True
        self.paper_low = False
        self.paper_out = False
        self.cover_open = False
        self.drawer_open = False
        self.clock = clock or (lambda: datetime.now(UTC))
        self._slots = codepage_slots(profile)
        self._next: int | None = None
        self._state_seen: bytes | None = None
        self._lock = threading.Lock()

    def render(self, doc: Document) -> bytes:
        return render_escpos(doc, self.profile, self.columns, self.codepage)

    def send(self, job: bytes) -> None:
        """Print: parse the bytes, write NNNN.txt and NNNN.png, log drawer kicks. Raises
        PrinterUnavailable (and writes nothing) when off, out of paper or with the cover open."""
        with self._lock:
            self._read_state()
            why = self._cannot_print()
            if why:
                log.warning("sim_receipt_refused dir=%s reason=%s", self.dir, why)
                raise PrinterUnavailable(f"simulated receipt printer: {why}")
            parsed = parse_escpos(job, codepages=self._slots)
            number = self._number()
            if parsed.paper:  # a bare drawer kick (ESC p alone) leaves no paper behind
                self._write(f"{number:04d}.png", _png_bytes(parsed, self.dots))
                self._write(f"{number:04d}.txt", render_text(parsed, self.columns).encode("utf-8"))
                self._next = number + 1
            job_name = f"{number:04d}" if parsed.paper else "none"
            if parsed.kicks:
                stamp = self.clock().isoformat(timespec="seconds")
                with (self.dir / KICKS_FILE).open("a", encoding="utf-8") as f:
                    for pin, on_ms, off_ms in parsed.kicks:
                        f.write(f"{stamp} job={job_name} pin={pin} on_ms={on_ms} off_ms={off_ms}\n")
        log.info("sim_receipt_printed dir=%s job=%s bytes=%d lines=%d barcodes=%d cuts=%d kicks=%d",
                 self.dir, job_name, len(job), len(parsed.lines), len(parsed.barcodes), parsed.cuts,
                 len(parsed.kicks))

    def status(self) -> PrinterStatus:
        with self._lock:
            self._read_state()
            # A real printer goes offline with the cover open or the paper out.
            return PrinterStatus(online=self.online and not self.cover_open and not self.paper_out,
                                 paper_low=self.paper_low, paper_out=self.paper_out,
                                 cover_open=self.cover_open, drawer_open=self.drawer_open)

    def close(self) -> None:
        """Nothing to release; here so the till can treat both printers alike."""

    # --- internals ------------------------------------------------------------------------

    def _cannot_print(self) -> str | None:
        if not self.online:
            return "offline"
        if self.paper_out:
            return "paper out"
        if self.cover_open:
            return "cover open"
        return None

    def _read_state(self) -> None:
        """Apply state.json when its content changed since we last applied it, so attributes
        set in code hold until someone edits the file."""
        try:
            raw = (self.dir / STATE_FILE).read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("sim_receipt_state_unreadable dir=%s error=%r", self.dir, str(exc))
            return
        if raw == self._state_seen:
            return
        self._state_seen = raw
        try:
            state = json.loads(raw or b"{}")
        except ValueError as exc:
            log.warning("sim_receipt_state_invalid dir=%s error=%r", self.dir, str(exc))
            return
        if not isinstance(state, dict):
            log.warning("sim_receipt_state_invalid dir=%s error='not an object'", self.dir)
            return
        for key, value in state.items():
            if key in STATE_KEYS and isinstance(value, bool):
                setattr(self, key, value)
            else:
                log.warning("sim_receipt_state_ignored dir=%s key=%r", self.dir, key)

    def _number(self) -> int:
        """Next job number; on the first job, one past the highest already in the folder."""
        if self._next is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            found = [int(m.group(1)) for p in self.dir.iterdir() if (m := _JOB_FILE.match(p.name))]
            self._next = max(found, default=0) + 1
        return self._next

    def _write(self, name: str, data: bytes) -> None:
        """Whole files only: whoever watches the folder never sees half a receipt."""
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, self.dir / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _png_bytes(parsed: Parsed, dots: int) -> bytes:
    buf = io.BytesIO()
    render_png(parsed, dots).save(buf, "PNG")
    return buf.getvalue()
