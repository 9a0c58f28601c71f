"""Cashiers, roles and PINs. PINs are hashed with scrypt so a copied database does not give them away."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_PIN = re.compile(r"[0-9]{4,6}")  # ASCII digits only (\d would take "１２３４"), matched whole
_ID = re.compile(r"[A-Za-z0-9._-]{1,36}")


class Role(StrEnum):
    CASHIER = "cashier"
    MANAGER = "manager"


class PermissionDenied(PermissionError):
    pass


@dataclass(frozen=True)
class Cashier:
    id: str
    name: str
    role: Role

    @property
    def is_manager(self) -> bool:
        return self.role is Role.MANAGER


def check_cashier_id(cashier_id: str) -> str:
    if not isinstance(cashier_id, str) or not _ID.fullmatch(cashier_id):
        raise ValueError("cashier id must be 1-36 letters, digits, '.', '_' or '-'")
    return cashier_id


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    if not isinstance(pin, str) or not _PIN.fullmatch(pin):
        raise ValueError("PIN must be 4 to 6 digits")
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${b64(salt).decode()}${b64(digest).decode()}"


def check_pin(pin: str, stored: str) -> bool:
    try:
        scheme, n, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt" or not isinstance(pin, str) or not _PIN.fullmatch(pin):
        return False
    salt = base64.b64decode(salt_b64)
    digest = hashlib.scrypt(pin.encode(), salt=salt, dklen=32, n=int(n), r=8, p=1)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


MAX_MISSES = 5                   # wrong PINs in a row before a cashier is locked out
LOCK_FOR = timedelta(minutes=5)  # how long the lock lasts


@dataclass(frozen=True)
class PinLock:
    """A cashier's wrong PINs in a row and, after MAX_MISSES of them, until when they are locked.
    The same count holds for the kiosk's login and the shell's `till sell`."""

    misses: int = 0
    locked_until: datetime | None = None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def after_miss(self, now: datetime) -> PinLock:
        """One more wrong PIN; the one that makes MAX_MISSES locks the cashier for LOCK_FOR."""
        misses = (0 if self.locked_until is not None else self.misses) + 1  # a lock that ran out starts over
        if misses >= MAX_MISSES:
            return PinLock(misses, now + LOCK_FOR)
        return PinLock(misses)

    def to_json(self) -> dict[str, int | str | None]:
        return {"misses": self.misses,
                "locked_until": self.locked_until.isoformat() if self.locked_until else None}

    @staticmethod
    def from_json(data: object) -> PinLock:
        """What the till stored; anything it cannot read counts as no misses rather than a crash
        (the journal holds every miss and lock in any case)."""
        if not isinstance(data, dict):
            return PinLock()
        misses = data.get("misses")
        until = data.get("locked_until")
        try:
            when = datetime.fromisoformat(until) if isinstance(until, str) else None
        except ValueError:
            when = None
        if when is not None and when.tzinfo is None:
            when = None
        return PinLock(misses if isinstance(misses, int) and not isinstance(misses, bool) and
                       0 <= misses <= MAX_MISSES else 0, when)


def require_manager(who: Cashier, action: str) -> None:
    if not who.is_manager:
        raise PermissionDenied(f"{action} needs a manager")
