"""The Dinero uploader: every closed Z lands in the shop's cash journal exactly once.

Each send of a Z is a row in `dinero_transfers`. A row runs in steps (upload the Z PDF, post the
ledger item, or update a draft / reverse a booked item) and every step's result is committed before
the next, so a crash, a timeout or a lost response resumes where it stopped. A repeated post of the
same deterministic Id gets 409 (code 72) and is settled by reading the item's status, never by a
second item. Failures are sorted: transient ones (5xx, timeouts, dropped connections) back off
exponentially with jitter, 429 waits out the minute, a missing login waits for a new one, and a
refusal (400/422) stops that report with the reason while the others go on."""

from __future__ import annotations

import json
import logging
import os
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..dinero.errors import Duplicate, RateLimited, Rejected, Transient
from ..dinero.ledger import ledger_id, ledger_item
from ..dinero.tokens import LoginNeeded, TokenStore
from ..store import transfers
from ..store.db import transaction
from ..store.settings import get_meta
from .sdnotify import sd_notify
from .till import Till
from .wake import WAKE_SOCKET, wake_uploader

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 5.0
BACKOFF_CAP_S = 30 * 60.0
RATE_LIMIT_WAIT_S = 61.0
LOGIN_WAIT_S = 5 * 60.0
PENDING_BOOKING_WAIT_S = 30.0
MSG_LOGIN = "Dinero login needed"


class TransferError(ValueError):
    """A send that cannot be asked for (unknown Z, already queued)."""


# --- queueing (called by the till) ----------------------------------------------------------

def auto_transfer(till: Till) -> bool:
    return transfers.auto_transfer(till.conn)


def request_send(till: Till, z_number: int) -> dict[str, Any]:
    """`till reports send Z`: a Z never sent (or failed) is queued again as it is; a sent one gets
    a resend, which updates a draft in place or reverses a booked item and posts it anew."""
    if till.conn.execute("SELECT 1 FROM z_reports WHERE z_number = ?", (z_number,)).fetchone() is None:
        raise TransferError(f"no Z report {z_number}")
    now = till.now().isoformat()
    with transaction(till.conn):
        rows = till.conn.execute(
            "SELECT id, revision, action, state FROM dinero_transfers WHERE z_number = ? ORDER BY id",
            (z_number,)).fetchall()
        if any(state == "queued" for _id, _rev, _action, state in rows):
            raise TransferError(f"Z {z_number} is already queued for Dinero")
        sent = [r for r in rows if r[3] == "sent" and r[2] in ("post", "resend")]
        if not sent:
            failed = [r for r in rows if r[3] == "failed"]
            if failed:  # the same send again (its item was never created), from the start
                till.conn.execute(
                    "UPDATE dinero_transfers SET state = 'queued', attempts = 0, next_attempt = NULL, "
                    "last_error = NULL, lines = NULL WHERE id = ?", (failed[-1][0],))
                row_id = failed[-1][0]
            else:
                row_id = transfers.queue_post(till.conn, till.register_id, z_number, now)
        else:
            revision = max(r[1] for r in rows) + 1
            cvr = get_meta(till.conn, "cvr") or ""
            cur = till.conn.execute(
                "INSERT INTO dinero_transfers (z_number, revision, action, ledger_id, created) "
                "VALUES (?, ?, 'resend', ?, ?)",
                (z_number, revision, ledger_id(cvr, till.register_id, z_number, revision), now))
            row_id = int(cur.lastrowid or 0)
    wake_uploader(till.data_dir)
    return {"z_number": z_number, "transfer": row_id, "state": "queued"}


def transfer_states(till: Till) -> dict[int, dict[str, Any]]:
    """Per Z: state (not_sent | queued | sent | failed), transferred_at, error (the newest send)."""
    return transfers.transfer_states(till.conn)


# --- the work -------------------------------------------------------------------------------

@dataclass
class Row:
    id: int
    z_number: int
    revision: int
    action: str
    ledger_id: str
    org_id: int | None
    file_guid: str | None
    item_version: str | None
    lines: list[dict[str, Any]] | None
    attempts: int
    maybe_stored: bool

    @classmethod
    def of(cls, r: tuple) -> Row:
        return cls(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8]) if r[8] else None, r[9],
                   bool(r[10]))


_ROW = ("SELECT id, z_number, revision, action, ledger_id, org_id, file_guid, item_version, lines, "
        "attempts, maybe_stored FROM dinero_transfers")


