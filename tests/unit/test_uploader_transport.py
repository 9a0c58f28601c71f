"""The uploader's branches as fast unit tests: a DineroClient on httpx.MockTransport, answered by a
small handler per method and path, with the faults scripted per request. No sockets, no sleeping:
the till's clock is moved by hand. The contract tests (tests/integration/test_uploader.py against
tests/fakes/dinero.py, which checks every request against Dinero's OpenAPI document) stay; these
prove what the uploader does with each answer: 409 code 72, 429, 5xx and timeouts, a dropped
connection after the store, refusals, a 401."""

from __future__ import annotations

import json
import random
from datetime import datetime
from typing import Any

import httpx
import pytest

from appliance.dinero.client import DineroClient
from appliance.dinero.personal import connect_personal
from appliance.dinero.tokens import TokenStore
from appliance.domain.money import format_kroner
from appliance.services import uploader as up
from appliance.services.closing import close_day, x_figures, z_posting_plan
from appliance.services.selling import sell

ORG = 4711
API = "https://api.dinero.test"
AUTH_URL = "https://authz.dinero.test/dineroapi/oauth/token"
SALE = {"cashier": "anna", "lines": [{"sku": "MILK", "qty": 2}, {"sku": "PAPER"}],
        "payments": [{"type": "cash", "amount": "100.00"}]}
FILES = f"/v1/{ORG}/files"
ITEMS = f"/v1.2/{ORG}/ledgeritems"
STATUS = f"/v1/{ORG}/ledgeritems/status"
Action = int | str  # an HTTP status to answer, or "timeout" | "drop" | "drop_after_store"


def _error(status: int, code: int, message: str, **extra: Any) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message, **extra})


