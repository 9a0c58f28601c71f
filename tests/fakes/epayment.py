"""A fake Vipps MobilePay ePayment API on 127.0.0.1 that checks every request against the official spec.

Each request's route, method, path/header/query parameters, security (the `Authorization` header) and
JSON body are validated against `specs/vipps-epayment-openapi.yaml` (OpenAPI 3.0.0, v1.4.1; its schemas
are turned into JSON Schema Draft 2020-12, `nullable` becoming a `null` type, `$ref`s resolved inside the
document). A request the spec does not allow is answered 400 with a problem body and recorded in
`.spec_violations`. The fake's own answers are checked against the spec's response schemas too
(kind "response"), so the fake cannot drift from the contract unnoticed.

Beyond the schema it keeps payments with their state machine (CREATED -> AUTHORIZED | ABORTED | EXPIRED
| TERMINATED; captures, cancels and refunds in the aggregate, with their event log), idempotency (the
same Idempotency-Key with the same request returns the stored answer with no second effect; with a
different request -> 409), and the access token endpoint `POST /accesstoken/get` (not in the spec;
checked against the documented headers, recorded with kind "token").

    with FakeEPayment() as fake:
        client = EPaymentClient(fake.url, **fake.credentials(), system_version="1.0")
        ...
        fake.approve(reference)   # the customer swipes in the app
        assert fake.spec_violations == []

Faults: `.fail_next(n, status)` (answer `status`, no effect), `.drop_after_store_next(n)` (the next n
changes take effect, then the connection is closed without an answer), `.delay_next(n, s)` (the next
n requests take effect, then the answer waits s seconds; the client's timeout fires first).

Readings of the spec where it is loose or wrong (VERIFY against the live API):
- `Customer` is a oneOf of three object schemas with no `required`, so as written every customer
  object matches all three; each branch is read as requiring its one property (the spec's prose
  says "Specifying more than one of these will result in an error").
- `PaymentEvent.required` lists `paymentAction`, which the schema does not define (the event's
  field is `name`); it is dropped from `required`.
- `receipt` `$ref`s the Order Management spec by URL; that file is not kept here, so a request with
  `receipt` is recorded as a violation ("cannot be checked offline").
- Only 2xx answers are stored for idempotency (a refused capture can be asked again with the same key).
- Cancelling an authorised payment with nothing captured ends in TERMINATED; with part captured the
  remainder is released and the state stays AUTHORIZED. Cancel before authorisation -> TERMINATED
  (developer.vippsmobilepay.com, "Cancel a payment").
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import secrets
import socket
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.fakes.openapi_routes import compile_routes, is_int, match_route

log = logging.getLogger(__name__)

TOKEN_PATH = "/accesstoken/get"
SPEC_URI = "urn:vipps-epayment-openapi"
PROBLEM_TYPE = "https://developer.vippsmobilepay.com/docs/knowledge-base/errors"
CHANGE_OPS = frozenset({"createPayment", "cancelPayment", "capturePayment", "refundPayment", "forceApprove"})
TOKEN_HEADERS = ("client_id", "client_secret", "Ocp-Apim-Subscription-Key", "Merchant-Serial-Number")


def spec_path() -> Path:
    """The repository's copy of the spec (see specs/SOURCES.md), or where TILLBOX_EPAYMENT_SPEC says."""
    env = os.environ.get("TILLBOX_EPAYMENT_SPEC")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "specs" / "vipps-epayment-openapi.yaml"


# --- the spec ------------------------------------------------------------------------------------


