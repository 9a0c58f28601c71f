"""The SQLite database: durable settings (WAL, synchronous=FULL), migrations, transactions."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)
DB_NAME = "till.db"


class StoreError(RuntimeError):
    """The database is missing, unreadable or not a Tillbox database."""


def migrations() -> list[tuple[int, str, str]]:
    files = sorted(
        (f for f in resources.files("appliance.store").joinpath("migrations").iterdir()
         if f.name.endswith(".sql")),
        key=lambda f: f.name,
    )
    return [(int(f.name.split("_", 1)[0]), f.name, f.read_text(encoding="utf-8")) for f in files]


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA busy_timeout = 5000")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode.lower() != "wal":
        raise StoreError(f"could not put the database in WAL mode (got {mode})")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")


def connect(data_dir: Path, *, create: bool = False) -> sqlite3.Connection:
    """Open (or, with create, make) the till database and bring its schema up to date."""
    path = Path(data_dir) / DB_NAME
    if not path.exists() and not create:
        raise StoreError(f"no till database at {path}: run 'till init' first")
    try:
        if create:  # private whatever the caller's umask: the journal is the shop's record
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        _configure(conn)
        migrate(conn)
        if not create:
            check_integrity(conn)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"the till database at {path} is unreadable or corrupt: {exc}") from exc
    return conn


def check_integrity(conn: sqlite3.Connection) -> None:
    """A quick structural check: a torn or overwritten file fails here, not halfway into a sale."""
    row = conn.execute("PRAGMA quick_check(1)").fetchone()
    if row is None or row[0] != "ok":
        raise StoreError(f"database integrity check failed: {row[0] if row else 'no answer'}")


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> None:
    """Each migration in one transaction. Foreign keys are off while they run (SQLite's way to
    rebuild a table others refer to) and checked before each commit."""
    current = schema_version(conn)
    pending = [m for m in migrations() if m[0] > current]
    if not pending:
        return
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        for version, name, sql in pending:
            log.info("event=migrate version=%d file=%s", version, name)
            conn.execute("BEGIN IMMEDIATE")
            try:
                if schema_version(conn) >= version:  # another process got there first
                    conn.execute("ROLLBACK")
                    continue
                for statement in split_sql(sql):
                    conn.execute(statement)
                broken = conn.execute("PRAGMA foreign_key_check").fetchone()
                if broken:
                    raise StoreError(f"migration {name} leaves a broken reference: {broken}")
                conn.execute(f"PRAGMA user_version = {version:d}")
                conn.execute("COMMIT")
            except Exception:
                conn.execute("ROLLBACK")
                raise
    finally:
        conn.execute("PRAGMA foreign_keys = ON")


def split_sql(script: str) -> list[str]:
    """Statements of a migration, keeping trigger bodies whole."""
    statements: list[str] = []
    buf: list[str] = []
    for line in script.splitlines():
        if line.strip().startswith("--") and not buf:
            continue
        buf.append(line)
        text = "\n".join(buf).strip()
        if text.endswith(";") and sqlite3.complete_statement(text):
            statements.append(text)
            buf = []
    if "\n".join(buf).strip():
        raise StoreError("migration ends in an incomplete statement")
    return statements


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One durable unit of work: all of it is on disk when this returns, or none of it."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
