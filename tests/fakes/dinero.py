"""A fake Dinero API on 127.0.0.1 that checks every request against Dinero's official OpenAPI spec.

Routing, path and query parameters and JSON bodies are validated against
`specs/dinero-openapi.json` (OpenAPI 3.1.1, so JSON Schema Draft 2020-12, `$ref`s resolved into
components.schemas, formats uuid/int32/int64 checked). A request the spec does not allow gets Dinero's
error shape and is recorded in `.spec_violations`, so a test can assert that the till's own requests
never break the contract. The fake's own answers are checked against the spec's response schemas too
(recorded with kind "response"): a fake that drifts from the spec is as bad as a client that does.

Beyond the schema it keeps state like Dinero does: organizations with their chart of accounts and VAT
types, bearer tokens per organization, the Pro requirement (403, code 90), files, and the cash
journal (kassekladde) with Draft/PendingBooking/Booked items, Versions (stale -> 400, code 58) and
duplicate Ids (409, code 72). The personal-integration token endpoint (authz.dinero.dk in real life)
is served here too, at `/dineroapi/oauth/token`.

    with FakeDinero() as fake:
        fake.add_org(1234, "Købmand Hansen")
        fake.issue_token("tok", [1234])
        ... DineroClient(fake.url, tokens) ...
        assert fake.spec_violations == []

Choices where the spec and the docs are silent or disagree (all marked VERIFY in notes/dinero.md):
- `POST /v1.2/{org}/ledgeritems` answers a JSON array of {Id, Version}, one per item sent; the spec
  shows a single LedgerItemReadModel while the body is an array (each element is checked against it).
- `PUT /v1/{org}/ledgeritems` replaces all lines of an item (lines left out are gone).
- A deleted ledger-item Id cannot be used again (409, code 72) unless `reuse_deleted_ids` is set.
- Files over 6 MiB get 413 (the error page; the spec's text says 400); the spec's content type
  "multipart/formdata" is taken to mean multipart/form-data.
- Unknown query parameters and unknown `fields` names count as violations (a strict fake catches typos).
- Lines are checked for Dinero's rules beyond the schema (unknown VAT code, more than two decimals,
  a FileGuid not uploaded to the organization, unbalanced lines without a balancing account, and with
  `check_accounts` an unknown or hidden account): 400, code 42, not a spec violation. Whether Dinero
  refuses an account missing from the chart is unverified, so that check is opt-in.
"""

from __future__ import annotations

import base64
import binascii
import copy
import email.parser
import email.policy
import json
import logging
import os
import re
import secrets
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.fakes.openapi_routes import compile_routes, is_int, match_route

log = logging.getLogger(__name__)

TOKEN_PATH = "/dineroapi/oauth/token"
SPEC_URI = "urn:dinero-openapi"
MAX_FILE_BYTES = 6 * 1024 * 1024
MAX_LEDGER_ITEMS = 1000
QUOTA_BODY = "API calls quota exceeded!"


def spec_path() -> Path:
    """The repository's copy of the official spec (specs/, byte for byte, see specs/SOURCES.md), or
    where TILLBOX_DINERO_SPEC says."""
    env = os.environ.get("TILLBOX_DINERO_SPEC")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "specs" / "dinero-openapi.json"


# --- the spec ------------------------------------------------------------------------------------


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _error_key(path: Iterable[Any], prefix: str = "") -> str:
    """A jsonschema error path in Dinero's style: `[0].Lines[1].Amount`."""
    key = prefix
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key or "body"


