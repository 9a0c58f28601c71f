"""Appending to and reading the journal table. Appends happen inside the caller's transaction,
so a sale's rows and its signed entry are committed together or not at all."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from ..domain.cash_transactions import CASH_KINDS
from ..domain.journal import (
    KINDS,
    ChainReport,
    Entry,
    canonical_json,
    content_id,
    signature_string,
    verify_chain,
)
from ..domain.signing import Signer, Verifier, certificate_fingerprint
from . import cash_transactions, derived

log = logging.getLogger(__name__)
_TICK = timedelta(microseconds=1)
_BEHIND = timedelta(seconds=1)  # worth a warning (or, strict, a refusal); closer is one clock tick
_SECOND = timedelta(seconds=1)
REPORT_KINDS = ("x_report", "z_report")


class ClockBehind(ValueError):
    """The clock is behind the journal's last entry: set it right before the till writes anything."""


class JournalStopped(RuntimeError):
    """The journal failed a check while the till was open: nothing more goes on top of it."""


_COLUMNS = ("nr, ts, register_id, cashier, kind, amount_in, amount_ex, payload, trans_id, "
            "signature, key_version")


# The last entry's nr, ts, signature and kind.
_Last = tuple[int, str, str, str]


def _entry(row: tuple[Any, ...]) -> Entry:
    return Entry(row[0], datetime.fromisoformat(row[1]), *row[2:])


class Journal:
    def __init__(self, conn: sqlite3.Connection, signer: Signer, register_id: str,
                 company_ident: str, clock: Callable[[], datetime]):
        self.conn = conn
        self.signer = signer
        self.register_id = register_id
        self.company_ident = company_ident
        self.clock = clock
        self.strict = False  # refuse a clock behind the journal (the CLI) instead of stepping over it
        self.stopped: str | None = None  # why the journal failed its daily check: no more appends

    def _last(self) -> _Last | None:
        """(nr, ts, signature, kind) of the last entry."""
        last: _Last | None = self.conn.execute(
            "SELECT nr, ts, signature, kind FROM journal ORDER BY nr DESC LIMIT 1").fetchone()
        return last

    def next_time(self) -> datetime:
        """The time the next entry would get (a Z's period ends there, never before its entries)."""
        return self._stamp(self._last())

    def _stamp(self, last: _Last | None) -> datetime:
        """Now, but strictly after the last entry (and, after an X or Z, in the next whole second:
        SAF-T's check reads times to the second). With `strict` (the CLI), a clock more than a second
        behind the journal is refused rather than stepped over."""
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("journal time must be timezone-aware")
        if last is None:
            return now
        prev_ts = datetime.fromisoformat(last[1])
        if now < prev_ts - _BEHIND:
            if self.strict:
                raise ClockBehind(f"the clock ({now.isoformat(timespec='seconds')}) is behind the journal's "
                                  f"last entry ({prev_ts.isoformat(timespec='seconds')}): set the clock "
                                  "right before using the till")
            log.warning("event=clock_behind_journal now=%s last=%s", now.isoformat(), prev_ts.isoformat())
        if now <= prev_ts:  # strictly after: a Z's time then lies after all it covers
            now = (prev_ts + _TICK).astimezone(now.tzinfo)
        if last[3] in REPORT_KINDS and now.replace(microsecond=0) <= prev_ts.replace(microsecond=0):
            now = (prev_ts.replace(microsecond=0) + _SECOND).astimezone(now.tzinfo)
        return now

    def append(self, kind: str, cashier: str, payload: Mapping[str, object], amount_in: int = 0,
               amount_ex: int = 0) -> Entry:
        """Sign and insert the next entry; the caller holds the write transaction."""
        if kind not in KINDS:
            raise ValueError(f"unknown journal kind {kind!r}")
        if not self.conn.in_transaction:
            raise RuntimeError("journal appends must run inside a transaction")
        if self.stopped is not None:
            raise JournalStopped(f"the journal failed its check ({self.stopped}): nothing more is written")
        last = self._last()
        nr, prev_sig = (last[0] + 1, last[2]) if last else (1, "0")
        now = self._stamp(last)
        entry = Entry(nr, now, self.register_id, cashier, kind, amount_in, amount_ex,
                      canonical_json(payload), key_version=self.signer.key_version)
        entry = replace(entry, trans_id=content_id(entry))
        entry = replace(entry, signature=self.signer.sign(
            signature_string(prev_sig, entry, self.company_ident)))
        self.conn.execute(
            f"INSERT INTO journal ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (entry.nr, entry.ts.isoformat(), entry.register_id, entry.cashier, entry.kind,
             entry.amount_in, entry.amount_ex, entry.payload, entry.trans_id, entry.signature,
             entry.key_version),
        )
        if kind in CASH_KINDS:
            cash_transactions.append(self.conn, entry, self.signer, self.company_ident)
        return entry


