"""Opening a till: the database, the signing key, the clock. Every use case starts here."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ..domain.journal import SYSTEM
from ..domain.roles import (
    LOCK_FOR,
    MAX_MISSES,
    Cashier,
    PermissionDenied,
    PinLock,
    check_pin,
    require_manager,
)
from ..store import cash_transactions, settings
from ..store.db import StoreError, connect, transaction
from ..store.journal import Journal, entries
from ..store.keys import load_signer

log = logging.getLogger(__name__)
TZ = ZoneInfo("Europe/Copenhagen")
DEFAULT_DATA = "/var/lib/tillbox"


def system_clock() -> datetime:
    return datetime.now(TZ)


def env_clock() -> Callable[[], datetime]:
    """TILLBOX_CLOCK=ISO-time pins the clock (demos and tests); otherwise the system clock."""
    fixed = os.environ.get("TILLBOX_CLOCK")
    if not fixed:
        return system_clock
    when = datetime.fromisoformat(fixed)
    if when.tzinfo is None:
        when = when.replace(tzinfo=TZ)
    return lambda: when.astimezone(TZ)


def data_dir(explicit: str | None) -> Path:
    return Path(explicit or os.environ.get("TILLBOX_DATA") or DEFAULT_DATA)


class ManualClock:
    """A clock moved by hand, so demos, benchmarks and tests pass whole days in seconds."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class AuthError(PermissionError):
    """Unknown cashier or wrong PIN."""


class PinLocked(AuthError):
    """The cashier is locked out after too many wrong PINs (the right PIN is refused too)."""

    def __init__(self, cashier_id: str, until_hhmm: str):
        self.cashier_id = cashier_id
        self.until = until_hhmm
        minutes = int(LOCK_FOR.total_seconds() // 60)
        super().__init__(f"{cashier_id} is locked until {until_hhmm} after {MAX_MISSES} wrong PINs "
                         f"(locks last {minutes} minutes)")


def _lock_key(cashier_id: str) -> str:
    return f"pin_lock.{cashier_id}"


@dataclass
class Till:
    data_dir: Path
    conn: sqlite3.Connection
    journal: Journal
    clock: Callable[[], datetime]
    prints_receipts: bool = False  # a receipt printer is configured: sales queue their receipt

    @property
    def register_id(self) -> str:
        return self.journal.register_id

    def now(self) -> datetime:
        return self.clock().astimezone(TZ)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Till:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cashier(self, cashier_id: str, pin: str | None = None) -> Cashier:
        """The cashier acting; with a PIN it is checked, with the lockout: after MAX_MISSES wrong
        PINs in a row the cashier is locked for LOCK_FOR, whatever the PIN. Each miss is journalled
        (`login_failed`, with how many in a row) and so is the lock (`pin_locked`); the count lives in
        meta under `pin_lock.<cashier>`, so the kiosk's pad, its manager approvals and the shell
        share it. A right PIN clears it. Neither a PIN nor its hash is ever logged or journalled."""
        found = settings.cashier(self.conn, str(cashier_id))
        if found is None:
            raise AuthError(f"unknown cashier {cashier_id!r}")
        who, pin_hash = found
        if pin is None:
            return who
        now = self.now()
        state = self.pin_lock(who.id)
        if state.locked(now):
            assert state.locked_until is not None
            log.info("event=pin_refused_locked cashier=%s", who.id)
            raise PinLocked(who.id, state.locked_until.astimezone(TZ).strftime("%H:%M"))
        if check_pin(str(pin), pin_hash):
            if state.misses or state.locked_until is not None:
                with transaction(self.conn):
                    self.conn.execute("DELETE FROM meta WHERE key = ?", (_lock_key(who.id),))
            return who
        after = state.after_miss(now)
        with transaction(self.conn):
            self.journal.append("login_failed", who.id, {"reason": "wrong PIN", "in_a_row": after.misses})
            if after.locked_until is not None:
                self.journal.append("pin_locked", who.id, {
                    "misses": after.misses, "until": after.locked_until.isoformat(),
                    "minutes": int(LOCK_FOR.total_seconds() // 60)})
            settings.set_meta(self.conn, _lock_key(who.id), json.dumps(after.to_json()))
        log.info("event=pin_wrong cashier=%s in_a_row=%d locked=%s", who.id, after.misses,
                 after.locked_until is not None)
        if after.locked_until is not None:
            raise PinLocked(who.id, after.locked_until.astimezone(TZ).strftime("%H:%M"))
        raise AuthError(f"wrong PIN for {who.id}")

    def pin_lock(self, cashier_id: str) -> PinLock:
        raw = settings.get_meta(self.conn, _lock_key(cashier_id))
        try:
            return PinLock.from_json(json.loads(raw)) if raw else PinLock()
        except ValueError:  # not JSON: as if no misses (the journal keeps them all)
            return PinLock()

    def acting(self, cashier_id: str | None, pin: str | None = None) -> str:
        """Who to journal an action under: a cashier, or `system` for the installer's shell."""
        if not cashier_id or cashier_id == SYSTEM:
            return SYSTEM
        return self.cashier(cashier_id, pin).id

    def manager(self, spec: dict | None, acting: Cashier, action: str) -> Cashier:
        """A manager's approval: {"id": .., "pin": ..}; a PIN is always required."""
        if not spec or "pin" not in spec:
            raise PermissionDenied(f"{action} needs a manager's PIN")
        who = self.cashier(spec.get("id", acting.id), str(spec["pin"]))
        require_manager(who, action)
        return who


def open_till(data: Path, clock: Callable[[], datetime] | None = None) -> Till:
    conn = connect(data)
    register_id = settings.get_meta(conn, "register_id")
    cvr = settings.get_meta(conn, "cvr")
    if not register_id or not cvr:
        conn.close()
        raise StoreError(f"{data} holds no initialised till: run 'till init'")
    signer = load_signer(data, settings.current_key_version(conn))
    if settings.get_meta(conn, cash_transactions.BACKFILL_KEY) is not None:  # once, after the upgrade
        with transaction(conn):
            cash_transactions.backfill(conn, lambda after, upto: entries(conn, after, upto), signer, cvr)
    clock = clock or env_clock()
    printer = settings.get_meta(conn, "device.printer")
    return Till(Path(data), conn, Journal(conn, signer, register_id, cvr, clock), clock, bool(printer))