class Spec:
    """Routes, operations and schema validators of the Dinero OpenAPI document."""

    def __init__(self, path: Path):
        self.doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(self.doc, default_specification=DRAFT202012)
        self.registry: Registry = Registry().with_resource(SPEC_URI, resource)
        self.formats = FormatChecker()
        self.formats.checks("int32")(lambda v: not is_int(v) or -2**31 <= v < 2**31)
        self.formats.checks("int64")(lambda v: not is_int(v) or -2**63 <= v < 2**63)
        self._validators: dict[str, Draft202012Validator] = {}
        self._routes = compile_routes(self.doc["paths"])

    def route(self, path: str) -> tuple[str, dict[str, str]] | None:
        return match_route(self._routes, path)

    def operation(self, template: str, method: str) -> dict[str, Any] | None:
        return self.doc["paths"][template].get(method.lower())

    def schema(self, name: str) -> dict[str, Any]:
        return self.doc["components"]["schemas"][name]

    def validator(self, pointer: str) -> Draft202012Validator:
        """A validator for the schema at a JSON pointer into the spec (its $refs resolve in the spec)."""
        if pointer not in self._validators:
            ref = SPEC_URI + "#" + urllib.parse.quote(pointer, safe="/~")
            self._validators[pointer] = Draft202012Validator({"$ref": ref}, registry=self.registry,
                                                             format_checker=self.formats)
        return self._validators[pointer]

    def errors(self, pointer: str, instance: Any, prefix: str = "") -> dict[str, str]:
        found: dict[str, str] = {}
        for err in self.validator(pointer).iter_errors(instance):
            key = _error_key(err.absolute_path, prefix)
            found[key] = f"{found[key]}; {err.message}" if key in found else err.message
        return found

    def op_pointer(self, template: str, method: str) -> str:
        return f"/paths/{_escape(template)}/{method.lower()}"

    def check_params(self, template: str, method: str, path_params: dict[str, str],
                     query: dict[str, list[str]]) -> dict[str, str]:
        """Path and query parameters against the operation's `parameters`."""
        op = self.operation(template, method) or {}
        item_base, op_base = f"/paths/{_escape(template)}", self.op_pointer(template, method)
        params = [(f"{item_base}/parameters/{i}", p)
                  for i, p in enumerate(self.doc["paths"][template].get("parameters", []))]
        params += [(f"{op_base}/parameters/{i}", p) for i, p in enumerate(op.get("parameters", []))]
        errors: dict[str, str] = {}
        known_query = set()
        for pointer, p in params:
            where, name, schema = p["in"], p["name"], p.get("schema", {})
            if where == "query":
                known_query.add(name)
                values = query.get(name)
                if values is None:
                    if p.get("required"):
                        errors[name] = "required query parameter is missing"
                    continue
                errors.update(self.errors(f"{pointer}/schema", _coerce(schema, values), prefix=name))
            elif where == "path":
                errors.update(self.errors(f"{pointer}/schema", _coerce(schema, [path_params[name]]),
                                          prefix=name))
        for name in query:
            if name not in known_query:
                errors[name] = "query parameter not in the spec for this operation"
        return errors

    def check_body(self, template: str, method: str, content_type: str,
                   body: bytes) -> tuple[dict[str, str], Any]:
        """The request body against the operation's requestBody: (errors, parsed JSON or None)."""
        op = self.operation(template, method) or {}
        content = (op.get("requestBody") or {}).get("content") or {}
        mime = content_type.split(";")[0].strip().lower()
        if not content:
            return ({"body": "this operation takes no body"} if body else {}), None
        if mime == "multipart/form-data" and "multipart/formdata" in content:
            return {}, None  # the spec's spelling; the multipart handler checks the parts
        if mime not in content:
            return {"Content-Type": f"{mime or 'none'} is not one of {sorted(content)}"}, None
        if mime != "application/json":
            return {}, None
        try:
            parsed = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return {"body": f"not JSON: {exc}"}, None
        pointer = f"{self.op_pointer(template, method)}/requestBody/content/{_escape(mime)}/schema"
        return self.errors(pointer, parsed), parsed

    def response_errors(self, template: str, method: str, body: Any, each: bool = False) -> dict[str, str]:
        pointer = f"{self.op_pointer(template, method)}/responses/200/content/application~1json/schema"
        if not each:
            return self.errors(pointer, body)
        found: dict[str, str] = {}
        for i, element in enumerate(body):
            found.update(self.errors(pointer, element, prefix=f"[{i}]"))
        return found

    def param_default(self, template: str, method: str, name: str) -> Any:
        for p in (self.operation(template, method) or {}).get("parameters", []):
            if p["name"] == name:
                return p.get("schema", {}).get("default")
        return None

    def param_description(self, template: str, method: str, name: str) -> str:
        for p in (self.operation(template, method) or {}).get("parameters", []):
            if p["name"] == name:
                return str(p.get("description", ""))
        return ""




def _coerce(schema: dict[str, Any], values: list[str]) -> Any:
    """A query/path string as the type its schema asks for (an unparsable one stays a string)."""
    kind = schema.get("type")
    if kind == "array":
        return [v for raw in values for v in raw.split(",")]
    raw = values[-1]
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            return raw
    if kind == "boolean" and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    return raw


@cache
def load_spec(path: Path | None = None) -> Spec:
    return Spec(path or spec_path())


# --- state -----------------------------------------------------------------------------------------

CATEGORY_NAMES = {
    "Turnover": "Omsætning", "Variable Expenses": "Variable omkostninger",
    "Administration Expenses": "Administrationsomkostninger", "Liquid Assets": "Likvide beholdninger",
    "Vat Due": "Moms", "Short Term Debt": "Kortfristet gæld",
}

# (number, name, VAT code, category, hidden, deposit)
DEFAULT_CHART: list[tuple[int, str, str | None, str, bool, bool]] = [
    (1000, "Salg af varer/ydelser m/moms", "U25", "Turnover", False, False),
    (1010, "Salg af varer/ydelser u/moms", "none", "Turnover", False, False),
    (1050, "Salg af varer (gammel konto)", "U25", "Turnover", True, False),
    (2000, "Vareforbrug", "I25", "Variable Expenses", False, False),
    (3600, "Kontorartikler", "I25", "Administration Expenses", False, False),
    (7380, "Kassedifferencer", "none", "Administration Expenses", False, False),
    (7390, "Øreafrunding", "none", "Administration Expenses", False, False),
    (55000, "Bank", None, "Liquid Assets", False, True),
    (55010, "Gammel bankkonto", None, "Liquid Assets", True, True),
    (55040, "Kontanter (kasse)", None, "Liquid Assets", False, True),
    (61000, "Mellemregning (lukket)", "none", "Short Term Debt", True, False),
    (63000, "Salgsmoms", "none", "Vat Due", False, False),
    (63100, "Købsmoms", "none", "Vat Due", False, False),
]