class LocalRefusal(Rejected):
    """Refused before asking Dinero (accounts not mapped)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Uploader:
    """One pass (`run_once`) or a service (`serve`) over the queued transfers of one data folder."""

    def __init__(self, till: Till, connect: Callable[[], tuple[Any, int]],
                 rng: random.Random | None = None):
        self.till = till
        self.connect = connect  # -> (DineroClient, organization id); raises LoginNeeded
        self.rng = rng or random.Random()
        self._client: Any = None
        self._org: int | None = None

    # one pass ---------------------------------------------------------------------------------

    def due(self) -> list[Row]:
        now = self.till.now().isoformat()
        rows = self.till.conn.execute(
            _ROW + " WHERE state = 'queued' AND (next_attempt IS NULL OR next_attempt <= ?) ORDER BY id",
            (now,)).fetchall()
        return [Row.of(r) for r in rows]

    def run_once(self) -> list[dict[str, Any]]:
        """Work through every due transfer (those added on the way too, e.g. a reversal)."""
        results: list[dict[str, Any]] = []
        seen: set[int] = set()
        while True:
            rows = [r for r in self.due() if r.id not in seen]
            if not rows:
                return results
            for row in rows:
                seen.add(row.id)
                results.append(self._process(row))
                if results[-1]["state"] == "login_needed":
                    return results  # nothing else can go either

    def _client_org(self) -> tuple[Any, int]:
        if self._client is None:
            self._client, self._org = self.connect()
        assert self._org is not None
        return self._client, self._org

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _process(self, row: Row) -> dict[str, Any]:
        z = row.z_number
        try:
            client, org = self._client_org()
            if row.org_id is None:
                self._set(row.id, org_id=org)
            elif row.org_id != org:
                raise LocalRefusal(f"this Z was queued for organization {row.org_id}, the till is now "
                                   f"connected to {org}; send it again to post it there")
            if row.action == "resend":
                self._resend(client, org, row)
            else:
                self._post(client, org, row)
            log.info("event=z_transferred z=%d revision=%d action=%s", z, row.revision, row.action)
            return {"z_number": z, "transfer": row.id, "state": "sent"}
        except LoginNeeded as exc:
            self._close_client()
            self._retry(row, MSG_LOGIN, LOGIN_WAIT_S, count=False)
            log.warning("event=z_transfer_waiting z=%d reason=login_needed detail=%s", z, exc)
            return {"z_number": z, "transfer": row.id, "state": "login_needed", "error": MSG_LOGIN}
        except RateLimited:
            self._retry(row, "Dinero rate limit: waiting a minute", RATE_LIMIT_WAIT_S)
            return {"z_number": z, "transfer": row.id, "state": "queued", "error": "rate limited"}
        except Transient as exc:
            self._close_client()
            wait = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** row.attempts) * self.rng.uniform(0.5, 1.5)
            self._retry(row, f"temporary: {exc.message}", wait)
            log.warning("event=z_transfer_retry z=%d attempts=%d wait_s=%.0f error=%s", z, row.attempts + 1,
                        wait, exc.message)
            return {"z_number": z, "transfer": row.id, "state": "queued", "error": exc.message}
        except Rejected as exc:
            reason = _reason(exc)
            self._set(row.id, state="failed", last_error=reason, attempts=row.attempts + 1)
            log.error("event=z_transfer_failed z=%d reason=%s", z, reason)
            return {"z_number": z, "transfer": row.id, "state": "failed", "error": reason}

    # steps --------------------------------------------------------------------------------------

    def _lines(self, row: Row) -> list[dict[str, Any]]:
        if row.lines is not None:
            return row.lines
        from .closing import z_posting_plan

        lines, missing, _data = z_posting_plan(self.till, row.z_number)
        if missing:
            raise LocalRefusal("accounts not mapped: " + ", ".join(missing) +
                               " (till accounts set KEY NUMBER, then till reports send Z)")
        self._set(row.id, lines=json.dumps(lines))
        row.lines = lines
        return lines

    def _business_date(self, z: int) -> str:
        row = self.till.conn.execute("SELECT business_date FROM z_reports WHERE z_number = ?",
                                     (z,)).fetchone()
        return str(row[0])

    def _post(self, client: Any, org: int, row: Row) -> None:
        lines = self._lines(row)
        if row.action == "post" and row.file_guid is None:
            from .closing import get_report

            _report, pdf = get_report(self.till, row.z_number)
            guid = client.upload_file(org, f"z-{row.z_number:05d}.pdf", pdf, "application/pdf")
            self._set(row.id, file_guid=guid)  # stored before the item: a retry reuses it
            row.file_guid = guid
        prefix = "Tilbageførsel: " if row.action == "reversal" else ""
        item = ledger_item(row.ledger_id, self._business_date(row.z_number), lines, row.file_guid,
                           negate=row.action == "reversal", prefix=prefix)
        if row.maybe_stored:  # the last POST went unanswered: one read settles it
            found = self._find(client, org, row.ledger_id)
            if found is not None:
                self._sent(row, found.get("Version"))
                return
        try:
            made = client.create_ledger_items(org, [item])
            version = _version_of(made, row.ledger_id)
        except Duplicate:  # an earlier attempt made it (its answer was lost): read, don't repeat
            version = self._status(client, org, row.ledger_id)["Version"]
        except Transient as exc:
            if exc.status is None:  # no answer at all: Dinero may have stored it
                self._set(row.id, maybe_stored=1)
            raise
        self._sent(row, version)

    def _resend(self, client: Any, org: int, row: Row) -> None:
        prev = self._last_sent(row.z_number, before=row.id)
        status = self._status(client, org, prev.ledger_id)
        kind = status.get("Status")
        if kind == "PendingBooking":
            raise Transient("Dinero is booking the earlier item: waiting", status=None)
        if kind == "Draft":
            lines = self._lines(row)
            item = ledger_item(prev.ledger_id, self._business_date(row.z_number), lines, prev.file_guid,
                               version=status["Version"])
            made = client.update_ledger_items(org, [item])
            with transaction(self.till.conn):
                self._set(prev.id, state="superseded", commit=False)
                self._set(row.id, ledger_id=prev.ledger_id, file_guid=prev.file_guid, commit=False)
            row.ledger_id = prev.ledger_id
            self._sent(row, _version_of(made, prev.ledger_id))
            return
        # Booked: booked entries cannot change. A reversing item, then the corrected one anew.
        cvr = get_meta(self.till.conn, "cvr") or ""
        now = self.till.now().isoformat()
        with transaction(self.till.conn):
            self.till.conn.execute(
                "INSERT INTO dinero_transfers (z_number, revision, action, ledger_id, org_id, lines, "
                "created) VALUES (?, ?, 'reversal', ?, ?, ?, ?)",
                (row.z_number, prev.revision,
                 ledger_id(cvr, self.till.register_id, row.z_number, prev.revision, "reversal"), org,
                 json.dumps(prev.lines), now))
            self.till.conn.execute(
                "INSERT INTO dinero_transfers (z_number, revision, action, ledger_id, org_id, file_guid, "
                "created) VALUES (?, ?, 'post', ?, ?, ?, ?)",
                (row.z_number, row.revision, row.ledger_id, org, prev.file_guid, now))
            self._set(prev.id, state="superseded", commit=False)
            self._set(row.id, state="superseded", last_error="booked: reversed and posted anew", commit=False)
        # run_once picks both new rows up, reversal first (lower id)

    def _find(self, client: Any, org: int, item_id: str) -> dict[str, Any] | None:
        try:
            found = [s for s in client.ledger_status(org, [item_id]) if str(s.get("Id")) == item_id]
        except Rejected as exc:
            if "ledgerItemNotFound" in getattr(exc, "codes", []):
                return None
            raise
        return found[0] if found else None

    def _status(self, client: Any, org: int, item_id: str) -> dict[str, Any]:
        found = [s for s in client.ledger_status(org, [item_id]) if str(s.get("Id")) == item_id]
        if not found:
            raise Transient(f"Dinero did not report item {item_id}", status=None)
        return found[0]

    def _last_sent(self, z: int, before: int) -> Row:
        r = self.till.conn.execute(
            _ROW + " WHERE z_number = ? AND state = 'sent' AND action IN ('post', 'resend') AND id < ? "
            "ORDER BY id DESC LIMIT 1", (z, before)).fetchone()
        if r is None:
            raise LocalRefusal(f"Z {z} has no earlier transfer to update")
        return Row.of(r)

    # bookkeeping ------------------------------------------------------------------------------------

    def _sent(self, row: Row, version: str | None) -> None:
        self._set(row.id, state="sent", item_version=version, sent_at=self.till.now().isoformat(),
                  last_error=None, attempts=row.attempts + 1, next_attempt=None, maybe_stored=0)

    def _retry(self, row: Row, error: str, wait_s: float, count: bool = True) -> None:
        when = (self.till.now() + timedelta(seconds=wait_s)).isoformat()
        self._set(row.id, last_error=error, next_attempt=when,
                  attempts=row.attempts + 1 if count else row.attempts)

    def _set(self, row_id: int, commit: bool = True, **values: Any) -> None:
        cols = ", ".join(f"{k} = ?" for k in values)
        sql = f"UPDATE dinero_transfers SET {cols} WHERE id = ?"
        if commit:
            with transaction(self.till.conn):
                self.till.conn.execute(sql, (*values.values(), row_id))
        else:
            self.till.conn.execute(sql, (*values.values(), row_id))

    def _close_client(self) -> None:
        self.close()

    # the service ------------------------------------------------------------------------------------

    def next_due_in(self, cap_s: float) -> float:
        row = self.till.conn.execute(
            "SELECT MIN(COALESCE(next_attempt, '')) FROM dinero_transfers WHERE state = 'queued'").fetchone()
        if row is None or row[0] is None:
            return cap_s
        if row[0] == "":
            return 0.0
        due = datetime.fromisoformat(row[0])
        return max(0.0, min(cap_s, (due - self.till.now()).total_seconds()))

    def serve(self, stop: Callable[[], bool] = lambda: False, idle_cap_s: float = 60.0) -> None:
        """Run until `stop()`: wake on a datagram (a day was closed, a send asked for) or when the
        next retry is due; ping systemd's watchdog meanwhile."""
        sock_path = Path(self.till.data_dir) / WAKE_SOCKET
        sock_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        sock_path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(sock_path))
        watchdog_s = int(os.environ.get("WATCHDOG_USEC", "0")) / 1e6 / 2 or idle_cap_s
        sd_notify("READY=1\nSTATUS=waiting for closed days")
        log.info("event=uploader_ready data=%s", self.till.data_dir)
        try:
            while not stop():
                results = self.run_once()
                self.till.conn.execute("PRAGMA shrink_memory")
                sd_notify(f"WATCHDOG=1\nSTATUS={_summary(results, self.till)}")
                sock.settimeout(max(0.05, min(watchdog_s, self.next_due_in(idle_cap_s))))
                try:
                    while True:  # one pass for a burst of wake-ups
                        sock.recv(64)
                        sock.settimeout(0.05)
                except (TimeoutError, BlockingIOError):
                    pass
        finally:
            sd_notify("STOPPING=1")
            sock.close()
            sock_path.unlink(missing_ok=True)
            self.close()