def _to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects -> JSON Schema 2020-12: `nullable: true` adds "null" to the type."""
    if isinstance(node, list):
        return [_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def _apply_errata(doc: dict[str, Any]) -> None:
    """The readings listed in the module docstring, applied to the loaded copy (the file is untouched)."""
    schemas = doc["components"]["schemas"]
    for branch in schemas["Customer"]["oneOf"]:
        target = schemas[branch["$ref"].rsplit("/", 1)[1]]
        target.setdefault("required", list(target.get("properties", {})))
    event = schemas["PaymentEvent"]
    event["required"] = [r for r in event["required"] if r in event["properties"]]
    _offline_refs(doc)


def _offline_refs(node: Any) -> None:
    """A `$ref` outside the document (the Order Management spec) becomes a schema nothing matches."""
    if isinstance(node, list):
        for n in node:
            _offline_refs(n)
    elif isinstance(node, dict):
        for k, v in list(node.items()):
            if isinstance(v, dict) and isinstance(v.get("$ref"), str) and not v["$ref"].startswith("#"):
                node[k] = {"not": {}, "x-offline": v["$ref"]}
            else:
                _offline_refs(v)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")




class Spec:
    """Routes, operations and validators of the ePayment OpenAPI document."""

    def __init__(self, path: Path):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.doc: dict[str, Any] = _to_json_schema(raw)
        _apply_errata(self.doc)
        resource = Resource.from_contents(self.doc, default_specification=DRAFT202012)
        self.registry: Registry = Registry(retrieve=_refuse_remote).with_resource(SPEC_URI, resource)
        self.formats = FormatChecker()
        self.formats.checks("int64")(lambda v: not is_int(v) or -2**63 <= v < 2**63)
        self._validators: dict[str, Draft202012Validator] = {}
        self._routes = compile_routes(self.doc["paths"])

    def route(self, path: str) -> tuple[str, dict[str, str]] | None:
        return match_route(self._routes, path)

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                return node
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def validator(self, pointer: str) -> Draft202012Validator:
        if pointer not in self._validators:
            ref = SPEC_URI + "#" + urllib.parse.quote(pointer, safe="/~")
            self._validators[pointer] = Draft202012Validator({"$ref": ref}, registry=self.registry,
                                                             format_checker=self.formats)
        return self._validators[pointer]

    def errors(self, pointer: str, instance: Any) -> list[str]:
        found = []
        for e in self.validator(pointer).iter_errors(instance):
            where = "/".join(str(p) for p in e.absolute_path) or "(root)"
            offline = isinstance(e.schema, dict) and e.schema.get("x-offline")
            found.append(f"{where}: cannot be checked offline against {offline}" if offline else
                         f"{where}: {e.message}")
        return found

    def parameters(self, template: str, method: str) -> list[tuple[str, dict[str, Any]]]:
        """(JSON pointer to the schema, parameter) for the path item's and the operation's parameters."""
        found: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        base = f"/paths/{_escape(template)}"
        item = self.doc["paths"][template]
        for owner, params in ((base, item.get("parameters", [])),
                              (f"{base}/{method}", item[method].get("parameters", []))):
            for i, p in enumerate(params):
                param = self.resolve(p)
                pointer = (f"{owner}/parameters/{i}/schema" if "$ref" not in p else
                           p["$ref"][1:] + "/schema")
                found[(param["in"], param["name"].lower())] = (pointer, param)
        return list(found.values())

    def security_headers(self, template: str, method: str) -> list[str]:
        op = self.doc["paths"][template][method]
        names: list[str] = []
        for requirement in op.get("security", self.doc.get("security", [])):
            for scheme_name in requirement:
                scheme = self.doc["components"]["securitySchemes"][scheme_name]
                if scheme.get("type") == "apiKey" and scheme.get("in") == "header":
                    names.append(scheme["name"])
        return names

    def response_pointer(self, template: str, method: str, status: int) -> str | None:
        responses = self.doc["paths"][template][method].get("responses", {})
        if str(status) not in responses:
            return None
        pointer = f"/paths/{_escape(template)}/{method}/responses/{status}"
        response = responses[str(status)]
        if "$ref" in response:
            pointer = response["$ref"][1:]
            response = self.resolve(response)
        for ctype in response.get("content", {}):
            return f"{pointer}/content/{_escape(ctype)}/schema"
        return None


def _refuse_remote(uri: str) -> Resource:
    raise LookupError(f"{uri} is outside the spec")


@cache
def load_spec(path: Path | None = None) -> Spec:
    return Spec(path or spec_path())


# --- state ---------------------------------------------------------------------------------------


@dataclass
class FakePayment:
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


def _problem(status: int, title: str, detail: str) -> Reply:
    return Reply(status, {"type": PROBLEM_TYPE, "title": title, "detail": detail, "status": status,
                          "traceId": uuid.uuid4().hex}, {"Content-Type": "application/problem+json"})


class _Reject(Exception):
    def __init__(self, reply: Reply):
        super().__init__(reply.status)
        self.reply = reply


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeEPayment:
    """The ePayment API for one sales unit (MSN), with its API keys, on a free port of 127.0.0.1."""

    def __init__(self, *, msn: str = "123456", client_id: str = "fake-client-id",
                 client_secret: str = "fake-client-secret-s3cr3t", subscription_key: str = "fake-subkey-0123456789",
                 currency: str = "DKK", token_ttl: int = 3600, spec: Path | None = None):
        self.msn = msn
        self.client_id = client_id
        self.client_secret = client_secret
        self.subscription_key = subscription_key
        self.currency = currency
        self.token_ttl = token_ttl
        self.spec = load_spec(spec)
        self.payments: dict[str, FakePayment] = {}
        self.requests: list[Recorded] = []
        self.spec_violations: list[dict[str, Any]] = []
        self.tokens_issued: list[str] = []
        self._tokens: set[str] = set()
        self._idem: dict[tuple[str, str], tuple[str, Reply]] = {}
        self._faults: list[Fault] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- life --------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def credentials(self) -> dict[str, str]:
        """Keyword arguments for EPaymentClient."""
        return {"client_id": self.client_id, "client_secret": self.client_secret,
                "subscription_key": self.subscription_key, "merchant_serial_number": self.msn}

    def start(self) -> FakeEPayment:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-epayment", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeEPayment:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- controls ----------------------------------------------------------------------------------

    def approve(self, reference: str) -> None:
        """The customer approves in the app."""
        with self._lock:
            p = self._created(reference)
            p.state, p.authorized = "AUTHORIZED", p.amount
            self._event(p, "AUTHORIZED", p.amount, None)

    def decline(self, reference: str) -> None:
        """The customer rejects in the app."""
        with self._lock:
            p = self._created(reference)
            p.state = "ABORTED"
            self._event(p, "ABORTED", p.amount, None)

    def expire(self, reference: str) -> None:
        """The customer never answers."""
        with self._lock:
            p = self._created(reference)
            p.state = "EXPIRED"
            self._event(p, "EXPIRED", p.amount, None)

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

    def _created(self, reference: str) -> FakePayment:
        p = self.payments[reference]
        if p.state != "CREATED":
            raise ValueError(f"payment {reference} is {p.state}, not CREATED")
        return p

    def _take_fault(self, kind: str, path: str) -> Fault | None:
        for f in self._faults:
            if f.kind == kind and f.count > 0 and (f.only is None or f.only in path):
                f.count -= 1
                return f
        return None

    # --- request handling --------------------------------------------------------------------------

    def _violation(self, kind: str, method: str, path: str, message: str) -> None:
        self.spec_violations.append({"kind": kind, "method": method, "path": path, "message": message})
        log.info("fake_epayment violation kind=%s method=%s path=%s message=%r", kind, method, path, message)

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[Reply, str | None]:
        """The answer to one request, and the fault to apply to its delivery ("drop"/"delay:<s>")."""
        parsed = urllib.parse.urlsplit(target)
        path, query = parsed.path, urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        lower = {k.lower(): v for k, v in headers.items()}
        body: Any = None
        with self._lock:
            record = Recorded(method, path, dict(headers), None)
            self.requests.append(record)
            try:
                if path == TOKEN_PATH:
                    reply, op = self._token(method, lower, raw), None
                else:
                    op, template, params = self._check(method, path, query, lower, raw)
                    body = json.loads(raw) if raw.strip() else None
                    record.body = body
                    fail = self._take_fault("fail", path)
                    if fail is not None:
                        reply = _problem(fail.status, "Injected fault", f"fail_next status={fail.status}")
                        if fail.status == 429:
                            reply.headers["Retry-After"] = "1"
                    else:
                        reply = self._authorise(lower) or self._idempotent(op, path, lower, body, params)
                        self._check_response(method, path, template, reply)
            except _Reject as rej:
                reply, op = rej.reply, None
            record.status = reply.status
            delivery = None
            if op in CHANGE_OPS and 200 <= reply.status < 300 and self._take_fault("drop", path):
                delivery = "drop"
            elif path != TOKEN_PATH and (delay := self._take_fault("delay", path)) is not None:
                delivery = f"delay:{delay.seconds}"
        log.debug("fake_epayment method=%s path=%s status=%d delivery=%s", method, path, reply.status, delivery)
        return reply, delivery

    def _check(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               raw: bytes) -> tuple[str, str, dict[str, str]]:
        """Validate a request against the spec; returns (operationId, path template, path params)."""
        found = self.spec.route(path)
        if found is None:
            self._violation("route", method, path, "no such path in the spec")
            raise _Reject(_problem(404, "Not Found", "no such path"))
        template, path_params = found
        m = method.lower()
        operation = self.spec.doc["paths"][template].get(m)
        if operation is None:
            self._violation("route", method, path, f"{method} not allowed on {template}")
            raise _Reject(_problem(405, "Method Not Allowed", f"{method} {template}"))
        problems: list[str] = []
        declared = {("query", name) for _p, param in self.spec.parameters(template, m)
                    for name in [param["name"].lower()] if param["in"] == "query"}
        for name in query:
            if ("query", name.lower()) not in declared:
                problems.append(f"query {name}: not a parameter of this operation")
        for pointer, param in self.spec.parameters(template, m):
            where, name = param["in"], param["name"]
            if where == "header":
                value = headers.get(name.lower())
            elif where == "path":
                value = path_params.get(name)
            else:
                vals = query.get(name)
                value = vals[0] if vals else None
            if value is None:
                if param.get("required"):
                    problems.append(f"{where} {name}: required")
                continue
            problems += [f"{where} {name}: {e}" for e in self.spec.errors(pointer, value)]
        for name in self.spec.security_headers(template, m):
            if name.lower() not in headers:
                problems.append(f"header {name}: required by the security scheme")
        request_body = operation.get("requestBody")
        if request_body is None:
            if raw.strip():
                problems.append("body: this operation takes no request body")
        elif not raw.strip():
            if request_body.get("required"):
                problems.append("body: required")
        else:
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype not in request_body.get("content", {}):
                problems.append(f"body: content type {ctype or '(none)'} not in the spec")
            else:
                try:
                    body = json.loads(raw)
                except ValueError:
                    problems.append("body: not JSON")
                else:
                    pointer = f"/paths/{_escape(template)}/{m}/requestBody/content/{_escape(ctype)}/schema"
                    problems += [f"body {e}" for e in self.spec.errors(pointer, body)]
        if problems:
            for p in problems:
                self._violation("request", method, path, p)
            raise _Reject(_problem(400, "Bad Request", "; ".join(problems)))
        return operation["operationId"], template, path_params

    def _check_response(self, method: str, path: str, template: str, reply: Reply) -> None:
        if reply.status >= 500 or reply.status in (401, 429):
            return  # gateway answers, not the operation's
        listed = str(reply.status) in self.spec.doc["paths"][template][method.lower()].get("responses", {})
        if not listed and reply.status >= 400:
            pointer: str | None = "/components/schemas/Problem"  # the spec lists errors incompletely
        elif not listed:
            self._violation("response", method, path, f"status {reply.status} not in the spec")
            return
        else:
            pointer = self.spec.response_pointer(template, method.lower(), reply.status)
        if pointer is None:
            return
        for e in self.spec.errors(pointer, reply.body):
            self._violation("response", method, path, e)

    def _token(self, method: str, headers: dict[str, str], raw: bytes) -> Reply:
        if method != "POST":
            self._violation("token", method, TOKEN_PATH, "the token endpoint takes POST")
            return _problem(405, "Method Not Allowed", "POST only")
        missing = [h for h in TOKEN_HEADERS if h.lower() not in headers]
        for h in missing:
            self._violation("token", method, TOKEN_PATH, f"header {h}: required")
        if missing:
            return _problem(400, "Bad Request", "missing headers: " + ", ".join(missing))
        if (headers["client_id"] != self.client_id or headers["client_secret"] != self.client_secret
                or headers["ocp-apim-subscription-key"] != self.subscription_key
                or headers["merchant-serial-number"] != self.msn):
            return Reply(401, {"error": "unauthorized_client", "error_description": "invalid credentials"})
        fail = self._take_fault("fail", TOKEN_PATH)
        if fail is not None:
            reply = _problem(fail.status, "Injected fault", f"fail_next status={fail.status}")
            if fail.status == 429:
                reply.headers["Retry-After"] = "1"
            return reply
        token = "fake-jwt-" + secrets.token_urlsafe(24)
        self._tokens.add(token)
        self.tokens_issued.append(token)
        now = int(time.time())
        return Reply(200, {"token_type": "Bearer", "expires_in": str(self.token_ttl), "ext_expires_in": "0",
                           "expires_on": str(now + self.token_ttl), "not_before": str(now),
                           "resource": "00000002-0000-0000-c000-000000000000", "access_token": token})

    def _authorise(self, headers: dict[str, str]) -> Reply | None:
        if headers.get("ocp-apim-subscription-key") != self.subscription_key:
            return _problem(401, "Unauthorized", "invalid subscription key")
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self._tokens:
            return _problem(401, "Unauthorized", "invalid or expired access token")
        if headers.get("merchant-serial-number") != self.msn:
            return _problem(403, "Forbidden", "the token does not give access to this merchant serial number")
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
                return _problem(409, "Conflict", "Idempotency-Key reused with a different request")
            return copy.deepcopy(stored[1])
        reply = self._operate(op, body, params, key)
        if 200 <= reply.status < 300:
            self._idem[(path, key)] = (fingerprint, copy.deepcopy(reply))
        return reply

    # --- the operations ----------------------------------------------------------------------------

    def _operate(self, op: str, body: Any, params: dict[str, str], key: str | None) -> Reply:
        if op == "createPayment":
            return self._create(body)
        p = self.payments.get(params["reference"])
        if p is None:
            return _problem(404, "Not Found", "no payment with this reference")
        if op == "getPayment":
            return Reply(200, self._get_json(p))
        if op == "getPaymentEventLog":
            return Reply(200, copy.deepcopy(p.events))
        if op == "forceApprove":
            if p.state != "CREATED":
                return _problem(400, "Bad Request", f"payment is {p.state}")
            p.state, p.authorized = "AUTHORIZED", p.amount
            self._event(p, "AUTHORIZED", p.amount, None)
            return Reply(200)
        if op == "cancelPayment":
            return self._cancel(p, key)
        amount = (body or {}).get("modificationAmount")
        if amount is None:
            return _problem(400, "Bad Request", "modificationAmount is required")
        if amount["currency"] != p.currency:
            return _problem(400, "Bad Request", "currency differs from the payment's")
        value = amount["value"]
        if op == "capturePayment":
            if p.state != "AUTHORIZED":
                return _problem(400, "Bad Request", f"cannot capture a payment in state {p.state}")
            if value > p.authorized - p.captured - p.cancelled:
                return _problem(400, "Bad Request", "capture amount exceeds the remaining authorised amount")
            p.captured += value
            self._event(p, "CAPTURED", value, key)
        else:  # refundPayment
            if value > p.captured - p.refunded:
                return _problem(400, "Bad Request", "refund amount exceeds the captured amount not yet refunded")
            p.refunded += value
            self._event(p, "REFUNDED", value, key)
        return Reply(200, self._modification_json(p))

    def _create(self, body: dict[str, Any]) -> Reply:
        reference = body["reference"]
        if reference in self.payments:
            return _problem(409, "Conflict", "a payment with this reference already exists")
        flow = body["userFlow"]
        if flow == "PUSH_MESSAGE" and "customer" not in body:
            return _problem(400, "Bad Request", "userFlow PUSH_MESSAGE needs customer")
        if flow == "WEB_REDIRECT" and "returnUrl" not in body:
            return _problem(400, "Bad Request", "userFlow WEB_REDIRECT needs returnUrl")
        if body["amount"]["currency"] != self.currency:
            return _problem(400, "Bad Request", f"the sales unit takes {self.currency}")
        if body["amount"]["value"] <= 0:
            return _problem(400, "Bad Request", "amount must be positive")
        p = FakePayment(reference, body["amount"]["value"], body["amount"]["currency"], flow,
                        body.get("customer"), metadata=body.get("metadata"))
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

    def _cancel(self, p: FakePayment, key: str | None) -> Reply:
        if p.state == "CREATED":
            p.state, p.cancelled = "TERMINATED", p.amount
            self._event(p, "TERMINATED", p.amount, key)
        elif p.state == "AUTHORIZED":
            remaining = p.authorized - p.captured - p.cancelled
            if remaining <= 0:
                return _problem(400, "Bad Request", "nothing left to cancel")
            p.cancelled += remaining
            if p.captured == 0:
                p.state = "TERMINATED"
            self._event(p, "CANCELLED", remaining, key)
        else:
            return _problem(400, "Bad Request", f"cannot cancel a payment in state {p.state}")
        return Reply(200, self._modification_json(p))

    def _event(self, p: FakePayment, name: str, value: int, key: str | None) -> None:
        p.events.append({"reference": p.reference, "pspReference": p.psp_reference, "name": name,
                         "amount": {"currency": p.currency, "value": value}, "timestamp": _now(),
                         "idempotencyKey": key, "success": True})

    def _aggregate(self, p: FakePayment) -> dict[str, Any]:
        def amount(v: int) -> dict[str, Any]:
            return {"currency": p.currency, "value": v}

        return {"authorizedAmount": amount(p.authorized), "cancelledAmount": amount(p.cancelled),
                "capturedAmount": amount(p.captured), "refundedAmount": amount(p.refunded)}

    def _modification_json(self, p: FakePayment) -> dict[str, Any]:
        return {"amount": {"currency": p.currency, "value": p.amount}, "state": p.state,
                "aggregate": self._aggregate(p), "pspReference": p.psp_reference, "reference": p.reference}

    def _get_json(self, p: FakePayment) -> dict[str, Any]:
        out = {**self._modification_json(p), "paymentMethod": {"type": "WALLET"}, "profile": {}}
        if p.redirect_url is not None:
            out["redirectUrl"] = p.redirect_url
        if p.metadata is not None:
            out["metadata"] = p.metadata
        return out


class _Handler(BaseHTTPRequestHandler):
    owner: FakeEPayment
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # http.server's own lines: not wanted
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        reply, delivery = self.owner.handle(self.command, self.path, dict(self.headers.items()), raw)
        if delivery == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if delivery is not None and delivery.startswith("delay:"):
            if self.owner._stopping.wait(float(delivery[6:])):
                self.close_connection = True
                return
        data = b"" if reply.body is None else json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            if data:
                self.send_header("Content-Type", reply.headers.pop("Content-Type", "application/json"))
            for k, v in reply.headers.items():
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


__all__ = ["FakeEPayment", "FakePayment", "Spec", "load_spec", "spec_path"]
