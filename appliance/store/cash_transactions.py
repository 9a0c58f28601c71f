"""The cash transactions table: numbered per CVR, chained and signed per register, append-only.

`next_nr` is the one owner of the CVR-wide number sequence. With one register it is this
database's counter; several registers under one CVR (notes/multitill.md) would take their numbers
from the primary's sequence here, and nothing else in the code numbers a cash transaction.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..domain.cash_transactions import CASH_KINDS, CashTransaction, cash_transaction
from ..domain.journal import ChainReport, Entry
from ..domain.signing import Signer

log = logging.getLogger(__name__)

COLUMNS = ("nr, journal_nr, register_id, chain_seq, trans_id, trans_type, trans_date, trans_time, "
           "emp_id, amnt_in, amnt_ex, amnt_tp, void, training, signed_text, signature, key_version, "
           "backfilled")
BACKFILL_KEY = "saft.backfill_upto"


@dataclass(frozen=True)
class StoredTransaction:
    tx: CashTransaction
    journal_nr: int
    chain_seq: int
    signed_text: str
    signature: str
    key_version: int
    backfilled: bool


def _stored(row: tuple[Any, ...]) -> StoredTransaction:
    (nr, journal_nr, register_id, chain_seq, trans_id, trans_type, trans_date, trans_time, emp_id,
     amnt_in, amnt_ex, amnt_tp, void, training, signed_text, signature, key_version, backfilled) = row
    tx = CashTransaction(str(nr), trans_id, trans_type, trans_date, trans_time, emp_id, amnt_in, amnt_ex,
                         amnt_tp, register_id, bool(void), bool(training))
    return StoredTransaction(tx, journal_nr, chain_seq, signed_text, signature, key_version, bool(backfilled))


def next_nr(conn: sqlite3.Connection) -> int:
    """The next cashtransaction/nr for this CVR (the caller holds the write transaction)."""
    return int(conn.execute("SELECT COALESCE(MAX(nr), 0) FROM cash_transactions").fetchone()[0]) + 1


def chain_head(conn: sqlite3.Connection, register_id: str) -> tuple[int, str]:
    """(last chain position, last signature) of a register's chain; (0, "0") before its first."""
    head = last(conn, register_id)
    return (head.chain_seq, head.signature) if head else (0, "0")


def append(conn: sqlite3.Connection, e: Entry, signer: Signer, company_ident: str,
           backfilled: bool = False) -> StoredTransaction:
    """Number, sign and insert the cash transaction of a journal entry, in the caller's transaction."""
    tx = cash_transaction(e, next_nr(conn))
    seq, prev = chain_head(conn, e.register_id)
    text = tx.signed_text(prev, company_ident)
    stored = StoredTransaction(tx, e.nr, seq + 1, text, signer.sign(text), signer.key_version, backfilled)
    conn.execute(
        f"INSERT INTO cash_transactions ({COLUMNS}) VALUES ({', '.join('?' * 18)})",
        (int(tx.nr), e.nr, tx.register_id, stored.chain_seq, tx.trans_id, tx.trans_type, tx.trans_date,
         tx.trans_time, tx.emp_id, tx.amnt_in, tx.amnt_ex, tx.amnt_tp, int(tx.void), int(tx.training),
         text, stored.signature, stored.key_version, int(backfilled)))
    return stored


def transactions(conn: sqlite3.Connection) -> Iterator[StoredTransaction]:
    """Cash transactions in number order."""
    for row in conn.execute(f"SELECT {COLUMNS} FROM cash_transactions ORDER BY nr"):
        yield _stored(row)


def last(conn: sqlite3.Connection, register_id: str) -> StoredTransaction | None:
    row = conn.execute(f"SELECT {COLUMNS} FROM cash_transactions WHERE register_id = ? "
                       "ORDER BY chain_seq DESC LIMIT 1", (register_id,)).fetchone()
    return _stored(row) if row else None


def backfill(conn: sqlite3.Connection, entries_upto: Callable[[int, int], Iterator[Entry]],
             signer: Signer, company_ident: str) -> int:
    """Sign the cash transactions of entries journalled before the upgrade that added them (once;
    the caller holds the write transaction). Only entries up to the number the migration recorded
    qualify: a cash transaction missing after that is tampering, which verify reports."""
    upto = conn.execute("SELECT value FROM meta WHERE key = ?", (BACKFILL_KEY,)).fetchone()
    if upto is None:
        return 0
    done = conn.execute("SELECT COALESCE(MAX(journal_nr), 0) FROM cash_transactions "
                        "WHERE backfilled = 1").fetchone()[0]
    count = 0
    for e in entries_upto(int(done), int(upto[0])):
        if e.kind in CASH_KINDS:
            append(conn, e, signer, company_ident, backfilled=True)
            count += 1
    conn.execute("DELETE FROM meta WHERE key = ?", (BACKFILL_KEY,))
    if count:
        log.info("event=saft_backfill transactions=%d upto=%s", count, upto[0])
    return count


