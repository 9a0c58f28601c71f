"""A simulated Vipps MobilePay ePayment API on 127.0.0.1, for a till in simulated mode (`make run`) and
as the behaviour under the tests' spec-checking fake (tests/fakes/epayment.py adds the validation).

It has the access token endpoint (`POST /accesstoken/get`, checked against the API keys), the payments
state machine (CREATED -> AUTHORIZED | ABORTED | EXPIRED | TERMINATED; captures, cancels and refunds
in the aggregate), each payment's event log (with the Idempotency-Key of every change), idempotency
(the same key with the same request answers the stored reply with no second effect; with another
request -> 409), the test-only force-approve, and faults: `fail_next`, `drop_after_store_next`,
`delay_next`.

The simulated customer answers on the phone `approve_after` seconds after the payment was created
(default 2 s; None = never on its own, the caller uses `approve`/`decline`/`expire`). What the
customer does is chosen by who was asked (DECLINE and IGNORE conventions):

    phone number ending in 00, or a personal QR containing "decline"   -> declines (ABORTED)
    phone number ending in 99, or a personal QR containing "ignore"    -> never answers; the
                                                                         payment EXPIRES after
                                                                         `expire_after` seconds
    anything else (also the QR flow, where the till shows the QR)      -> approves (AUTHORIZED)

The customer is not a thread: a payment's clock is read whenever the payment is touched (GET, events,
capture, cancel), so a test with an injected clock sees exactly the same thing as the real till.

With `ledger=FILE` every change is appended to a JSON lines file (snapshots of the payment, and the
stored idempotent replies), and read back on start: a restarted till finds its payments again.

Readings of the API where the docs are loose (VERIFY against the live API):
- Only 2xx answers are stored for idempotency (a refused capture can be asked again with the same key).
- Cancelling an authorised payment with nothing captured ends in TERMINATED; with part captured the
  remainder is released and the state stays AUTHORIZED. Cancel before authorisation -> TERMINATED.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import hashlib
import json
import logging
import re
import secrets
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, TypedDict

from .client import EPaymentClient

log = logging.getLogger(__name__)

TOKEN_PATH = "/accesstoken/get"
PROBLEM_TYPE = "https://developer.vippsmobilepay.com/docs/knowledge-base/errors"
CHANGE_OPS = frozenset({"createPayment", "cancelPayment", "capturePayment", "refundPayment", "forceApprove"})
TOKEN_HEADERS = ("client_id", "client_secret", "Ocp-Apim-Subscription-Key", "Merchant-Serial-Number")
DEFAULT_APPROVE_AFTER_S = 2.0
DEFAULT_EXPIRE_AFTER_S = 300.0
_REF = r"(?P<reference>[a-zA-Z0-9-]{8,50})"
ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("POST", re.compile(r"/epayment/v1/payments"), "createPayment"),
    ("GET", re.compile(rf"/epayment/v1/payments/{_REF}"), "getPayment"),
    ("GET", re.compile(rf"/epayment/v1/payments/{_REF}/events"), "getPaymentEventLog"),
    ("POST", re.compile(rf"/epayment/v1/payments/{_REF}/cancel"), "cancelPayment"),
    ("POST", re.compile(rf"/epayment/v1/payments/{_REF}/capture"), "capturePayment"),
    ("POST", re.compile(rf"/epayment/v1/payments/{_REF}/refund"), "refundPayment"),
    ("POST", re.compile(rf"/epayment/v1/test/payments/{_REF}/approve"), "forceApprove"),
)


def customer_choice(customer: dict[str, Any] | None) -> str:
    """What the simulated customer does: "approve", "decline" or "ignore" (see the module docstring)."""
    customer = customer or {}
    phone = str(customer.get("phoneNumber") or "")
    qr = str(customer.get("personalQr") or customer.get("customerToken") or "").lower()
    if phone.endswith("00") or "decline" in qr:
        return "decline"
    if phone.endswith("99") or "ignore" in qr:
        return "ignore"
    return "approve"


@dataclass
class SimPayment:
    reference: str
    amount: int
    currency: str
    user_flow: str
    customer: dict[str, Any] | None
    psp_reference: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: str = "CREATED"
    authorized: int = 0
    captured: int = 0
    cancelled: int = 0
    refunded: int = 0
    redirect_url: str | None = None
    metadata: dict[str, str] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    created_at: float = 0.0  # the simulator's clock; not kept in the ledger (a restart starts it again)


@dataclass
class Fault:
    kind: str  # "fail" | "drop" | "delay"
    count: int
    status: int = 500
    seconds: float = 0.0
    only: str | None = None  # a substring of the path, or None for any API request


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int | None = None


class Refused(Exception):
    """A request refused before it reaches the payments (route, shape): answered with `reply`."""

    def __init__(self, reply: Reply):
        super().__init__(reply.status)
        self.reply = reply


def problem(status: int, title: str, detail: str) -> Reply:
    return Reply(status, {"type": PROBLEM_TYPE, "title": title, "detail": detail, "status": status,
                          "traceId": uuid.uuid4().hex}, {"Content-Type": "application/problem+json"})


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Credentials(TypedDict):
    """The simulator's API keys as EPaymentClient's keyword arguments (typed, so `**` unpacking checks)."""

    client_id: str
    client_secret: str
    subscription_key: str
    merchant_serial_number: str


class EPaymentSimulator:
    """The ePayment API of one sales unit (MSN) with its API keys, on a free port of 127.0.0.1.
    API keys not given are made up at random (see `credentials()`)."""

    def __init__(self, *, msn: str = "123456", client_id: str = "tillbox-sim",
                 client_secret: str | None = None, subscription_key: str | None = None,
                 currency: str = "DKK", token_ttl: int = 3600,
                 approve_after: float | None = DEFAULT_APPROVE_AFTER_S,
                 expire_after: float | None = DEFAULT_EXPIRE_AFTER_S,
                 clock: Callable[[], float] = time.monotonic, ledger: Path | None = None,
                 keep_requests: int | None = 1000, port: int = 0):
        self.msn = msn
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.subscription_key = subscription_key or secrets.token_hex(16)
        self.currency = currency
        self.token_ttl = token_ttl
        self.approve_after = approve_after
        self.expire_after = expire_after
        self.clock = clock
        self.ledger = Path(ledger) if ledger is not None else None
        self.port = port
        self.payments: dict[str, SimPayment] = {}
        self.requests: collections.deque[Recorded] = collections.deque(maxlen=keep_requests)
        self.tokens_issued: list[str] = []
        self._tokens: set[str] = set()
        self._idem: dict[tuple[str, str], tuple[str, Reply]] = {}
        self._faults: list[Fault] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        if self.ledger is not None:
            self._load_ledger()

    def __repr__(self) -> str:
        return f"EPaymentSimulator(msn={self.msn}, payments={len(self.payments)})"

    # --- life --------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.socket.getsockname()[:2]  # what server_address holds, as (str, int)
        return f"http://{host}:{port}"

    def credentials(self) -> Credentials:
        """Keyword arguments for EPaymentClient."""
        return {"client_id": self.client_id, "client_secret": self.client_secret,
                "subscription_key": self.subscription_key, "merchant_serial_number": self.msn}

    def start(self) -> EPaymentSimulator:
        owner = self

        class Handler(_Handler):
            sim = owner

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="epayment-sim", daemon=True)
        self._thread.start()
        log.info("epayment_sim event=started url=%s msn=%s approve_after_s=%s", self.url, self.msn,
                 self.approve_after)
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> EPaymentSimulator:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def client(self, *, system_version: str, timeout: float = 15.0, **kw: Any) -> SimulatedClient:
        """A client for this simulator whose close() also stops the simulator."""
        return SimulatedClient(self, system_version=system_version, timeout=timeout, **kw)

    # --- the customer and other controls -----------------------------------------------------------

    def approve(self, reference: str) -> None:
        """The customer approves in the app."""
        with self._lock:
            self._answer(self._created(reference), "AUTHORIZED")

    def decline(self, reference: str) -> None:
        """The customer rejects in the app."""
        with self._lock:
            self._answer(self._created(reference), "ABORTED")

    def expire(self, reference: str) -> None:
        """The customer never answered."""
        with self._lock:
            self._answer(self._created(reference), "EXPIRED")

    def fail_next(self, n: int, status: int = 500, only: str | None = None) -> None:
        """The next n API requests (paths containing `only`, if given) get `status` and have no effect."""
        with self._lock:
            self._faults.append(Fault("fail", n, status=status, only=only))

    def drop_after_store_next(self, n: int, only: str | None = None) -> None:
        """The next n changes take effect, then the connection is closed with no answer."""
        with self._lock:
            self._faults.append(Fault("drop", n, only=only))

    def delay_next(self, n: int, seconds: float, only: str | None = None) -> None:
        """The next n API requests take effect, then the answer waits `seconds`."""
        with self._lock:
            self._faults.append(Fault("delay", n, seconds=seconds, only=only))

    def revoke_tokens(self) -> None:
        """Every access token issued so far stops working (as if it expired)."""
        with self._lock:
            self._tokens.clear()

    def effects(self, reference: str) -> list[str]:
        """The names of the payment's events, in order (for "exactly one effect" checks)."""
        with self._lock:
            return [e["name"] for e in self.payments[reference].events]

    def _created(self, reference: str) -> SimPayment:
        p = self.payments[reference]
        if p.state != "CREATED":
            raise ValueError(f"payment {reference} is {p.state}, not CREATED")
        return p

    def _answer(self, p: SimPayment, state: str) -> None:
        p.state = state
        if state == "AUTHORIZED":
            p.authorized = p.amount
        self._event(p, state, p.amount, None)
        log.info("epayment_sim event=customer reference=%s state=%s", p.reference, state)

    def _customer(self, p: SimPayment) -> None:
        """The simulated customer, as far as the clock has come since the payment was created."""
        if p.state != "CREATED":
            return
        waited = self.clock() - p.created_at
        choice = customer_choice(p.customer)
        if choice != "ignore" and self.approve_after is not None and waited >= self.approve_after:
            self._answer(p, "AUTHORIZED" if choice == "approve" else "ABORTED")
        elif self.expire_after is not None and waited >= self.expire_after:
            self._answer(p, "EXPIRED")

    def _take_fault(self, kind: str, path: str) -> Fault | None:
        for f in self._faults:
            if f.kind == kind and f.count > 0 and (f.only is None or f.only in path):
                f.count -= 1
                return f
        return None

    # --- request handling --------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str],
               raw: bytes) -> tuple[Reply, str | None]:
        """The answer to one request, and the fault to apply to its delivery ("drop"/"delay:<s>")."""
        parsed = urllib.parse.urlsplit(target)
        path, query = parsed.path, urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        lower = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            record = Recorded(method, path, dict(headers), None)
            self.requests.append(record)
            op = None
            try:
                if path == TOKEN_PATH:
                    reply = self._token(method, lower)
                else:
                    op, template, params = self._route(method, path, query, lower, raw)
                    try:
                        body = json.loads(raw) if raw.strip() else None
                    except ValueError:
                        raise Refused(problem(400, "Bad Request", "body: not JSON")) from None
                    record.body = body
                    fail = self._take_fault("fail", path)
                    if fail is not None:
                        reply = problem(fail.status, "Injected fault", f"fail_next status={fail.status}")
                        if fail.status == 429:
                            reply.headers["Retry-After"] = "1"
                    else:
                        reply = self._authorise(lower) or self._idempotent(op, path, lower, body, params)
                        self._check_response(method, path, template, reply)
            except Refused as rej:
                reply, op = rej.reply, None
            record.status = reply.status
            delivery = None
            if op in CHANGE_OPS and 200 <= reply.status < 300 and self._take_fault("drop", path):
                delivery = "drop"
            elif path != TOKEN_PATH and (delay := self._take_fault("delay", path)) is not None:
                delivery = f"delay:{delay.seconds}"
        log.debug("epayment_sim method=%s path=%s status=%d delivery=%s", method, path, reply.status,
                  delivery)
        return reply, delivery

    def _route(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               raw: bytes) -> tuple[str, str, dict[str, str]]:
        """(operationId, route pattern, path parameters); a subclass may check the request in full."""
        for verb, pattern, op in ROUTES:
            m = pattern.fullmatch(path)
            if m and verb == method:
                if op in CHANGE_OPS and not 0 < len(headers.get("idempotency-key", "")) <= 50:
                    raise Refused(problem(400, "Bad Request", "header Idempotency-Key: required"))
                return op, pattern.pattern, m.groupdict()
        raise Refused(problem(404, "Not Found", "no such path"))

    def _check_response(self, method: str, path: str, template: str, reply: Reply) -> None:
        """A hook for the spec-checking fake."""

    def _token(self, method: str, headers: dict[str, str]) -> Reply:
        if method != "POST":
            return problem(405, "Method Not Allowed", "POST only")
        missing = [h for h in TOKEN_HEADERS if h.lower() not in headers]
        if missing:
            return problem(400, "Bad Request", "missing headers: " + ", ".join(missing))
        if (headers["client_id"] != self.client_id or headers["client_secret"] != self.client_secret
                or headers["ocp-apim-subscription-key"] != self.subscription_key
                or headers["merchant-serial-number"] != self.msn):
            return Reply(401, {"error": "unauthorized_client", "error_description": "invalid credentials"})
        fail = self._take_fault("fail", TOKEN_PATH)
        if fail is not None:
            reply = problem(fail.status, "Injected fault", f"fail_next status={fail.status}")
            if fail.status == 429:
                reply.headers["Retry-After"] = "1"
            return reply
        token = "sim-jwt-" + secrets.token_urlsafe(24)
        self._tokens.add(token)
        self.tokens_issued.append(token)
        now = int(time.time())
        return Reply(200, {"token_type": "Bearer", "expires_in": str(self.token_ttl), "ext_expires_in": "0",
                           "expires_on": str(now + self.token_ttl), "not_before": str(now),
                           "resource": "00000002-0000-0000-c000-000000000000", "access_token": token})

    def _authorise(self, headers: dict[str, str]) -> Reply | None:
        if headers.get("ocp-apim-subscription-key") != self.subscription_key:
            return problem(401, "Unauthorized", "invalid subscription key")
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self._tokens:
            return problem(401, "Unauthorized", "invalid or expired access token")
        if headers.get("merchant-serial-number") != self.msn:
            return problem(403, "Forbidden", "the token does not give access to this merchant serial number")
        return None

    def _idempotent(self, op: str, path: str, headers: dict[str, str], body: Any,
                    params: dict[str, str]) -> Reply:
        key = headers.get("idempotency-key")
        if op not in CHANGE_OPS or key is None:
            return self._operate(op, body, params, key)
        fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        stored = self._idem.get((path, key))
        if stored is not None:
            if stored[0] != fingerprint:
                return problem(409, "Conflict", "Idempotency-Key reused with a different request")
            return copy.deepcopy(stored[1])
        reply = self._operate(op, body, params, key)
        if 200 <= reply.status < 300:
            self._idem[(path, key)] = (fingerprint, copy.deepcopy(reply))
            self._write({"idem": {"path": path, "key": key, "fingerprint": fingerprint,
                                  "status": reply.status, "body": reply.body}})
        return reply

    # --- the operations ----------------------------------------------------------------------------

    def _operate(self, op: str, body: Any, params: dict[str, str], key: str | None) -> Reply:
        try:
            if op == "createPayment":
                return self._create(body)
            p = self.payments.get(params["reference"])
            if p is None:
                return problem(404, "Not Found", "no payment with this reference")
            self._customer(p)
            if op == "getPayment":
                return Reply(200, self._get_json(p))
            if op == "getPaymentEventLog":
                return Reply(200, copy.deepcopy(p.events))
            if op == "forceApprove":
                if p.state != "CREATED":
                    return problem(400, "Bad Request", f"payment is {p.state}")
                self._answer(p, "AUTHORIZED")
                return Reply(200)
            if op == "cancelPayment":
                return self._cancel(p, key)
            return self._modify(op, p, body, key)
        except (KeyError, TypeError, AttributeError) as exc:
            return problem(400, "Bad Request", f"malformed request ({type(exc).__name__}: {exc})")

    def _modify(self, op: str, p: SimPayment, body: Any, key: str | None) -> Reply:
        amount = (body or {}).get("modificationAmount")
        if amount is None:
            return problem(400, "Bad Request", "modificationAmount is required")
        if amount["currency"] != p.currency:
            return problem(400, "Bad Request", "currency differs from the payment's")
        value = amount["value"]
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            return problem(400, "Bad Request", "modificationAmount value must be a positive integer")
        if op == "capturePayment":
            if p.state != "AUTHORIZED":
                return problem(400, "Bad Request", f"cannot capture a payment in state {p.state}")
            if value > p.authorized - p.captured - p.cancelled:
                return problem(400, "Bad Request", "capture amount exceeds the remaining authorised amount")
            p.captured += value
            self._event(p, "CAPTURED", value, key)
        else:  # refundPayment
            if value > p.captured - p.refunded:
                return problem(400, "Bad Request",
                               "refund amount exceeds the captured amount not yet refunded")
            p.refunded += value
            self._event(p, "REFUNDED", value, key)
        return Reply(200, self._modification_json(p))

    def _create(self, body: dict[str, Any]) -> Reply:
        reference = body["reference"]
        if reference in self.payments:
            return problem(409, "Conflict", "a payment with this reference already exists")
        flow = body["userFlow"]
        if flow == "PUSH_MESSAGE" and "customer" not in body:
            return problem(400, "Bad Request", "userFlow PUSH_MESSAGE needs customer")
        if flow == "WEB_REDIRECT" and "returnUrl" not in body:
            return problem(400, "Bad Request", "userFlow WEB_REDIRECT needs returnUrl")
        if body["amount"]["currency"] != self.currency:
            return problem(400, "Bad Request", f"the sales unit takes {self.currency}")
        value = body["amount"]["value"]
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            return problem(400, "Bad Request", "amount must be a positive integer")
        p = SimPayment(reference, value, body["amount"]["currency"], flow, body.get("customer"),
                       metadata=body.get("metadata"), created_at=self.clock())
        token = secrets.token_urlsafe(16)
        if flow == "QR":
            fmt = (body.get("qrFormat") or {}).get("format", "IMAGE/SVG+XML")
            p.redirect_url = (f"https://landing.vipps.no/?token={token}" if fmt == "TEXT/TARGETURL"
                              else f"https://qr-image.vipps.no/v1?token={token}")
        elif flow in ("WEB_REDIRECT", "NATIVE_REDIRECT"):
            p.redirect_url = f"https://landing.vipps.no/?token={token}"
        self.payments[reference] = p
        self._event(p, "CREATED", p.amount, None)
        answer: dict[str, Any] = {"reference": reference}
        if p.redirect_url is not None:
            answer["redirectUrl"] = p.redirect_url
        return Reply(201, answer)

    def _cancel(self, p: SimPayment, key: str | None) -> Reply:
        if p.state == "CREATED":
            p.state, p.cancelled = "TERMINATED", p.amount
            self._event(p, "TERMINATED", p.amount, key)
        elif p.state == "AUTHORIZED":
            remaining = p.authorized - p.captured - p.cancelled
            if remaining <= 0:
                return problem(400, "Bad Request", "nothing left to cancel")
            p.cancelled += remaining
            if p.captured == 0:
                p.state = "TERMINATED"
            self._event(p, "CANCELLED", remaining, key)
        else:
            return problem(400, "Bad Request", f"cannot cancel a payment in state {p.state}")
        return Reply(200, self._modification_json(p))

    def _event(self, p: SimPayment, name: str, value: int, key: str | None) -> None:
        p.events.append({"reference": p.reference, "pspReference": p.psp_reference, "name": name,
                         "amount": {"currency": p.currency, "value": value}, "timestamp": _now(),
                         "idempotencyKey": key, "success": True})
        self._write({"payment": {k: v for k, v in dataclasses.asdict(p).items() if k != "created_at"}})

    def _aggregate(self, p: SimPayment) -> dict[str, Any]:
        def amount(v: int) -> dict[str, Any]:
            return {"currency": p.currency, "value": v}

        return {"authorizedAmount": amount(p.authorized), "cancelledAmount": amount(p.cancelled),
                "capturedAmount": amount(p.captured), "refundedAmount": amount(p.refunded)}

    def _modification_json(self, p: SimPayment) -> dict[str, Any]:
        return {"amount": {"currency": p.currency, "value": p.amount}, "state": p.state,
                "aggregate": self._aggregate(p), "pspReference": p.psp_reference, "reference": p.reference}

    def _get_json(self, p: SimPayment) -> dict[str, Any]:
        out = {**self._modification_json(p), "paymentMethod": {"type": "WALLET"}, "profile": {}}
        if p.redirect_url is not None:
            out["redirectUrl"] = p.redirect_url
        if p.metadata is not None:
            out["metadata"] = p.metadata
        return out

    # --- the ledger --------------------------------------------------------------------------------

    def _write(self, line: dict[str, Any]) -> None:
        if self.ledger is None:
            return
        self.ledger.parent.mkdir(parents=True, exist_ok=True)
        with self.ledger.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line, sort_keys=True) + "\n")
            f.flush()

    def _load_ledger(self) -> None:
        assert self.ledger is not None
        try:
            lines = self.ledger.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        now = self.clock()
        for n, text in enumerate(lines, 1):
            try:
                line = json.loads(text)
                if "payment" in line:
                    p = SimPayment(**line["payment"], created_at=now)
                    self.payments[p.reference] = p
                elif "idem" in line:
                    i = line["idem"]
                    self._idem[(i["path"], i["key"])] = (i["fingerprint"], Reply(i["status"], i["body"]))
            except (ValueError, TypeError, KeyError):  # a torn last line after a power cut
                log.warning("epayment_sim event=ledger_line_skipped line=%d", n)
        log.info("epayment_sim event=ledger_loaded payments=%d", len(self.payments))


