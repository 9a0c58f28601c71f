"""Pairings in progress, in memory only, and the per-IP limit on wrong user codes.

A pairing lives from the till's device-code request until it collects its tokens (once) or the code
expires. Nothing is written to disk: a restart of the relay just means "pair again"."""

from __future__ import annotations

import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels (no words), no look-alikes like 0/O, 1/I
USER_CODE_LENGTH = 8
SLOW_DOWN_STEP = 5  # RFC 8628 §3.5: each slow_down adds five seconds to the interval

PENDING = "pending"  # waiting for the installer to enter the code
AUTHORIZING = "authorizing"  # sent to Visma; waiting for its callback
CHOOSING = "choosing"  # tokens obtained; waiting for the installer to choose the organization
COMPLETE = "complete"  # ready for the till to collect
DENIED = "denied"  # the installer refused consent at Visma


class CapacityError(Exception):
    """Too many pairings in progress."""


def new_user_code() -> str:
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def normalize_user_code(text: str) -> str | None:
    """The code as typed (any case, with or without the dash or spaces), or None if it cannot be one."""
    code = "".join(ch for ch in text.upper() if ch not in "- \t")
    if len(code) != USER_CODE_LENGTH or any(ch not in USER_CODE_ALPHABET for ch in code):
        return None
    return code


def display_user_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


@dataclass
class Pairing:
    id: str  # a short handle for logs; device_code and user_code never appear in logs
    device_code: str = field(repr=False)
    user_code: str
    expires: float  # on the relay's clock
    interval: int
    status: str = PENDING
    last_poll: float | None = None
    state: str | None = field(default=None, repr=False)
    verifier: str | None = field(default=None, repr=False)
    choice: str | None = field(default=None, repr=False)  # binds the organization form to this pairing
    tokens: dict[str, Any] | None = field(default=None, repr=False)
    orgs: list[dict[str, Any]] = field(default_factory=list)
    org_id: int | None = None
    org_name: str | None = None


class Pairings:
    """Thread-safe, expiring store of pairings, indexed by device code, user code, state and choice.

    Expired pairings are kept for one more lifetime so a late poll still hears "expired_token"
    rather than "invalid_grant"; then they are dropped."""

    def __init__(self, lifetime: int, interval: int, max_pending: int) -> None:
        self.lifetime, self.interval, self.max_pending = lifetime, interval, max_pending
        self.lock = threading.RLock()
        self._by_device: dict[str, Pairing] = {}
        self._by_user: dict[str, Pairing] = {}
        self._by_state: dict[str, Pairing] = {}
        self._by_choice: dict[str, Pairing] = {}

    def create(self, now: float) -> Pairing:
        with self.lock:
            self.purge(now)
            if sum(1 for p in self._by_device.values() if p.expires > now) >= self.max_pending:
                raise CapacityError
            user_code = new_user_code()
            while user_code in self._by_user:
                user_code = new_user_code()
            pairing = Pairing(id=secrets.token_hex(4), device_code=secrets.token_urlsafe(32),
                              user_code=user_code, expires=now + self.lifetime, interval=self.interval)
            self._by_device[pairing.device_code] = pairing
            self._by_user[user_code] = pairing
            return pairing

    def by_device_code(self, device_code: str) -> Pairing | None:
        return self._by_device.get(device_code)

    def live_by_user_code(self, user_code: str, now: float) -> Pairing | None:
        """A pairing that may still be authorized with this code (not expired, not finished)."""
        pairing = self._by_user.get(user_code)
        if pairing is None or pairing.expires <= now or pairing.status not in (PENDING, AUTHORIZING):
            return None
        return pairing

    def begin_authorization(self, pairing: Pairing) -> None:
        """A fresh state and PKCE verifier; any earlier attempt's state stops working."""
        with self.lock:
            if pairing.state:
                self._by_state.pop(pairing.state, None)
            pairing.state = secrets.token_urlsafe(24)
            pairing.verifier = secrets.token_urlsafe(48)
            pairing.status = AUTHORIZING
            self._by_state[pairing.state] = pairing

    def take_by_state(self, state: str, now: float) -> Pairing | None:
        """The pairing this callback belongs to; the state is single-use."""
        with self.lock:
            pairing = self._by_state.pop(state, None)
            if pairing is None or pairing.expires <= now or pairing.status != AUTHORIZING:
                return None
            pairing.state = None
            return pairing

    def await_choice(self, pairing: Pairing, tokens: dict[str, Any], orgs: list[dict[str, Any]]) -> None:
        with self.lock:
            pairing.tokens, pairing.orgs, pairing.status = tokens, orgs, CHOOSING
            pairing.choice = secrets.token_urlsafe(24)
            self._by_choice[pairing.choice] = pairing

    def by_choice(self, choice: str, now: float) -> Pairing | None:
        pairing = self._by_choice.get(choice)
        if pairing is None or pairing.expires <= now or pairing.status != CHOOSING:
            return None
        return pairing

    def complete(self, pairing: Pairing, org_id: int, org_name: str) -> None:
        with self.lock:
            self._by_choice.pop(pairing.choice or "", None)
            pairing.choice, pairing.status = None, COMPLETE
            pairing.org_id, pairing.org_name = org_id, org_name

    def deny(self, pairing: Pairing) -> None:
        with self.lock:
            pairing.status, pairing.tokens = DENIED, None

    def reset(self, pairing: Pairing) -> None:
        """Back to waiting for the code (after a failed login), forgetting any tokens."""
        with self.lock:
            self._by_choice.pop(pairing.choice or "", None)
            pairing.status, pairing.tokens, pairing.orgs, pairing.choice = PENDING, None, [], None

    def forget(self, pairing: Pairing) -> None:
        with self.lock:
            self._by_device.pop(pairing.device_code, None)
            if self._by_user.get(pairing.user_code) is pairing:
                del self._by_user[pairing.user_code]
            self._by_state.pop(pairing.state or "", None)
            self._by_choice.pop(pairing.choice or "", None)
            pairing.tokens = None

    def purge(self, now: float) -> None:
        with self.lock:
            for pairing in [p for p in self._by_device.values() if p.expires + self.lifetime <= now]:
                self.forget(pairing)
            for pairing in [p for p in self._by_device.values() if p.expires <= now and p.tokens]:
                pairing.tokens = None  # an expired pairing keeps no tokens, only its "expired" answer

    def __len__(self) -> int:
        return len(self._by_device)


class WrongCodeLimiter:
    """At most `limit` wrong user codes per client IP within `window` seconds."""

    def __init__(self, limit: int, window: int, max_ips: int = 10_000) -> None:
        self.limit, self.window, self.max_ips = limit, window, max_ips
        self._lock = threading.Lock()
        self._misses: dict[str, deque[float]] = {}

    def blocked(self, ip: str, now: float) -> bool:
        with self._lock:
            misses = self._misses.get(ip)
            if misses is None:
                return False
            while misses and misses[0] <= now - self.window:
                misses.popleft()
            return len(misses) >= self.limit

    def record_miss(self, ip: str, now: float) -> None:
        with self._lock:
            if ip not in self._misses and len(self._misses) >= self.max_ips:
                self._misses = {k: v for k, v in self._misses.items() if v and v[-1] > now - self.window}
            self._misses.setdefault(ip, deque()).append(now)