def verify(conn: sqlite3.Connection, company_ident: str, verify_signature: Callable[[str, str, int], bool],
           journal_entry: Callable[[int], Entry | None], after_journal_nr: int = 0) -> ChainReport:
    """Check the cash transactions against the journal and their chains, in storage order: each is
    the entry it claims to be, numbered without gaps, signed over exactly the stored string after its
    register's previous signature; every cash entry of the journal has one; and every Z's last
    transaction (number and signature, as printed and sent to Dinero) is still there unchanged.
    With `after_journal_nr`, only the transactions of the entries after it (a start-up's check)."""
    heads: dict[str, tuple[int, str]] = {}
    expect = 1
    if after_journal_nr:  # where each chain stood at that point: found through the indexes, not a scan
        row = conn.execute("SELECT nr FROM cash_transactions WHERE journal_nr <= ? ORDER BY journal_nr DESC "
                           "LIMIT 1", (after_journal_nr,)).fetchone()
        expect = int(row[0]) + 1 if row else 1
        for (register_id,) in conn.execute("SELECT DISTINCT register_id FROM cash_transactions "
                                           "WHERE journal_nr > ?", (after_journal_nr,)):
            head = conn.execute("SELECT chain_seq, signature FROM cash_transactions WHERE register_id = ? "
                                "AND journal_nr <= ? ORDER BY chain_seq DESC LIMIT 1",
                                (register_id, after_journal_nr)).fetchone()
            if head is not None:
                heads[register_id] = (int(head[0]), str(head[1]))
    count = 0
    by_nr: dict[int, str] = {}
    for row in conn.execute(f"SELECT {COLUMNS} FROM cash_transactions WHERE journal_nr > ? ORDER BY rowid",
                            (after_journal_nr,)):
        st = _stored(row)
        tx = st.tx
        count += 1
        nr = int(tx.nr)
        if nr != expect:
            return ChainReport(False, count, expect, f"cash transaction {expect} is missing or out of order "
                                                     f"(found {nr})")
        e = journal_entry(st.journal_nr)
        if e is None or e.kind not in CASH_KINDS or cash_transaction(e, nr) != tx:
            return ChainReport(False, count, nr, f"cash transaction {nr} does not match journal entry "
                                                 f"{st.journal_nr}")
        seq, prev = heads.get(tx.register_id, (0, "0"))
        if st.chain_seq != seq + 1:
            return ChainReport(False, count, nr, f"cash transaction {nr} is out of its register's chain")
        if st.signed_text != tx.signed_text(prev, company_ident) or not verify_signature(
                st.signature, st.signed_text, st.key_version):
            return ChainReport(False, count, nr, f"cash transaction {nr}: signature does not verify "
                                                 "(chain broken)")
        heads[tx.register_id] = (st.chain_seq, st.signature)
        by_nr[nr] = st.signature
        expect += 1
    kinds = ", ".join(f"'{k}'" for k in sorted(CASH_KINDS))
    cash_entries = conn.execute(f"SELECT COUNT(*) FROM journal WHERE kind IN ({kinds}) AND nr > ?",
                                (after_journal_nr,)).fetchone()[0]
    if cash_entries != count:
        return ChainReport(False, count, None, f"{cash_entries} cash entries in the journal but {count} "
                                               "cash transactions")
    if after_journal_nr:  # a period's check: the Zs' anchors are the full verify's
        return ChainReport(True, count)
    for z, journal_nr, last_tx_nr, payload in conn.execute(
            "SELECT z.z_number, z.journal_nr, z.last_tx_nr, j.payload FROM z_reports z "
            "LEFT JOIN journal j ON j.nr = z.journal_nr ORDER BY z.z_number"):
        if payload is None:  # the index outlived its journal entry: the end was cut off
            return ChainReport(False, count, journal_nr,
                               f"Z {z}'s journal entry {journal_nr} is gone (the journal was cut off)")
        anchor = json.loads(payload).get("last_transaction")
        if last_tx_nr is not None and (not anchor or int(anchor["nr"]) != last_tx_nr):
            return ChainReport(False, count, last_tx_nr, f"Z {z}: its index and its journal entry name "
                                                         "different last transactions")
        if not anchor:
            continue
        got = by_nr.get(int(anchor["nr"]))
        if got is None:
            return ChainReport(False, count, int(anchor["nr"]),
                               f"Z {z} ends at cash transaction {anchor['nr']}, which is gone (cut off)")
        if got != anchor["signature"]:
            return ChainReport(False, count, int(anchor["nr"]),
                               f"Z {z}: cash transaction {anchor['nr']} is not the one the Z recorded")
    return ChainReport(True, count)
