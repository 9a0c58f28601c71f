"""Which tenders the till takes: the manager switches card, MobilePay, manual card and gift voucher on
and off; cash is always on (a Danish shop must take cash: the payment act's cash rule).

The setting is one meta row, `payment.types`: a JSON list of the enabled types in PaymentType order,
always with cash. No row means every type is on (a till set up before this setting existed). Every
change is journalled as a settings change with the old and the new list. `overview` also says whether
card and MobilePay are set up (a terminal configured; MobilePay's setting and its stored secrets),
never a secret's value."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from ..dinero.tokens import TokenStore
from ..domain.tenders import PaymentType
from ..store.db import transaction
from ..store.settings import get_meta, set_meta
from .devices import device_settings
from .mobilepay_setup import describe
from .till import Till

log = logging.getLogger(__name__)

SETTING_KEY = "payment.types"
ALWAYS_ON = (PaymentType.CASH.value,)
ALL_TYPES = tuple(t.value for t in PaymentType)
OPTIONAL = tuple(t for t in ALL_TYPES if t not in ALWAYS_ON)


class PaymentTypesError(ValueError):
    """A payment-type setting that cannot be saved (an unknown type, or cash switched off)."""


def _ordered(types: Iterable[str]) -> list[str]:
    chosen = set(types)
    return [t for t in ALL_TYPES if t in chosen]


def enabled_types(till: Till) -> list[str]:
    """The tenders the till takes, in PaymentType order; cash always among them."""
    raw = get_meta(till.conn, SETTING_KEY)
    if not raw:
        return list(ALL_TYPES)
    try:
        stored = json.loads(raw)
        if not isinstance(stored, list):
            raise ValueError("not a list")
    except ValueError as exc:  # a hand-edited row: take every type rather than refuse cash or card
        log.warning("event=payment_types_unreadable error=%s", exc)
        return list(ALL_TYPES)
    return _ordered([*ALWAYS_ON, *(t for t in stored if t in ALL_TYPES)])


def switched_off(till: Till, payments: object) -> list[str]:
    """The types among a sale request's payments that the till does not take now (the kiosk only
    offers the enabled ones; this is for requests from elsewhere, such as `till sell`)."""
    if not isinstance(payments, list):
        return []
    wanted = {p.get("type") for p in payments if isinstance(p, dict)}
    enabled = enabled_types(till)
    return [t for t in ALL_TYPES if t in wanted and t not in enabled]


def set_enabled_types(till: Till, types: Iterable[str], who: str) -> list[str]:
    """Save the whole set (checked: known types, cash included); journalled when it changes."""
    wanted = list(types)
    unknown = [t for t in wanted if t not in ALL_TYPES]
    if unknown:
        raise PaymentTypesError(f"unknown payment type {unknown[0]!r} ({', '.join(ALL_TYPES)})")
    missing = [t for t in ALWAYS_ON if t not in wanted]
    if missing:
        raise PaymentTypesError("cash cannot be switched off: a Danish shop must take cash")
    new = _ordered(wanted)
    with transaction(till.conn):
        old = enabled_types(till)
        if new == old and get_meta(till.conn, SETTING_KEY):
            return new
        set_meta(till.conn, SETTING_KEY, json.dumps(new))
        till.journal.append("settings_change", who, {"key": SETTING_KEY, "from": old, "to": new})
    log.info("event=payment_types_set enabled=%s", ",".join(new))
    return new


def set_type_enabled(till: Till, ptype: str, on: bool, who: str) -> list[str]:
    """Switch one tender on or off (cash only on)."""
    if ptype not in ALL_TYPES:
        raise PaymentTypesError(f"unknown payment type {ptype!r} ({', '.join(ALL_TYPES)})")
    current = enabled_types(till)
    if on:
        return set_enabled_types(till, [*current, ptype], who)
    if ptype in ALWAYS_ON:
        raise PaymentTypesError("cash cannot be switched off: a Danish shop must take cash")
    return set_enabled_types(till, [t for t in current if t != ptype], who)


def card_setup(till: Till) -> dict[str, Any]:
    """Whether the integrated terminal is set up: its kind and, for nexo, whether the key is stored."""
    spec = device_settings(till).get("terminal")
    if not spec:
        return {"ready": False, "kind": None}
    kind = spec.get("kind")
    out: dict[str, Any] = {"ready": True, "kind": kind}
    if kind == "nexo":
        stored = TokenStore(till.data_dir, "terminal").load() or {}
        out["key"] = "set" if stored.get("passphrase") else "missing"
        out["ready"] = out["key"] == "set"
        out["poi_id"] = spec.get("poi_id")
    return out


def mobilepay_setup(till: Till) -> dict[str, Any]:
    """Whether MobilePay is set up: off, sim, or epayment with its environment and secrets' presence."""
    info = describe(till)
    kind = info["mobilepay"]
    out: dict[str, Any] = {"ready": kind != "off", "kind": None if kind == "off" else kind}
    if kind == "epayment":
        secrets = info.get("secrets", {})
        out["ready"] = all(v == "set" for v in secrets.values())
        out["secrets"] = secrets
        out["environment"] = info.get("environment")
        out["msn"] = (info.get("settings") or {}).get("msn")
    return out


def overview(till: Till) -> list[dict[str, Any]]:
    """Each payment type: enabled, always on, and (card, MobilePay) its set-up."""
    on = set(enabled_types(till))
    setups = {PaymentType.CARD.value: card_setup(till), PaymentType.MOBILEPAY.value: mobilepay_setup(till)}
    return [{"type": t, "enabled": t in on, "always_on": t in ALWAYS_ON, "setup": setups.get(t)}
            for t in ALL_TYPES]


__all__ = ["ALL_TYPES", "ALWAYS_ON", "OPTIONAL", "SETTING_KEY", "PaymentTypesError", "card_setup",
           "enabled_types", "mobilepay_setup", "overview", "set_enabled_types", "set_type_enabled"]
