"""MobilePay at the counter against the fake ePayment server (every request checked against the
official spec): approved and captured, declined, aborted by the cashier, and a crash at each point
(after the intent, after create, after authorisation, between capture and its record), after which
recovery leaves exactly one capture per approved payment and the journal agrees with the server."""

from __future__ import annotations

import json

from appliance.services import mobilepay, payment_journal, payments
from tests.integration.conftest import MOBILEPAY_QR as QR


class Steps:
    def __init__(self, then=None):
        self.now, self.then, self.calls = 0.0, then, 0

    def sleep(self, s: float) -> None:
        self.calls += 1
        self.now += s
        if self.then and self.calls == 2:
            self.then()

    def clock(self) -> float:
        return self.now


def outcome_of(till, reference: str) -> dict:
    rows = [json.loads(p) for (p,) in till.conn.execute(
        "SELECT payload FROM journal WHERE kind = 'payment_outcome' ORDER BY nr")]
    return next(r for r in rows if r["service_id"] == reference)


def test_scanned_qr_approved_and_captured(till, mp) -> None:
    fake, client = mp
    ref = mobilepay.start(till, client, 4450, "anna", "S1", personal_qr=QR)
    steps = Steps(then=lambda: fake.approve(ref))
    outcome = mobilepay.finish(till, client, ref, 4450, "anna", sleep=steps.sleep, clock=steps.clock)
    assert outcome.approved and outcome.brand == "MobilePay"
    assert client.get_payment(ref).captured_ore == 4450
    assert outcome_of(till, ref)["state"] == "approved"
    assert payments.open_intents(till, "mobilepay") == []


def test_declined_and_aborted(till, mp) -> None:
    fake, client = mp
    ref = mobilepay.start(till, client, 1000, "anna", "S2", phone="12345678")
    steps = Steps(then=lambda: fake.decline(ref))
    assert mobilepay.finish(till, client, ref, 1000, "anna", sleep=steps.sleep, clock=steps.clock).state == \
        "declined"
    ref2 = mobilepay.start(till, client, 1000, "anna", "S3", personal_qr=QR)
    outcome = mobilepay.finish(till, client, ref2, 1000, "anna", sleep=Steps().sleep, clock=Steps().clock,
                               stop=lambda: True)
    assert outcome.state == "declined" and client.get_payment(ref2).captured_ore == 0
    assert payments.open_intents(till, "mobilepay") == []


def test_a_crash_after_authorisation_is_captured_once_at_start_up(till, mp) -> None:
    fake, client = mp
    ref = mobilepay.start(till, client, 2500, "anna", "S4", personal_qr=QR)
    fake.approve(ref)  # the customer approved while the till was down
    [settled] = mobilepay.recover(till, client)
    assert settled.approved and client.get_payment(ref).captured_ore == 2500
    assert mobilepay.recover(till, client) == []  # nothing twice
    assert client.get_payment(ref).captured_ore == 2500


def test_a_crash_between_capture_and_its_record_does_not_capture_twice(till, mp) -> None:
    fake, client = mp
    ref = mobilepay.start(till, client, 3000, "anna", "S5", personal_qr=QR)
    fake.approve(ref)
    key = "capture-key-journalled-first"
    payment_journal.record_intent(till, "anna", "capture", f"{ref}/capture", 3000, ref, method="mobilepay", capture_key=key)
    client.capture(ref, 3000, key)  # the till dies here, before journalling the outcome
    mobilepay.recover(till, client)
    assert client.get_payment(ref).captured_ore == 3000
    assert outcome_of(till, ref)["state"] == "approved"
    assert payments.open_intents(till, "mobilepay") == []


def test_a_dropped_create_answer_is_retried_with_the_same_key(till, mp) -> None:
    fake, client = mp
    fake.drop_after_store_next(1)
    ref = mobilepay.start(till, client, 1500, "anna", "S6", personal_qr=QR)
    assert len([p for p in fake.payments.values() if p.reference == ref]) == 1
