"""Refunds of MobilePay sales (and the QR the till shows, and abort after approval) against the fake
ePayment server, every request checked against the spec: full and partial refunds, a refused one,
dropped answers and failures retried under the same key, and crashes between the journalled intent
and the answer, after which `recover` refunds exactly once."""

from __future__ import annotations

import json
from dataclasses import replace

from appliance.services import mobilepay, payment_journal, payments
from drivers.mobilepay.client import EPaymentClient
from tests.fakes.epayment import FakeEPayment
from tests.integration.conftest import MOBILEPAY_QR as QR


class Steps:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, s: float) -> None:
        self.now += s

    def clock(self) -> float:
        return self.now


def paid(till, fake: FakeEPayment, client: EPaymentClient, amount: int) -> str:
    """A MobilePay sale, approved and captured."""
    ref = mobilepay.start(till, client, amount, "anna", "S1", personal_qr=QR)
    fake.approve(ref)
    steps = Steps()
    assert mobilepay.finish(till, client, ref, amount, "anna", sleep=steps.sleep, clock=steps.clock).approved
    return ref


def outcomes(till, service_id: str) -> list[dict]:
    rows = [json.loads(p) for (p,) in till.conn.execute(
        "SELECT payload FROM journal WHERE kind = 'payment_outcome' ORDER BY nr")]
    return [r for r in rows if r["service_id"] == service_id]


def refund_intents(till) -> list[dict]:
    rows = [json.loads(p) for (p,) in till.conn.execute(
        "SELECT payload FROM journal WHERE kind = 'payment_intent' ORDER BY nr")]
    return [r for r in rows if r["kind"] == "refund"]


def test_full_refund(till, mp) -> None:
    fake, client = mp
    ref = paid(till, fake, client, 4_450)
    outcome = mobilepay.refund(till, client, ref, 4_450, "bo", "R1")
    assert outcome.approved and outcome.brand == "MobilePay" and outcome.poi_transaction_id == ref
    assert outcome.amount == 4_450
    assert client.get_payment(ref).refunded_ore == 4_450
    [intent] = refund_intents(till)
    assert intent["original"] == ref and intent["sale_ref"] == "R1" and intent["refund_key"]
    assert [e.idempotency_key for e in client.events(ref) if e.name == "REFUNDED"] == [intent["refund_key"]]
    assert [o["state"] for o in outcomes(till, outcome.service_id)] == ["approved"]
    assert payments.open_intents(till, "mobilepay") == []


def test_partial_refunds_then_one_too_many(till, mp) -> None:
    fake, client = mp
    ref = paid(till, fake, client, 5_000)
    assert mobilepay.refund(till, client, ref, 2_000, "bo", "R1").approved
    assert mobilepay.refund(till, client, ref, 2_500, "bo", "R2").approved
    refused = mobilepay.refund(till, client, ref, 501, "bo", "R3")
    assert refused.state == "declined"
    assert outcomes(till, refused.service_id)[0]["error"] == "Bad Request"
    assert client.get_payment(ref).refunded_ore == 4_500
    assert fake.effects(ref).count("REFUNDED") == 2
    assert payments.open_intents(till, "mobilepay") == []


def test_a_dropped_answer_is_sent_again_under_the_same_key(till, mp) -> None:
    fake, client = mp
    ref = paid(till, fake, client, 3_000)
    fake.drop_after_store_next(1, only="/refund")
    assert mobilepay.refund(till, client, ref, 3_000, "bo", "R1").approved
    assert fake.effects(ref).count("REFUNDED") == 1
    refunds = [q for q in fake.requests if q.path.endswith("/refund")]
    assert len(refunds) == 2 and len({q.headers["Idempotency-Key"] for q in refunds}) == 1


def test_both_answers_dropped_is_settled_by_reading_the_payment(till, mp) -> None:
    fake, client = mp
    ref = paid(till, fake, client, 3_000)
    fake.drop_after_store_next(2, only="/refund")
    outcome = mobilepay.refund(till, client, ref, 1_000, "bo", "R1")
    assert outcome.approved
    assert fake.effects(ref).count("REFUNDED") == 1
    assert [q.path.rsplit("/", 1)[1] for q in fake.requests if ref in q.path][-3:] == \
        ["refund", "refund", "events"]


def test_failures_with_no_effect_then_unknown_then_recover_refunds_once(till, mp) -> None:
    fake, client = mp
    ref = paid(till, fake, client, 3_000)
    fake.fail_next(2, 503, only="/refund")  # nothing happened; the settle sends it again
    assert mobilepay.refund(till, client, ref, 1_000, "bo", "R1").approved
    fake.fail_next(10, 503, only=ref)  # MobilePay down: the cashier sees "unknown"
    outcome = mobilepay.refund(till, client, ref, 500, "bo", "R2")
    assert outcome.state == "unknown"
    assert [i["service_id"] for i in payments.open_intents(till, "mobilepay")] == [outcome.service_id]
    fake._faults.clear()
    [settled] = mobilepay.recover(till, client)
    assert settled.approved and settled.service_id == outcome.service_id
    assert mobilepay.recover(till, client) == []
    assert client.get_payment(ref).refunded_ore == 1_500
    assert fake.effects(ref).count("REFUNDED") == 2


