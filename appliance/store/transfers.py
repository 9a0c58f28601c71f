"""The Dinero transfer queue (`dinero_transfers`): one row per send of a Z, and the shop's
"transfer on close" setting. The uploader works the queue; closing a day adds to it."""

from __future__ import annotations

import sqlite3
from typing import Any

from .settings import get_meta

AUTO_TRANSFER_KEY = "dinero.auto_transfer"  # "1" (default) or "0"


def auto_transfer(conn: sqlite3.Connection) -> bool:
    return get_meta(conn, AUTO_TRANSFER_KEY, "1") == "1"


def queue_post(conn: sqlite3.Connection, z_number: int, ledger_id: str, when: str) -> int:
    """Queue a Z's first transfer, inside the caller's transaction (the close's own)."""
    cur = conn.execute(
        "INSERT INTO dinero_transfers (z_number, revision, action, ledger_id, created) "
        "VALUES (?, 1, 'post', ?, ?)", (z_number, ledger_id, when))
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
