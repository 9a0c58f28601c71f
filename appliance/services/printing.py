"""The receipt printer's queue: a sale never waits on the printer.

A receipt's job row is written in the sale's own transaction (so a sale that happened always has
its receipt to print), and the queue sends each job whole, in order, marking it printed only once
the printer took all of it. A printer that is off, out of paper or open just holds the queue: the
cashier is told in Danish, and the jobs print when it is back. A job is rendered when it prints,
from the journal, so a reprint after a long outage still shows the sale as it was."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drivers.printer.document import Document

from ..render.receipt_text import render_receipt_doc
from ..render.report_text import render_report_doc
from ..store.db import transaction
from ..store.journal import entry
from ..store.settings import shop
from .till import Till, open_till

if TYPE_CHECKING:
    from drivers.printer.base import PrinterStatus

log = logging.getLogger(__name__)

JOB_KINDS = ("receipt", "copy", "report", "document")
LOGO_FILE = "logo.png"

MSG_OFFLINE = "Printeren svarer ikke. Bonen er gemt og udskrives, når printeren er tilbage."
MSG_PAPER_OUT = "Printeren mangler papir. Bonen er gemt og udskrives, når der er sat papir i."
MSG_COVER_OPEN = "Printerens låg er åbent. Bonen udskrives, når låget er lukket."
MSG_PAPER_LOW = "Papirrullen er ved at slippe op."
MSG_NO_PRINTER = "Der er ingen bonprinter sat op."


def enqueue(conn: sqlite3.Connection, kind: str, when: str, ref: int | None = None,
            document: Document | None = None) -> int:
    """Add a job inside the caller's transaction."""
    if kind not in JOB_KINDS:
        raise ValueError(f"print job kind must be one of {', '.join(JOB_KINDS)}")
    cur = conn.execute(
        "INSERT INTO print_jobs (created, kind, ref, document) VALUES (?, ?, ?, ?)",
        (when, kind, ref, json.dumps(document.to_json(), ensure_ascii=False) if document else None))
    return int(cur.lastrowid or 0)


def queue_job(till: Till, kind: str, ref: int | None = None, document: Document | None = None) -> int:
    """Add a job in a transaction of its own (a screen's print, a test page)."""
    with transaction(till.conn):
        return enqueue(till.conn, kind, till.now().isoformat(), ref, document)


def job_state(conn: sqlite3.Connection, job: int) -> tuple[str, str | None]:
    """(state, last error) of a print job; ("missing", None) when there is none."""
    row = conn.execute("SELECT state, last_error FROM print_jobs WHERE id = ?", (job,)).fetchone()
    return (str(row[0]), row[1]) if row else ("missing", None)