DEFAULT_VAT_TYPES = [
    {"VatCode": "U25", "Name": "Dansk salgsmoms", "VatRate": 0.25},
    {"VatCode": "I25", "Name": "Dansk købsmoms", "VatRate": 0.25},
    {"VatCode": "none", "Name": "Ingen moms", "VatRate": 0.0},
]


def account(number: int, name: str, vat_code: str | None = None, category: str | None = None, *,
            hidden: bool = False, deposit: bool = False, is_default: bool = False) -> dict[str, Any]:
    """One account of a fake chart (the union of the entry and deposit read models, plus Deposit)."""
    category = category or ("Liquid Assets" if deposit else "Not Set")
    return {"AccountNumber": number, "PublicStandardNumber": None, "Name": name, "VatCode": vat_code,
            "Category": category, "CategoryName": CATEGORY_NAMES.get(category, category), "IsHidden": hidden,
            "IsDefaultSalesAccount": number == 1000, "Deposit": deposit, "IsDefault": is_default}


def default_chart() -> list[dict[str, Any]]:
    return [account(n, name, vat, cat, hidden=hidden, deposit=dep, is_default=n == 55000)
            for n, name, vat, cat, hidden, dep in DEFAULT_CHART]


@dataclass
class Org:
    id: int
    name: str
    pro: bool
    paying_pro: bool
    accounts: dict[int, dict[str, Any]]
    vat_types: list[dict[str, Any]]
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    voucher_seq: int = 0
    pending_polls: dict[str, int] = field(default_factory=dict)


@dataclass
class Token:
    org_ids: set[int]
    expires_at: float
    revoked: bool = False


@dataclass
class PersonalClient:
    secret: str
    api_key: str
    org_ids: list[int]


@dataclass
class Fault:
    kind: str  # "fail" | "rate" | "delay" | "drop"
    remaining: int
    path_contains: str | None
    status: int = 500
    seconds: float = 0.0
    body: Any = None

    def matches(self, path: str) -> bool:
        return self.remaining > 0 and (self.path_contains is None or self.path_contains in path)


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"


def _json(status: int, body: Any) -> Reply:
    return Reply(status, json.dumps(body, ensure_ascii=False).encode("utf-8"))


def _dinero_error(status: int, code: int, message: str, validation: dict[str, str] | None = None,
                  codes: list[tuple[str, str]] | None = None) -> Reply:
    body: dict[str, Any] = {"code": code, "message": message}
    if validation:
        body["validationErrors"] = validation
    if codes:
        body["errorMessageList"] = [{"Code": c, "Message": m} for c, m in codes]
    return _json(status, body)


class _Reject(Exception):
    def __init__(self, reply: Reply):
        self.reply = reply


# --- the server --------------------------------------------------------------------------------------


