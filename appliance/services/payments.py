"""Card payments through the integrated terminal, never lost and never charged twice.

Before a request leaves the till, its intent (service id, sale id, amount) is journalled. Its
outcome (approved with brand and the terminal's transaction id, declined, or aborted) is journalled
when it is known. A timeout, a dropped connection, a crash or a power cut leaves an intent without
an outcome: it is settled with TransactionStatus at once, and again at every start-up, before the
sale can go on. The cashier sees "approved", "declined" or "unknown: checking", never a guess."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from drivers.terminal.messages import new_service_id

from ..store.db import transaction
from .selling import SaleError
from .till import Till

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
SIGN_PROMPT = "Underskriv venligst"


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
    error: str | None = None          # the terminal's ErrorCondition (Aborted, Refusal, ...)
    signature: str | None = None      # approved on a signature: "terminal" (drawn there) or "paper"

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
    receipts = getattr(result, "receipts", None) if result is not None else None
    with transaction(till.conn):
        till.journal.append("payment_outcome", who, payload)
        if state == "approved" and receipts and till.prints_receipts:  # the slip commits with the outcome
            _queue_slips(till, receipts, bool(getattr(result, "signature_required", False)))
    log.info("event=card_outcome service_id=%s state=%s brand=%s", service_id, state, brand)
    return CardOutcome(service_id, state, amount, brand, poi, receipts,
                       {"approved": "Godkendt", "declined": "Afvist"}.get(state, "Ukendt: tjekker ..."),
                       payload.get("error"))


def _queue_slips(till: Till, receipts: dict[str, list[str]], signature: bool) -> None:
    """The terminal's receipts on the till's printer: the customer's copy always, the shop's copy
    when the card asks for a signature (it is the paper the customer signs when the terminal cannot)."""
    from ..render.card_slip import card_slip
    from .printing import enqueue
    when = till.now().isoformat()
    for qualifier, wanted in (("CashierReceipt", signature), ("CustomerReceipt", True)):
        if wanted and receipts.get(qualifier):
            slip = card_slip(receipts[qualifier], qualifier, signature_line=qualifier == "CashierReceipt")
            enqueue(till.conn, "document", when, document=slip)


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
    outcome = _outcome(till, who, service_id, result, "approved" if result.approved else "declined")
    if outcome.approved and result.signature_required:
        return _signature(till, terminal, outcome, who, sale_ref)
    return outcome


def _signature(till: Till, terminal: Terminal, outcome: CardOutcome, who: str, sale_ref: str) -> CardOutcome:
    """The card wants a signature: the shopper signs on the terminal (Input request). A shopper who
    cancels there gets the payment reversed at once; a terminal that cannot take it leaves the paper
    copy (printed with a signature line). Either way the cashier then checks it (`signature_checked`)."""
    from dataclasses import replace

    from drivers.terminal.client import TerminalError
    try:
        answer = terminal.signature(SIGN_PROMPT)  # type: ignore[attr-defined]
        signed, drawing, where = answer.signed, answer.signature, "terminal"
    except TerminalError as exc:
        log.warning("event=signature_not_taken service_id=%s error=%s", outcome.service_id, exc)
        signed, drawing, where = True, None, "paper"
    with transaction(till.conn):
        till.journal.append("payment_signature", who, {
            "service_id": outcome.service_id, "step": "captured", "signed": signed, "on": where,
            "signature": drawing})
    if not signed:
        back = reverse(till, terminal, outcome, who, sale_ref)
        message = ("Kunden underskrev ikke. Betalingen er tilbageført." if back.approved else
                   "Kunden underskrev ikke, og tilbageførslen lykkedes ikke: " + back.message)
        return replace(outcome, state="declined", message=message, error="NotSigned")
    return replace(outcome, signature=where)


def signature_checked(till: Till, terminal: Terminal, outcome: CardOutcome, accepted: bool, who: str,
                      sale_ref: str) -> CardOutcome:
    """The cashier compared the signature with the card: accepted keeps the payment, refused reverses it."""
    with transaction(till.conn):
        till.journal.append("payment_signature", who, {"service_id": outcome.service_id, "step": "checked",
                                                       "accepted": accepted})
    if accepted:
        return outcome
    return reverse(till, terminal, outcome, who, sale_ref)


def reverse(till: Till, terminal: Terminal, outcome: CardOutcome, who: str, sale_ref: str) -> CardOutcome:
    """Give back a whole approved payment that no sale will carry (removed tender, refused signature)."""
    if not outcome.poi_transaction_id:
        raise ValueError("only an approved payment with the terminal's transaction id can be reversed")
    return refund_card(till, terminal, outcome.poi_transaction_id, outcome.amount, who, sale_ref)


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


class CardRefundFailed(SaleError):
    """The terminal or MobilePay did not give a return's part back; the return is not made (Danish)."""


def give_back_first(till: Till, terminal: Terminal | None, mobilepay: Any, receipt_number: int,
                    request: dict) -> dict:
    """A return against a receipt paid through the terminal or MobilePay: each such part is given back
    there first (a refund referencing the payment it came from), then the return is written naming
    its tenders, so the books never show money given back that the customer did not get."""
    from ..domain.money import format_kroner
    from ..domain.returns import ReturnError, default_refund_tenders, return_lines
    from ..domain.tenders import PaymentType
    from . import mobilepay as mp
    from .selling import load_receipt
    if request.get("payments") or not isinstance(request.get("lines"), list):
        return request
    try:
        original, earlier = load_receipt(till, receipt_number)
        lines = return_lines(original, earlier, request["lines"])
    except (ReturnError, LookupError, ValueError, TypeError, KeyError):
        return request  # `refund` says what is wrong with it
    amount = -sum(ln["total"] for ln in lines)
    tenders = default_refund_tenders(original, earlier, amount)
    integrated = (PaymentType.CARD, PaymentType.MOBILEPAY)
    if original.get("training") or not any(t.type in integrated and t.reference for t in tenders):
        return request
    who = str(request.get("cashier") or "system")
    for t in tenders:
        if t.type not in integrated or not t.reference:
            continue
        service = terminal if t.type is PaymentType.CARD else mobilepay
        if service is None:
            raise CardRefundFailed("Betalingen kan ikke gives tilbage: {what} er ikke sat op.".format(
                what="kortterminalen" if t.type is PaymentType.CARD else "MobilePay"))
        if t.type is PaymentType.CARD:
            back = refund_card(till, service, t.reference, t.amount, who, f"R{receipt_number}")
        else:
            back = mp.refund(till, service, t.reference, t.amount, who, f"R{receipt_number}")
        if not back.approved:
            log.warning("event=return_refund_failed receipt=%d type=%s state=%s", receipt_number,
                        t.type.value, back.state)
            state = {"declined": "afvist"}.get(back.state, "ukendt")
            raise CardRefundFailed(f"Pengene kom ikke tilbage til kunden ({state}). "
                                   "Returneringen er ikke lavet.")
    payments = [{**t.to_dict(), "amount": format_kroner(t.amount)} for t in tenders]
    return {**request, "payments": payments}


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


def unsold_payments(till: Till) -> list[CardOutcome]:
    """Approved integrated payments (card or MobilePay) since the last Z that no sale carries and
    nothing gave back: money taken for a basket that was never completed (a crash between the
    approval and the sale, say). The kiosk puts them back on the payment screen."""
    last_z = till.conn.execute("SELECT COALESCE(MAX(journal_nr), 0) FROM z_reports").fetchone()[0]
    intents: dict[str, dict[str, Any]] = {}
    approved: dict[str, dict[str, Any]] = {}
    given_back: dict[str, int] = {}
    used: dict[str, int] = {}
    for kind, payload in till.conn.execute(
            "SELECT kind, payload FROM journal WHERE nr > ? "
            "AND kind IN ('payment_intent', 'payment_outcome', 'sale') ORDER BY nr", (last_z,)):
        data = json.loads(payload)
        if kind == "payment_intent":
            intents[data["service_id"]] = data
        elif kind == "sale":
            for p in data.get("payments", ()):
                if p.get("reference"):
                    used[p["reference"]] = used.get(p["reference"], 0) + p["amount"]
        elif data.get("state") == "approved":
            intent = intents.get(data["service_id"], {})
            if intent.get("kind") == "payment":
                approved[data["service_id"]] = {**data, "method": intent.get("method", "card")}
            elif intent.get("kind") == "refund" and intent.get("original"):
                given_back[intent["original"]] = given_back.get(intent["original"], 0) + int(intent["amount"])
    out = []
    for service_id, data in approved.items():
        ref = data.get("poi_transaction_id")
        if not ref:
            continue
        left = int(data["amount"]) - given_back.get(ref, 0) - used.get(ref, 0)
        if left > 0:
            out.append(CardOutcome(service_id, "approved", left, data.get("brand"), ref,
                                   message="Godkendt, men ikke solgt"))
    return out


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
