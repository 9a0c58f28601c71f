"""MobilePay's settings: which ePayment API the till talks to, and opening a client for it.

The setting is one JSON spec in the meta table under `mobilepay` (like the devices' specs), checked
where it enters and journalled on every change; it never holds a secret:

    {"kind": "epayment", "base_url": "https://apitest.vipps.no" | "https://api.vipps.no",
     "msn": "123456", "client_id": "...", "system_name": "tillbox", "system_version": "0.1.0"}
    {"kind": "sim", "dir": "<data>/sim/mobilepay", "approve_after": 2.0}

The secrets (client secret, subscription key) live in `secrets/mobilepay.json` (0600, in a 0700
folder; appliance.dinero.tokens.TokenStore) and are never logged, printed or journalled."""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..dinero.tokens import TokenStore
from ..store.db import transaction
from ..store.settings import get_meta, set_meta
from .till import Till

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

SETTING_KEY = "mobilepay"
SECRETS_NAME = "mobilepay"
SECRET_FIELDS = ("client_secret", "subscription_key")
TEST_URL = "https://apitest.vipps.no"
PRODUCTION_URL = "https://api.vipps.no"
KINDS = ("epayment", "sim")
_HEADER_VALUE = re.compile(r"[A-Za-z0-9._\- ]{1,30}")  # Vipps-System-* headers: at most 30 characters


class MobilePaySetupError(ValueError):
    """A MobilePay setting that cannot work; the message says what to change (never a secret)."""


def till_version() -> str:
    try:
        return metadata.version("tillbox")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def settings_of(till: Till) -> dict[str, Any] | None:
    raw = get_meta(till.conn, SETTING_KEY)
    return json.loads(raw) if raw else None


def secrets_store(till: Till) -> TokenStore:
    return TokenStore(till.data_dir, SECRETS_NAME)


def check_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec cleaned and checked (MobilePaySetupError says what is wrong)."""
    kind = spec.get("kind")
    if kind == "sim":
        after = float(spec.get("approve_after", 2.0))
        if not 0 <= after <= 600:
            raise MobilePaySetupError("approve_after must be 0 to 600 seconds")
        return {"kind": "sim", "dir": str(spec["dir"]), "approve_after": after}
    if kind != "epayment":
        raise MobilePaySetupError(f"MobilePay kind must be one of {', '.join(KINDS)}, not {kind!r}")
    url = str(spec.get("base_url", "")).rstrip("/")
    parts = urllib.parse.urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise MobilePaySetupError(f"the MobilePay URL must be https (test {TEST_URL}, production "
                                  f"{PRODUCTION_URL}), not {url!r}")
    if parts.path or parts.query or not parts.hostname:
        raise MobilePaySetupError(f"the MobilePay URL is the server only, e.g. {TEST_URL}, not {url!r}")
    msn = str(spec.get("msn", ""))
    if not re.fullmatch(r"[0-9]{4,6}", msn):
        raise MobilePaySetupError("the merchant serial number (MSN) must be 4-6 digits")
    client_id = str(spec.get("client_id", ""))
    if not re.fullmatch(r"[A-Za-z0-9._\-]{1,100}", client_id):
        raise MobilePaySetupError("the client id must be 1-100 letters, digits, '.', '_' or '-'")
    out = {"kind": "epayment", "base_url": url, "msn": msn, "client_id": client_id,
           "system_name": str(spec.get("system_name") or "tillbox"),
           "system_version": str(spec.get("system_version") or till_version())}
    for name in ("system_name", "system_version"):
        if not _HEADER_VALUE.fullmatch(out[name]):
            raise MobilePaySetupError(f"{name} must be 1-30 letters, digits, '.', '_', '-' or spaces")
    return out


def set_mobilepay(till: Till, spec: Mapping[str, Any] | None, who: str, *,
                  client_secret: str | None = None,
                  subscription_key: str | None = None) -> dict[str, Any] | None:
    """Check and save MobilePay's setting (None switches MobilePay off); secrets given go to the 0600
    file. An `epayment` setting needs both secrets, given now or stored before. Journalled without
    the secrets."""
    clean = check_spec(spec) if spec is not None else None
    given = {k: v for k, v in (("client_secret", client_secret), ("subscription_key", subscription_key))
             if v}
    for name, value in given.items():
        if len(value) < 8 or any(c.isspace() for c in value):
            raise MobilePaySetupError(f"the {name.replace('_', ' ')} looks wrong (8 or more characters, "
                                      "no spaces)")
    store = secrets_store(till)
    if clean is not None and clean["kind"] == "epayment":
        have = {**{k: v for k, v in (store.load() or {}).items() if k in SECRET_FIELDS}, **given}
        missing = [k.replace("_", " ") for k in SECRET_FIELDS if not have.get(k)]
        if missing:
            raise MobilePaySetupError("MobilePay needs its " + " and ".join(missing) +
                                      " (TILLBOX_MOBILEPAY_CLIENT_SECRET, TILLBOX_MOBILEPAY_SUBSCRIPTION_KEY "
                                      "or stdin)")
    if given:
        store.update(**given)
    with transaction(till.conn):
        set_meta(till.conn, SETTING_KEY, json.dumps(clean, sort_keys=True) if clean else "")
        till.journal.append("settings_change", who, {"key": SETTING_KEY, "value": clean})
        if given:
            till.journal.append("settings_change", who,
                                {"key": "mobilepay.secrets", "value": sorted(given)})  # names only
    log.info("event=mobilepay_set kind=%s secrets_changed=%s", clean["kind"] if clean else "off",
             ",".join(sorted(given)) or "none")
    return clean


def sim_spec(till: Till, approve_after: float = 2.0) -> dict[str, Any]:
    return {"kind": "sim", "dir": str(Path(till.data_dir) / "sim" / "mobilepay"),
            "approve_after": approve_after}


def describe(till: Till) -> dict[str, Any]:
    """What is set up, for `till mobilepay show` and the settings screen: never a secret's value."""
    spec = settings_of(till)
    stored = secrets_store(till).load() or {}
    out: dict[str, Any] = {"mobilepay": spec["kind"] if spec else "off", "settings": spec}
    if spec and spec["kind"] == "epayment":
        out["secrets"] = {k: ("set" if stored.get(k) else "missing") for k in SECRET_FIELDS}
        out["environment"] = {TEST_URL: "test", PRODUCTION_URL: "production"}.get(spec["base_url"], "other")
    return out


