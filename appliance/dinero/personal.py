"""Dinero's "personal integration": the till logs in with its own client id/secret and the shop's API key.

This is the legacy OAuth password grant (notes/dinero.md §1.5). It issues no refresh token, but the API
key does not expire, so the till simply repeats the grant shortly before each access token runs out.
Everything secret stays in the TokenStore file; logs and messages name no key, secret or token."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from .client import DineroClient
from .errors import NO_PRO_MESSAGE, NoPro, RateLimited, Rejected, Transient
from .tokens import LoginNeeded, TokenStore

log = logging.getLogger(__name__)

REFRESH_MARGIN_S = 60.0  # a token with less than this left is renewed before use
DEFAULT_EXPIRES_IN = 3600.0


@dataclass(frozen=True)
class Grant:
    access_token: str
    expires_in: float

    def __repr__(self) -> str:  # never print the token by accident
        return f"Grant(access_token='***', expires_in={self.expires_in})"


def password_grant(auth_url: str, client_id: str, client_secret: str, api_key: str, *,
                   timeout: float = 15.0, transport: httpx.BaseTransport | None = None) -> Grant:
    """One password grant (Basic client_id:secret; username = password = the API key).
    Raises LoginNeeded for refused credentials, NoPro, RateLimited or Transient."""
    form = {"grant_type": "password", "scope": "read write", "username": api_key, "password": api_key}
    started = time.monotonic()
    try:
        with httpx.Client(timeout=timeout, transport=transport) as http:
            response = http.post(auth_url, auth=(client_id, client_secret), data=form,
                                 headers={"Accept": "application/json"})
    except httpx.TimeoutException as exc:
        raise Transient(f"Dinero login: no answer in time ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise Transient(f"Dinero login: no answer ({type(exc).__name__})") from exc
    status = response.status_code
    ms = round((time.monotonic() - started) * 1000)
    log.info("event=dinero_personal_grant status=%d ms=%d", status, ms)
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    if status == 200:
        token, expires_in = body.get("access_token"), body.get("expires_in", DEFAULT_EXPIRES_IN)
        if not isinstance(token, str) or not token:
            raise Transient("Dinero login: the answer held no access token", status=status)
        return Grant(token, float(expires_in) if isinstance(expires_in, (int, float)) else DEFAULT_EXPIRES_IN)
    error = str(body.get("error") or "")
    code = body.get("code", body.get("Code"))
    if status == 403 and code == 90:
        raise NoPro(status=status, code=code)
    if status == 429:
        raise RateLimited("Dinero login: Dinero's rate limit was reached")
    if status >= 500 or status in (408, 480):
        raise Transient(f"Dinero login: HTTP {status}", status=status)
    if error == "invalid_grant":
        raise LoginNeeded("Dinero refused the API key (invalid_grant): check it, or create a new API key "
                          "in Dinero and enter it again")
    if error == "invalid_client" or status == 401:
        raise LoginNeeded("Dinero refused the client id or client secret (invalid_client): check the "
                          "personal-integration credentials Dinero sent")
    raise LoginNeeded(f"Dinero refused the personal login (HTTP {status}" + (f", {error})" if error else ")"))


class PersonalLogin:
    """TokenSource for a stored personal login: caches the access token (and its expiry) in the store."""

    def __init__(self, store: TokenStore, auth_url: str, *, timeout: float = 15.0,
                 clock: Callable[[], float] = time.time, transport: httpx.BaseTransport | None = None):
        self.store = store
        self.auth_url = auth_url
        self.timeout = timeout
        self.transport = transport
        self.clock = clock
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            record = self.store.load()
            if not record or record.get("kind") != "personal":
                raise LoginNeeded("no personal Dinero login is stored (till dinero connect ...)")
            missing = [k for k in ("client_id", "client_secret", "api_key") if not record.get(k)]
            if missing:
                raise LoginNeeded("the stored personal Dinero login lacks " + ", ".join(missing))
            token, expires_at = record.get("access_token"), record.get("access_token_expires_at")
            fresh = isinstance(expires_at, (int, float)) and expires_at - self.clock() >= REFRESH_MARGIN_S
            if token and fresh:
                return str(token)
            grant = password_grant(self.auth_url, record["client_id"], record["client_secret"],
                                   record["api_key"], timeout=self.timeout, transport=self.transport)
            self.store.update(access_token=grant.access_token,
                              access_token_expires_at=self.clock() + grant.expires_in)
            log.info("event=dinero_token_renewed kind=personal expires_in=%d", grant.expires_in)
            return grant.access_token

    def invalidate(self) -> None:
        with self._lock:
            record = self.store.load()
            if record and record.get("access_token"):
                self.store.update(access_token=None, access_token_expires_at=None)
                log.info("event=dinero_token_dropped kind=personal")


class _OneToken:
    """The token just granted, for checking it; a 401 on it ends the check."""

    def __init__(self, token: str):
        self._token: str | None = token

    def token(self) -> str:
        if self._token is None:
            raise LoginNeeded("Dinero refused the token it had just issued")
        return self._token

    def invalidate(self) -> None:
        self._token = None


def connect_personal(store: TokenStore, auth_url: str, api_base: str, client_id: str, client_secret: str,
                     api_key: str, org_id: int | str | None = None, *, timeout: float = 15.0,
                     clock: Callable[[], float] = time.time,
                     transport: httpx.BaseTransport | None = None) -> dict[str, Any]:
    """Check the credentials (a grant, then the organization list) and save the login.

    Returns {"connected", "org_id", "org_name", "organizations"}. With org_id None and several
    organizations nothing is saved and connected is False: ask the installer, then call again with the
    chosen org_id. Raises LoginNeeded (bad credentials), NoPro, Rejected (org not reachable), Transient."""
    grant = password_grant(auth_url, client_id, client_secret, api_key, timeout=timeout, transport=transport)
    obtained = clock()
    with DineroClient(api_base, _OneToken(grant.access_token), timeout=timeout,
                      transport=transport) as client:
        orgs = client.organizations()
    listed = [{"Id": o.get("Id"), "Name": o.get("Name"), "IsPro": bool(o.get("IsPro"))} for o in orgs]
    if not orgs:
        raise Rejected("this Dinero login gives access to no organization")
    if org_id is None and len(orgs) > 1:
        return {"connected": False, "org_id": None, "org_name": None, "organizations": listed}
    chosen: dict[str, Any] | None
    if org_id is None:
        chosen = orgs[0]
    else:
        chosen = next((o for o in orgs if str(o.get("Id")) == str(org_id)), None)
        if chosen is None:
            ids = ", ".join(str(o.get("Id")) for o in orgs)
            raise Rejected(f"organization {org_id} is not one this Dinero login can use ({ids})")
    if not chosen.get("IsPro"):
        raise NoPro(f"{chosen.get('Name')} ({chosen.get('Id')}): {NO_PRO_MESSAGE}")
    store.save({"kind": "personal", "client_id": client_id, "client_secret": client_secret,
                "api_key": api_key, "auth_url": auth_url, "api_base": api_base, "org_id": int(chosen["Id"]),
                "org_name": chosen.get("Name"), "access_token": grant.access_token,
                "access_token_expires_at": obtained + grant.expires_in})
    log.info("event=dinero_connected kind=personal org_id=%s", chosen["Id"])
    return {"connected": True, "org_id": int(chosen["Id"]), "org_name": chosen.get("Name"),
            "organizations": listed}
