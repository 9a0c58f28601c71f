"""What a SAF-T export reads from the database: streamed rows in number order, never the whole
period in memory."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from ..domain.cash_transactions import CASH_KINDS
from .cash_transactions import COLUMNS, StoredTransaction, _stored

_CASH = ", ".join(f"'{k}'" for k in sorted(CASH_KINDS))
_SOLD = "'sale', 'return', 'void_receipt'"


@dataclass(frozen=True)
class Bounds:
    """The journal numbers (after, upto] of a period of calendar days."""

    after: int
    upto: int


def bounds(conn: sqlite3.Connection, start: date, end: date, tz: tzinfo) -> Bounds | None:
    """The entries made from `start` 00:00 to `end` 24:00 local time. The journal's times never go
    backwards, so they are one run of numbers, found by bisection on the parsed times."""
    lo = datetime.combine(start, time(0), tz)
    hi = datetime.combine(end + timedelta(days=1), time(0), tz)
    last = last_journal_nr(conn)

    def first_at_or_after(when: datetime) -> int:
        a, z = 1, last + 1
        while a < z:
            mid = (a + z) // 2
            (ts,) = conn.execute("SELECT ts FROM journal WHERE nr = ?", (mid,)).fetchone()
            if datetime.fromisoformat(ts) < when:
                a = mid + 1
            else:
                z = mid
        return a

    first, past = first_at_or_after(lo), first_at_or_after(hi)
    if first >= past:
        return None
    return Bounds(first - 1, past - 1)


def z_ends(conn: sqlite3.Connection, b: Bounds) -> list[tuple[int, int]]:
    """(journal nr of each Z in the period, cash transactions up to and including it)."""
    out = []
    prev, total = b.after, 0
    for (nr,) in conn.execute("SELECT nr FROM journal WHERE kind = 'z_report' AND nr > ? AND nr <= ? "
                              "ORDER BY nr", (b.after, b.upto)).fetchall():
        total += conn.execute(  # each Z's own period, added up: one pass over the transactions
            "SELECT COUNT(*) FROM cash_transactions WHERE journal_nr > ? AND journal_nr <= ?",
            (prev, nr)).fetchone()[0]
        out.append((int(nr), int(total)))
        prev = nr
    return out


def counts(conn: sqlite3.Connection, b: Bounds) -> tuple[int, int]:
    """(journal entries, cash transactions) in the period."""
    entries = b.upto - b.after
    tx = conn.execute("SELECT COUNT(*) FROM cash_transactions WHERE journal_nr > ? AND journal_nr <= ?",
                      (b.after, b.upto)).fetchone()[0]
    return entries, int(tx)


def registers(conn: sqlite3.Connection, b: Bounds) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT register_id FROM journal WHERE nr > ? AND nr <= ? ORDER BY register_id",
        (b.after, b.upto))]


@dataclass(frozen=True)
class EventRow:
    nr: int
    ts: datetime
    cashier: str
    kind: str
    payload: str
    trans_id: str


def events(conn: sqlite3.Connection, b: Bounds, register_id: str) -> Iterator[EventRow]:
    """Every journal entry of a register in the period, in number order (the writer makes events of
    the ones that are not cash transactions, and of those that bring one with them)."""
    for nr, ts, cashier, kind, payload, trans_id in conn.execute(
            "SELECT nr, ts, cashier, kind, payload, trans_id FROM journal "
            "WHERE nr > ? AND nr <= ? AND register_id = ? ORDER BY nr", (b.after, b.upto, register_id)):
        yield EventRow(nr, datetime.fromisoformat(ts), cashier, kind, payload, trans_id)


def transactions(conn: sqlite3.Connection, b: Bounds, register_id: str
                 ) -> Iterator[tuple[StoredTransaction, str, str]]:
    """(cash transaction, its journal kind, its journal payload) in number order."""
    cols = ", ".join(f"c.{c.strip()}" for c in COLUMNS.split(","))
    for row in conn.execute(
            f"SELECT {cols}, j.kind, j.payload FROM cash_transactions c "
            "JOIN journal j ON j.nr = c.journal_nr "
            "WHERE c.journal_nr > ? AND c.journal_nr <= ? AND c.register_id = ? ORDER BY c.nr",
            (b.after, b.upto, register_id)):
        yield _stored(row[:-2]), row[-2], row[-1]


def transaction_ids(conn: sqlite3.Connection, receipt_numbers: set[int]) -> dict[int, str]:
    """receipt number -> its cash transaction's transID (for a copy's event)."""
    if not receipt_numbers:
        return {}
    marks = ",".join("?" * len(receipt_numbers))
    return {int(r): t for r, t in conn.execute(
        f"SELECT r.receipt_number, c.trans_id FROM receipts r JOIN cash_transactions c ON c.journal_nr = "
        f"r.journal_nr WHERE r.receipt_number IN ({marks})", tuple(receipt_numbers))}


@dataclass(frozen=True)
class ArticleRow:
    sku: str
    name: str
    group: str
    since: str  # date of entry


def articles(conn: sqlite3.Connection, b: Bounds) -> list[ArticleRow]:
    """Every article the period's transactions name, and the catalog's."""
    found: dict[str, ArticleRow] = {}
    for sku, name, group, since in conn.execute(
            "SELECT json_extract(l.value, '$.sku'), json_extract(l.value, '$.name'), "
            "json_extract(l.value, '$.group'), MIN(substr(j.ts, 1, 10)) "
            f"FROM journal j, json_each(j.payload, '$.lines') l WHERE j.kind IN ({_SOLD}) "
            "AND j.nr > ? AND j.nr <= ? GROUP BY 1 ORDER BY 1", (b.after, b.upto)):
        found[str(sku)] = ArticleRow(str(sku), str(name or sku), str(group or "-"), since)
    for sku, name, group, updated in conn.execute(
            "SELECT sku, name, grp, updated_at FROM products ORDER BY sku"):
        found.setdefault(sku, ArticleRow(sku, name, group, updated[:10]))
    return sorted(found.values(), key=lambda a: a.sku)


@dataclass(frozen=True)
class EmployeeRow:
    emp_id: str
    name: str
    role: str
    since: datetime | None


def employees(conn: sqlite3.Connection, b: Bounds) -> list[EmployeeRow]:
    """The cashiers (with when they were added), 'system', and anyone else the period names."""
    added = {emp: ts for emp, ts in conn.execute(
        "SELECT json_extract(payload, '$.id'), MIN(ts) FROM journal WHERE kind = 'settings_change' "
        "AND json_extract(payload, '$.setting') = 'cashier' GROUP BY 1")}
    first = conn.execute("SELECT ts FROM journal ORDER BY nr LIMIT 1").fetchone()
    start = datetime.fromisoformat(first[0]) if first else None
    out = {"system": EmployeeRow("system", "System Tillbox", "system", start)}
    for emp_id, name, role in conn.execute("SELECT id, name, role FROM cashiers ORDER BY id"):
        ts = added.get(emp_id)
        out[emp_id] = EmployeeRow(emp_id, name, role, datetime.fromisoformat(ts) if ts else start)
    for (emp_id,) in conn.execute("SELECT DISTINCT cashier FROM journal WHERE nr > ? AND nr <= ?",
                                  (b.after, b.upto)):
        out.setdefault(emp_id, EmployeeRow(emp_id, emp_id, "cashier", start))
    return sorted(out.values(), key=lambda e: e.emp_id)


def groups(conn: sqlite3.Connection) -> list[str]:
    return [g for (g,) in conn.execute("SELECT DISTINCT grp FROM products")]


def certificates(conn: sqlite3.Connection) -> dict[int, str]:
    return {int(v): pem for v, pem in conn.execute("SELECT version, certificate FROM key_versions")}


def last_journal_nr(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(nr), 0) FROM journal").fetchone()[0])