class FakeDinero:
    """Dinero's API (and its personal-integration token endpoint) for the till's tests."""

    def __init__(self, *, spec: Path | None = None, clock: Callable[[], float] = time.time,
                 host: str = "127.0.0.1", port: int = 0):
        self.spec = load_spec(spec)
        self.clock = clock
        self.host, self.port = host, port
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._orgs: dict[int, Org] = {}
        self._tokens: dict[str, Token] = {}
        self._personal: dict[str, PersonalClient] = {}
        self._faults: list[Fault] = []
        self._version_seq = 0x61B0E4A00
        self.requests: list[tuple[str, str, int | None]] = []  # (method, path, status); None = dropped
        self.spec_violations: list[dict[str, Any]] = []
        self.personal_token_ttl = 3600
        self.grant_checks_pro = True  # the personal grant itself refuses an org without Pro (403/90)
        self.booking_polls = 0  # status polls an item stays PendingBooking after /book
        self.reuse_deleted_ids = False
        self.max_file_bytes = MAX_FILE_BYTES
        self.check_accounts = False  # True: lines must name existing, visible accounts (400, code 42)

    # life cycle -----------------------------------------------------------------------------------

    def start(self) -> FakeDinero:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), name="fake-dinero",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeDinero:
        return self.start() if self._server is None else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def auth_url(self) -> str:
        return self.url + TOKEN_PATH

    # control ----------------------------------------------------------------------------------------

    def add_org(self, org_id: int, name: str, pro: bool = True,
                accounts: list[dict[str, Any]] | None = None, *, paying_pro: bool | None = None) -> None:
        """An organization; `accounts` (see `account()`) replace the default Danish chart."""
        chart = accounts if accounts is not None else default_chart()
        with self._lock:
            self._orgs[org_id] = Org(org_id, name, pro, pro if paying_pro is None else paying_pro,
                                     {a["AccountNumber"]: dict(a) for a in chart},
                                     copy.deepcopy(DEFAULT_VAT_TYPES))

    def add_account(self, org_id: int, number: int, name: str, vat_code: str | None = None,
                    category: str | None = None, *, hidden: bool = False, deposit: bool = False) -> None:
        with self._lock:
            self._orgs[org_id].accounts[number] = account(number, name, vat_code, category, hidden=hidden,
                                                          deposit=deposit)

    def accounts(self, org_id: int) -> dict[int, dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._orgs[org_id].accounts)

    def issue_token(self, token: str, org_ids: Iterable[int], expires_in: float = 3600) -> None:
        """Make a bearer token (from a fake Visma Connect, say) valid for these organizations."""
        with self._lock:
            self._tokens[token] = Token(set(org_ids), self.clock() + expires_in)

    def add_personal_client(self, client_id: str, secret: str, api_key: str, org_id: int | list[int]) -> None:
        """Credentials for the password grant; its tokens may use org_id (a list: a user with several)."""
        with self._lock:
            self._personal[client_id] = PersonalClient(secret, api_key, org_id if isinstance(org_id, list)
                                                       else [org_id])

    def expire_tokens(self) -> None:
        with self._lock:
            for t in self._tokens.values():
                t.expires_at = 0.0

    def revoke(self, token: str) -> None:
        with self._lock:
            if token in self._tokens:
                self._tokens[token].revoked = True

    def fail_next(self, n: int, status: int = 500, path_contains: str | None = None, body: Any = None) -> None:
        self._add_fault(Fault("fail", n, path_contains, status=status, body=body))

    def rate_limit_next(self, n: int, path_contains: str | None = None) -> None:
        self._add_fault(Fault("rate", n, path_contains, status=429))

    def delay_next(self, n: int, seconds: float, path_contains: str | None = None) -> None:
        """Hold the next answers back (then answer as usual, to whoever still listens)."""
        self._add_fault(Fault("delay", n, path_contains, seconds=seconds))

    def drop_after_store_next(self, n: int, path_contains: str | None = "ledgeritems") -> None:
        """Handle the request (so the item IS stored), then close the connection without an answer
        (only successful requests count: one refused with an error is answered as usual)."""
        self._add_fault(Fault("drop", n, path_contains))

    def book(self, org_id: int, item_id: str) -> None:
        """The bookkeeper books a draft in Dinero's UI."""
        with self._lock:
            self._book_now(self._orgs[org_id], self._orgs[org_id].items[item_id])

    # inspection -----------------------------------------------------------------------------------------

    def issued_tokens(self) -> list[str]:
        """Every bearer token known to the fake (to grep logs for them)."""
        with self._lock:
            return list(self._tokens)

    def count(self, method: str | None = None, path_contains: str | None = None) -> int:
        with self._lock:
            return sum(1 for m, p, _s in self.requests
                       if (method is None or m == method) and (path_contains is None or path_contains in p))

    def ledger_items(self, org_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._orgs[org_id].items.values()))

    def files(self, org_id: int) -> list[dict[str, Any]]:
        """Uploaded files in order: [{"FileGuid", "name", "content_type", "data"}]."""
        with self._lock:
            return [{"FileGuid": guid} | copy.deepcopy(f) for guid, f in self._orgs[org_id].files.items()]

    # request handling ---------------------------------------------------------------------------------

    def _add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, kinds: tuple[str, ...], path: str) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if f.kind in kinds and f.matches(path):
                    f.remaining -= 1
                    return f
        return None

    def _record(self, method: str, path: str, status: int | None) -> None:
        with self._lock:
            self.requests.append((method, path, status))
        log.debug("event=fake_dinero_request method=%s path=%s status=%s", method, path, status)

    def _violation(self, kind: str, method: str, path: str, errors: dict[str, str]) -> None:
        with self._lock:
            self.spec_violations.append({"kind": kind, "method": method, "path": path, "errors": errors})

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        url = urllib.parse.urlsplit(target)
        path = url.path
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        with self._lock:
            try:
                return self._dispatch(method, path, query, headers, body)
            except _Reject as r:
                return r.reply

    def _dispatch(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
                  body: bytes) -> Reply:
        if path == TOKEN_PATH:
            return self._token_endpoint(method, headers, body)
        found = self.spec.route(path)
        if found is None:
            self._violation("request", method, path, {"path": "no such path in the spec"})
            return _dinero_error(404, 40, "Not found")
        template, params = found
        if self.spec.operation(template, method) is None:
            self._violation("request", method, path, {"method": f"{method} is not in the spec for {template}"})
            return _dinero_error(405, 40, "Method not allowed")
        org = self._authorize(template, method, headers, params.get("organizationId"))
        errors = self.spec.check_params(template, method, params, query)
        body_errors, parsed = self.spec.check_body(template, method, headers.get("content-type", ""), body)
        errors.update(body_errors)
        if errors:
            self._violation("request", method, path, errors)
            return _dinero_error(400, 42, "Validation Error", errors)
        handler = _HANDLERS.get((method, template))
        if handler is None:
            return _dinero_error(501, 50, f"FakeDinero does not implement {method} {template}")
        ctx = _Ctx(self, template, method, path, query, headers, body, parsed, org)
        return handler(ctx)

    def _authorize(self, template: str, method: str, headers: dict[str, str], org_param: str | None) -> Org | None:
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        token = self._tokens.get(value.strip()) if scheme.lower() == "bearer" else None
        if token is None or token.revoked or token.expires_at <= self.clock():
            raise _Reject(_json(401, {"message": "Authorization has been denied for this request."}))
        if org_param is None:
            return None
        org = self._orgs.get(int(org_param)) if org_param.isdigit() else None
        if org is None or org.id not in token.org_ids:
            raise _Reject(_dinero_error(403, 41, "Unauthorized: no access to this organization"))
        if not org.pro:
            raise _Reject(_dinero_error(403, 90, "The organization does not have an active Pro subscription"))
        return org

    def _token_endpoint(self, method: str, headers: dict[str, str], body: bytes) -> Reply:
        if method != "POST":
            return _json(405, {"error": "invalid_request"})
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return _json(400, {"error": "invalid_request", "error_description": "form body expected"})
        scheme, _, value = headers.get("authorization", "").partition(" ")
        try:
            client_id, _, secret = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            client_id, secret = "", ""
        client = self._personal.get(client_id) if scheme.lower() == "basic" else None
        if client is None or not secrets.compare_digest(client.secret, secret):
            return _json(401, {"error": "invalid_client"})
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode("utf-8")).items()}
        if form.get("grant_type") != "password":
            return _json(400, {"error": "unsupported_grant_type"})
        if set(form.get("scope", "").split()) != {"read", "write"}:
            return _json(400, {"error": "invalid_scope"})
        if form.get("username") != client.api_key or form.get("password") != client.api_key:
            return _json(400, {"error": "invalid_grant"})
        orgs = [self._orgs[i] for i in client.org_ids if i in self._orgs]
        if not orgs:
            return _json(400, {"error": "invalid_grant"})
        if self.grant_checks_pro and not any(o.pro for o in orgs):
            return _dinero_error(403, 90, "The organization does not have an active Pro subscription")
        token = secrets.token_urlsafe(32)
        self._tokens[token] = Token({o.id for o in orgs}, self.clock() + self.personal_token_ttl)
        return _json(200, {"access_token": token, "expires_in": self.personal_token_ttl, "token_type": "Bearer"})

    # ledger-item helpers -------------------------------------------------------------------------------------

    def _new_version(self) -> str:
        self._version_seq += 1
        return base64.b64encode(self._version_seq.to_bytes(9, "big")).decode("ascii")

    def _book_now(self, org: Org, item: dict[str, Any]) -> None:
        if item["VoucherNumber"] is None:
            org.voucher_seq += 1
            item["VoucherNumber"] = org.voucher_seq
        item["Status"] = "Booked"
        item["Version"] = self._new_version()
        org.pending_polls.pop(item["Id"], None)


