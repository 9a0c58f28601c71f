"""The till's side of pairing through the relay (RFC 8628 device grant), and its token source.

    pairing = start_pairing("https://pair.tillbox.dk")
    print(qr_text(pairing.verification_uri_complete), pairing.user_code)
    poll(pairing, TokenStore(data), api_base="https://api.dinero.dk")   # blocks until paired
    tokens = RelayLogin(TokenStore(data))                                # refreshes through the relay

Visma's client secret lives only on the relay, so every refresh goes through it too. The device
code is the till's proof of the pairing: it is kept private and never logged or printed."""

from __future__ import annotations

import io
import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import qrcode

from appliance.dinero.tokens import LoginNeeded, TokenStore, redact

log = logging.getLogger(__name__)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SLOW_DOWN_STEP = 5  # RFC 8628 §3.5
REFRESH_MARGIN = 60  # token() promises at least a minute of validity
REPAIR = "Dinero login needed: pair the till again"


class PairingError(Exception):
    """The pairing did not complete; the message says why, for the installer."""


class PairingExpired(PairingError):
    """Nobody finished the login on the phone before the code expired."""


class PairingDenied(PairingError):
    """The installer refused Tillbox access at Visma."""


class RelayUnavailable(Exception):
    """The relay could not be reached or failed; try again later (the login itself is still fine)."""


class Pairing:
    """A pairing in progress. `device_code` stays private: whoever holds it collects the tokens."""

    def __init__(self, relay_url: str, device_code: str, user_code: str, verification_uri: str,
                 verification_uri_complete: str, expires_in: int, interval: int) -> None:
        self.relay_url = relay_url
        self._device_code = device_code
        self.user_code, self.verification_uri = user_code, verification_uri
        self.verification_uri_complete = verification_uri_complete
        self.expires_in, self.interval = expires_in, interval

    def __repr__(self) -> str:
        return (f"Pairing(relay_url={self.relay_url!r}, user_code={self.user_code!r}, "
                f"expires_in={self.expires_in})")


