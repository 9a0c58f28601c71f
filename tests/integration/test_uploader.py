"""Each closed Z lands in Dinero as exactly one ledger item whose lines equal its posting plan,
whatever fails on the way: 500s, 429, timeouts, 401, a connection dropped after Dinero stored the
item. Refusals stop one report and not the others; resends update a draft in place or reverse a
booked item; a missing login loses nothing. Against FakeDinero on 127.0.0.1, which checks every
request against the official OpenAPI document."""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest

from appliance.dinero.personal import connect_personal
from appliance.dinero.tokens import TokenStore
from appliance.services import uploader as up
from appliance.services.closing import close_day, list_reports, z_posting_plan
from appliance.services.selling import sell
from appliance.services.setup import set_account
from appliance.store.transfers import AUTO_TRANSFER_KEY
from tests.conftest import make_till
from tests.fakes.dinero import FakeDinero

ORG = 4711
CLIENT_ID, CLIENT_SECRET, API_KEY = "tillbox-test", "s3cret-client-Xq9", "apikey-7f3e9c1d2b"
SALES = [
    {"cashier": "anna", "lines": [{"sku": "MILK", "qty": 3}, {"sku": "PAPER"}],
     "payments": [{"type": "cash", "amount": "100.00"}]},
    {"cashier": "anna", "lines": [{"sku": "BUTTER"}], "payments": [{"type": "card", "amount": "24.50",
                                                                     "brand": "Dankort"}]},
    {"cashier": "anna", "lines": [{"sku": "BREAD", "qty": 2}],
     "payments": [{"type": "mobilepay", "amount": "44.00"}]},
]


@pytest.fixture
def dinero():
    with FakeDinero() as fake:
        fake.add_org(ORG, "Købmand Hansen ApS", pro=True)
        fake.add_personal_client(CLIENT_ID, CLIENT_SECRET, API_KEY, ORG)
        yield fake


def connect(till, dinero, org: int = ORG, api_key: str = API_KEY) -> None:
    connect_personal(TokenStore(till.data_dir), f"{dinero.url}/dineroapi/oauth/token", dinero.url,
                     CLIENT_ID, CLIENT_SECRET, api_key, org_id=org)


def trade_and_close(till, clock, days: int = 1) -> list[int]:
    zs = []
    for _ in range(days):
        for s in SALES:
            clock.advance(minutes=5)
            sell(till, s)
        clock.advance(hours=8)
        zs.append(close_day(till, _expected_cash(till), to_bank="0.00")["z_number"])
        clock.next_day()
    return zs


def _expected_cash(till) -> str:
    from appliance.domain.money import format_kroner
    from appliance.services.closing import x_figures
    return format_kroner(x_figures(till).cash_expected)


def expected_lines(till, z: int) -> list[tuple]:
    lines, missing, _ = z_posting_plan(till, z)
    assert not missing
    return [(ln["account"], ln["vat_code"], ln["amount"], ln["balancing_account"], ln["balancing_vat_code"])
            for ln in lines]


def posted_lines(item: dict) -> list[tuple]:
    return [(ln["AccountNumber"], ln["AccountVatCode"], int(Decimal(str(ln["Amount"])) * 100),
             ln["BalancingAccountNumber"], ln["BalancingAccountVatCode"]) for ln in item["Lines"]]


def drain(till, clock, uploader: up.Uploader, rounds: int = 40) -> None:
    """Run passes, moving the clock past each back-off, until nothing is queued."""
    for _ in range(rounds):
        uploader.run_once()
        if not till.conn.execute("SELECT 1 FROM dinero_transfers WHERE state = 'queued'").fetchone():
            return
        clock.advance(hours=1)
    raise AssertionError("transfers still queued")