def open_mobilepay(till: Till, *, strict: bool = False,
                   transport: httpx.BaseTransport | None = None) -> Any:
    """An EPaymentClient for the configured API, or None when MobilePay is off. For `sim` the simulator
    is started in this process and the client's close() stops it. A setting that cannot be used is
    logged and gives None (the till still sells), or raises MobilePaySetupError with `strict`.
    `transport` is the ePayment client's network (httpx.MockTransport in tests; None: the real one)."""
    spec = settings_of(till)
    if not spec:
        return None
    try:
        return _open(till, spec, transport)
    except (MobilePaySetupError, ValueError, KeyError, OSError) as exc:
        if strict:
            raise MobilePaySetupError(f"MobilePay cannot be used: {exc}") from exc
        log.warning("event=mobilepay_unusable kind=%s error=%s", spec.get("kind"), type(exc).__name__)
        return None


def _open(till: Till, spec: dict[str, Any], transport: httpx.BaseTransport | None = None) -> Any:
    from drivers.mobilepay.client import EPaymentClient

    if spec["kind"] == "sim":
        from drivers.mobilepay.simulator import EPaymentSimulator

        folder = Path(spec["dir"])
        folder.mkdir(parents=True, exist_ok=True)
        sim = EPaymentSimulator(approve_after=float(spec.get("approve_after", 2.0)),
                                ledger=folder / "ledger.jsonl").start()
        return sim.client(system_version=till_version())
    stored = secrets_store(till).load() or {}
    if not all(stored.get(k) for k in SECRET_FIELDS):
        raise MobilePaySetupError("the client secret or subscription key is not stored (till mobilepay set)")
    return EPaymentClient(spec["base_url"], client_id=spec["client_id"],
                          client_secret=stored["client_secret"],
                          subscription_key=stored["subscription_key"], merchant_serial_number=spec["msn"],
                          system_name=spec.get("system_name", "tillbox"),
                          system_version=spec.get("system_version") or till_version(),
                          transport=transport)


__all__ = ["PRODUCTION_URL", "TEST_URL", "MobilePaySetupError", "check_spec", "describe", "open_mobilepay",
           "set_mobilepay", "settings_of", "sim_spec"]