def test_crash_after_sending_recover_does_not_refund_again(till, mp) -> None:
    fake, client = mp
    ref = paid(till, fake, client, 2_000)
    key = "refund-key-journalled-first"
    payment_journal.record_intent(till, "bo", "refund", f"{ref}/refund/x", 2_000, "R1", original=ref, method="mobilepay",
                     refund_key=key)
    client.refund(ref, 2_000, key)  # the till dies here, before journalling the answer
    [settled] = mobilepay.recover(till, client)
    assert settled.approved and settled.amount == 2_000
    assert mobilepay.recover(till, client) == []
    assert fake.effects(ref).count("REFUNDED") == 1
    assert payments.open_intents(till, "mobilepay") == []


def test_crash_before_sending_recover_refunds_once(till, mp) -> None:
    fake, client = mp
    ref = paid(till, fake, client, 2_000)
    payment_journal.record_intent(till, "bo", "refund", f"{ref}/refund/y", 1_200, "R1", original=ref, method="mobilepay",
                     refund_key="refund-key-never-sent")
    [settled] = mobilepay.recover(till, client)
    assert settled.approved
    assert mobilepay.recover(till, client) == []
    assert client.get_payment(ref).refunded_ore == 1_200
    assert fake.effects(ref).count("REFUNDED") == 1


def test_refund_of_an_unknown_payment_is_declined(till, mp) -> None:
    _fake, client = mp
    outcome = mobilepay.refund(till, client, "till-1-doesnotexist00", 100, "bo", "R1")
    assert outcome.state == "declined"
    assert payments.open_intents(till, "mobilepay") == []


class NoKeysInEvents(EPaymentClient):
    """An API whose event log does not name the keys: the aggregate decides."""

    def events(self, reference):
        return [replace(e, idempotency_key=None) for e in super().events(reference)]


def test_without_keys_in_the_event_log_the_refunded_amount_decides(till, mp) -> None:
    fake, client = mp
    ref = paid(till, fake, client, 3_000)
    assert mobilepay.refund(till, client, ref, 1_000, "bo", "R1").approved
    blind = NoKeysInEvents(fake.url, **fake.credentials(), system_version="0.1.0", timeout=5.0)
    try:
        payment_journal.record_intent(till, "bo", "refund", f"{ref}/refund/z", 700, "R2", original=ref,
                         method="mobilepay", refund_key="k-sent-before-crash")
        client.refund(ref, 700, "k-sent-before-crash")
        payment_journal.record_intent(till, "bo", "refund", f"{ref}/refund/w", 300, "R3", original=ref,
                         method="mobilepay", refund_key="k-never-sent")
        settled = mobilepay.recover(till, blind)
    finally:
        blind.close()
    assert [o.state for o in settled] == ["approved", "approved"]
    assert client.get_payment(ref).refunded_ore == 2_000
    assert fake.effects(ref).count("REFUNDED") == 3


def test_the_till_shows_a_qr(till, mp) -> None:
    fake, client = mp
    started = mobilepay.start_payment(till, client, 2_200, "anna", "S9")
    assert started.qr_url and started.qr_url.startswith("https://")
    sent = next(q for q in fake.requests if q.path == "/epayment/v1/payments")
    assert sent.body["userFlow"] == "QR" and sent.body["qrFormat"] == {"format": "TEXT/TARGETURL"}
    assert mobilepay.start_payment(till, client, 100, "anna", "S10", phone="12345678").qr_url is None
    fake.approve(started.reference)
    steps = Steps()
    assert mobilepay.finish(till, client, started.reference, 2_200, "anna", sleep=steps.sleep,
                            clock=steps.clock).approved


def test_abort_just_as_the_customer_approved_releases_the_money(till, mp) -> None:
    fake, client = mp
    ref = mobilepay.start(till, client, 1_000, "anna", "S1", personal_qr=QR)
    pressed = {"abort": False}

    def sleep(_s: float) -> None:
        fake.approve(ref)  # the customer approves ...
        pressed["abort"] = True  # ... as the cashier presses abort

    outcome = mobilepay.finish(till, client, ref, 1_000, "anna", sleep=sleep, clock=lambda: 0.0,
                               stop=lambda: pressed["abort"])
    assert outcome.state == "declined"
    p = client.get_payment(ref)
    assert (p.state, p.captured_ore, p.cancelled_ore) == ("TERMINATED", 0, 1_000)
    assert payments.open_intents(till, "mobilepay") == []


def test_an_interrupted_cancel_is_finished_at_start_up(till, mp) -> None:
    fake, client = mp
    ref = mobilepay.start(till, client, 1_000, "anna", "S1", personal_qr=QR)
    fake.fail_next(2, 503, only="/cancel")
    outcome = mobilepay.finish(till, client, ref, 1_000, "anna", sleep=lambda _s: None, clock=lambda: 0.0,
                               stop=lambda: True)
    assert outcome.state == "unknown"
    fake.approve(ref)  # the customer approves while the till is down: must not be captured
    [settled] = mobilepay.recover(till, client)
    assert settled.state == "declined"
    assert client.get_payment(ref).captured_ore == 0 and client.get_payment(ref).state == "TERMINATED"
    assert payments.open_intents(till, "mobilepay") == []