def test_a_closed_day_is_posted_once_with_its_pdf_in_two_requests(till, clock, dinero) -> None:
    connect(till, dinero)
    [z] = trade_and_close(till, clock)
    assert list_reports(till)[0]["state"] == "queued"
    before = len(dinero.requests)
    uploader = up.Uploader(till, up.connector(till))
    result = uploader.run_once()
    assert result == [{"z_number": z, "transfer": 1, "state": "sent"}]
    calls = [(m, p) for m, p, _s in dinero.requests[before:] if "oauth" not in p]
    assert [m for m, _ in calls] == ["POST", "POST"]  # the file, then the ledger item
    [item] = dinero.ledger_items(ORG)
    assert posted_lines(item) == expected_lines(till, z)
    assert item["FileGuid"] in [f["FileGuid"] for f in dinero.files(ORG)]
    assert item["VoucherDate"] == "2026-11-20" and item["Status"] == "Draft"
    report = list_reports(till)[0]
    assert report["state"] == "sent" and report["transferred_at"].startswith("2026-11-2")
    assert dinero.spec_violations == []
    assert uploader.run_once() == []  # nothing twice


FAILURES = {
    "500 on the file": lambda d: d.fail_next(2, status=500, path_contains="/files"),
    "500 on the item": lambda d: d.fail_next(3, status=503, path_contains="ledgeritems"),
    "429": lambda d: d.rate_limit_next(2),
    "timeout on the item": lambda d: d.delay_next(1, 3.0),
    "dropped after store": lambda d: d.drop_after_store_next(1, path_contains="ledgeritems"),
    "401 once": lambda d: d.expire_tokens(),
}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_each_failure_still_ends_in_exactly_one_item(till, clock, dinero, failure) -> None:
    connect(till, dinero)
    [z] = trade_and_close(till, clock)
    FAILURES[failure](dinero)
    uploader = up.Uploader(till, up.connector(till, timeout=1.0), rng=random.Random(1))
    drain(till, clock, uploader)
    items = dinero.ledger_items(ORG)
    assert len(items) == 1, failure
    assert posted_lines(items[0]) == expected_lines(till, z)
    assert dinero.spec_violations == []


def test_random_failure_mixes_over_many_days(tmp_path, clock, dinero) -> None:
    """Five days, a different random mix of faults before every pass: one item per Z, always."""
    till = make_till(tmp_path / "shop", clock)
    connect(till, dinero)
    rng = random.Random(20261122)
    zs = trade_and_close(till, clock, days=5)
    uploader = up.Uploader(till, up.connector(till, timeout=1.0), rng=rng)
    for _ in range(60):
        fault = rng.choice([*FAILURES.values(), None, None])
        if fault is not None:
            fault(dinero)
        uploader.run_once()
        if not till.conn.execute("SELECT 1 FROM dinero_transfers WHERE state = 'queued'").fetchone():
            break
        clock.advance(hours=1)
    items = dinero.ledger_items(ORG)
    assert len(items) == len(zs) == 5
    by_date = {it["VoucherDate"]: it for it in items}
    for z in zs:
        date = till.conn.execute("SELECT business_date FROM z_reports WHERE z_number = ?", (z,)).fetchone()[0]
        assert posted_lines(by_date[date]) == expected_lines(till, z)
    assert [r["state"] for r in list_reports(till)] == ["sent"] * 5
    till.close()


def test_a_refused_report_stops_alone_with_its_reason(till, clock, dinero) -> None:
    connect(till, dinero)
    trade_and_close(till, clock, days=2)
    dinero.fail_next(1, status=400, path_contains="ledgeritems")
    uploader = up.Uploader(till, up.connector(till))
    results = uploader.run_once()
    assert [r["state"] for r in results] == ["failed", "sent"]
    reports = list_reports(till)
    assert reports[0]["state"] == "failed" and "400" in reports[0]["error"]
    assert reports[1]["state"] == "sent"
    # sent again by hand, it goes through as one item
    up.request_send(till, 1)
    uploader.run_once()
    assert len(dinero.ledger_items(ORG)) == 2 and list_reports(till)[0]["state"] == "sent"


