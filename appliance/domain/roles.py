"""Cashiers, roles and PINs. PINs are hashed with scrypt so a copied database does not give them away."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from enum import StrEnum

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_PIN = re.compile(r"^\d{4,6}$")
_ID = re.compile(r"^[A-Za-z0-9._-]{1,36}$")


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
    if not _ID.match(cashier_id):
        raise ValueError("cashier id must be 1-36 letters, digits, '.', '_' or '-'")
    return cashier_id


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    if not _PIN.match(pin):
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
    if scheme != "scrypt" or not _PIN.match(pin or ""):
        return False
    salt = base64.b64decode(salt_b64)
    digest = hashlib.scrypt(pin.encode(), salt=salt, dklen=32, n=int(n), r=8, p=1)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def require_manager(who: Cashier, action: str) -> None:
    if not who.is_manager:
        raise PermissionDenied(f"{action} needs a manager")