def pending_jobs(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM print_jobs WHERE state = 'queued'").fetchone()[0]


@dataclass(frozen=True)
class QueueState:
    pending: int
    printed: tuple[int, ...]  # job ids printed by this pass
    ready: bool               # the printer took everything it was given
    message: str | None       # Danish, for the cashier; None when all is well

    def to_json(self) -> dict[str, Any]:
        return {"pending": self.pending, "printed": list(self.printed), "ready": self.ready,
                "message": self.message}


def hold_reason(status: PrinterStatus) -> str | None:
    """Why the printer cannot take a job now, in Danish; None when it can."""
    if status.paper_out:  # an Epson also calls itself offline then: the specific reason first
        return MSG_PAPER_OUT
    if status.cover_open:
        return MSG_COVER_OPEN
    if not status.online:
        return MSG_OFFLINE
    return None


class PrintQueue:
    """Drains `print_jobs` to one receipt printer. `pump()` is one pass (the CLI calls it once);
    `start()` runs passes on a thread, woken by `wake()` and retried every `retry_s`."""

    def __init__(self, till: Till, printer: Any, retry_s: float = 2.0,
                 on_state: Callable[[QueueState], None] | None = None):
        self.till = till
        self.printer = printer
        self.retry_s = retry_s
        self.on_state = on_state
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last: QueueState | None = None

    def _render(self, till: Till, kind: str, ref: int | None, document: str | None) -> bytes:
        if kind == "document":
            return self.printer.render(Document.from_json(json.loads(document or "{}")))
        shop_info = shop(till.conn)
        width = int(self.printer.columns)
        if kind in ("receipt", "copy"):
            row = till.conn.execute("SELECT journal_nr FROM receipts WHERE receipt_number = ?",
                                    (ref,)).fetchone()
            if row is None:
                raise LookupError(f"no receipt {ref}")
            e = entry(till.conn, row[0])
            assert e is not None
            from ..render.sale_json import sale_json
            logo = _logo(till.data_dir)
            doc = render_receipt_doc(sale_json(e.data(), e.cashier, e.nr), shop_info, width,
                                     copy=kind == "copy", logo=logo)
            return self.printer.render(doc)
        e = entry(till.conn, int(ref or 0))
        if e is None or e.kind not in ("x_report", "z_report"):
            raise LookupError(f"journal entry {ref} is not a report")
        return self.printer.render(render_report_doc(e.data(), shop_info, width))

    def pump(self) -> QueueState:
        return self._pump_with(self.till)

    def _pump_with(self, till: Till) -> QueueState:
        with self._lock:
            state = self._pump(till)
        self.last = state
        if self.on_state is not None:
            self.on_state(state)
        return state

    def _pump(self, till: Till) -> QueueState:
        from drivers.printer.base import PrinterUnavailable

        conn = till.conn
        jobs = conn.execute("SELECT id, kind, ref, document FROM print_jobs WHERE state = 'queued' "
                            "ORDER BY id").fetchall()
        printed: list[int] = []
        if not jobs:
            return QueueState(0, (), True, None)
        if self.printer is None:
            return QueueState(len(jobs), (), False, MSG_NO_PRINTER)
        status = self.printer.status()
        reason = hold_reason(status)
        if reason is not None:
            log.info("event=print_held pending=%d reason=%s", len(jobs), _status_word(status))
            return QueueState(len(jobs), (), False, reason)
        for job_id, kind, ref, document in jobs:
            try:
                data = self._render(till, kind, ref, document)
            except (LookupError, ValueError, TypeError) as exc:
                # A job that can never render must not block every receipt behind it.
                log.error("event=print_job_unrenderable job=%d kind=%s error=%s", job_id, kind, exc)
                with transaction(conn):
                    conn.execute("UPDATE print_jobs SET attempts = attempts + 1, last_error = ?, "
                                 "state = 'failed' WHERE id = ?", (f"unrenderable: {exc}", job_id))
                continue
            try:
                self.printer.send(data)
            except PrinterUnavailable as exc:
                log.warning("event=print_failed job=%d error=%s", job_id, exc)
                with transaction(conn):
                    conn.execute("UPDATE print_jobs SET attempts = attempts + 1, last_error = ? "
                                 "WHERE id = ?", (str(exc)[:200], job_id))
                return QueueState(len(jobs) - len(printed), tuple(printed), False, MSG_OFFLINE)
            with transaction(conn):
                conn.execute("UPDATE print_jobs SET attempts = attempts + 1, state = 'printed', "
                             "printed_at = ? WHERE id = ? AND state = 'queued'",
                             (till.now().isoformat(), job_id))
            printed.append(job_id)
        return QueueState(0, tuple(printed), True, MSG_PAPER_LOW if status.paper_low else None)

    # --- the background worker for a long-running till -----------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="print-queue", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        own = open_till(self.till.data_dir, self.till.clock)  # a connection of the thread's own
        try:
            while not self._stop.is_set():
                try:
                    state: QueueState | None = self._pump_with(own)
                except Exception:  # the worker must outlive any one bad pass
                    log.exception("event=print_queue_error")
                    state = None
                wait = None if state is not None and state.pending == 0 else self.retry_s
                self._wake.wait(wait)
                self._wake.clear()
        finally:
            own.close()


def _logo(data_dir: Path) -> bytes | None:
    path = Path(data_dir) / LOGO_FILE
    return path.read_bytes() if path.is_file() else None


def _status_word(status: PrinterStatus) -> str:
    if status.paper_out:
        return "paper_out"
    if status.cover_open:
        return "cover_open"
    return "ok" if status.online else "offline"