@dataclass
class _Ctx:
    fake: FakeDinero
    template: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    parsed: Any
    org: Org | None

    @property
    def o(self) -> Org:
        assert self.org is not None
        return self.org

    def ok(self, body: Any, each: bool = False, check: bool = True) -> Reply:
        if check:
            errors = self.fake.spec.response_errors(self.template, self.method, body, each=each)
            if errors:
                self.fake._violation("response", self.method, self.path, errors)
        return _json(200, body)

    def project(self, records: list[dict[str, Any]], model: str) -> list[dict[str, Any]]:
        """Apply `fields` as Dinero does: case-insensitive, each name returned as it was asked for."""
        for i, rec in enumerate(records):
            errors = self.fake.spec.errors(f"/components/schemas/{model}", rec, prefix=f"[{i}]")
            if errors:
                self.fake._violation("response", self.method, self.path, errors)
        raw = (self.query.get("fields") or [""])[-1]
        if not raw.strip():
            raw = str(self.fake.spec.param_default(self.template, self.method, "fields") or "")
        names = [n.strip() for n in raw.split(",") if n.strip()]
        props = {k.lower(): k for k in self.fake.spec.schema(model)["properties"]}
        unknown = [n for n in names if n.lower() not in props]
        if unknown:
            errors = {"fields": f"unknown field(s) {', '.join(unknown)} for {model}"}
            self.fake._violation("request", self.method, self.path, errors)
            raise _Reject(_dinero_error(400, 46, "Invalid filter format", errors))
        return [{n: rec.get(props[n.lower()]) for n in names} for rec in records]


# --- endpoint handlers ------------------------------------------------------------------------------------

_HANDLERS: dict[tuple[str, str], Callable[[_Ctx], Reply]] = {}


def _endpoint(method: str, template: str) -> Callable[[Callable[[_Ctx], Reply]], Callable[[_Ctx], Reply]]:
    def register(fn: Callable[[_Ctx], Reply]) -> Callable[[_Ctx], Reply]:
        _HANDLERS[(method, template)] = fn
        return fn
    return register


@_endpoint("GET", "/v1/organizations")
def _organizations(c: _Ctx) -> Reply:
    _scheme, _, value = c.headers.get("authorization", "").partition(" ")
    allowed = c.fake._tokens[value.strip()].org_ids
    records = [{"Name": o.name, "Id": o.id, "Type": "Default", "IsPro": o.pro, "IsPayingPro": o.paying_pro,
                "IsVatFree": False, "Email": None, "Phone": None, "Street": None, "City": None,
                "ZipCode": None, "AttPerson": None, "IsTaxFreeUnion": False, "VatNumber": None,
                "CountryKey": "DK", "Website": None}
               for o in c.fake._orgs.values() if o.id in allowed]
    return c.ok(c.project(records, "OrganizationReadModel"), check=False)


