"""MobilePay (Vipps MobilePay ePayment) at the counter: the customer scans nothing; the cashier
scans the customer's MobilePay QR (or types the phone number), the request goes to the phone, the
till polls, captures on authorisation and cancels on abort.

Every change carries an Idempotency-Key that is journalled (with the payment's reference) before the
request leaves the till, so a retry after a dropped answer or a crash has exactly one effect; open
MobilePay intents are settled at start-up by reading the payment's state."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from .payments import CardOutcome, _intent, _outcome, open_intents
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


def start(till: Till, client: Any, amount_ore: int, who: str, sale_ref: str, *,
          personal_qr: str | None = None, phone: str | None = None) -> str:
    """Journal the intent (reference and create key), then ask MobilePay; returns the reference.
    A transient failure is retried once with the same key (safe: the same key has one effect)."""
    from drivers.mobilepay.client import Transient

    reference, key = new_reference(till), _key()
    _intent(till, who, "payment", reference, amount_ore, sale_ref, method="mobilepay", create_key=key)
    try:
        client.create_payment(reference, amount_ore, key, personal_qr=personal_qr, phone=phone)
    except Transient:
        client.create_payment(reference, amount_ore, key, personal_qr=personal_qr, phone=phone)
    return reference


def finish(till: Till, client: Any, reference: str, amount_ore: int, who: str, *,
           sleep: Callable[[float], None] | None = None, clock: Callable[[], float] | None = None,
           stop: Callable[[], bool] | None = None) -> CardOutcome:
    """Wait for the customer; capture on authorisation, cancel when the cashier aborts."""
    kw: dict[str, Any] = {k: v for k, v in (("sleep", sleep), ("clock", clock), ("stop", stop))
                          if v is not None}
    payment = client.poll(reference, **kw)
    return settle(till, client, reference, amount_ore, who, payment=payment, abort=bool(stop and stop()))


def settle(till: Till, client: Any, reference: str, amount_ore: int, who: str = "system", *,
           payment: Any = None, abort: bool = False) -> CardOutcome:
    payment = payment or client.get_payment(reference)
    if payment.state == "AUTHORIZED" and not abort:
        step = f"{reference}/capture"
        if payment.captured_ore < amount_ore:  # not captured yet (or a crash came before the answer)
            pending = {i["service_id"]: i for i in open_intents(till, "mobilepay")}.get(step)
            key = pending["capture_key"] if pending else _key()  # the same key again: one effect
            if pending is None:
                _intent(till, who, "capture", step, amount_ore, reference, method="mobilepay",
                        capture_key=key)
            client.capture(reference, amount_ore, key)
        if step in {i["service_id"] for i in open_intents(till, "mobilepay")}:
            _outcome(till, who, step, _Result(reference, amount_ore, True), "approved")
        return _outcome(till, who, reference, _Result(reference, amount_ore, True), "approved")
    if payment.state in FAILED_STATES or abort:
        if not payment.final:
            key = _key()
            _intent(till, who, "cancel", f"{reference}/cancel", amount_ore, reference, method="mobilepay",
                    cancel_key=key)
            client.cancel(reference, key)
            _outcome(till, who, f"{reference}/cancel", _Result(reference, 0, False, "Aborted"), "declined")
        return _outcome(till, who, reference, _Result(reference, 0, False, payment.state), "declined")
    return CardOutcome(reference, "unknown", amount_ore, message="Venter på kunden ...")


def recover(till: Till, client: Any) -> list[CardOutcome]:
    """At start-up: each MobilePay payment a crash left open is read and settled (captured if the
    customer had approved, otherwise closed)."""
    from drivers.mobilepay.client import NotFound

    settled = []
    for intent in open_intents(till, "mobilepay"):
        reference = intent["service_id"]
        if "/" in reference:  # a capture or cancel step: its payment's own intent settles it
            continue
        try:
            outcome = settle(till, client, reference, int(intent["amount"]))
        except NotFound:  # the create never took effect: nothing to charge
            outcome = _outcome(till, "system", reference, _Result(reference, 0, False, "NotFound"),
                               "declined")
        if outcome.state != "unknown":
            settled.append(outcome)
    return settled
