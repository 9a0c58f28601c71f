"""A client for the Vipps MobilePay ePayment API (v1), for customer-present payments at a till.

Shape of the API (specs/vipps-epayment-openapi.yaml, v1.4.1): an access token from
`POST /accesstoken/get` (not in the spec; API keys in headers), then `/epayment/v1/payments` to create,
get, capture, cancel and refund. Every change carries an `Idempotency-Key` that the caller chose and
stored *before* calling, so a retry after a timeout or a crash repeats the same request and the server
answers it once. This client never retries a change on its own: the caller owns the key and the decision.

Errors are typed: `Transient` (5xx, 429, timeouts, dropped connections: retry with the same key),
`Rejected` (other 4xx, with the server's problem detail), `AuthFailed` (401 even with a fresh token).
Nothing secret is ever logged or put in an exception message.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger(__name__)

TOKEN_PATH = "/accesstoken/get"
PAYMENTS_PATH = "/epayment/v1/payments"
FINAL_STATES = frozenset({"AUTHORIZED", "ABORTED", "EXPIRED", "TERMINATED"})
REFERENCE_RE = re.compile(r"^[a-zA-Z0-9-]{8,50}$")
QR_FORMATS = ("TEXT/TARGETURL", "IMAGE/SVG+XML", "IMAGE/PNG")
TOKEN_MARGIN_S = 60.0  # renew this long before the token's stated expiry
POLL_FIRST_S = 5.0  # polling guidelines: first GET after 5 s ...
POLL_EVERY_S = 2.0  # ... then every 2 s
POLL_MAX_BACKOFF_S = 30.0  # cap on the interval after repeated 429s


class EPaymentError(Exception):
    """Base of this client's errors."""


class Transient(EPaymentError):
    """The answer was lost or the server failed (5xx, 429, timeout, drop): the effect is unknown, so
    repeat the same request with the same Idempotency-Key, or GET the payment."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class Rejected(EPaymentError):
    """The server refused the request (4xx): repeating it will not help."""

    def __init__(self, status: int, problem: dict[str, Any]):
        self.status = status
        self.problem = problem
        self.title = str(problem.get("title", ""))
        self.detail = str(problem.get("detail", ""))
        self.trace_id = str(problem.get("traceId", ""))
        super().__init__(f"status={status} title={self.title!r} detail={self.detail!r} "
                         f"trace_id={self.trace_id}")


class NotFound(Rejected):
    """404: for a payment, the create never reached the server (safe to create again with the same key)."""


class AuthFailed(EPaymentError):
    """401 with a fresh token, or the token endpoint refused the API keys: settings are wrong."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Payment:
    """A payment as the server last described it (GET, or the answer to a capture/cancel/refund)."""

    reference: str
    state: str
    amount_ore: int
    currency: str
    authorized_ore: int = 0
    captured_ore: int = 0
    cancelled_ore: int = 0
    refunded_ore: int = 0
    psp_reference: str = ""
    redirect_url: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Payment:
        agg = body.get("aggregate") or {}

        def ore(name: str) -> int:
            return int((agg.get(name) or {}).get("value", 0))

        amount = body.get("amount") or {}
        return cls(reference=body["reference"], state=body["state"], amount_ore=int(amount.get("value", 0)),
                   currency=str(amount.get("currency", "")), authorized_ore=ore("authorizedAmount"),
                   captured_ore=ore("capturedAmount"), cancelled_ore=ore("cancelledAmount"),
                   refunded_ore=ore("refundedAmount"), psp_reference=str(body.get("pspReference", "")),
                   redirect_url=body.get("redirectUrl"), raw=body)


@dataclass(frozen=True)
class Created:
    """The answer to create: for the QR flow, `redirect_url` is what the till shows (as a QR when the
    format is TEXT/TARGETURL, else a link to an image); for the push flow it is None."""

    reference: str
    redirect_url: str | None


@dataclass(frozen=True)
class PaymentEvent:
    """One line of a payment's event log: which changes happened, under which Idempotency-Key."""

    name: str
    amount_ore: int
    success: bool
    idempotency_key: str | None
    timestamp: str
    psp_reference: str


def msisdn(phone: str, country_code: str = "45") -> str:
    """A typed phone number as MSISDN digits (country code, no '+'); 8 digits alone are taken as Danish."""
    digits = re.sub(r"[\s\-()]", "", phone)
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("00"):
        digits = digits[2:]
    elif len(digits) == 8 and digits.isdigit():
        digits = country_code + digits
    if not re.fullmatch(r"\d{10,15}", digits):
        raise ValueError("phone number must be 8 digits or an international number (10-15 digits)")
    return digits


