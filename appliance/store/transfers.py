"""The Dinero transfer queue (`dinero_transfers`): one row per send of a Z, and the shop's
"transfer on close" setting. The uploader works the queue; closing a day adds to it."""

from __future__ import annotations

import sqlite3
from typing import Any

from ..dinero.ledger import ledger_id
from .settings import get_meta

AUTO_TRANSFER_KEY = "dinero.auto_transfer"  # "1" (default) or "0"


def auto_transfer(conn: sqlite3.Connection) -> bool:
    return get_meta(conn, AUTO_TRANSFER_KEY, "1") == "1"


def queue_post(conn: sqlite3.Connection, register_id: str, z_number: int, when: str) -> int:
    """Queue a Z's first transfer, inside the caller's transaction (the close's own), under the
    ledger item id that makes a repeated post recognisable to Dinero."""
    item = ledger_id(get_meta(conn, "cvr") or "", register_id, z_number, 1)
    cur = conn.execute(
        "INSERT INTO dinero_transfers (z_number, revision, action, ledger_id, created) "
        "VALUES (?, 1, 'post', ?, ?)", (z_number, item, when))
    return int(cur.lastrowid or 0)


def transfer_states(conn: sqlite3.Connection) -> dict[int, dict[str, Any]]:
    """Per Z: state (not_sent | queued | sent | failed), transferred_at, error (the newest send)."""
    out: dict[int, dict[str, Any]] = {}
    for z, state, sent_at, error, next_attempt in conn.execute(
            "SELECT z_number, state, sent_at, last_error, next_attempt FROM dinero_transfers "
            "WHERE action IN ('post', 'resend') ORDER BY id"):
        prev = out.get(z, {})
        if state == "superseded":
            continue
        out[z] = {"state": state, "transferred_at": sent_at or prev.get("transferred_at"),
                  "error": error if state != "sent" else None, "next_attempt": next_attempt}
    return out


def was_sent(conn: sqlite3.Connection, z_number: int) -> bool:
    """This database once sent that Z to Dinero (a later resend may have superseded the send)."""
    return conn.execute("SELECT 1 FROM dinero_transfers WHERE z_number = ? "
                        "AND state IN ('sent', 'superseded')", (z_number,)).fetchone() is not None
