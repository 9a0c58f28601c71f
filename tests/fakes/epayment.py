"""A fake Vipps MobilePay ePayment API on 127.0.0.1 that checks every request against the official spec.

The API's behaviour (payments state machine, event log, idempotency, token endpoint, faults) is the
product's own simulator, drivers/mobilepay/simulator.py; this fake adds the spec. Each request's route,
method, path/header/query parameters, security (the `Authorization` header) and JSON body are validated
against `specs/vipps-epayment-openapi.yaml` (OpenAPI 3.0.0, v1.4.1; its schemas are turned into JSON
Schema Draft 2020-12, `nullable` becoming a `null` type, `$ref`s resolved inside the document). A
request the spec does not allow is answered 400 with a problem body and recorded in
`.spec_violations`. The fake's own answers are checked against the spec's response schemas too
(kind "response"), so the simulator cannot drift from the contract unnoticed. The token endpoint
(not in the spec) is checked against the documented headers (kind "token").

Unlike the till's simulator, the fake's customer does nothing on its own unless asked
(`approve_after=None`): the test decides.

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
- The simulator's own readings (idempotency of 2xx only, cancel after authorisation) are listed in
  drivers/mobilepay/simulator.py.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.parse
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from drivers.mobilepay.simulator import (
    TOKEN_HEADERS,
    TOKEN_PATH,
    EPaymentSimulator,
    Refused,
    Reply,
    SimPayment,
    problem,
)
from tests.fakes.openapi_routes import compile_routes, is_int, match_route

log = logging.getLogger(__name__)

SPEC_URI = "urn:vipps-epayment-openapi"


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


# --- the fake ------------------------------------------------------------------------------------

FakePayment = SimPayment  # the name the tests knew


class FakeEPayment(EPaymentSimulator):
    """The simulator of one sales unit (MSN) with fixed test API keys, every request checked against
    the spec. Keyword arguments beyond these go to EPaymentSimulator (e.g. `approve_after`, `clock`)."""

    def __init__(self, *, msn: str = "123456", client_id: str = "fake-client-id",
                 client_secret: str = "fake-client-secret-s3cr3t", subscription_key: str = "fake-subkey-0123456789",
                 currency: str = "DKK", token_ttl: int = 3600, spec: Path | None = None, **kw: Any):
        kw.setdefault("approve_after", None)
        kw.setdefault("expire_after", None)
        kw.setdefault("keep_requests", None)
        super().__init__(msn=msn, client_id=client_id, client_secret=client_secret,
                         subscription_key=subscription_key, currency=currency, token_ttl=token_ttl, **kw)
        self.spec = load_spec(spec)
        self.spec_violations: list[dict[str, Any]] = []

    def start(self) -> FakeEPayment:
        super().start()
        return self

    def __enter__(self) -> FakeEPayment:
        return self.start()

    def _violation(self, kind: str, method: str, path: str, message: str) -> None:
        self.spec_violations.append({"kind": kind, "method": method, "path": path, "message": message})
        log.info("fake_epayment violation kind=%s method=%s path=%s message=%r", kind, method, path, message)

    def _token(self, method: str, headers: dict[str, str]) -> Reply:
        if method != "POST":
            self._violation("token", method, TOKEN_PATH, "the token endpoint takes POST")
        for h in TOKEN_HEADERS:
            if h.lower() not in headers:
                self._violation("token", method, TOKEN_PATH, f"header {h}: required")
        return super()._token(method, headers)

    def _route(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               raw: bytes) -> tuple[str, str, dict[str, str]]:
        return self._check(method, path, query, headers, raw)

    def _check(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               raw: bytes) -> tuple[str, str, dict[str, str]]:
        """Validate a request against the spec; returns (operationId, path template, path params)."""
        found = self.spec.route(path)
        if found is None:
            self._violation("route", method, path, "no such path in the spec")
            raise Refused(problem(404, "Not Found", "no such path"))
        template, path_params = found
        m = method.lower()
        operation = self.spec.doc["paths"][template].get(m)
        if operation is None:
            self._violation("route", method, path, f"{method} not allowed on {template}")
            raise Refused(problem(405, "Method Not Allowed", f"{method} {template}"))
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
            raise Refused(problem(400, "Bad Request", "; ".join(problems)))
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


__all__ = ["FakeEPayment", "FakePayment", "Spec", "load_spec", "spec_path"]