def _categories(c: _Ctx) -> set[str]:
    text = c.fake.spec.param_description(c.template, c.method, "categoryFilter")
    listed = text.split("Possible categories:", 1)[-1]
    return {s.strip().lower() for s in listed.replace("\n", ",").split(",") if s.strip()}


@_endpoint("GET", "/v1/{organizationId}/accounts/entry")
def _entry_accounts(c: _Ctx) -> Reply:
    wanted = (c.query.get("categoryFilter") or [""])[-1].strip()
    if wanted and wanted.lower() not in _categories(c):
        errors = {"categoryFilter": f"unknown category {wanted!r}"}
        c.fake._violation("request", c.method, c.path, errors)
        return _dinero_error(400, 46, "Invalid filter format", errors)
    props = c.fake.spec.schema("EntryAccountReadModel")["properties"]
    records = [{k: a.get(k) for k in props} for a in sorted(c.o.accounts.values(), key=lambda a: a["AccountNumber"])
               if not wanted or (a["Category"] or "").lower() == wanted.lower()]
    return c.ok(c.project(records, "EntryAccountReadModel"), check=False)


@_endpoint("GET", "/v1/{organizationId}/accounts/deposit")
def _deposit_accounts(c: _Ctx) -> Reply:
    props = c.fake.spec.schema("DepositAccountReadModel")["properties"]
    records = [{k: a.get(k) for k in props} for a in sorted(c.o.accounts.values(), key=lambda a: a["AccountNumber"])
               if a["Deposit"]]
    return c.ok(c.project(records, "DepositAccountReadModel"), check=False)


@_endpoint("POST", "/v1/{organizationId}/accounts/deposit")
def _create_deposit_account(c: _Ctx) -> Reply:
    number = c.parsed["Number"]
    if number in c.o.accounts:
        return _dinero_error(400, 42, "Validation Error", {"Number": f"Account number {number} is already in use"})
    c.o.accounts[number] = account(number, c.parsed["Name"], None, "Liquid Assets", deposit=True)
    return Reply(200)


@_endpoint("GET", "/v1/{organizationId}/vatTypes")
def _vat_types(c: _Ctx) -> Reply:
    return c.ok(copy.deepcopy(c.o.vat_types))


@_endpoint("POST", "/v1/{organizationId}/files")
def _upload_file(c: _Ctx) -> Reply:
    content_type = c.headers.get("content-type", "")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + c.body)
    parts = [p for p in message.iter_parts()] if message.is_multipart() else []
    part = next((p for p in parts if p.get_param("name", header="content-disposition") == "file"), None)
    if part is None:
        return _dinero_error(400, 42, "Validation Error", {"file": "A multipart field named 'file' is required"})
    data = part.get_payload(decode=True) or b""
    if len(data) > c.fake.max_file_bytes:
        return _dinero_error(413, 43, "Limit exceeded: the file is larger than 6 MB")
    mime = part.get_content_type()
    if not (mime == "application/pdf" or mime.startswith("image/")):
        return _dinero_error(400, 44, f"Invalid format: {mime} is neither an image nor a PDF")
    guid = "web" + "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(29))
    c.o.files[guid] = {"name": part.get_filename(), "content_type": mime, "data": data,
                       "uploaded": datetime.fromtimestamp(c.fake.clock(), UTC).isoformat()}
    return c.ok({"FileGuid": guid})


@_endpoint("GET", "/v1/{organizationId}/files")
def _list_files(c: _Ctx) -> Reply:
    """The file archive (FilteredFileReadModel), filtered and paged as the spec's parameters say."""
    extensions = {e.strip().lower() for v in c.query.get("extensions", []) for e in v.split(",") if e.strip()}
    status = (c.query.get("fileStatus") or ["All"])[-1]
    page = int((c.query.get("page") or ["0"])[-1])
    size = int((c.query.get("pageSize") or ["1000"])[-1])
    if page < 0 or not 1 <= size <= 1000:
        return _dinero_error(400, 42, "Validation Error", {"page": "page >= 0 and 1 <= pageSize <= 1000"})
    used = {item.get("FileGuid"): item for item in c.o.items.values() if item.get("FileGuid")}
    records = []
    for guid, f in c.o.files.items():
        ext = (f["name"] or "").rsplit(".", 1)[-1].lower()
        if extensions and ext not in extensions:
            continue
        if status != "All" and (status == "Used") != (guid in used):
            continue
        records.append({"FileGuid": guid, "Name": f["name"], "Extension": ext, "Size": len(f["data"]),
                        "UploadedAt": f["uploaded"], "Note": None, "NumberOfPages": None,
                        "Linked": None, "UploadedBy": "API"})
    return c.ok(records[page * size:(page + 1) * size], each=False)


@_endpoint("GET", "/v1/{organizationId}/files/{fileGuid}")
def _download_file(c: _Ctx) -> Reply:
    guid = c.path.rsplit("/", 1)[-1]
    f = c.o.files.get(guid)
    if f is None:
        return _dinero_error(404, 40, f"No file with FileGuid {guid}")
    return Reply(200, f["data"], f["content_type"])


