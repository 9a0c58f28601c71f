"""The ePayment client against the fake ePayment API (real HTTP on 127.0.0.1, requests checked against
the saved spec): the customer-present flows, typed errors, idempotent retries and the polling rules."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import httpx
import pytest

from drivers.mobilepay import (
    AuthFailed,
    EPaymentClient,
    NotFound,
    Rejected,
    Transient,
    msisdn,
)
from tests.fakes.epayment import FakeEPayment

QR = "https://qr.vipps.no/28/2/01/031/4512345678?v=1"


@pytest.fixture
def fake() -> Iterator[FakeEPayment]:
    with FakeEPayment() as f:
        yield f
        assert f.spec_violations == [], f.spec_violations


def make_client(fake: FakeEPayment, **kw: object) -> EPaymentClient:
    args: dict[str, object] = {**fake.credentials(), "system_version": "0.1.0", "plugin_name": "tillbox-pos",
                               "plugin_version": "0.1.0", "timeout": 5.0}
    args.update(kw)
    return EPaymentClient(fake.url, **args)  # type: ignore[arg-type]


@pytest.fixture
def client(fake: FakeEPayment) -> Iterator[EPaymentClient]:
    with make_client(fake) as c:
        yield c


def key() -> str:
    return str(uuid.uuid4())


def ref() -> str:
    return "sale-" + uuid.uuid4().hex[:20]


class Steps:
    """An injected sleep and clock: sleeping advances the clock; `then` runs at a given sleep."""

    def __init__(self, then: dict[int, object] | None = None):
        self.now = 0.0
        self.sleeps: list[float] = []
        self.then = then or {}

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s
        action = self.then.get(len(self.sleeps))
        if callable(action):
            action()


def test_scanned_qr_approve_capture(fake: FakeEPayment, client: EPaymentClient) -> None:
    r = ref()
    created = client.create_payment(r, 12_950, key(), personal_qr=QR, description="Købmand Hansen")
    assert created.reference == r and created.redirect_url is None
    sent = fake.requests[-1]
    assert sent.body["userFlow"] == "PUSH_MESSAGE"
    assert sent.body["customer"] == {"personalQr": QR}
    assert sent.body["customerInteraction"] == "CUSTOMER_PRESENT"
    assert sent.body["amount"] == {"currency": "DKK", "value": 12_950}
    assert client.get_payment(r).state == "CREATED"

    fake.approve(r)
    paid = client.get_payment(r)
    assert (paid.state, paid.final, paid.authorized_ore) == ("AUTHORIZED", True, 12_950)
    k = key()
    captured = client.capture(r, 12_950, k)
    assert captured.captured_ore == 12_950 and captured.state == "AUTHORIZED"
    assert [(e.name, e.idempotency_key) for e in client.events(r)][-1] == ("CAPTURED", k)

    api = [q for q in fake.requests if q.path != "/accesstoken/get"]
    for q in api:
        assert q.headers["Merchant-Serial-Number"] == fake.msn
        assert q.headers["Vipps-System-Name"] == "tillbox"
        assert q.headers["Vipps-System-Version"] == "0.1.0"
        assert q.headers["Vipps-System-Plugin-Name"] == "tillbox-pos"
        assert q.headers["Authorization"].startswith("Bearer ")
        assert ("Idempotency-Key" in q.headers) == (q.method == "POST")
    assert len(fake.tokens_issued) == 1  # cached between calls


def test_phone_number_flow(fake: FakeEPayment, client: EPaymentClient) -> None:
    r = ref()
    client.create_payment(r, 500, key(), phone="12 34 56 78")
    assert fake.requests[-1].body["customer"] == {"phoneNumber": "4512345678"}
    assert msisdn("+45 12345678") == msisdn("004512345678") == "4512345678"
    with pytest.raises(ValueError):
        msisdn("1234")
    with pytest.raises(ValueError):
        client.create_payment(ref(), 500, key(), phone="12345678", personal_qr=QR)


def test_till_shows_qr(fake: FakeEPayment, client: EPaymentClient) -> None:
    r = ref()
    created = client.create_payment(r, 2_200, key())
    assert created.redirect_url and created.redirect_url.startswith("https://")
    assert fake.requests[-1].body["userFlow"] == "QR"
    assert fake.requests[-1].body["qrFormat"] == {"format": "TEXT/TARGETURL"}
    assert "customer" not in fake.requests[-1].body


def test_poll_follows_guidelines_until_approved(fake: FakeEPayment, client: EPaymentClient) -> None:
    r = ref()
    client.create_payment(r, 1_000, key(), personal_qr=QR)
    steps = Steps(then={3: lambda: fake.approve(r)})
    seen: list[str] = []
    payment = client.poll(r, sleep=steps.sleep, clock=steps.clock, on_update=lambda p: seen.append(p.state))
    assert payment is not None and payment.state == "AUTHORIZED"
    assert steps.sleeps == [5.0, 2.0, 2.0]
    assert seen == ["CREATED", "AUTHORIZED"]


def test_poll_stops_at_deadline_and_backs_off_on_429(fake: FakeEPayment, client: EPaymentClient) -> None:
    r = ref()
    client.create_payment(r, 1_000, key(), personal_qr=QR)
    fake.fail_next(1, 429, only="/payments/")
    steps = Steps()
    payment = client.poll(r, timeout=20, sleep=steps.sleep, clock=steps.clock)
    assert payment is not None and payment.state == "CREATED" and not payment.final
    assert steps.sleeps[:2] == [5.0, 4.0]  # 429 -> twice the interval
    assert sum(steps.sleeps) == 20


def test_customer_declines(fake: FakeEPayment, client: EPaymentClient) -> None:
    r = ref()
    client.create_payment(r, 1_000, key(), personal_qr=QR)
    steps = Steps(then={1: lambda: fake.decline(r)})
    payment = client.poll(r, sleep=steps.sleep, clock=steps.clock)
    assert payment is not None and payment.state == "ABORTED"
    with pytest.raises(Rejected) as err:
        client.capture(r, 1_000, key())
    assert err.value.status == 400 and "ABORTED" in err.value.detail


def test_cashier_aborts(fake: FakeEPayment, client: EPaymentClient) -> None:
    r = ref()
    client.create_payment(r, 1_000, key(), personal_qr=QR)
    pressed = {"abort": False}
    steps = Steps(then={2: lambda: pressed.update(abort=True)})
    assert client.poll(r, sleep=steps.sleep, clock=steps.clock, stop=lambda: pressed["abort"]).state == "CREATED"
    cancelled = client.cancel(r, key())
    assert cancelled.state == "TERMINATED" and cancelled.cancelled_ore == 1_000
    with pytest.raises(ValueError):
        fake.approve(r)  # too late for the customer
    assert client.get_payment(r).state == "TERMINATED"


def test_cancel_after_authorisation_releases_reservation(fake: FakeEPayment, client: EPaymentClient) -> None:
    r = ref()
    client.create_payment(r, 1_000, key(), personal_qr=QR)
    fake.approve(r)
    p = client.cancel(r, key())
    assert (p.state, p.cancelled_ore, p.captured_ore) == ("TERMINATED", 1_000, 0)


def test_refund_of_captured_payment(fake: FakeEPayment, client: EPaymentClient) -> None:
    r = ref()
    client.create_payment(r, 5_000, key(), personal_qr=QR)
    fake.approve(r)
    client.capture(r, 5_000, key())
    assert client.refund(r, 2_000, key()).refunded_ore == 2_000
    with pytest.raises(Rejected) as err:
        client.refund(r, 3_001, key())
    assert err.value.status == 400
    assert client.refund(r, 3_000, key()).refunded_ore == 5_000
    assert fake.effects(r) == ["CREATED", "AUTHORIZED", "CAPTURED", "REFUNDED", "REFUNDED"]


def test_dropped_answers_retried_with_same_key_have_one_effect(fake: FakeEPayment,
                                                               client: EPaymentClient) -> None:
    r, create_key = ref(), key()
    fake.drop_after_store_next(1)
    with pytest.raises(Transient):
        client.create_payment(r, 7_500, create_key, personal_qr=QR)
    assert client.create_payment(r, 7_500, create_key, personal_qr=QR).reference == r
    fake.approve(r)
    capture_key = key()
    fake.drop_after_store_next(1)
    with pytest.raises(Transient):
        client.capture(r, 7_500, capture_key)
    assert client.capture(r, 7_500, capture_key).captured_ore == 7_500
    refund_key = key()
    fake.drop_after_store_next(1)
    with pytest.raises(Transient):
        client.refund(r, 7_500, refund_key)
    assert client.refund(r, 7_500, refund_key).refunded_ore == 7_500
    assert list(fake.payments) == [r]
    assert fake.effects(r) == ["CREATED", "AUTHORIZED", "CAPTURED", "REFUNDED"]


def test_timeout_after_commit_then_retry(fake: FakeEPayment) -> None:
    with make_client(fake, timeout=0.3) as client:
        r, k = ref(), key()
        client.create_payment(r, 1_000, key(), personal_qr=QR)
        fake.approve(r)
        fake.delay_next(1, 30.0, only="/capture")
        with pytest.raises(Transient):
            client.capture(r, 1_000, k)
        assert client.capture(r, 1_000, k).captured_ore == 1_000
        assert fake.effects(r).count("CAPTURED") == 1


def test_same_key_different_request_is_a_conflict(fake: FakeEPayment, client: EPaymentClient) -> None:
    r, k = ref(), key()
    client.create_payment(r, 1_000, k, personal_qr=QR)
    with pytest.raises(Rejected) as err:
        client.create_payment(r, 2_000, k, personal_qr=QR)
    assert err.value.status == 409
    with pytest.raises(Rejected) as err:
        client.create_payment(r, 1_000, key(), personal_qr=QR)  # reference already used
    assert err.value.status == 409
    assert fake.payments[r].amount == 1_000


def test_server_errors_are_transient_and_have_no_effect(fake: FakeEPayment, client: EPaymentClient) -> None:
    r, k = ref(), key()
    fake.fail_next(1, 503, only="/epayment/")
    with pytest.raises(Transient) as err:
        client.create_payment(r, 1_000, k, personal_qr=QR)
    assert err.value.status == 503 and r not in fake.payments
    fake.fail_next(1, 429, only="/epayment/")
    with pytest.raises(Transient) as err:
        client.get_payment(ref())
    assert err.value.status == 429 and err.value.retry_after == 1.0
    client.create_payment(r, 1_000, k, personal_qr=QR)
    with pytest.raises(NotFound):
        client.get_payment(ref())


def test_expired_token_is_renewed_once(fake: FakeEPayment, client: EPaymentClient) -> None:
    r = ref()
    client.create_payment(r, 1_000, key(), personal_qr=QR)
    fake.revoke_tokens()
    assert client.get_payment(r).state == "CREATED"
    assert len(fake.tokens_issued) == 2


def test_token_cached_until_expiry(fake: FakeEPayment) -> None:
    now = {"t": 0.0}
    with make_client(fake, clock=lambda: now["t"]) as client:
        with pytest.raises(NotFound):
            client.get_payment(ref())
        now["t"] = 3_000.0
        with pytest.raises(NotFound):
            client.get_payment(ref())
        assert len(fake.tokens_issued) == 1
        now["t"] = 3_600.0  # within the renewal margin of the one-hour token
        with pytest.raises(NotFound):
            client.get_payment(ref())
        assert len(fake.tokens_issued) == 2


def test_wrong_keys_fail_auth(fake: FakeEPayment) -> None:
    with make_client(fake, client_secret="wrong") as client, pytest.raises(AuthFailed):
        client.get_payment(ref())
    with make_client(fake, subscription_key="wrong") as client, pytest.raises(AuthFailed):
        client.get_payment(ref())


def test_validator_catches_bad_requests(fake: FakeEPayment, client: EPaymentClient) -> None:
    r = ref()
    client.create_payment(r, 1_000, key(), personal_qr=QR)
    assert fake.spec_violations == []
    token = fake.tokens_issued[-1]
    base = {"Authorization": f"Bearer {token}", "Ocp-Apim-Subscription-Key": fake.subscription_key,
            "Merchant-Serial-Number": fake.msn}
    good = {"amount": {"currency": "DKK", "value": 100}, "paymentMethod": {"type": "WALLET"},
            "reference": ref(), "userFlow": "PUSH_MESSAGE", "customer": {"personalQr": QR}}
    with httpx.Client(base_url=fake.url) as http:
        # no Idempotency-Key on a change
        assert http.post("/epayment/v1/payments", headers=base, json=good).status_code == 400
        # amount as a string, a customer given two ways
        bad = {**good, "amount": {"currency": "DKK", "value": "100"},
               "customer": {"personalQr": QR, "phoneNumber": "4512345678"}}
        assert http.post("/epayment/v1/payments", headers={**base, "Idempotency-Key": key()},
                         json=bad).status_code == 400
        # an unknown query parameter; a body on cancel; a reference too short; no such path
        assert http.get(f"/epayment/v1/payments/{r}?expand=all", headers=base).status_code == 400
        assert http.post(f"/epayment/v1/payments/{r}/cancel", headers={**base, "Idempotency-Key": key()},
                         json={"cancelTransactionOnly": True}).status_code == 400
        assert http.get("/epayment/v1/payments/short", headers=base).status_code == 400
        assert http.get("/epayment/v2/payments", headers=base).status_code == 404
    messages = [v["message"] for v in fake.spec_violations]
    assert "header Idempotency-Key: required" in messages
    assert any("amount/value" in m and "integer" in m for m in messages)
    assert any(m.startswith("body customer:") and "valid under each" in m for m in messages)
    assert any("query expand" in m for m in messages)
    assert "body: this operation takes no request body" in messages
    assert any(m.startswith("path reference:") for m in messages)
    assert any(v["kind"] == "route" for v in fake.spec_violations)
    assert fake.payments[r].state == "CREATED"  # nothing happened
    fake.spec_violations.clear()

    # a bad setting in the till shows up as a violation too (system name over 30 characters)
    with make_client(fake, system_name="tillbox-" + "x" * 30) as bad_client, pytest.raises(Rejected):
        bad_client.cancel(r, key())
    assert [v["message"].split(":")[0] for v in fake.spec_violations] == ["header Vipps-System-Name"]
    fake.spec_violations.clear()


def test_no_secret_in_logs(fake: FakeEPayment, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    with make_client(fake, timeout=0.3) as client:
        r = ref()
        client.create_payment(r, 1_000, key(), personal_qr=QR)
        fake.approve(r)
        fake.drop_after_store_next(1)
        try:
            client.capture(r, 1_000, key())
        except Transient as exc:
            errors.append(str(exc))
        fake.fail_next(1, 500)
        try:
            client.get_payment(r)
        except Transient as exc:
            errors.append(str(exc))
        fake.revoke_tokens()
        steps = Steps()
        client.poll(r, sleep=steps.sleep, clock=steps.clock, timeout=10)
        errors.append(repr(client))
    with make_client(fake, client_secret="wrong-secret-value") as bad:
        try:
            bad.get_payment(ref())
        except AuthFailed as exc:
            errors.append(str(exc))
    text = caplog.text + "\n".join(errors)
    assert "epayment op=create" in caplog.text
    secrets = [fake.client_secret, fake.subscription_key, "wrong-secret-value", *fake.tokens_issued]
    assert len(fake.tokens_issued) == 2
    for secret in secrets:
        assert secret not in text