def _summary(results: list[dict[str, Any]], till: Till) -> str:
    queued = till.conn.execute("SELECT COUNT(*) FROM dinero_transfers WHERE state = 'queued'").fetchone()[0]
    failed = till.conn.execute("SELECT COUNT(*) FROM dinero_transfers WHERE state = 'failed'").fetchone()[0]
    return f"sent {sum(r['state'] == 'sent' for r in results)} this pass, {queued} queued, {failed} failed"


def _version_of(made: list[dict[str, Any]] | dict[str, Any], item_id: str) -> str | None:
    items = made if isinstance(made, list) else [made]
    for m in items:
        if str(m.get("Id")) == item_id:
            return m.get("Version")
    return items[0].get("Version") if items else None


def _reason(exc: Rejected) -> str:
    parts = [exc.message]
    validation = getattr(exc, "validation", None)
    if validation:
        parts.append("; ".join(f"{k}: {v}" for k, v in validation.items()))
    if exc.status:
        parts.append(f"(HTTP {exc.status}" + (f", code {exc.code})" if exc.code else ")"))
    return " ".join(parts)


def connector(till: Till, timeout: float = 15.0,
              transport: httpx.BaseTransport | None = None) -> Callable[[], tuple[Any, int]]:
    """Build the Dinero client from the data folder's stored login. `transport` carries both the API
    and the token requests (httpx.MockTransport in unit tests; None: the network)."""
    def connect() -> tuple[Any, int]:
        from ..dinero.client import DineroClient
        from ..dinero.login import login_for

        store = TokenStore(till.data_dir)
        record = store.load()
        if not record or not record.get("org_id"):
            raise LoginNeeded("the till is not connected to Dinero (till dinero connect ...)")
        client = DineroClient(record.get("api_base") or "https://api.dinero.dk",
                              login_for(store, transport=transport), timeout=timeout, transport=transport)
        return client, int(record["org_id"])
    return connect

