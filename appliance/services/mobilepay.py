"""MobilePay (Vipps MobilePay ePayment) at the counter: the cashier scans the customer's MobilePay QR
(or types the phone number) and the request goes to the phone, or the till shows a QR for the
customer; the till polls, captures on authorisation, cancels on abort and refunds on return.

Every change carries an Idempotency-Key that is journalled (with the payment's reference) before the
request leaves the till, so a retry after a dropped answer or a crash has exactly one effect; open
MobilePay intents (payments, captures, cancels, refunds) are settled at start-up by `recover`."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .payment_journal import CardOutcome, open_intents, record_intent, record_outcome
from .till import Till

log = logging.getLogger(__name__)

FAILED_STATES = ("ABORTED", "EXPIRED", "TERMINATED")


def _key() -> str:
    return str(uuid.uuid4())


def new_reference(till: Till) -> str:
    return f"till-{till.register_id}-{uuid.uuid4().hex[:24]}"[:50]


class _Result:
    """What the journal records of a MobilePay outcome (the same fields as a card's)."""

    def __init__(self, reference: str, amount: int, approved: bool, error: str | None = None):
        self.brand = "MobilePay"
        self.poi_transaction_id = reference
        self.amount_ore = amount
        self.approved = approved
        self.error_condition = error
        self.receipts = None


@dataclass(frozen=True)
class Started:
    """A payment request that reached MobilePay. `qr_url` is set when the till shows the QR (no customer
    was scanned or typed): show it as a QR code (format TEXT/TARGETURL) for the customer to scan."""

    reference: str
    qr_url: str | None = None


def start_payment(till: Till, client: Any, amount_ore: int, who: str, sale_ref: str, *,
                  personal_qr: str | None = None, phone: str | None = None) -> Started:
    """Journal the intent (reference and create key), then ask MobilePay. With `personal_qr` (what the
    scanner read from the customer's app) or `phone` the request goes to that phone; with neither the
    till shows a QR. A transient failure is retried once with the same key (one effect however often)."""
    from drivers.mobilepay.client import Transient

    reference, key = new_reference(till), _key()
    record_intent(till, who, "payment", reference, amount_ore, sale_ref, method="mobilepay", create_key=key)
    flow = "push" if personal_qr is not None or phone is not None else "qr"
    try:
        created = client.create_payment(reference, amount_ore, key, personal_qr=personal_qr, phone=phone)
    except Transient:
        created = client.create_payment(reference, amount_ore, key, personal_qr=personal_qr, phone=phone)
    log.info("event=mobilepay_started reference=%s flow=%s amount_ore=%d", reference, flow, amount_ore)
    return Started(reference, created.redirect_url if flow == "qr" else None)


def start(till: Till, client: Any, amount_ore: int, who: str, sale_ref: str, *,
          personal_qr: str | None = None, phone: str | None = None) -> str:
    """start_payment, returning only the reference."""
    return start_payment(till, client, amount_ore, who, sale_ref, personal_qr=personal_qr,
                         phone=phone).reference


def finish(till: Till, client: Any, reference: str, amount_ore: int, who: str, *,
           sleep: Callable[[float], None] | None = None, clock: Callable[[], float] | None = None,
           stop: Callable[[], bool] | None = None) -> CardOutcome:
    """Wait for the customer (polling as the guidelines say); capture on authorisation, cancel when
    `stop()` turns true (the cashier pressed abort). To stop at once rather than at the next poll,
    give an event's wait as the sleep: `ev = threading.Event(); finish(..., stop=ev.is_set,
    sleep=ev.wait)` and `ev.set()` from the UI thread."""
    kw: dict[str, Any] = {k: v for k, v in (("sleep", sleep), ("clock", clock), ("stop", stop))
                          if v is not None}
    payment = client.poll(reference, **kw)
    return settle(till, client, reference, amount_ore, who, payment=payment, abort=bool(stop and stop()))


def _twice(call: Callable[[], Any]) -> Any:
    """A change sent again once after a transient failure: the same Idempotency-Key, one effect."""
    from drivers.mobilepay.client import Transient

    try:
        return call()
    except Transient:
        return call()


def _step_key(till: Till, step: str, kind: str, amount_ore: int, reference: str, who: str) -> str:
    """The key of an open step (capture/cancel) journalled before, or a new one journalled now."""
    pending = {i["service_id"]: i for i in open_intents(till, "mobilepay")}.get(step)
    if pending is not None:
        return str(pending[f"{kind}_key"])
    key = _key()
    record_intent(till, who, kind, step, amount_ore, reference, method="mobilepay", **{f"{kind}_key": key})
    return key


def _close_step(till: Till, who: str, step: str, result: _Result, state: str) -> None:
    if step in {i["service_id"] for i in open_intents(till, "mobilepay")}:
        record_outcome(till, who, step, result, state)


def settle(till: Till, client: Any, reference: str, amount_ore: int, who: str = "system", *,
           payment: Any = None, abort: bool = False) -> CardOutcome:
    """Bring one payment to its end: capture it when authorised, cancel it when aborted (also if the
    customer approved in the same instant), record a decline. Unknown while MobilePay cannot be
    reached or the customer has not answered (the intent stays open; `recover` comes back to it)."""
    from drivers.mobilepay.client import Rejected, Transient

    try:
        payment = payment or client.get_payment(reference)
        if abort:
            step = f"{reference}/cancel"
            if payment.state in ("CREATED", "AUTHORIZED") and payment.captured_ore == 0:
                key = _step_key(till, step, "cancel", amount_ore, reference, who)
                try:
                    payment = _twice(lambda: client.cancel(reference, key))
                except Rejected:  # it ended meanwhile (declined, expired): read what it is now
                    payment = client.get_payment(reference)
            # also a cancel that took effect before a crash or a lost answer: its step is done
            _close_step(till, who, step, _Result(reference, 0, False, "Aborted"), "declined")
        if payment.state == "AUTHORIZED" and not abort:
            step = f"{reference}/capture"
            if payment.captured_ore < amount_ore:  # not captured yet (or a crash came before the answer)
                key = _step_key(till, step, "capture", amount_ore, reference, who)
                _twice(lambda: client.capture(reference, amount_ore, key))
            _close_step(till, who, step, _Result(reference, amount_ore, True), "approved")
            return record_outcome(till, who, reference, _Result(reference, amount_ore, True), "approved")
    except Transient as exc:
        log.warning("event=mobilepay_unsettled reference=%s error=%s", reference, type(exc).__name__)
        return CardOutcome(reference, "unknown", amount_ore, message="Ukendt: tjekker ...")
    if payment.state in FAILED_STATES or abort:
        return record_outcome(till, who, reference, _Result(reference, 0, False, payment.state), "declined")
    return CardOutcome(reference, "unknown", amount_ore, message="Venter på kunden ...")


def refund(till: Till, client: Any, reference: str, amount_ore: int, who: str, sale_ref: str) -> CardOutcome:
    """Pay `amount_ore` of a captured MobilePay payment back (a return; partial is fine). The intent
    with its Idempotency-Key is journalled before the request leaves; a transient failure is sent
    again with the same key, then settled by reading the payment (`settle_refund`). Never twice."""
    from drivers.mobilepay.client import Rejected, Transient

    key = _key()
    step = f"{reference}/refund/{key[:8]}"
    intent = {"service_id": step, "original": reference, "amount": amount_ore, "refund_key": key}
    record_intent(till, who, "refund", step, amount_ore, sale_ref, original=reference, method="mobilepay",
            refund_key=key)
    try:
        _twice(lambda: client.refund(reference, amount_ore, key))
    except Transient:
        return settle_refund(till, client, intent, who)
    except Rejected as exc:
        log.warning("event=mobilepay_refund_refused reference=%s status=%d", reference, exc.status)
        refused = _Result(reference, 0, False, exc.title or f"HTTP {exc.status}")
        return record_outcome(till, who, step, refused, "declined")
    return record_outcome(till, who, step, _Result(reference, amount_ore, True), "approved")


def settle_refund(till: Till, client: Any, intent: dict[str, Any], who: str = "system") -> CardOutcome:
    """An open refund intent: did MobilePay pay it back? The event log names the key of each refund
    (the aggregate alone cannot tell two partial refunds apart; it is the fallback when the log carries
    no keys). If not, the refund is sent again under the same key, so however often this runs and
    whatever is still in flight, the money goes back once. Unknown while MobilePay cannot be reached."""
    from drivers.mobilepay.client import NotFound, Rejected, Transient

    step, reference = intent["service_id"], intent["original"]
    amount, key = int(intent["amount"]), str(intent["refund_key"])
    try:
        if _refund_done(till, client, reference, step, amount, key):
            return record_outcome(till, who, step, _Result(reference, amount, True), "approved")
        _twice(lambda: client.refund(reference, amount, key))
    except NotFound:
        return record_outcome(till, who, step, _Result(reference, 0, False, "NotFound"), "declined")
    except Rejected as exc:
        refused = _Result(reference, 0, False, exc.title or f"HTTP {exc.status}")
        return record_outcome(till, who, step, refused, "declined")
    except Transient:
        log.warning("event=mobilepay_refund_unsettled reference=%s", reference)
        return CardOutcome(step, "unknown", amount, message="Ukendt: tjekker ...")
    return record_outcome(till, who, step, _Result(reference, amount, True), "approved")


def _refund_done(till: Till, client: Any, reference: str, step: str, amount: int, key: str) -> bool:
    refunds = [e for e in client.events(reference) if e.name == "REFUNDED" and e.success]
    if any(e.idempotency_key for e in refunds):
        return any(e.idempotency_key == key for e in refunds)
    return client.get_payment(reference).refunded_ore - _refunded_in_journal(till, reference, step) >= amount


def _refunded_in_journal(till: Till, reference: str, but: str) -> int:
    """Øre journalled as refunded (approved) on this MobilePay payment, leaving out step `but`."""
    intents: dict[str, int] = {}
    total = 0
    for kind, payload in till.conn.execute("SELECT kind, payload FROM journal WHERE kind IN "
                                           "('payment_intent', 'payment_outcome') ORDER BY nr"):
        data = json.loads(payload)
        if kind == "payment_intent":
            if data.get("method") == "mobilepay" and data.get("kind") == "refund" and \
                    data.get("original") == reference and data["service_id"] != but:
                intents[data["service_id"]] = int(data["amount"])
        elif data["service_id"] in intents and data.get("state") == "approved":
            total += intents.pop(data["service_id"])
    return total


def recover(till: Till, client: Any) -> list[CardOutcome]:
    """At start-up: each MobilePay payment a crash left open is read and settled (captured if the
    customer had approved, cancelled if the cashier had aborted, otherwise closed), and each open
    refund is settled (found done, or sent again under its own key)."""
    from drivers.mobilepay.client import NotFound

    settled = []
    pending = open_intents(till, "mobilepay")
    steps = {i["service_id"] for i in pending}
    for intent in pending:
        reference = intent["service_id"]
        if intent.get("kind") == "refund":
            outcome = settle_refund(till, client, intent)
        elif "/" in reference:  # a capture or cancel step: its payment's own intent settles it
            continue
        else:
            try:
                outcome = settle(till, client, reference, int(intent["amount"]),
                                 abort=f"{reference}/cancel" in steps)
            except NotFound:  # the create never took effect: nothing to charge
                outcome = record_outcome(till, "system", reference, _Result(reference, 0, False, "NotFound"),
                                   "declined")
        if outcome.state != "unknown":
            settled.append(outcome)
    return settled