def _check_item(c: _Ctx, item: dict[str, Any], key: str) -> dict[str, str]:
    """Dinero's business rules for one ledger item (beyond the schema)."""
    org, errors = c.o, {}
    vat_codes = {v["VatCode"] for v in org.vat_types}
    try:
        date.fromisoformat(str(item.get("VoucherDate")))
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(item.get("VoucherDate"))):
            raise ValueError
    except ValueError:
        errors[f"{key}.VoucherDate"] = "VoucherDate must be a date in the format yyyy-mm-dd"
    if item.get("FileGuid") is not None and item["FileGuid"] not in org.files:
        errors[f"{key}.FileGuid"] = f"No file with FileGuid {item['FileGuid']} in this organization"
    lines = item.get("Lines") or []
    if not lines:
        errors[f"{key}.Lines"] = "A ledger item needs at least one line"
    unbalanced = 0
    line_ids = [ln.get("Id") for ln in lines if ln.get("Id")]
    if len(line_ids) != len(set(line_ids)):
        errors[f"{key}.Lines"] = "Line ids must be unique"
    for i, ln in enumerate(lines):
        lk = f"{key}.Lines[{i}]"
        amount = ln.get("Amount")
        if amount is None:
            errors[f"{lk}.Amount"] = "Amount is required"
        elif round(amount, 2) != amount:
            errors[f"{lk}.Amount"] = f"Amount {amount!r} has more than two decimals"
        if ln.get("IsPaymentForVoucherId") and ln.get("AccountNumber") is not None:
            errors[f"{lk}.AccountNumber"] = "AccountNumber must be empty when IsPaymentForVoucherId is set"
        for field_name, required in (("AccountNumber", not ln.get("IsPaymentForVoucherId")),
                                      ("BalancingAccountNumber", False)):
            number = ln.get(field_name)
            if number is None:
                if required:
                    errors[f"{lk}.{field_name}"] = f"{field_name} is required"
                continue
            acc = org.accounts.get(number)
            if not c.fake.check_accounts:
                continue
            if acc is None:
                errors[f"{lk}.{field_name}"] = f"Account {number} does not exist"
            elif acc["IsHidden"]:
                errors[f"{lk}.{field_name}"] = f"Account {number} is hidden and cannot be used"
        for vat_field in ("AccountVatCode", "BalancingAccountVatCode"):
            code = ln.get(vat_field)
            if code is not None and code not in vat_codes:
                errors[f"{lk}.{vat_field}"] = f"Unknown VAT code {code!r}"
        if ln.get("BalancingAccountNumber") is None and amount is not None:
            unbalanced += round(amount * 100)
    if unbalanced:
        errors[f"{key}.Lines"] = "Lines without a balancing account must sum to 0"
    return errors


def _stored(c: _Ctx, ref: dict[str, Any], key: str) -> dict[str, Any]:
    """The stored item a reference names; an unknown Id or a stale Version is Dinero's 400."""
    item = c.o.items.get(str(ref.get("Id")).lower())
    if item is None:
        raise _Reject(_dinero_error(400, 63, "Ledger item not found", None,
                                    [("ledgerItemNotFound", f"{key}: no ledger item with Id {ref.get('Id')}")]))
    if ref.get("Version") is not None and ref["Version"] != item["Version"]:
        raise _Reject(_dinero_error(400, 58, "Timestamp out of date: get the latest version and try again",
                                    {f"{key}.Version": "The version is out of date"}))
    return item