class SimulatedClient(EPaymentClient):
    """An EPaymentClient for a simulator this process runs; close() stops the simulator too."""

    def __init__(self, sim: EPaymentSimulator, **kw: Any):
        super().__init__(sim.url, **sim.credentials(), **kw)
        self.simulator = sim

    def close(self) -> None:
        super().close()
        self.simulator.stop()


class _Handler(BaseHTTPRequestHandler):
    sim: EPaymentSimulator
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:  # http.server's own lines: not wanted
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        reply, delivery = self.sim.handle(self.command, self.path, dict(self.headers.items()), raw)
        if delivery == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if delivery is not None and delivery.startswith("delay:"):
            if self.sim._stopping.wait(float(delivery[6:])):
                self.close_connection = True
                return
        data = b"" if reply.body is None else json.dumps(reply.body).encode()
        headers = dict(reply.headers)
        try:
            self.send_response(reply.status)
            if data:
                self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    do_GET = _serve
    do_POST = _serve
    do_PUT = _serve
    do_DELETE = _serve
    do_PATCH = _serve


__all__ = ["DEFAULT_APPROVE_AFTER_S", "EPaymentSimulator", "Fault", "Recorded", "Refused", "Reply",
           "SimPayment", "SimulatedClient", "customer_choice", "problem"]