class MockDinero:
    """Dinero's answers to the uploader's three calls (file, ledger item, status), kept in dicts.
    `fail(path, *actions)` scripts the next requests to that path; `calls` records every request."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.auth: list[str] = []
        self.files: dict[str, bytes] = {}
        self.items: dict[str, dict[str, Any]] = {}
        self.valid_tokens = {"Bearer fresh"}
        self._faults: dict[str, list[Action]] = {}
        self._versions = 0

    def fail(self, path: str, *actions: Action) -> None:
        self._faults.setdefault(path, []).extend(actions)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        method, path = request.method, request.url.path
        self.calls.append((method, path))
        self.auth.append(request.headers.get("Authorization", ""))
        if self.auth[-1] not in self.valid_tokens:
            return httpx.Response(401)
        action = self._faults[path].pop(0) if self._faults.get(path) else None
        if action == "timeout":
            raise httpx.ReadTimeout("no answer in time", request=request)
        if action == "drop":
            raise httpx.ConnectError("connection reset", request=request)
        if action == 429:
            return httpx.Response(429, text="API calls quota exceeded! maximum admitted 100 per 1m.")
        if action in (400, 422):
            return _error(int(action), 42, "Validation Error",
                          validationErrors={"[0].Lines[0].AccountNumber": "Account 1000 is hidden"})
        if isinstance(action, int):
            return _error(action, 50, "An error occurred")
        response = self._answer(method, path, request)
        if action == "drop_after_store":  # stored, then the answer is lost on the way back
            raise httpx.ConnectError("connection reset after the store", request=request)
        return response

    def _answer(self, method: str, path: str, request: httpx.Request) -> httpx.Response:
        if (method, path) == ("POST", FILES):
            guid = f"file-{len(self.files) + 1}"
            self.files[guid] = request.content
            return httpx.Response(201, json={"FileGuid": guid})
        if (method, path) == ("POST", ITEMS):
            made = []
            for item in json.loads(request.content):
                if item["Id"] in self.items:
                    return _error(409, 72, "Duplicated entity")
                self._versions += 1
                self.items[item["Id"]] = {**item, "Version": f"v{self._versions}", "Status": "Draft"}
                made.append({"Id": item["Id"], "Version": f"v{self._versions}"})
            return httpx.Response(201, json=made)
        if (method, path) == ("POST", STATUS):
            out = []
            for ref in json.loads(request.content):
                item = self.items.get(ref["Id"])
                if item is None:
                    return _error(400, 45, "Invalid request", errorMessageList=[
                        {"Code": "ledgerItemNotFound", "Message": f"no ledger item with Id {ref['Id']}"}])
                out.append({"Id": item["Id"], "Status": item["Status"], "VoucherNumber": None,
                            "Version": item["Version"]})
            return httpx.Response(200, json=out)
        return httpx.Response(404, json={"code": 404, "message": f"no route {method} {path}"})


class Tokens:
    """A TokenSource: "stale" until told to drop it (when `stale_first`), then "fresh"."""

    def __init__(self, stale_first: bool = False) -> None:
        self.current = "stale" if stale_first else "fresh"
        self.invalidations = 0

    def token(self) -> str:
        return self.current

    def invalidate(self) -> None:
        self.invalidations += 1
        self.current = "fresh"


@pytest.fixture
def dinero() -> MockDinero:
    return MockDinero()


def uploader(till, dinero: MockDinero, tokens: Tokens | None = None, seed: int = 1) -> up.Uploader:
    """An Uploader whose connect() builds a new client each time (the uploader closes its client
    after a transient failure), all on the one MockTransport."""
    source = tokens or Tokens()
    transport = dinero.transport()

    def connect() -> tuple[DineroClient, int]:
        return DineroClient(API, source, timeout=1.0, transport=transport), ORG
    return up.Uploader(till, connect, rng=random.Random(seed))


def close_days(till, clock, days: int = 1) -> list[int]:
    zs = []
    for _ in range(days):
        clock.advance(minutes=5)
        sell(till, SALE)
        clock.advance(hours=8)
        zs.append(close_day(till, format_kroner(x_figures(till).cash_expected))["z_number"])
        clock.next_day()
    return zs


def row(till, z: int) -> dict[str, Any]:
    cur = till.conn.execute(
        "SELECT state, attempts, next_attempt, last_error, maybe_stored, file_guid, item_version, ledger_id "
        "FROM dinero_transfers WHERE z_number = ? ORDER BY id DESC LIMIT 1", (z,))
    names = [d[0] for d in cur.description]
    return dict(zip(names, cur.fetchone(), strict=True))


def wait_of(till, z: int) -> float:
    """Seconds from the till's now to the transfer's next attempt."""
    return (datetime.fromisoformat(row(till, z)["next_attempt"]) - till.now()).total_seconds()


def test_a_closed_z_is_posted_in_two_requests_file_then_item(till, clock, dinero) -> None:
    [z] = close_days(till, clock)
    u = uploader(till, dinero)
    assert u.run_once() == [{"z_number": z, "transfer": 1, "state": "sent"}]
    assert dinero.calls == [("POST", FILES), ("POST", ITEMS)]
    assert dinero.auth == ["Bearer fresh"] * 2
    assert dinero.files["file-1"].count(b"%PDF-") == 1  # the Z's PDF, in the multipart body
    [item] = dinero.items.values()
    r = row(till, z)
    assert item["Id"] == r["ledger_id"] and item["FileGuid"] == "file-1" == r["file_guid"]
    lines, _missing, _data = z_posting_plan(till, z)
    assert len(item["Lines"]) == len(lines)
    assert r["state"] == "sent" and r["item_version"] == "v1" and r["attempts"] == 1
    assert u.run_once() == [] and len(dinero.calls) == 2  # nothing twice


def test_409_code_72_is_settled_by_reading_status_never_a_second_item(till, clock, dinero) -> None:
    [z] = close_days(till, clock)
    ledger_id = row(till, z)["ledger_id"]
    dinero.items[ledger_id] = {"Id": ledger_id, "Version": "v-earlier", "Status": "Draft"}  # a lost answer
    [result] = uploader(till, dinero).run_once()
    assert result["state"] == "sent"
    assert dinero.calls == [("POST", FILES), ("POST", ITEMS), ("POST", STATUS)]
    assert list(dinero.items) == [ledger_id] and dinero.items[ledger_id]["Version"] == "v-earlier"
    assert row(till, z)["item_version"] == "v-earlier"


def test_429_waits_out_the_minute(till, clock, dinero) -> None:
    [z] = close_days(till, clock)
    dinero.fail(ITEMS, 429)
    u = uploader(till, dinero)
    [result] = u.run_once()
    assert result["state"] == "queued" and result["error"] == "rate limited"
    assert wait_of(till, z) == up.RATE_LIMIT_WAIT_S == 61.0  # no jitter: Dinero counts per minute
    clock.advance(seconds=60)
    assert u.run_once() == []  # not yet
    clock.advance(seconds=1)
    assert [r["state"] for r in u.run_once()] == ["sent"]
    assert dinero.calls == [("POST", FILES), ("POST", ITEMS), ("POST", ITEMS)]  # the file is not sent again
    assert len(dinero.items) == 1


def test_5xx_and_timeouts_back_off_exponentially_with_jitter(till, clock, dinero) -> None:
    [z] = close_days(till, clock)
    faults: list[Action] = [500, "timeout", 503, 502, "timeout", 500, 504, 500, 503, "timeout"]
    dinero.fail(FILES, *faults)
    u = uploader(till, dinero, seed=20261120)
    jitter = random.Random(20261120)  # the same draws the uploader makes
    for attempt in range(len(faults)):
        [result] = u.run_once()
        assert result["state"] == "queued"
        base = min(up.BACKOFF_CAP_S, up.BACKOFF_BASE_S * 2 ** attempt)
        wait = wait_of(till, z)
        assert base * 0.5 <= wait <= base * 1.5
        assert wait == pytest.approx(base * jitter.uniform(0.5, 1.5), abs=1e-3)
        assert row(till, z)["attempts"] == attempt + 1 and not row(till, z)["maybe_stored"]
        clock.advance(seconds=wait - 0.5)
        assert u.run_once() == []  # not due yet
        clock.advance(seconds=0.5)
    assert wait <= up.BACKOFF_CAP_S * 1.5  # the last waits are capped at 30 minutes (times the jitter)
    assert [r["state"] for r in u.run_once()] == ["sent"]
    assert len(dinero.items) == 1 and dinero.calls.count(("POST", ITEMS)) == 1


def test_a_connection_dropped_after_the_store_costs_one_status_read(till, clock, dinero) -> None:
    [z] = close_days(till, clock)
    dinero.fail(ITEMS, "drop_after_store")
    u = uploader(till, dinero)
    [result] = u.run_once()
    assert result["state"] == "queued" and "ConnectError" in result["error"]
    assert row(till, z)["maybe_stored"] == 1 and len(dinero.items) == 1
    clock.advance(hours=1)
    assert [r["state"] for r in u.run_once()] == ["sent"]
    assert dinero.calls == [("POST", FILES), ("POST", ITEMS), ("POST", STATUS)]  # one read, no repost
    r = row(till, z)
    assert r["maybe_stored"] == 0 and r["item_version"] == "v1" and len(dinero.items) == 1


def test_a_connection_dropped_before_the_store_reads_then_posts_once(till, clock, dinero) -> None:
    [z] = close_days(till, clock)
    dinero.fail(ITEMS, "drop")
    u = uploader(till, dinero)
    u.run_once()
    assert row(till, z)["maybe_stored"] == 1 and dinero.items == {}
    clock.advance(hours=1)
    assert [r["state"] for r in u.run_once()] == ["sent"]
    assert dinero.calls == [("POST", FILES), ("POST", ITEMS), ("POST", STATUS), ("POST", ITEMS)]
    assert len(dinero.items) == 1


@pytest.mark.parametrize("status", [400, 422])
def test_a_refusal_fails_that_z_with_the_reason_while_the_others_go_on(till, clock, dinero, status) -> None:
    first, second = close_days(till, clock, days=2)
    dinero.fail(ITEMS, status)
    u = uploader(till, dinero)
    results = u.run_once()
    assert [(r["z_number"], r["state"]) for r in results] == [(first, "failed"), (second, "sent")]
    reason = row(till, first)["last_error"]
    assert reason == results[0]["error"]
    assert f"HTTP {status}, code 42" in reason and "Account 1000 is hidden" in reason
    assert row(till, first)["next_attempt"] is None
    clock.advance(hours=2)
    assert u.run_once() == []  # a refusal is not retried on its own
    assert len(dinero.items) == 1 and dinero.calls.count(("POST", ITEMS)) == 2


def test_a_401_refreshes_the_token_once_and_goes_on(till, clock, dinero) -> None:
    close_days(till, clock)
    tokens = Tokens(stale_first=True)
    [result] = uploader(till, dinero, tokens).run_once()
    assert result["state"] == "sent" and tokens.invalidations == 1
    assert dinero.calls == [("POST", FILES), ("POST", FILES), ("POST", ITEMS)]
    assert dinero.auth == ["Bearer stale", "Bearer fresh", "Bearer fresh"]


def test_a_second_401_waits_for_a_login_and_loses_nothing(till, clock, dinero) -> None:
    [z] = close_days(till, clock)
    dinero.valid_tokens = set()  # the login was revoked
    [result] = uploader(till, dinero, Tokens(stale_first=True)).run_once()
    assert result["state"] == "login_needed" and result["error"] == up.MSG_LOGIN
    r = row(till, z)
    assert r["state"] == "queued" and r["attempts"] == 0 and wait_of(till, z) == up.LOGIN_WAIT_S
    assert dinero.calls == [("POST", FILES)] * 2 and dinero.items == {}


def test_connector_carries_the_transport_to_the_login_and_the_api(till, clock) -> None:
    """The production path: connect_personal and connector() build their own clients on the transport."""
    api = MockDinero()
    grants: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "authz.dinero.test":
            grants.append(request.content.decode())
            return httpx.Response(200, json={"access_token": "fresh", "expires_in": 3600})
        if request.url.path == "/v1/organizations":
            return httpx.Response(200, json=[{"Id": ORG, "Name": "Købmand Hansen ApS", "IsPro": True}])
        return api(request)

    transport = httpx.MockTransport(handler)
    connect_personal(TokenStore(till.data_dir), AUTH_URL, API, "tillbox-test", "s3cret", "apikey-1",
                     org_id=ORG, transport=transport)
    [z] = close_days(till, clock)
    u = up.Uploader(till, up.connector(till, timeout=1.0, transport=transport))
    assert [r["state"] for r in u.run_once()] == ["sent"]
    u.close()
    assert len(grants) == 1 and "grant_type=password" in grants[0]
    assert api.calls == [("POST", FILES), ("POST", ITEMS)] and row(till, z)["state"] == "sent"