def _lines_with_ids(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for ln in lines:
        ln = dict(ln)
        ln["Id"] = ln.get("Id") or str(uuid.uuid4())
        out.append(ln)
    return out


@_endpoint("POST", "/v1.2/{organizationId}/ledgeritems")
def _create_ledger_items(c: _Ctx) -> Reply:
    errors: dict[str, str] = {}
    for i, item in enumerate(c.parsed):
        errors.update(_check_item(c, item, f"[{i}]"))
    if errors:
        return _dinero_error(400, 42, "Validation Error", errors)
    ids = [str(item.get("Id") or uuid.uuid4()).lower() for item in c.parsed]
    taken = set(c.o.items) | (set() if c.fake.reuse_deleted_ids else c.o.deleted)
    if len(set(ids)) != len(ids) or taken & set(ids):
        return _dinero_error(409, 72, "Duplicated entity")
    if sum(1 for it in c.o.items.values() if it["Status"] != "Booked") + len(ids) > MAX_LEDGER_ITEMS:
        return _dinero_error(400, 43, f"Limit exceeded: at most {MAX_LEDGER_ITEMS} items in the ledger")
    made = []
    for item_id, item in zip(ids, c.parsed, strict=True):
        c.o.deleted.discard(item_id)
        stored = {"Id": item_id, "Version": c.fake._new_version(), "VoucherNumber": item.get("VoucherNumber"),
                  "VoucherDate": item.get("VoucherDate"), "FileGuid": item.get("FileGuid"),
                  "Lines": _lines_with_ids(item.get("Lines") or []), "Status": "Draft"}
        c.o.items[item_id] = stored
        made.append({"Id": item_id, "Version": stored["Version"]})
    return c.ok(made, each=True)  # one {Id, Version} per item: see the module docstring


@_endpoint("PUT", "/v1/{organizationId}/ledgeritems")
def _update_ledger_items(c: _Ctx) -> Reply:
    errors: dict[str, str] = {}
    targets = []
    for i, item in enumerate(c.parsed):
        if not item.get("Id") or not item.get("Version"):
            errors[f"[{i}]"] = "Id and Version are required to update a ledger item"
            continue
        stored = _stored(c, item, f"[{i}]")
        if stored["Status"] != "Draft":
            return _dinero_error(400, 45, f"Invalid request: ledger item {stored['Id']} is {stored['Status']}")
        errors.update(_check_item(c, item, f"[{i}]"))
        targets.append((stored, item))
    if errors:
        return _dinero_error(400, 42, "Validation Error", errors)
    made = []
    for stored, item in targets:
        stored.update(VoucherDate=item.get("VoucherDate"), FileGuid=item.get("FileGuid"),
                      Lines=_lines_with_ids(item.get("Lines") or []), Version=c.fake._new_version())
        if item.get("VoucherNumber") is not None:
            stored["VoucherNumber"] = item["VoucherNumber"]
        made.append({"Id": stored["Id"], "Version": stored["Version"]})
    return c.ok(made)


@_endpoint("POST", "/v1/{organizationId}/ledgeritems/status")
def _ledger_status(c: _Ctx) -> Reply:
    items = [_stored(c, ref, f"[{i}]") for i, ref in enumerate(c.parsed)]
    out = []
    for item in items:
        left = c.o.pending_polls.get(item["Id"])
        if left is not None:
            if left <= 0:
                c.fake._book_now(c.o, item)
            else:
                c.o.pending_polls[item["Id"]] = left - 1
        out.append({"Id": item["Id"], "Status": item["Status"], "VoucherNumber": item["VoucherNumber"],
                    "Version": item["Version"]})
    return c.ok(out)


@_endpoint("POST", "/v1/{organizationId}/ledgeritems/book")
def _book_ledger_items(c: _Ctx) -> Reply:
    items = [_stored(c, ref, f"[{i}]") for i, ref in enumerate(c.parsed)]
    for item in items:
        if item["Status"] != "Draft":
            continue
        if c.fake.booking_polls > 0:
            item["Status"] = "PendingBooking"
            c.o.pending_polls[item["Id"]] = c.fake.booking_polls
        else:
            c.fake._book_now(c.o, item)
    return Reply(200)


@_endpoint("POST", "/v1/{organizationId}/ledgeritems/ledgers")
def _unbooked_ledger_items(c: _Ctx) -> Reply:
    out = []
    for ref in c.parsed:
        item = c.o.items.get(str(ref["Id"]).lower())
        if item is not None and item["Status"] == "Draft":
            out.append({k: copy.deepcopy(item[k]) for k in
                        ("Id", "Version", "VoucherNumber", "VoucherDate", "FileGuid", "Lines")})
    return c.ok(out)


@_endpoint("DELETE", "/v1/{organizationId}/ledgeritems/delete")
def _delete_ledger_items(c: _Ctx) -> Reply:
    items = [_stored(c, ref, f"[{i}]") for i, ref in enumerate(c.parsed)]
    for item in items:
        if item["Status"] != "Draft":
            return _dinero_error(400, 45, f"Invalid request: ledger item {item['Id']} is {item['Status']}")
    for item in items:
        del c.o.items[item["Id"]]
        c.o.deleted.add(item["Id"])
    return Reply(200)


def _fault_reply(fault: Fault) -> Reply:
    if isinstance(fault.body, str):
        return Reply(fault.status, fault.body.encode("utf-8"), "text/plain; charset=utf-8")
    default = {"code": 50, "message": "An error occurred"} if fault.status >= 500 else \
        {"code": 45, "message": "Invalid request"}
    return _json(fault.status, default if fault.body is None else fault.body)


# --- HTTP ---------------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    fake: FakeDinero
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection is closed after this
    wbufsize = 1 << 16  # headers and body leave in one write (no Nagle/delayed-ACK stalls)

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.fake._lock:
            self.fake._conns.add(self.connection)

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:
            self.close_connection = True  # the client went away (a timeout, a reset): nothing to do

    def finish(self) -> None:
        with self.fake._lock:
            self.fake._conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass  # every request is recorded (and logged without headers) by FakeDinero._record

    def _serve(self) -> None:
        fake = self.fake
        method = self.command
        path = urllib.parse.urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        delay = fake._take_fault(("delay",), path)
        if delay is not None and fake._stopping.wait(delay.seconds):
            self.close_connection = True
            return
        fault = fake._take_fault(("fail", "rate"), path)
        if fault is not None and fault.kind == "rate":
            reply = Reply(429, QUOTA_BODY.encode(), "text/plain; charset=utf-8")
        elif fault is not None:
            reply = _fault_reply(fault)
        else:
            reply = fake.handle(method, self.path, headers, body)
            if reply.status < 300 and fake._take_fault(("drop",), path) is not None:
                fake._record(method, path, None)
                self.close_connection = True
                return
        fake._record(method, path, reply.status)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True  # the client gave up (a timeout): nobody to answer

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve
