"""Card payments through the integrated terminal, never lost and never charged twice.

Before a request leaves the till, its intent (service id, sale id, amount) is journalled. Its
outcome (approved with brand and the terminal's transaction id, declined, or aborted) is journalled
when it is known. A timeout, a dropped connection, a crash or a power cut leaves an intent without
an outcome: it is settled with TransactionStatus at once, and again at every start-up, before the
sale can go on. The cashier sees "approved", "declined" or "unknown: checking", never a guess."""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from drivers.terminal.messages import new_service_id

from ..domain.tenders import Payment, PaymentType
from ..store.db import transaction
from .payment_journal import CardOutcome, open_intents, record_intent, record_outcome
from .selling import SaleError
from .till import AuthError, Till

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
SIGN_PROMPT = "Underskriv venligst"


class Terminal(Protocol):
    """What the till needs of a card terminal (drivers.terminal.client.TerminalClient)."""

    def pay(self, service_id: str, transaction_id: str, amount_ore: int) -> Any: ...

    def refund(self, service_id: str, original_poi_transaction_id: str, amount_ore: int,
               original_time: str | None = None) -> Any: ...

    def status(self, service_id: str) -> Any: ...

    def abort(self, service_id: str) -> Any: ...


def pay_by_card(till: Till, terminal: Terminal, amount_ore: int, who: str, sale_ref: str,
                service_id: str | None = None) -> CardOutcome:
    """Ask the terminal for a payment; settle any uncertainty with TransactionStatus before returning.
    The caller may choose the service id (the kiosk does, so its Cancel can abort this request)."""
    from drivers.terminal.client import TerminalError

    service_id = service_id or new_service_id()
    record_intent(till, who, "payment", service_id, amount_ore, sale_ref)
    try:
        result = terminal.pay(service_id, sale_ref, amount_ore)
    except TerminalError as exc:
        log.warning("event=card_no_answer service_id=%s error=%s", service_id, exc)
        return settle(till, terminal, service_id, who) or CardOutcome(
            service_id, UNKNOWN, amount_ore, message="Ukendt: tjekker ...")
    outcome = record_outcome(till, who, service_id, result, "approved" if result.approved else "declined")
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


def original_time(till: Till, original_poi: str) -> str | None:
    """The TimeStamp the terminal gave the payment `original_poi`, which a referenced refund sends
    back with its TransactionID (Adyen asks for both). Outcomes journalled since the timestamp was
    kept carry it; for an older one, the time the till journalled that approval (the same moment
    give or take the answer's round trip, in nexo's UTC form). None when the till never journalled
    the payment: the request then carries the refund's own time, as before."""
    row = till.conn.execute(
        "SELECT ts, json_extract(payload, '$.poi_timestamp') FROM journal WHERE kind = 'payment_outcome' "
        "AND json_extract(payload, '$.poi_transaction_id') = ? AND json_extract(payload, '$.state') = "
        "'approved' ORDER BY nr LIMIT 1", (original_poi,)).fetchone()
    if row is None:
        return None
    if row[1]:
        return str(row[1])
    from datetime import datetime

    from drivers.terminal.messages import timestamp
    return timestamp(datetime.fromisoformat(row[0]))


def refund_card(till: Till, terminal: Terminal, original_poi: str, amount_ore: int, who: str,
                sale_ref: str, **extra: Any) -> CardOutcome:
    """A referenced refund (ReversalRequest) back to the card that paid, naming the original
    payment by its TransactionID and TimeStamp. `extra` goes into the journalled intent."""
    from drivers.terminal.client import TerminalError

    service_id = new_service_id()
    when = original_time(till, original_poi)
    record_intent(till, who, "refund", service_id, amount_ore, sale_ref, original_poi,
            **({"original_time": when} if when else {}), **extra)
    try:
        result = terminal.refund(service_id, original_poi, amount_ore, when)
    except TerminalError:
        return settle(till, terminal, service_id, who) or CardOutcome(
            service_id, UNKNOWN, amount_ore, message="Ukendt: tjekker ...")
    return record_outcome(till, who, service_id, result, "approved" if result.approved else "declined")


class CardRefundFailed(SaleError):
    """The terminal or MobilePay did not give a return's part back; the return is not made (Danish)."""


class RefundIncomplete(CardRefundFailed):
    """A part of a return that should go back to a card or MobilePay was declined, after `given` øre
    of it went back (maybe none). A refund cannot be taken off a card again without the card, so what
    moved stays moved: the return is written with what was given back and the `rest` in a tender the
    cashier chooses (`checkout.complete_return(..., rest_tender="cash")`). Until then the till knows it
    as an unfinished return (`unfinished_returns`), and no new attempt gives the same part back twice."""

    def __init__(self, message: str, receipt_number: int, given: int, rest: int) -> None:
        super().__init__(message)
        self.receipt_number, self.given, self.rest = receipt_number, given, rest


REST_TENDERS = (PaymentType.CASH, PaymentType.GIFT_VOUCHER, PaymentType.MANUAL_CARD)
_INTEGRATED = (PaymentType.CARD, PaymentType.MOBILEPAY)


def _return_refunds(till: Till, receipt_number: int) -> list[dict[str, Any]]:
    """The refund intents made for returns of this receipt (sale_ref R<n>), oldest first, each with its
    journal nr and the state of its outcome (approved, declined, or None while it is open)."""
    refunds = {}
    for nr, payload in till.conn.execute(
            "SELECT nr, payload FROM journal WHERE kind = 'payment_intent' AND "
            "json_extract(payload, '$.kind') = 'refund' AND json_extract(payload, '$.sale_ref') = ? "
            "ORDER BY nr", (f"R{receipt_number}",)):
        data = json.loads(payload)
        refunds[data["service_id"]] = {**data, "nr": nr, "state": None}
    for (payload,) in till.conn.execute(
            "SELECT payload FROM journal WHERE kind = 'payment_outcome' AND json_extract(payload, "
            "'$.service_id') IN (SELECT json_extract(payload, '$.service_id') FROM journal WHERE kind = "
            "'payment_intent' AND json_extract(payload, '$.sale_ref') = ?) ORDER BY nr",
            (f"R{receipt_number}",)):
        data = json.loads(payload)
        if data["service_id"] in refunds:
            refunds[data["service_id"]]["state"] = data.get("state")
    return list(refunds.values())


def _unwritten(earlier: list[dict], refunds: list[dict[str, Any]]) -> dict[str, int]:
    """Original payment reference -> øre the terminal or MobilePay gave back for returns of a receipt
    that no written return of it carries (a declined second card, a crash before the return)."""
    given: dict[str, int] = {}
    for r in refunds:
        if r["state"] == "approved" and r.get("original"):
            given[r["original"]] = given.get(r["original"], 0) + int(r["amount"])
    for rec in earlier:
        for p in rec.get("payments", ()):
            if p.get("reference") in given:
                given[p["reference"]] += int(p["amount"])  # negative: money that went back
    return {ref: left for ref, left in given.items() if left > 0}


def unfinished_returns(till: Till) -> list[dict[str, Any]]:
    """Receipts whose return sent money back through the terminal or MobilePay that no written return
    carries, or whose refund's outcome is still unknown: [{"receipt", "given" (øre), "open"}]. The
    returns screen tells the cashier; opening the receipt there and returning finishes it."""
    from .selling import load_receipt
    numbers = sorted({int(ref[1:]) for (ref,) in till.conn.execute(
        "SELECT DISTINCT json_extract(payload, '$.sale_ref') FROM journal WHERE kind = 'payment_intent' "
        "AND json_extract(payload, '$.kind') = 'refund' "
        "AND json_extract(payload, '$.sale_ref') GLOB 'R[0-9]*'")
        if str(ref)[1:].isdigit()})
    out = []
    for n in numbers:
        refunds = _return_refunds(till, n)
        try:
            _original, earlier = load_receipt(till, n)
        except SaleError:
            continue
        given = sum(_unwritten(earlier, refunds).values())
        still_open = any(r["state"] is None for r in refunds)
        if given or still_open:
            out.append({"receipt": n, "given": given, "open": still_open})
    return out


def _what(t: Payment) -> str:
    return "MobilePay" if t.type is PaymentType.MOBILEPAY else f"kortet ({t.brand or 'Kort'})"


def give_back_first(till: Till, terminal: Terminal | None, mobilepay: Any, receipt_number: int,
                    request: dict, rest_tender: str | None = None) -> tuple[dict, bool]:
    """A return against a receipt paid through the terminal or MobilePay: each such part is given back
    there first (a refund referencing the payment it came from), then the return is written naming
    its tenders, so the books never show money given back that the customer did not get.

    Returns the request to write and whether its tenders were chosen after a declined refund (the
    return then holds what did go back plus the rest in `rest_tender`, which needs no manager: the
    declined refund is journalled beside it). A part already given back for this receipt that no
    return carries (an earlier attempt that stopped half way, a crash) is not sent again. A part that
    is declined raises `RefundIncomplete`; one whose outcome is unknown raises `CardRefundFailed`."""
    from ..domain.money import format_dkk, format_kroner
    from ..domain.returns import ReturnError, default_refund_tenders, return_lines
    from . import mobilepay as mp
    from .selling import load_receipt
    if request.get("payments") or not isinstance(request.get("lines"), list):
        return request, False
    try:
        original, earlier = load_receipt(till, receipt_number)
        lines = return_lines(original, earlier, request["lines"])
    except (ReturnError, LookupError, ValueError, TypeError, KeyError):
        return request, False  # `refund` says what is wrong with it
    amount = -sum(ln["total"] for ln in lines)
    tenders = default_refund_tenders(original, earlier, amount)
    if original.get("training") or not any(t.type in _INTEGRATED and t.reference for t in tenders):
        return request, False
    who = str(request.get("cashier") or "system")
    refunds = _return_refunds(till, receipt_number)
    for r in refunds:  # what a lost answer or a crash left open is settled before anything goes again
        if r["state"] is None and r.get("method", "card") == "card" and terminal is not None:
            settled = settle(till, terminal, r["service_id"], who)
            r["state"] = settled.state if settled is not None else None
    if any(r["state"] is None for r in refunds):
        raise CardRefundFailed(f"En tilbagebetaling for bon {receipt_number} er endnu uafklaret. Prøv igen "
                               "om lidt: intet gives tilbage to gange.")
    unwritten = _unwritten(earlier, refunds)
    if rest_tender is not None:
        return _with_rest(till, receipt_number, request, tenders, unwritten, refunds, amount, rest_tender)
    attempt = new_service_id()
    plan = [t.to_dict() for t in tenders]
    given: list[Payment] = []
    for t in tenders:
        if t.type not in _INTEGRATED or not t.reference:
            continue
        covered = min(unwritten.get(t.reference, 0), t.amount)
        if covered:
            unwritten[t.reference] -= covered
            log.info("event=return_refund_already_given receipt=%d amount=%d", receipt_number, covered)
        need = t.amount - covered
        if need == 0:
            given.append(t)
            continue
        service = terminal if t.type is PaymentType.CARD else mobilepay
        if service is None:
            raise CardRefundFailed("Betalingen kan ikke gives tilbage: {what} er ikke sat op.".format(
                what="kortterminalen" if t.type is PaymentType.CARD else "MobilePay"))
        if t.type is PaymentType.CARD:
            back = refund_card(till, service, t.reference, need, who, f"R{receipt_number}",
                               return_of=receipt_number, attempt=attempt, lines=request["lines"],
                               cashier=who, plan=plan)
        else:
            back = mp.refund(till, service, t.reference, need, who, f"R{receipt_number}")
        if back.approved:
            given.append(t)
            continue
        log.warning("event=return_refund_failed receipt=%d type=%s state=%s given=%d", receipt_number,
                    t.type.value, back.state, sum(g.amount for g in given) + covered)
        if covered:
            given.append(Payment(t.type, covered, t.brand, t.reference))
        done = sum(g.amount for g in given)
        if back.state != "declined":  # unknown: it may still go through; settled before the next try
            raise CardRefundFailed(
                (f"{format_dkk(done)} er givet tilbage, men " if done else "")
                + f"svaret på tilbagebetalingen til {_what(t)} mangler. Returneringen er ikke skrevet "
                "endnu: prøv igen om lidt.")
        if done:
            message = (f"{format_dkk(done)} er givet tilbage, men tilbagebetalingen af {format_dkk(need)} "
                       f"til {_what(t)} blev afvist. Returneringen er ikke skrevet endnu: giv kunden resten, "
                       f"{format_dkk(amount - done)}, på anden vis (f.eks. kontant).")
        else:
            message = (f"Tilbagebetalingen til {_what(t)} blev afvist. Returneringen er ikke lavet. Kunden "
                       f"kan få {format_dkk(amount)} på anden vis (f.eks. kontant).")
        raise RefundIncomplete(message, receipt_number, done, amount - done)
    payments = [{**t.to_dict(), "amount": format_kroner(t.amount)} for t in tenders]
    return {**request, "payments": payments}, False


def _with_rest(till: Till, receipt_number: int, request: dict, tenders: list[Payment],
               unwritten: dict[str, int], refunds: list[dict[str, Any]], amount: int,
               rest_tender: str) -> tuple[dict, bool]:
    """The cashier's choice after a declined refund: the parts that did go back, the rest in
    `rest_tender`. Nothing more is sent to the terminal or MobilePay."""
    from ..domain.money import format_kroner
    try:
        rest_type = PaymentType(rest_tender)
    except ValueError:
        rest_type = None
    if rest_type not in REST_TENDERS:
        raise CardRefundFailed(f"Resten kan ikke gives tilbage som {rest_tender!r} (kontant, gavekort "
                               "eller manuelt kort).")
    last_return = till.conn.execute("SELECT COALESCE(MAX(journal_nr), 0) FROM receipts WHERE "
                                    "original_receipt = ?", (receipt_number,)).fetchone()[0]
    if not any(r["state"] == "declined" and r["nr"] > last_return for r in refunds):
        raise CardRefundFailed("Resten gives kun på anden vis, når tilbagebetalingen til kortet eller "
                               "MobilePay er afvist.")
    given = []
    for t in tenders:
        covered = min(unwritten.get(t.reference or "", 0), t.amount) if t.type in _INTEGRATED else 0
        if covered:
            unwritten[str(t.reference)] -= covered
            given.append(Payment(t.type, covered, t.brand, t.reference))
    rest = amount - sum(g.amount for g in given)
    payments = [{**g.to_dict(), "amount": format_kroner(g.amount)} for g in given]
    if rest > 0:
        payments.append({"type": rest_type.value, "amount": format_kroner(rest)})
    log.info("event=return_rest_tender receipt=%d given=%d rest=%d tender=%s", receipt_number,
             amount - rest, rest, rest_type.value)
    return {**request, "payments": payments}, True


def settle(till: Till, terminal: Terminal, service_id: str, who: str = "system") -> CardOutcome | None:
    """TransactionStatus for one intent; journals the outcome when the terminal knows it, returns
    None while it is still unknown (terminal unreachable, or the transaction still in progress)."""
    from drivers.terminal.client import TerminalError

    try:
        status = terminal.status(service_id)
    except TerminalError:
        return None
    if status.state == "processed" and status.payment is not None:
        return record_outcome(till, who, service_id, status.payment,
                        "approved" if status.payment.approved else "declined")
    if status.state == "not_found":  # never reached the terminal: nothing was charged
        return record_outcome(till, who, service_id, None, "declined")
    return None


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
    finish_returns(till)
    return settled


def finish_returns(till: Till) -> list[dict[str, Any]]:
    """After settling at start-up: a return whose every part went back through the terminal, and which
    a crash kept from being written, is written now as the cashier asked for it (its lines and tenders
    were journalled with each refund's intent). Recovery never sends a refund. A return that also held
    cash or MobilePay, or whose refunds were not all approved, is left for the cashier: the money that
    did go back is found again when the receipt is returned (`unfinished_returns`)."""
    from ..domain.money import format_kroner
    from .selling import load_receipt, refund
    attempts: dict[str, list[dict[str, Any]]] = {}
    for n in {int(r["receipt"]) for r in unfinished_returns(till)}:
        for r in _return_refunds(till, n):
            if r.get("attempt"):
                attempts.setdefault(str(r["attempt"]), []).append(r)
    written = []
    for attempt, refunds in attempts.items():
        first = refunds[0]
        number, plan = int(first["return_of"]), list(first.get("plan") or [])
        needed: dict[str, int] = {}
        for p in plan:
            if p["type"] != PaymentType.CARD.value or not p.get("reference"):
                break
            needed[p["reference"]] = needed.get(p["reference"], 0) + int(p["amount"])
        else:
            approved: dict[str, int] = {}
            for r in refunds:
                if r["state"] == "approved":
                    approved[r["original"]] = approved.get(r["original"], 0) + int(r["amount"])
            _original, earlier = load_receipt(till, number)
            unwritten = _unwritten(earlier, _return_refunds(till, number))
            already = any(unwritten.get(ref, 0) < a for ref, a in approved.items())  # written since
            if not needed or approved != needed or already:
                continue
            request = {"cashier": first.get("cashier") or "system", "lines": first["lines"],
                       "payments": [{**p, "amount": format_kroner(int(p["amount"]))} for p in plan]}
            try:
                back = refund(till, number, request)
            except (SaleError, AuthError) as exc:
                log.warning("event=return_not_finished receipt=%d attempt=%s error=%s", number, attempt, exc)
                continue
            log.warning("event=return_finished_at_start receipt=%d return=%d", number, back["receipt_number"])
            written.append(back)
            continue
        log.warning("event=return_left_for_cashier receipt=%d attempt=%s", number, attempt)
    return written