def test_unmapped_accounts_fail_locally_then_send_after_mapping(till, clock, dinero) -> None:
    till.conn.execute("DELETE FROM accounts WHERE key = 'payment:mobilepay'")
    connect(till, dinero)
    [z] = trade_and_close(till, clock)
    uploader = up.Uploader(till, up.connector(till))
    [result] = uploader.run_once()
    assert result["state"] == "failed" and "payment:mobilepay" in result["error"]
    assert dinero.ledger_items(ORG) == []
    set_account(till, "payment:mobilepay", 55110)
    up.request_send(till, z)
    uploader.run_once()
    [item] = dinero.ledger_items(ORG)
    assert posted_lines(item) == expected_lines(till, z)


def test_resend_updates_a_draft_in_place(till, clock, dinero) -> None:
    connect(till, dinero)
    [z] = trade_and_close(till, clock)
    uploader = up.Uploader(till, up.connector(till))
    uploader.run_once()
    [first] = dinero.ledger_items(ORG)
    set_account(till, "payment:card", 55120)  # the installer fixes a mapping
    up.request_send(till, z)
    uploader.run_once()
    [item] = dinero.ledger_items(ORG)
    assert item["Id"] == first["Id"] and item["Version"] != first["Version"]
    assert 55120 in [ln["AccountNumber"] for ln in item["Lines"]]
    assert posted_lines(item) == expected_lines(till, z)
    assert list_reports(till)[0]["state"] == "sent"


def test_resend_of_a_booked_item_reverses_it_and_posts_anew(till, clock, dinero) -> None:
    connect(till, dinero)
    [z] = trade_and_close(till, clock)
    uploader = up.Uploader(till, up.connector(till))
    uploader.run_once()
    [first] = dinero.ledger_items(ORG)
    dinero.book(ORG, first["Id"])
    set_account(till, "payment:card", 55120)
    up.request_send(till, z)
    uploader.run_once()
    items = dinero.ledger_items(ORG)
    assert len(items) == 3
    reversal = next(it for it in items if it["Lines"][0]["Description"].startswith("Tilbageførsel"))
    assert posted_lines(reversal) == [(a, v, -amt, b, bv) for a, v, amt, b, bv in posted_lines(first)]
    new = next(it for it in items if it["Id"] not in (first["Id"], reversal["Id"]))
    assert posted_lines(new) == expected_lines(till, z)
    # net effect in the books: exactly the corrected plan
    assert list_reports(till)[0]["state"] == "sent"
    assert up.request_send(till, z)["state"] == "queued"  # and it can go again


def test_no_login_loses_nothing(till, clock, dinero) -> None:
    trade_and_close(till, clock)
    uploader = up.Uploader(till, up.connector(till))
    [result] = uploader.run_once()
    assert result["state"] == "login_needed"
    report = list_reports(till)[0]
    assert report["state"] == "queued" and report["error"] == up.MSG_LOGIN
    connect(till, dinero)
    clock.advance(hours=1)
    uploader.run_once()
    assert len(dinero.ledger_items(ORG)) == 1


def test_a_revoked_login_waits_and_resumes(till, clock, dinero) -> None:
    connect(till, dinero, api_key=API_KEY)
    trade_and_close(till, clock)
    dinero.add_personal_client(CLIENT_ID, CLIENT_SECRET, "a-new-key", ORG)  # the old key is withdrawn
    dinero.expire_tokens()
    uploader = up.Uploader(till, up.connector(till))
    [result] = uploader.run_once()
    assert result["state"] == "login_needed" and dinero.ledger_items(ORG) == []
    connect(till, dinero, api_key="a-new-key")
    clock.advance(hours=1)
    uploader = up.Uploader(till, up.connector(till))
    uploader.run_once()
    assert len(dinero.ledger_items(ORG)) == 1


