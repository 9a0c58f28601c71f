"""The ePayment client on httpx.MockTransport: what it sends (token, headers, bodies, keys) and how
it sorts the answers, without a socket. The fake server (tests/fakes/epayment.py, checked against
the saved spec) stays the contract test; these are the fast branch tests."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from appliance.services.mobilepay_setup import open_mobilepay, set_mobilepay
from drivers.mobilepay import AuthFailed, EPaymentClient, NotFound, Rejected, Transient

BASE = "https://apitest.vipps.test"
MSN = "123456"
REF = "sale-00042-abcdef"
CREDENTIALS = {"client_id": "tillbox-test", "client_secret": "s3cret-client-Xq9",
               "subscription_key": "sub-key-7f3e9c1d"}


def payment(state: str, captured: int = 0) -> dict[str, Any]:
    def dkk(v: int) -> dict[str, Any]:
        return {"currency": "DKK", "value": v}
    return {"reference": REF, "state": state, "amount": dkk(12_950), "pspReference": "psp-1",
            "paymentMethod": {"type": "WALLET"}, "profile": {},
            "aggregate": {"authorizedAmount": dkk(12_950 if state == "AUTHORIZED" else 0),
                          "capturedAmount": dkk(captured), "cancelledAmount": dkk(0),
                          "refundedAmount": dkk(0)}}


class MockEPayment:
    """The token endpoint and the payments the client uses; `answers` overrides the next replies to
    the payment calls (a status with a problem body, or an exception to raise)."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.tokens_issued = 0
        self.answers: list[httpx.Response | Exception] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/accesstoken/get":
            if request.headers.get("client_secret") != CREDENTIALS["client_secret"]:
                return httpx.Response(401, json={"error": "invalid_client"})
            self.tokens_issued += 1
            return httpx.Response(200, json={"token_type": "Bearer", "expires_in": "3600",
                                             "access_token": f"token-{self.tokens_issued}"})
        if self.answers:
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        if request.headers.get("Authorization") != f"Bearer token-{self.tokens_issued}":
            return httpx.Response(401, json={"title": "Unauthorized"})
        if path == "/epayment/v1/payments":
            return httpx.Response(201, json={"reference": REF, "redirectUrl": "https://qr.test/abc"})
        if path == f"/epayment/v1/payments/{REF}":
            return httpx.Response(200, json=payment("AUTHORIZED"))
        if path == f"/epayment/v1/payments/{REF}/capture":
            body = json.loads(request.content)
            return httpx.Response(200, json=payment("AUTHORIZED", body["modificationAmount"]["value"]))
        return httpx.Response(404, json={"title": "Not Found"})


@pytest.fixture
def server() -> MockEPayment:
    return MockEPayment()


@pytest.fixture
def client(server: MockEPayment):
    with EPaymentClient(BASE, client_id=CREDENTIALS["client_id"], client_secret=CREDENTIALS["client_secret"],
                        subscription_key=CREDENTIALS["subscription_key"], merchant_serial_number=MSN,
                        system_version="0.1.0", transport=httpx.MockTransport(server)) as c:
        yield c


def test_create_get_capture_on_one_token_with_the_callers_keys(server, client) -> None:
    created = client.create_payment(REF, 12_950, "key-create-1")
    assert created.redirect_url == "https://qr.test/abc"
    assert client.get_payment(REF).state == "AUTHORIZED"
    captured = client.capture(REF, 12_950, "key-capture-1")
    assert captured.captured_ore == 12_950
    paths = [(r.method, r.url.path) for r in server.requests]
    assert paths == [("POST", "/accesstoken/get"), ("POST", "/epayment/v1/payments"),
                     ("GET", f"/epayment/v1/payments/{REF}"), ("POST", f"/epayment/v1/payments/{REF}/capture")]
    assert server.tokens_issued == 1  # cached for the three calls
    create, get, capture = server.requests[1:]
    for r in (create, get, capture):
        assert r.headers["Authorization"] == "Bearer token-1"
        assert r.headers["Merchant-Serial-Number"] == MSN
        assert r.headers["Ocp-Apim-Subscription-Key"] == CREDENTIALS["subscription_key"]
        assert r.headers["Vipps-System-Name"] == "tillbox"
    assert create.headers["Idempotency-Key"] == "key-create-1"
    assert capture.headers["Idempotency-Key"] == "key-capture-1"
    assert "Idempotency-Key" not in get.headers
    body = json.loads(create.content)
    assert body["userFlow"] == "QR" and body["amount"] == {"currency": "DKK", "value": 12_950}
    assert body["customerInteraction"] == "CUSTOMER_PRESENT"


@pytest.mark.parametrize(("answer", "error", "status"), [
    (httpx.Response(429, headers={"Retry-After": "3"}, json={"title": "Too Many Requests"}), Transient, 429),
    (httpx.Response(502, text="Bad Gateway"), Transient, 502),
    (httpx.ConnectError("connection reset"), Transient, None),
    (httpx.ReadTimeout("no answer"), Transient, None),
    (httpx.Response(400, json={"title": "Bad Request", "detail": "amount too small", "traceId": "t-1"}),
     Rejected, 400),
    (httpx.Response(404, json={"title": "Not Found", "traceId": "t-2"}), NotFound, 404),
])
def test_each_failed_answer_is_typed(server, client, answer, error, status) -> None:
    server.answers.append(answer)
    with pytest.raises(error) as caught:
        client.capture(REF, 12_950, "key-capture-1")
    assert type(caught.value) is error and caught.value.status == status
    if status == 429:
        assert caught.value.retry_after == 3.0
    if status == 400:
        assert caught.value.detail == "amount too small" and caught.value.trace_id == "t-1"
    assert len(server.requests) == 2  # the token, then one capture: never retried on its own


def test_a_401_renews_the_token_once_then_fails_auth(server, client) -> None:
    server.answers.append(httpx.Response(401, json={"title": "Unauthorized"}))
    assert client.get_payment(REF).state == "AUTHORIZED"  # renewed once, then the answer
    assert server.tokens_issued == 2
    server.answers += [httpx.Response(401, json={}), httpx.Response(401, json={})]
    with pytest.raises(AuthFailed):
        client.get_payment(REF)
    assert server.tokens_issued == 3  # one renewal per call, not a loop


def test_open_mobilepay_builds_its_client_on_the_transport(till, server) -> None:
    spec = {"kind": "epayment", "base_url": BASE, "msn": MSN, "client_id": CREDENTIALS["client_id"]}
    set_mobilepay(till, spec, "bo", client_secret=CREDENTIALS["client_secret"],
                  subscription_key=CREDENTIALS["subscription_key"])
    with open_mobilepay(till, strict=True, transport=httpx.MockTransport(server)) as client:
        client.check_access()
    assert [r.url.host for r in server.requests] == ["apitest.vipps.test"] and server.tokens_issued == 1
