"""The journal's side of an integrated payment (card terminal or MobilePay): the intent written
before a request leaves the till, the outcome written when it is known, and the intents still
waiting for one. Card payments and MobilePay both use these; neither imports the other for them."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from ..store.db import transaction
from .till import Till

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CardOutcome:
    service_id: str
    state: str  # approved | declined | unknown
    amount: int
    brand: str | None = None
    poi_transaction_id: str | None = None
    receipts: dict[str, list[str]] | None = None
    message: str = ""  # Danish, for the cashier
    error: str | None = None          # the terminal's ErrorCondition (Aborted, Refusal, ...)
    signature: str | None = None      # approved on a signature: "terminal" (drawn there) or "paper"
    poi_timestamp: str | None = None  # the terminal's TimeStamp of this transaction (a refund sends it back)

    @property
    def approved(self) -> bool:
        return self.state == "approved"

    def tender(self) -> dict[str, Any]:
        """The kiosk's tender for an approved payment (øre; the service id lets it be given back)."""
        kind = "mobilepay" if self.brand == "MobilePay" else "card"
        return {"type": kind, "amount": self.amount, "brand": self.brand or "Kort",
                "reference": self.poi_transaction_id, "service_id": self.service_id}

    def payment(self) -> dict[str, Any]:
        """The sale's payment line for an approved payment."""
        from ..domain.money import format_kroner
        t = self.tender()
        return {"type": t["type"], "amount": format_kroner(self.amount), "brand": t["brand"],
                "reference": self.poi_transaction_id}


def record_intent(till: Till, who: str, kind: str, service_id: str, amount: int, sale_ref: str,
            original: str | None = None, method: str = "card", **extra: Any) -> None:
    payload: dict[str, Any] = {"method": method, "kind": kind, "service_id": service_id, "amount": amount,
                               "sale_ref": sale_ref, **extra}
    if original:
        payload["original"] = original
    with transaction(till.conn):
        till.journal.append("payment_intent", who, payload)


def record_outcome(till: Till, who: str, service_id: str, result: Any, state: str) -> CardOutcome:
    brand = getattr(result, "brand", None) if result is not None else None
    poi = getattr(result, "poi_transaction_id", None) if result is not None else None
    amount = int(getattr(result, "amount_ore", 0) or 0)
    payload = {"service_id": service_id, "state": state, "brand": brand, "poi_transaction_id": poi,
               "amount": amount}
    poi_time = getattr(result, "poi_timestamp", None) if result is not None else None
    if poi_time:  # a referenced refund must send it back (journals from before this lack it)
        payload["poi_timestamp"] = str(poi_time)
    if result is not None and getattr(result, "error_condition", None):
        payload["error"] = str(result.error_condition)
    receipts = getattr(result, "receipts", None) if result is not None else None
    with transaction(till.conn):
        till.journal.append("payment_outcome", who, payload)
        if state == "approved" and receipts and till.prints_receipts:  # the slip commits with the outcome
            queue_slips(till, receipts, bool(getattr(result, "signature_required", False)))
    log.info("event=card_outcome service_id=%s state=%s brand=%s", service_id, state, brand)
    return CardOutcome(service_id, state, amount, brand, poi, receipts,
                       {"approved": "Godkendt", "declined": "Afvist"}.get(state, "Ukendt: tjekker ..."),
                       str(payload["error"]) if payload.get("error") else None,
                       poi_timestamp=str(poi_time) if poi_time else None)


def queue_slips(till: Till, receipts: dict[str, list[str]], signature: bool) -> None:
    """The terminal's receipts on the till's printer: the customer's copy always, the shop's copy
    when the card asks for a signature (it is the paper the customer signs when the terminal cannot)."""
    from ..render.card_slip import card_slip
    from .printing import enqueue
    when = till.now().isoformat()
    for qualifier, wanted in (("CashierReceipt", signature), ("CustomerReceipt", True)):
        if wanted and receipts.get(qualifier):
            slip = card_slip(receipts[qualifier], qualifier, signature_line=qualifier == "CashierReceipt")
            enqueue(till.conn, "document", when, document=slip)


def open_intents(till: Till, method: str = "card") -> list[dict[str, Any]]:
    """Intents (card or mobilepay) with no outcome yet, oldest first."""
    intents: dict[str, dict[str, Any]] = {}
    for kind, payload in till.conn.execute(
                "SELECT kind, payload FROM journal WHERE kind IN ('payment_intent', 'payment_outcome') "
            "ORDER BY nr"):
        data = json.loads(payload)
        if kind == "payment_intent" and data.get("method", "card") == method:
            intents[data["service_id"]] = data
        else:
            intents.pop(data["service_id"], None)
    return list(intents.values())