def test_two_shops_post_to_their_own_organizations(tmp_path, clock, dinero) -> None:
    dinero.add_org(4712, "Købmand Hansen - Café", pro=True)
    dinero.add_personal_client("cafe-client", "cafe-secret", "cafe-key", 4712)
    shop = make_till(tmp_path / "shop", clock)
    cafe = make_till(tmp_path / "cafe", clock)
    connect(shop, dinero)
    connect_personal(TokenStore(cafe.data_dir), f"{dinero.url}/dineroapi/oauth/token", dinero.url,
                     "cafe-client", "cafe-secret", "cafe-key", org_id=4712)
    for till in (shop, cafe):
        sell(till, SALES[1])
        clock.advance(hours=1)
        close_day(till, _expected_cash(till))
        up.Uploader(till, up.connector(till)).run_once()
    assert len(dinero.ledger_items(ORG)) == 1 and len(dinero.ledger_items(4712)) == 1
    shop.close()
    cafe.close()


def test_auto_transfer_off_leaves_days_unsent_until_asked(till, clock, dinero) -> None:
    from appliance.store.settings import set_meta
    set_meta(till.conn, AUTO_TRANSFER_KEY, "0")
    connect(till, dinero)
    [z] = trade_and_close(till, clock)
    assert list_reports(till)[0]["state"] == "not_sent"
    assert up.Uploader(till, up.connector(till)).run_once() == []
    up.request_send(till, z)
    up.Uploader(till, up.connector(till)).run_once()
    assert list_reports(till)[0]["state"] == "sent"


def test_the_login_file_is_private_and_holds_no_secret_in_status(till, dinero) -> None:
    connect(till, dinero)
    store = TokenStore(till.data_dir)
    assert (store.path.stat().st_mode & 0o777) == 0o600
    assert (store.dir.stat().st_mode & 0o777) == 0o700
    from appliance.cli_dinero import status
    text = json.dumps(status(till, store))
    for secret in (CLIENT_SECRET, API_KEY):
        assert secret not in text
    assert json.loads(text)["organization"]["id"] == ORG


def test_the_pdf_is_the_days_z(till, clock, dinero) -> None:
    connect(till, dinero)
    trade_and_close(till, clock)
    up.Uploader(till, up.connector(till)).run_once()
    [f] = dinero.files(ORG)
    assert f["data"][:5] == b"%PDF-"  # the PDF itself is checked page by page in the render tests


def test_a_lost_answer_costs_one_status_read_not_a_second_post(till, clock, dinero) -> None:
    connect(till, dinero)
    trade_and_close(till, clock)
    uploader = up.Uploader(till, up.connector(till))
    uploader.run_once()
    assert len(dinero.ledger_items(ORG)) == 1
    trade_and_close(till, clock)
    dinero.drop_after_store_next(1, path_contains="ledgeritems")
    before = len(dinero.requests)
    uploader.run_once()
    clock.advance(hours=1)
    uploader.run_once()
    calls = [(m, p.split("/")[-1]) for m, p, _s in dinero.requests[before:] if "oauth" not in p]
    assert calls == [("POST", "files"), ("POST", "ledgeritems"), ("POST", "status")]
    assert len(dinero.ledger_items(ORG)) == 2


def test_an_answered_error_reposts_without_a_read(till, clock, dinero) -> None:
    connect(till, dinero)
    trade_and_close(till, clock)
    dinero.fail_next(1, status=502, path_contains="ledgeritems")
    before = len(dinero.requests)
    uploader = up.Uploader(till, up.connector(till))
    uploader.run_once()
    clock.advance(hours=1)
    uploader.run_once()
    calls = [(m, p.split("/")[-1]) for m, p, _s in dinero.requests[before:] if "oauth" not in p]
    assert calls == [("POST", "files"), ("POST", "ledgeritems"), ("POST", "ledgeritems")]
    assert len(dinero.ledger_items(ORG)) == 1