def _check_url(url: str) -> str:
    """https, or http to this machine only (tests): tokens must never cross a network in clear text."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    loopback = host == "localhost"
    try:
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if parts.scheme == "https" or (parts.scheme == "http" and loopback):
        return url.rstrip("/")
    raise PairingError(f"the relay URL must start with https:// ({url})")


def start_pairing(relay_url: str, *, timeout: float = 15.0,
                  transport: httpx.BaseTransport | None = None) -> Pairing:
    """Ask the relay for a device code and the code the installer types (or scans) on a phone.
    `transport` replaces the network (httpx.MockTransport in tests; None: the real one)."""
    relay_url = _check_url(relay_url)
    try:
        with httpx.Client(timeout=timeout, transport=transport) as http:
            resp = http.post(f"{relay_url}/device/code", data={"client_id": "tillbox"})
    except httpx.HTTPError as exc:
        raise RelayUnavailable(f"cannot reach the pairing relay ({type(exc).__name__})") from None
    if resp.status_code != 200:
        raise RelayUnavailable(f"the pairing relay answered {resp.status_code}")
    try:
        body = resp.json()
        pairing = Pairing(relay_url, str(body["device_code"]), str(body["user_code"]),
                          str(body["verification_uri"]),
                          str(body.get("verification_uri_complete") or body["verification_uri"]),
                          int(body["expires_in"]), int(body.get("interval", 5)))
    except (ValueError, KeyError, TypeError):
        raise RelayUnavailable("the pairing relay answered something unreadable") from None
    log.info("event=pairing_started expires_in=%d interval=%d", pairing.expires_in, pairing.interval)
    return pairing


def poll(pairing: Pairing, store: TokenStore, *, api_base: str | None = None,
         sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
         wall_clock: Callable[[], float] = time.time, on_wait: Callable[[str, float], None] | None = None,
         timeout: float = 15.0, transport: httpx.BaseTransport | None = None) -> dict[str, Any]:
    """Wait until the installer has logged in and chosen an organization; save the login.

    Polls every `interval` seconds (slower when the relay says slow_down). `on_wait(status,
    seconds_left)` is called before each wait, for a countdown on screen. Returns the saved record
    with its secrets redacted. Raises PairingExpired, PairingDenied or PairingError."""
    interval = float(pairing.interval)
    deadline = clock() + pairing.expires_in
    status = "authorization_pending"
    form = {"grant_type": DEVICE_GRANT, "device_code": pairing._device_code}
    with httpx.Client(timeout=timeout, transport=transport) as http:
        while True:
            left = deadline - clock()
            if left <= 0:
                log.info("event=pairing_failed reason=expired")
                raise PairingExpired("the pairing code expired before the login was finished; start again")
            if on_wait:
                on_wait(status, left)
            sleep(interval)
            try:
                resp = http.post(f"{pairing.relay_url}/device/token", data=form)
                is_json = resp.headers.get("content-type", "").startswith("application/json")
                body = resp.json() if is_json else {}
            except (httpx.HTTPError, ValueError) as exc:
                status = "relay_unreachable"  # RFC 8628 §3.5: keep trying, the code is still good
                log.info("event=pairing_poll result=unreachable error=%s", type(exc).__name__)
                continue
            if resp.status_code == 200:
                return _save(pairing, store, body, api_base, wall_clock)
            status = str(body.get("error", f"http_{resp.status_code}")) if isinstance(body, dict) else "?"
            if status == "authorization_pending" or resp.status_code >= 500:
                continue
            if status == "slow_down":
                interval += SLOW_DOWN_STEP
                if isinstance(body.get("interval"), int):  # the relay may say how slow exactly
                    interval = max(interval, float(body["interval"]))
                log.info("event=pairing_poll result=slow_down interval=%d", interval)
                continue
            log.info("event=pairing_failed reason=%s", status)
            if status == "expired_token":
                raise PairingExpired("the pairing code expired before the login was finished; start again")
            if status == "access_denied":
                raise PairingDenied("access to Dinero was refused on the phone; start again to retry")
            raise PairingError(f"the pairing relay refused the pairing ({status})")


def _save(pairing: Pairing, store: TokenStore, body: dict[str, Any], api_base: str | None,
          wall_clock: Callable[[], float]) -> dict[str, Any]:
    try:
        record: dict[str, Any] = {
            "kind": "relay", "relay_url": pairing.relay_url,
            "access_token": str(body["access_token"]), "refresh_token": str(body["refresh_token"]),
            "expires_at": wall_clock() + int(body["expires_in"]),
            "org_id": int(body["organization_id"]), "org_name": str(body["organization_name"]),
        }
    except (KeyError, TypeError, ValueError):
        raise PairingError("the pairing relay answered an incomplete login") from None
    if api_base:
        record["api_base"] = api_base.rstrip("/")
    store.save(record)
    log.info("event=dinero_paired kind=relay org_id=%d", record["org_id"])
    return redact(record) or {}


def qr_text(url: str) -> str:
    """The URL as a QR code drawn with block characters, for `till dinero connect --relay URL`."""
    qr = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_L)
    qr.add_data(url)
    qr.make(fit=True)
    out = io.StringIO()
    qr.print_ascii(out=out, invert=True)
    return out.getvalue()


class RelayLogin:
    """TokenSource for a till paired through the relay: the stored access token while it has more
    than a minute left, else a refresh through the relay's /token."""

    def __init__(self, store: TokenStore, *, clock: Callable[[], float] = time.time,
                 timeout: float = 15.0, transport: httpx.BaseTransport | None = None) -> None:
        self.store, self.clock, self.timeout = store, clock, timeout
        self.transport = transport
        self._stale = False
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            record = self.store.load()
            if not record or record.get("kind") != "relay":
                raise LoginNeeded("Dinero login needed: pair the till with the relay")
            if record.get("login_needed"):
                raise LoginNeeded(REPAIR)
            left = float(record.get("expires_at") or 0) - self.clock()
            if not self._stale and record.get("access_token") and left > REFRESH_MARGIN:
                return str(record["access_token"])
            return self._refresh(record)

    def invalidate(self) -> None:
        with self._lock:
            self._stale = True

    def _refresh(self, record: dict[str, Any]) -> str:
        if not record.get("refresh_token") or not record.get("relay_url"):
            raise LoginNeeded(REPAIR)
        url = f"{_check_url(str(record['relay_url']))}/token"
        try:
            form = {"grant_type": "refresh_token", "refresh_token": record["refresh_token"]}
            with httpx.Client(timeout=self.timeout, transport=self.transport) as http:
                resp = http.post(url, data=form)
            body = resp.json()
        except httpx.HTTPError as exc:
            log.warning("event=dinero_refresh result=unreachable error=%s", type(exc).__name__)
            raise RelayUnavailable(f"cannot reach the pairing relay ({type(exc).__name__})") from None
        except ValueError:
            body = {}
        if resp.status_code == 400 and isinstance(body, dict) and body.get("error") == "invalid_grant":
            self.store.update(login_needed=True)  # stop asking: only a new pairing helps
            log.warning("event=dinero_refresh result=invalid_grant")
            raise LoginNeeded(REPAIR)
        if resp.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
            log.warning("event=dinero_refresh result=failed status=%d", resp.status_code)
            raise RelayUnavailable(f"the pairing relay answered {resp.status_code}")
        new_refresh = str(body.get("refresh_token") or record["refresh_token"])
        rotated = new_refresh != record["refresh_token"]
        record.update(access_token=str(body["access_token"]), refresh_token=new_refresh,
                      expires_at=self.clock() + int(body.get("expires_in", 3600)))
        self.store.save(record)  # the rotated refresh token is on disk before the access token is used
        self._stale = False
        log.info("event=dinero_refresh result=ok rotated=%s", "yes" if rotated else "no")
        return str(record["access_token"])
