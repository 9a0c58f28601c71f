"""The journal: append-only in the database, signed in a chain, and every kind of tampering
found by verify, which names the first bad entry."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from appliance.domain.journal import signature_string
from appliance.services.selling import sell
from appliance.store.journal import entries, verify
from appliance.store.keys import key_path

from ..conftest import CVR


def _sell(till, n: int = 3) -> None:
    for _ in range(n):
        sell(till, {"cashier": "anna", "lines": [{"sku": "MILK"}],
                    "payments": [{"type": "card", "amount": "12.95"}]})


def _untriggered(till) -> sqlite3.Connection:
    """What an attacker with the file can do: drop the triggers and edit."""
    conn = till.conn
    for name in ("journal_no_update", "journal_no_delete", "journal_gap_free"):
        conn.execute(f"DROP TRIGGER {name}")
    return conn


def test_database_refuses_update_and_delete(till) -> None:
    _sell(till, 1)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        till.conn.execute("UPDATE journal SET payload = '{}' WHERE nr = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        till.conn.execute("DELETE FROM journal WHERE nr = 1")
    with pytest.raises(sqlite3.IntegrityError, match="gap-free"):
        till.conn.execute("INSERT INTO journal (nr, ts, register_id, cashier, kind, amount_in, amount_ex,"
                          " payload, trans_id, signature, key_version) VALUES (999, '', '', '', 'sale',"
                          " 0, 0, '{}', '', '', 1)")
    assert verify(till.conn, CVR).ok


def test_chain_signs_the_saft_string(till) -> None:
    _sell(till, 2)
    rows = list(entries(till.conn))
    last, prev = rows[-1], rows[-2]
    text = signature_string(prev.signature, last, CVR)
    parts = text.split(";")
    assert parts[0] == prev.signature and parts[1] == str(last.nr) and parts[3] == "11001"
    assert parts[7] == "12.95" and parts[8] == "10.36" and parts[9] == "1" and parts[10] == CVR
    assert len(last.trans_id) <= 36  # SAF-T IdentificationString36
    assert rows[0].signature and all(r.key_version == 1 for r in rows)


def test_every_entry_records_time_cashier_register(till) -> None:
    _sell(till, 1)
    for e in entries(till.conn):
        assert e.ts.tzinfo is not None and e.register_id == "1" and e.cashier


def test_edit_is_found(till) -> None:
    _sell(till)
    conn = _untriggered(till)
    target = list(entries(conn))[-2].nr
    conn.execute("UPDATE journal SET payload = replace(payload, '1295', '995') WHERE nr = ?", (target,))
    result = verify(conn, CVR)
    assert not result.ok and result.first_bad == target and "edited" in result.problem


def test_amount_edit_with_recomputed_hash_breaks_signature(till) -> None:
    _sell(till)
    conn = _untriggered(till)
    from appliance.domain.journal import content_id
    e = list(entries(conn))[-1]
    forged = e.__class__(**{**e.__dict__, "amount_in": 1})
    conn.execute("UPDATE journal SET amount_in = 1, trans_id = ? WHERE nr = ?",
                 (content_id(forged), e.nr))
    result = verify(conn, CVR)
    assert not result.ok and result.first_bad == e.nr and "signature" in result.problem


def test_delete_in_the_middle_is_found(till) -> None:
    _sell(till)
    conn = _untriggered(till)
    conn.execute("DELETE FROM journal WHERE nr = 5")
    result = verify(conn, CVR)
    assert not result.ok and result.first_bad == 5 and "missing" in result.problem


def test_delete_at_the_end_is_found(till) -> None:
    _sell(till)
    conn = _untriggered(till)
    last = list(entries(conn))[-1].nr
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("DELETE FROM journal WHERE nr = ?", (last,))
    result = verify(conn, CVR)
    assert not result.ok and result.first_bad == last


def test_insert_is_found(till) -> None:
    _sell(till)
    conn = _untriggered(till)
    row = conn.execute("SELECT * FROM journal WHERE nr = 3").fetchone()
    conn.execute("INSERT INTO journal VALUES (?,?,?,?,?,?,?,?,?,?,?)", (100000, *row[1:]))
    result = verify(conn, CVR)
    assert not result.ok and result.first_bad is not None


def test_reorder_is_found(till) -> None:
    _sell(till)
    conn = _untriggered(till)
    a = conn.execute("SELECT * FROM journal WHERE nr = 6").fetchone()
    b = conn.execute("SELECT * FROM journal WHERE nr = 7").fetchone()
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("DELETE FROM journal WHERE nr IN (6, 7)")
    conn.execute("INSERT INTO journal VALUES (?,?,?,?,?,?,?,?,?,?,?)", (6, *b[1:]))
    conn.execute("INSERT INTO journal VALUES (?,?,?,?,?,?,?,?,?,?,?)", (7, *a[1:]))
    result = verify(conn, CVR)
    assert not result.ok and result.first_bad == 6


def test_clock_going_back_does_not_move_the_journal_back(till, clock) -> None:
    _sell(till, 1)
    before = list(entries(till.conn))[-1].ts
    clock.advance(hours=-2)
    _sell(till, 1)
    after = list(entries(till.conn))[-1].ts
    assert after >= before
    assert verify(till.conn, CVR).ok


def test_wal_and_full_sync(till) -> None:
    assert till.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert till.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert till.conn.execute("PRAGMA user_version").fetchone()[0] >= 1


def test_key_is_private(till) -> None:
    path = key_path(till.data_dir, 1)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert b"PRIVATE KEY" in path.read_bytes()
    dump = "\n".join(till.conn.iterdump())
    assert "PRIVATE KEY" not in dump
