"""Shop settings (meta), accounts, cashiers and key versions: the small mutable tables."""

from __future__ import annotations

import sqlite3

from ..domain.roles import Cashier, Role
from ..domain.signing import certificate_fingerprint

SHOP_KEYS = ("shop_name", "cvr", "address", "register_id")


def get_meta(conn: sqlite3.Connection, key: str, default: str | None = None) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else default


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))


def shop(conn: sqlite3.Connection) -> dict[str, str]:
    return {k: get_meta(conn, k) or "" for k in SHOP_KEYS}


def accounts(conn: sqlite3.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT key, number FROM accounts ORDER BY key"))


def set_account(conn: sqlite3.Connection, key: str, number: int) -> None:
    conn.execute(
        "INSERT INTO accounts (key, number) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET number = excluded.number", (key, number))


def cashier(conn: sqlite3.Connection, cashier_id: str) -> tuple[Cashier, str] | None:
    row = conn.execute(
        "SELECT id, name, role, pin_hash FROM cashiers WHERE id = ? AND active = 1",
        (cashier_id,)).fetchone()
    if row is None:
        return None
    return Cashier(row[0], row[1], Role(row[2])), row[3]


def cashiers(conn: sqlite3.Connection) -> list[Cashier]:
    return [Cashier(i, n, Role(r)) for i, n, r in conn.execute(
        "SELECT id, name, role FROM cashiers WHERE active = 1 ORDER BY id")]


def save_cashier(conn: sqlite3.Connection, c: Cashier, pin_hash: str) -> None:
    conn.execute(
        "INSERT INTO cashiers (id, name, role, pin_hash, active) VALUES (?, ?, ?, ?, 1) "
        "ON CONFLICT(id) DO UPDATE SET name = excluded.name, role = excluded.role, "
        "pin_hash = excluded.pin_hash, active = 1", (c.id, c.name, c.role.value, pin_hash))


def add_key_version(conn: sqlite3.Connection, certificate_pem: str, kind: str, when: str) -> int:
    cur = conn.execute(
        "INSERT INTO key_versions (certificate, kind, installed) VALUES (?, ?, ?)",
        (certificate_pem, kind, when))
    return int(cur.lastrowid or 0)


def current_key_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM key_versions").fetchone()[0])


def certificate_pem(conn: sqlite3.Connection, version: int) -> str | None:
    """The certificate a key version signs under (PEM), or None."""
    row = conn.execute("SELECT certificate FROM key_versions WHERE version = ?", (version,)).fetchone()
    return None if row is None else str(row[0])


def certificate_sha256(conn: sqlite3.Connection, version: int) -> str | None:
    """The fingerprint of a key version's certificate (what the journal pins), or None."""
    pem = certificate_pem(conn, version)
    return None if pem is None else certificate_fingerprint(pem.encode())