def entries(conn: sqlite3.Connection, after: int = 0, upto: int | None = None) -> Iterator[Entry]:
    """Entries with nr > after (and <= upto), in number order."""
    if upto is None:
        cur = conn.execute(f"SELECT {_COLUMNS} FROM journal WHERE nr > ? ORDER BY nr", (after,))
    else:
        cur = conn.execute(f"SELECT {_COLUMNS} FROM journal WHERE nr > ? AND nr <= ? ORDER BY nr",
                           (after, upto))
    for row in cur:
        yield _entry(row)


def entry(conn: sqlite3.Connection, nr: int) -> Entry | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM journal WHERE nr = ?", (nr,)).fetchone()
    return _entry(row) if row else None


def verify_since(conn: sqlite3.Connection, company_ident: str, after_nr: int) -> ChainReport:
    """The chain from the entry after `after_nr` to the end (0: the whole journal; a start-up check
    goes from the last Z): each entry signed over the one before, numbered on, nothing cut from the
    end; and the cash transactions of those entries (with 0, the Zs' anchors too)."""
    certs = {v: pem.encode() for v, pem in conn.execute("SELECT version, certificate FROM key_versions")}
    verifier = Verifier(certs)
    start = entry(conn, after_nr) if after_nr else None
    rows = conn.execute(f"SELECT {_COLUMNS} FROM journal WHERE rowid > ? ORDER BY rowid", (after_nr,))
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'journal'").fetchone()
    report = verify_chain((_entry(r) for r in rows), company_ident, verifier,
                          expected_last=seq[0] if seq else None, after=start)
    if not report.ok:
        return report
    txs = cash_transactions.verify(conn, company_ident, verifier, lambda nr: entry(conn, nr), after_nr)
    if not txs.ok:
        return ChainReport(False, report.entries, txs.first_bad, txs.problem, txs.entries)
    return ChainReport(True, report.entries, transactions=txs.entries)


def last_receipt_number(conn: sqlite3.Connection) -> int:
    """The highest receipt number in the journal (0 before the first sale); index 005 serves it."""
    row = conn.execute("SELECT MAX(json_extract(payload, '$.receipt_number')) FROM journal "
                       "WHERE kind IN ('sale', 'return')").fetchone()
    return int(row[0] or 0)


def last_nr(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(nr), 0) FROM journal").fetchone()[0])


def verify(conn: sqlite3.Connection, company_ident: str) -> ChainReport:
    """Check the whole chain in storage order (rowid), not trusting the numbers; then the cash
    transactions (SAF-T's chain per register) against it and the Zs against them; then the tables
    derived from the journal and the pinned certificate."""
    report = verify_since(conn, company_ident, 0)
    if not report.ok:
        return report
    wrong = derived.check(conn) or _unpinned_certificate(conn)
    if wrong is not None:
        return ChainReport(False, report.entries, wrong[0], wrong[1], report.transactions)
    return report


def _unpinned_certificate(conn: sqlite3.Connection) -> tuple[int | None, str] | None:
    """Each certificate in key_versions must be one the journal pinned for that version: the first
    at `till init`, each later one by a key rotation entry signed with the key it replaces. A
    certificate put there any other way is refused, whatever key_versions says, and no entry may be
    signed with a key before its rotation. A journal begun before pinning (no fingerprint in its
    init entry) has nothing to hold it to."""
    row = conn.execute("SELECT nr, payload FROM journal WHERE kind = 'init' ORDER BY nr LIMIT 1").fetchone()
    pinned = json.loads(row[1]).get("certificate_sha256") if row else None
    if pinned is None:
        return None
    pins = {1: (pinned, row[0])}  # key version -> (fingerprint, the entry that pinned it)
    for nr, payload, key_version in conn.execute(
            "SELECT nr, payload, key_version FROM journal WHERE kind = 'key_rotation' ORDER BY nr"):
        data = json.loads(payload)
        version = int(data.get("key_version", 0))
        if version != key_version + 1 or version in pins:
            return nr, (f"the key rotation at entry {nr} was not signed with the key it replaces "
                        f"(key version {version - 1})")
        pins[version] = (str(data.get("certificate_sha256")), nr)
    for version, pem in conn.execute("SELECT version, certificate FROM key_versions ORDER BY version"):
        if version not in pins:
            return None, (f"key version {version}'s certificate was never pinned in the journal "
                          "(a new key needs a journalled key rotation)")
        fingerprint, nr = pins[version]
        if certificate_fingerprint(pem.encode()) != fingerprint:
            return nr, (f"the certificate of key version {version} is not the one pinned in the journal "
                        f"at entry {nr}")
    for version, (_fingerprint, first) in pins.items():
        if version == 1:
            continue
        bad = conn.execute("SELECT MIN(nr) FROM journal WHERE key_version = ? AND nr <= ?",
                           (version, first)).fetchone()[0]
        if bad is not None:
            return bad, (f"entry {bad} is signed with key version {version} before its rotation at "
                         f"entry {first}")
    return None
