"""Card payments through the integrated terminal, never lost and never charged twice.

Before a request leaves the till, its intent (service id, sale id, amount) is journalled. Its
outcome (approved with brand and the terminal's transaction id, declined, or aborted) is journalled
when it is known. A timeout, a dropped connection, a crash or a power cut leaves an intent without
an outcome: it is settled with TransactionStatus at once, and again at every start-up, before the
sale can go on. The cashier sees "approved", "declined" or "unknown: checking", never a guess."""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from ..store.db import transaction
from .till import Till

log = logging.getLogger(__name__)

UNKNOWN = "unknown"


class Terminal(Protocol):
    """What the till needs of a card terminal (drivers.terminal.client.TerminalClient)."""

    def pay(self, service_id: str, transaction_id: str, amount_ore: int) -> Any: ...

    def refund(self, service_id: str, original_poi_transaction_id: str, amount_ore: int) -> Any: ...

    def status(self, service_id: str) -> Any: ...

    def abort(self, service_id: str) -> Any: ...


@dataclass(frozen=True)
class CardOutcome:
    service_id: str
    state: str  # approved | declined | unknown
    amount: int
    brand: str | None = None
    poi_transaction_id: str | None = None
    receipts: dict[str, list[str]] | None = None
    message: str = ""  # Danish, for the cashier

    @property
    def approved(self) -> bool:
        return self.state == "approved"

    def payment(self) -> dict[str, Any]:
        """The sale's payment line for an approved card payment."""
        from ..domain.money import format_kroner
        return {"type": "card", "amount": format_kroner(self.amount), "brand": self.brand or "Kort",
                "reference": self.poi_transaction_id}


def new_service_id() -> str:
    """10 characters, unique per request (nexo refuses a reused SaleID+ServiceID for 48 h)."""
    return secrets.token_hex(5)


def _intent(till: Till, who: str, kind: str, service_id: str, amount: int, sale_ref: str,
            original: str | None = None, method: str = "card", **extra: Any) -> None:
    payload: dict[str, Any] = {"method": method, "kind": kind, "service_id": service_id, "amount": amount,
                               "sale_ref": sale_ref, **extra}
    if original:
        payload["original"] = original
    with transaction(till.conn):
        till.journal.append("payment_intent", who, payload)


def _outcome(till: Till, who: str, service_id: str, result: Any, state: str) -> CardOutcome:
    brand = getattr(result, "brand", None) if result is not None else None
    poi = getattr(result, "poi_transaction_id", None) if result is not None else None
    amount = int(getattr(result, "amount_ore", 0) or 0)
    payload = {"service_id": service_id, "state": state, "brand": brand, "poi_transaction_id": poi,
               "amount": amount}
    if result is not None and getattr(result, "error_condition", None):
        payload["error"] = str(result.error_condition)
    with transaction(till.conn):
        till.journal.append("payment_outcome", who, payload)
    log.info("event=card_outcome service_id=%s state=%s brand=%s", service_id, state, brand)
    return CardOutcome(service_id, state, amount, brand, poi,
                       getattr(result, "receipts", None) if result is not None else None,
                       {"approved": "Godkendt", "declined": "Afvist"}.get(state, "Ukendt: tjekker ..."))


def pay_by_card(till: Till, terminal: Terminal, amount_ore: int, who: str, sale_ref: str,
                service_id: str | None = None) -> CardOutcome:
    """Ask the terminal for a payment; settle any uncertainty with TransactionStatus before returning.
    The caller may choose the service id (the kiosk does, so its Cancel can abort this request)."""
    from drivers.terminal.client import TerminalError

    service_id = service_id or new_service_id()
    _intent(till, who, "payment", service_id, amount_ore, sale_ref)
    try:
        result = terminal.pay(service_id, sale_ref, amount_ore)
    except TerminalError as exc:
        log.warning("event=card_no_answer service_id=%s error=%s", service_id, exc)
        return settle(till, terminal, service_id, who) or CardOutcome(
            service_id, UNKNOWN, amount_ore, message="Ukendt: tjekker ...")
    return _outcome(till, who, service_id, result, "approved" if result.approved else "declined")


def refund_card(till: Till, terminal: Terminal, original_poi: str, amount_ore: int, who: str,
                sale_ref: str) -> CardOutcome:
    """A referenced refund (ReversalRequest) back to the card that paid."""
    from drivers.terminal.client import TerminalError

    service_id = new_service_id()
    _intent(till, who, "refund", service_id, amount_ore, sale_ref, original_poi)
    try:
        result = terminal.refund(service_id, original_poi, amount_ore)
    except TerminalError:
        return settle(till, terminal, service_id, who) or CardOutcome(
            service_id, UNKNOWN, amount_ore, message="Ukendt: tjekker ...")
    return _outcome(till, who, service_id, result, "approved" if result.approved else "declined")


def settle(till: Till, terminal: Terminal, service_id: str, who: str = "system") -> CardOutcome | None:
    """TransactionStatus for one intent; journals the outcome when the terminal knows it, returns
    None while it is still unknown (terminal unreachable, or the transaction still in progress)."""
    from drivers.terminal.client import TerminalError

    try:
        status = terminal.status(service_id)
    except TerminalError:
        return None
    if status.state == "processed" and status.payment is not None:
        return _outcome(till, who, service_id, status.payment,
                        "approved" if status.payment.approved else "declined")
    if status.state == "not_found":  # never reached the terminal: nothing was charged
        return _outcome(till, who, service_id, None, "declined")
    return None


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


def recover(till: Till, terminal: Terminal, abort_in_progress: bool = False) -> list[CardOutcome]:
    """At start-up: settle every intent a crash or a power cut left open. A payment the terminal
    is still running is left to finish (or, with `abort_in_progress`, aborted and then settled)."""
    from drivers.terminal.client import TerminalError

    settled = []
    for intent in open_intents(till):
        outcome = settle(till, terminal, intent["service_id"])
        if outcome is None and abort_in_progress:
            try:
                terminal.abort(intent["service_id"])
            except TerminalError:
                pass
            outcome = settle(till, terminal, intent["service_id"])
        if outcome is not None:
            settled.append(outcome)
    return settled