class _Token:
    __slots__ = ("expires_at", "value")

    def __init__(self, value: str, expires_at: float):
        self.value = value
        self.expires_at = expires_at

    def __repr__(self) -> str:
        return f"_Token(expires_at={self.expires_at})"


class EPaymentClient:
    """One merchant sales unit (MSN) on the ePayment API. Thread-safe: the token cache has a lock and
    httpx.Client is safe to share."""

    def __init__(self, base_url: str, *, client_id: str, client_secret: str, subscription_key: str,
                 merchant_serial_number: str, system_name: str = "tillbox", system_version: str,
                 plugin_name: str | None = None, plugin_version: str | None = None, timeout: float = 15.0,
                 clock: Callable[[], float] = time.monotonic, verify: Any = True,
                 transport: httpx.BaseTransport | None = None):
        if not re.fullmatch(r"[0-9]{4,6}", merchant_serial_number):
            raise ValueError("merchant serial number must be 4-6 digits")
        self.base_url = base_url.rstrip("/")
        self.merchant_serial_number = merchant_serial_number
        self._client_id = client_id
        self._client_secret = client_secret
        self._subscription_key = subscription_key
        self._clock = clock
        self._token: _Token | None = None
        self._lock = threading.Lock()
        system = {"Vipps-System-Name": system_name, "Vipps-System-Version": system_version}
        if plugin_name:
            system["Vipps-System-Plugin-Name"] = plugin_name
        if plugin_version:
            system["Vipps-System-Plugin-Version"] = plugin_version
        self._system_headers = system
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, verify=verify,
                                  transport=transport)  # httpx.MockTransport in unit tests

    def __repr__(self) -> str:
        return f"EPaymentClient(base_url={self.base_url!r}, msn={self.merchant_serial_number})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EPaymentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_access(self) -> None:
        """Fetch a fresh access token now: proves the API keys and the MSN (a settings check).
        Raises AuthFailed (keys refused) or Transient (server unreachable or failing)."""
        self._drop_token()
        self._access_token()

    # --- operations -------------------------------------------------------------------------------

    def create_payment(self, reference: str, amount_ore: int, idempotency_key: str, *,
                       phone: str | None = None, personal_qr: str | None = None,
                       customer_token: str | None = None, qr_format: str = "TEXT/TARGETURL",
                       description: str | None = None, currency: str = "DKK",
                       metadata: dict[str, str] | None = None) -> Created:
        """Ask for a customer-present payment. With `personal_qr` (the full text the scanner read from the
        customer's app), `phone` or `customer_token` the request is pushed to that customer's phone
        (userFlow PUSH_MESSAGE); with none of them the till shows a QR (userFlow QR)."""
        _check_reference(reference)
        _check_amount(amount_ore)
        given = [(k, v) for k, v in (("phoneNumber", phone), ("personalQr", personal_qr),
                                     ("customerToken", customer_token)) if v is not None]
        if len(given) > 1:
            raise ValueError("give at most one of phone, personal_qr, customer_token")
        body: dict[str, Any] = {
            "amount": {"currency": currency, "value": amount_ore},
            "paymentMethod": {"type": "WALLET"},
            "reference": reference,
            "customerInteraction": "CUSTOMER_PRESENT",
        }
        if given:
            name, value = given[0]
            body["customer"] = {name: msisdn(value) if name == "phoneNumber" else value}
            body["userFlow"] = "PUSH_MESSAGE"
        else:
            if qr_format not in QR_FORMATS:
                raise ValueError(f"qr_format must be one of {QR_FORMATS}")
            body["userFlow"] = "QR"
            body["qrFormat"] = {"format": qr_format}
        if description is not None:
            body["paymentDescription"] = description
        if metadata:
            body["metadata"] = metadata
        data = self._call("POST", PAYMENTS_PATH, op="create", reference=reference, json=body,
                          idempotency_key=idempotency_key)
        log.info("epayment op=create reference=%s flow=%s amount_ore=%d", reference, body["userFlow"],
                 amount_ore)
        return Created(reference=data.get("reference", reference), redirect_url=data.get("redirectUrl"))

    def get_payment(self, reference: str) -> Payment:
        """The payment's state and amounts. NotFound means the create never took effect."""
        _check_reference(reference)
        data = self._call("GET", f"{PAYMENTS_PATH}/{reference}", op="get", reference=reference)
        return Payment.from_json(data)

    def events(self, reference: str) -> list[PaymentEvent]:
        """The payment's event log: tells which capture/refund/cancel keys succeeded (crash recovery)."""
        _check_reference(reference)
        data = self._call("GET", f"{PAYMENTS_PATH}/{reference}/events", op="events", reference=reference)
        return [PaymentEvent(name=e.get("name", ""), amount_ore=int((e.get("amount") or {}).get("value", 0)),
                             success=bool(e.get("success")), idempotency_key=e.get("idempotencyKey"),
                             timestamp=str(e.get("timestamp", "")),
                             psp_reference=str(e.get("pspReference", "")))
                for e in data]

    def capture(self, reference: str, amount_ore: int, idempotency_key: str,
                currency: str = "DKK") -> Payment:
        return self._modify(reference, "capture", idempotency_key, amount_ore, currency)

    def refund(self, reference: str, amount_ore: int, idempotency_key: str, currency: str = "DKK") -> Payment:
        return self._modify(reference, "refund", idempotency_key, amount_ore, currency)

    def cancel(self, reference: str, idempotency_key: str) -> Payment:
        """Cancel before authorisation (state TERMINATED) or release what is authorised and not captured."""
        return self._modify(reference, "cancel", idempotency_key, None, None)

    def poll(self, reference: str, *, timeout: float = 330.0, sleep: Callable[[float], None] = time.sleep,
             clock: Callable[[], float] = time.monotonic, first_delay: float = POLL_FIRST_S,
             interval: float = POLL_EVERY_S, stop: Callable[[], bool] | None = None,
             on_update: Callable[[Payment], None] | None = None) -> Payment | None:
        """Follow a payment as the polling guidelines say (first GET after `first_delay`, then every
        `interval`; back off on 429) until it reaches a final state, `stop()` is true (the cashier
        pressed abort) or `timeout` has passed. Transient errors are ridden out. Returns the last
        payment seen (check `.final`), or None if no GET succeeded at all."""
        deadline = clock() + timeout
        wait = first_delay
        last: Payment | None = None
        while True:
            if stop is not None and stop():
                return last
            remaining = deadline - clock()
            if remaining <= 0:
                log.info("epayment op=poll reference=%s outcome=deadline state=%s", reference,
                         last.state if last else "unknown")
                return last
            sleep(min(wait, remaining))
            if stop is not None and stop():
                return last
            wait = interval
            try:
                payment = self.get_payment(reference)
            except Transient as exc:
                if exc.status == 429:
                    wait = min(max(exc.retry_after or 0.0, interval * 2), POLL_MAX_BACKOFF_S)
                continue
            if on_update is not None and (last is None or payment.state != last.state):
                on_update(payment)
            last = payment
            if payment.final:
                log.info("epayment op=poll reference=%s outcome=final state=%s", reference, payment.state)
                return payment

    # --- plumbing ---------------------------------------------------------------------------------

    def _modify(self, reference: str, action: str, key: str, amount_ore: int | None,
                currency: str | None) -> Payment:
        _check_reference(reference)
        body = None
        if amount_ore is not None:
            _check_amount(amount_ore)
            body = {"modificationAmount": {"currency": currency, "value": amount_ore}}
        data = self._call("POST", f"{PAYMENTS_PATH}/{reference}/{action}", op=action, reference=reference,
                          json=body, idempotency_key=key)
        payment = Payment.from_json(data)
        log.info("epayment op=%s reference=%s state=%s captured_ore=%d refunded_ore=%d", action, reference,
                 payment.state, payment.captured_ore, payment.refunded_ore)
        return payment

    def _call(self, method: str, path: str, *, op: str, reference: str, json: Any = None,
              idempotency_key: str | None = None) -> Any:
        if idempotency_key is not None and not 0 < len(idempotency_key) <= 50:
            raise ValueError("Idempotency-Key must be 1-50 characters")
        for attempt in (1, 2):
            headers = {**self._system_headers, "Authorization": f"Bearer {self._access_token()}",
                       "Ocp-Apim-Subscription-Key": self._subscription_key,
                       "Merchant-Serial-Number": self.merchant_serial_number}
            if idempotency_key is not None:
                headers["Idempotency-Key"] = idempotency_key
            resp = self._send(method, path, op, reference, headers, json)
            if resp.status_code == 401 and attempt == 1:
                log.info("epayment op=%s reference=%s status=401 action=renew_token", op, reference)
                self._drop_token()
                continue
            return self._result(resp, op, reference)
        raise AssertionError("unreachable")

    def _send(self, method: str, path: str, op: str, reference: str, headers: dict[str, str],
              body: Any) -> httpx.Response:
        try:
            if body is None:
                return self._http.request(method, path, headers=headers)
            return self._http.request(method, path, headers=headers, json=body)
        except httpx.TimeoutException as exc:
            log.warning("epayment op=%s reference=%s error=timeout", op, reference)
            raise Transient(f"{op} {reference}: timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            log.warning("epayment op=%s reference=%s error=%s", op, reference, type(exc).__name__)
            raise Transient(f"{op} {reference}: connection failed ({type(exc).__name__})") from None

    def _result(self, resp: httpx.Response, op: str, reference: str) -> Any:
        status = resp.status_code
        if 200 <= status < 300:
            try:
                return resp.json()
            except ValueError:
                raise Transient(f"{op} {reference}: unreadable answer", status) from None
        problem = _problem(resp)
        log.warning("epayment op=%s reference=%s status=%d title=%r trace_id=%s", op, reference, status,
                    problem.get("title", ""), problem.get("traceId", ""))
        if status == 401:
            raise AuthFailed(f"{op} {reference}: not authorised", status)
        if status == 429 or status >= 500:
            raise Transient(f"{op} {reference}: server answered {status}", status, _retry_after(resp))
        if status == 404:
            raise NotFound(status, problem)
        raise Rejected(status, problem)

    def _access_token(self) -> str:
        with self._lock:
            now = self._clock()
            if self._token is not None and now < self._token.expires_at:
                return self._token.value
            headers = {**self._system_headers, "client_id": self._client_id,
                       "client_secret": self._client_secret,
                       "Ocp-Apim-Subscription-Key": self._subscription_key,
                       "Merchant-Serial-Number": self.merchant_serial_number}
            try:
                resp = self._http.post(TOKEN_PATH, headers=headers)
            except httpx.TimeoutException:
                log.warning("epayment op=token error=timeout")
                raise Transient("access token: timed out") from None
            except httpx.TransportError as exc:
                log.warning("epayment op=token error=%s", type(exc).__name__)
                raise Transient(f"access token: connection failed ({type(exc).__name__})") from None
            if resp.status_code in (401, 403):
                log.error("epayment op=token status=%d", resp.status_code)
                raise AuthFailed("access token refused: check client id, secret, subscription key and MSN",
                                 resp.status_code)
            if resp.status_code == 429 or resp.status_code >= 500:
                log.warning("epayment op=token status=%d", resp.status_code)
                raise Transient(f"access token: server answered {resp.status_code}", resp.status_code,
                                _retry_after(resp))
            if resp.status_code != 200:
                raise Rejected(resp.status_code, _problem(resp))
            try:
                data = resp.json()
                value = str(data["access_token"])
                ttl = float(data.get("expires_in", 3600))  # Vipps sends it as a string of seconds
            except (ValueError, KeyError, TypeError):
                raise Transient("access token: unreadable answer", resp.status_code) from None
            self._token = _Token(value, now + max(ttl - TOKEN_MARGIN_S, ttl / 2))
            log.info("epayment op=token outcome=issued expires_in_s=%d", int(ttl))
            return value

    def _drop_token(self) -> None:
        with self._lock:
            self._token = None


def _check_reference(reference: str) -> None:
    if not REFERENCE_RE.fullmatch(reference):
        raise ValueError("reference must be 8-50 of a-z, A-Z, 0-9 and '-'")


def _check_amount(amount_ore: int) -> None:
    if isinstance(amount_ore, bool) or not isinstance(amount_ore, int) or not 0 < amount_ore <= 65_000_000:
        raise ValueError("amount must be a positive whole number of øre")


def _problem(resp: httpx.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {"title": resp.reason_phrase, "status": resp.status_code}
    return data if isinstance(data, dict) else {"title": resp.reason_phrase, "status": resp.status_code}


def _retry_after(resp: httpx.Response) -> float | None:
    try:
        return float(resp.headers.get("Retry-After", ""))
    except ValueError:
        return None
