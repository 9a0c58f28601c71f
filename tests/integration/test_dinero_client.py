"""The Dinero client and the personal login against FakeDinero, which checks every request against
Dinero's OpenAPI spec: the client's own requests must never be a spec violation, and every failure
Dinero can produce maps to the error the uploader acts on."""

from __future__ import annotations

import base64
import logging
import socket
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.dinero.client import DineroClient
from appliance.dinero.errors import DineroError, Duplicate, NoPro, RateLimited, Rejected, Transient
from appliance.dinero.personal import PersonalLogin, connect_personal
from appliance.dinero.tokens import LoginNeeded, TokenStore
from tests.fakes.dinero import FakeDinero, account

SHOP, BAKERY, FREE = 1001, 1002, 2001
TOKEN = "visma-access-token-7d1c"
CLIENT_ID, CLIENT_SECRET, API_KEY = "personal-client-1", "client-secret-9f8e7d", "api-key-3c4b5a69"
SECRETS = [TOKEN, CLIENT_SECRET, API_KEY, base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()]


class Tokens:
    """A TokenSource handing out the given tokens in turn: invalidate() moves to the next one."""

    def __init__(self, *tokens: str):
        self.tokens, self.i, self.invalidated = list(tokens), 0, 0

    def token(self) -> str:
        return self.tokens[min(self.i, len(self.tokens) - 1)]

    def invalidate(self) -> None:
        self.invalidated += 1
        self.i += 1


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake(caplog: pytest.LogCaptureFixture) -> Iterator[FakeDinero]:
    caplog.set_level(logging.DEBUG)
    with FakeDinero() as f:
        f.add_org(SHOP, "Købmand Hansen")
        f.add_org(BAKERY, "Bageriet")
        f.add_org(FREE, "Gratis ApS", pro=False)
        f.issue_token(TOKEN, [SHOP, BAKERY, FREE])
        yield f
        assert f.spec_violations == [], "the till's own requests must match the spec"
        leaked = [s for s in SECRETS + f.issued_tokens() if s in caplog.text]
        assert not leaked, "a secret reached the logs"


@pytest.fixture
def client(fake: FakeDinero) -> Iterator[DineroClient]:
    with DineroClient(fake.url, Tokens(TOKEN), timeout=5.0) as c:
        yield c


def item(item_id: str | None = None, amount: float = -125.0, file_guid: str | None = None,
         account_number: int = 1000) -> dict[str, Any]:
    """A Z report's ledger item in the till's shape: every line with its own balancing account."""
    item_id = item_id or str(uuid.uuid4())
    lines = [
        {"Id": str(uuid.uuid5(uuid.UUID(item_id), "1")), "Description": "Z 142: salg 25% moms", "Amount": amount,
         "AccountNumber": account_number, "AccountVatCode": "U25", "BalancingAccountNumber": 55040,
         "BalancingAccountVatCode": "none"},
        {"Id": str(uuid.uuid5(uuid.UUID(item_id), "2")), "Description": "Z 142: kassedifference", "Amount": 0.5,
         "AccountNumber": 7380, "AccountVatCode": "none", "BalancingAccountNumber": 55040,
         "BalancingAccountVatCode": "none"},
    ]
    return {"Id": item_id, "VoucherDate": "2026-11-20", "FileGuid": file_guid, "Lines": lines}


# --- every method ----------------------------------------------------------------------------------


def test_organizations_with_the_requested_fields(client: DineroClient) -> None:
    orgs = client.organizations()
    assert orgs == [
        {"Id": SHOP, "Name": "Købmand Hansen", "IsPro": True, "IsPayingPro": True},
        {"Id": BAKERY, "Name": "Bageriet", "IsPro": True, "IsPayingPro": True},
        {"Id": FREE, "Name": "Gratis ApS", "IsPro": False, "IsPayingPro": False},
    ]
    assert client.requests_made == 1


def test_chart_of_accounts_and_vat_types(client: DineroClient) -> None:
    entry = {a["AccountNumber"]: a for a in client.entry_accounts(SHOP)}
    assert set(entry[1000]) == {"AccountNumber", "Name", "VatCode", "Category", "IsHidden"}
    assert entry[1000]["VatCode"] == "U25" and entry[1000]["Category"] == "Turnover"
    assert entry[1010]["VatCode"] == "none"
    assert entry[1050]["IsHidden"] is True
    assert {7380, 7390, 55000, 55040} <= set(entry)
    turnover = client.entry_accounts(SHOP, category="Turnover")
    assert {a["Category"] for a in turnover} == {"Turnover"} and len(turnover) < len(entry)

    deposit = {a["AccountNumber"]: a for a in client.deposit_accounts(SHOP)}
    assert set(deposit) == {55000, 55010, 55040}
    assert set(deposit[55040]) == {"AccountNumber", "Name", "IsHidden"} and deposit[55010]["IsHidden"]

    assert {v["VatCode"]: v["VatRate"] for v in client.vat_types(SHOP)} == {"U25": 0.25, "I25": 0.25, "none": 0.0}
    assert client.requests_made == 4


def test_each_organization_has_its_own_chart(fake: FakeDinero, client: DineroClient) -> None:
    fake.add_org(3001, "Lille Kiosk", accounts=[account(1000, "Salg", "U25", "Turnover"),
                                                 account(58000, "Kasse", deposit=True)])
    fake.issue_token("kiosk-token", [3001])
    with DineroClient(fake.url, Tokens("kiosk-token")) as kiosk:
        assert [a["AccountNumber"] for a in kiosk.deposit_accounts(3001)] == [58000]
    client.create_deposit_account(SHOP, 55100, "Betalingskort (Nets)")
    assert 55100 not in fake.accounts(BAKERY)


def test_create_deposit_account(fake: FakeDinero, client: DineroClient) -> None:
    client.create_deposit_account(SHOP, 55100, "Betalingskort (Nets)")
    assert {"AccountNumber": 55100, "Name": "Betalingskort (Nets)", "IsHidden": False} in client.deposit_accounts(SHOP)
    with pytest.raises(Rejected) as exc:
        client.create_deposit_account(SHOP, 55100, "Igen")
    assert exc.value.status == 400 and exc.value.code == 42 and "Number" in exc.value.validation


def test_upload_file(fake: FakeDinero, client: DineroClient) -> None:
    pdf = b"%PDF-1.7\r\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
    guid = client.upload_file(SHOP, "z-00142.pdf", pdf)
    [stored] = fake.files(SHOP)
    assert stored.pop("uploaded").startswith("20")
    assert stored == {"FileGuid": guid, "name": "z-00142.pdf", "content_type": "application/pdf", "data": pdf}


def test_files_are_listed_page_by_page_and_read_back_byte_for_byte(fake: FakeDinero, client: DineroClient) -> None:
    """What `journal verify --against-dinero` reads: the archive's PDFs, all pages, and their bytes."""
    sent = {f"z-{n:05d}.pdf": b"%PDF-1.7\n" + bytes([n]) * (100 + n) for n in range(1, 6)}
    guids = {name: client.upload_file(SHOP, name, data) for name, data in sent.items()}
    client.upload_file(SHOP, "logo.png", b"\x89PNG....", "image/png")
    before = fake.count("GET", "/files")
    listed = client.list_files(SHOP, "pdf", page_size=2)
    assert fake.count("GET", "/files") - before == 3  # 2 + 2 + 1: the short page ends it
    assert sorted(f["Name"] for f in listed) == sorted(sent)
    assert {f["FileGuid"] for f in listed} == set(guids.values())
    assert all(f["Size"] == len(sent[f["Name"]]) for f in listed)
    for name, guid in guids.items():
        assert client.download_file(SHOP, guid) == sent[name]
    with pytest.raises(DineroError):
        client.download_file(SHOP, "web-no-such-file")
    assert fake.spec_violations == []


def test_file_over_6_mb_is_rejected(fake: FakeDinero, client: DineroClient) -> None:
    with pytest.raises(Rejected) as exc:
        client.upload_file(SHOP, "big.pdf", b"%PDF" + b"0" * (6 * 1024 * 1024))
    assert exc.value.status == 413
    assert fake.files(SHOP) == []


def test_ledger_item_life_cycle(fake: FakeDinero, client: DineroClient) -> None:
    guid = client.upload_file(SHOP, "z-00142.pdf", b"%PDF-1.7 z")
    first = item(file_guid=guid)
    made = client.create_ledger_items(SHOP, [first])
    assert [m["Id"] for m in made] == [first["Id"]] and made[0]["Version"]
    [stored] = fake.ledger_items(SHOP)
    assert stored["Status"] == "Draft" and stored["FileGuid"] == guid and stored["Version"] == made[0]["Version"]
    assert [ln["Amount"] for ln in stored["Lines"]] == [-125.0, 0.5]

    [status] = client.ledger_status(SHOP, [first["Id"]])
    assert status == {"Id": first["Id"], "Status": "Draft", "VoucherNumber": None, "Version": made[0]["Version"]}
    assert client.unbooked_ledger_items(SHOP, made)[0]["Lines"] == stored["Lines"]

    corrected = item(first["Id"], amount=-130.0, file_guid=guid) | {"Version": made[0]["Version"]}
    corrected["Lines"] = corrected["Lines"][:1]
    updated = client.update_ledger_items(SHOP, [corrected])
    assert updated[0]["Id"] == first["Id"] and updated[0]["Version"] != made[0]["Version"]
    [stored] = fake.ledger_items(SHOP)
    assert [ln["Amount"] for ln in stored["Lines"]] == [-130.0]  # lines left out are gone

    with pytest.raises(Rejected) as exc:  # the old Version is stale now
        client.update_ledger_items(SHOP, [corrected])
    assert exc.value.status == 400 and exc.value.code == 58

    client.book_ledger_items(SHOP, [{"Id": first["Id"], "Version": updated[0]["Version"], "Status": "Draft"}])
    [status] = client.ledger_status(SHOP, [first["Id"]])
    assert status["Status"] == "Booked" and status["VoucherNumber"] == 1
    assert client.unbooked_ledger_items(SHOP, [{"Id": first["Id"]}]) == []
    with pytest.raises(Rejected):  # booked entries cannot change
        client.update_ledger_items(SHOP, [corrected | {"Version": status["Version"]}])


def test_booking_can_take_a_while(fake: FakeDinero, client: DineroClient) -> None:
    fake.booking_polls = 2
    [made] = client.create_ledger_items(SHOP, [item()])
    client.book_ledger_items(SHOP, [made])
    seen = [client.ledger_status(SHOP, [made["Id"]])[0]["Status"] for _ in range(3)]
    assert seen == ["PendingBooking", "PendingBooking", "Booked"]


def test_bookkeeper_books_a_draft(fake: FakeDinero, client: DineroClient) -> None:
    [made] = client.create_ledger_items(SHOP, [item()])
    fake.book(SHOP, made["Id"])
    [status] = client.ledger_status(SHOP, [made["Id"]])
    assert status["Status"] == "Booked" and status["Version"] != made["Version"]


def test_delete_drafts(fake: FakeDinero, client: DineroClient) -> None:
    made = client.create_ledger_items(SHOP, [item(), item()])
    client.delete_ledger_items(SHOP, made[:1])
    assert [i["Id"] for i in fake.ledger_items(SHOP)] == [made[1]["Id"]]
    with pytest.raises(Duplicate):  # a deleted Id is not handed out again
        client.create_ledger_items(SHOP, [item(made[0]["Id"])])


def test_unknown_item_status(client: DineroClient) -> None:
    with pytest.raises(Rejected) as exc:
        client.ledger_status(SHOP, [str(uuid.uuid4())])
    assert exc.value.status == 400 and exc.value.codes == ["ledgerItemNotFound"]


def test_lines_are_checked_against_the_chart(fake: FakeDinero, client: DineroClient) -> None:
    fake.check_accounts = True
    with pytest.raises(Rejected) as exc:
        client.create_ledger_items(SHOP, [item(account_number=55100)])  # not created yet
    assert exc.value.code == 42 and "[0].Lines[0].AccountNumber" in exc.value.validation
    with pytest.raises(Rejected) as exc:
        client.create_ledger_items(SHOP, [item(amount=0.1 + 0.2)])
    assert "[0].Lines[0].Amount" in exc.value.validation
    with pytest.raises(Rejected) as exc:
        client.create_ledger_items(SHOP, [item(file_guid="web-never-uploaded")])
    assert "[0].FileGuid" in exc.value.validation
    assert fake.ledger_items(SHOP) == []


# --- the spec -------------------------------------------------------------------------------------------


def test_fake_refuses_what_the_spec_does_not_allow(fake: FakeDinero) -> None:
    bad_item = item() | {"Comment": "not in LedgerItemModelV2"}
    wrong_type = item()
    wrong_type["Lines"][0]["Amount"] = "125.00"
    with httpx.Client(base_url=fake.url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        r = http.post(f"/v1.2/{SHOP}/ledgeritems", json=[bad_item])
        assert r.status_code == 400
        assert r.json()["code"] == 42 and r.json()["message"] == "Validation Error"
        assert "Comment" in r.json()["validationErrors"]["[0]"]
        r = http.post(f"/v1.2/{SHOP}/ledgeritems", json=[wrong_type])
        assert r.status_code == 400 and "[0].Lines[0].Amount" in r.json()["validationErrors"]
        assert http.post(f"/v1.2/{SHOP}/ledgeritems", json=[{"Id": "not-a-uuid", "Lines": []}]).status_code == 400
        assert http.post(f"/v1/{SHOP}/accounts/deposit",  # the notes' VatCode: not in DepositCreateModel
                         json={"Number": 55100, "Name": "Kort", "VatCode": "none"}).status_code == 400
        assert http.get(f"/v1/{SHOP}/vatTypes", params={"feilds": "VatCode"}).status_code == 400
        assert http.get(f"/v1/{SHOP}/accounts/entry", params={"fields": "Number"}).status_code == 400
        assert http.get(f"/v1/{SHOP}/kassekladde").status_code == 404
        assert http.post(f"/v1/{SHOP}/vatTypes", json=[]).status_code == 405
    assert len(fake.spec_violations) == 8
    assert fake.spec_violations[0]["path"] == f"/v1.2/{SHOP}/ledgeritems"
    assert fake.ledger_items(SHOP) == []
    fake.spec_violations.clear()


def test_every_client_request_matches_the_spec(fake: FakeDinero, client: DineroClient) -> None:
    client.organizations()
    client.entry_accounts(SHOP)
    client.entry_accounts(SHOP, category="Liquid Assets")
    client.deposit_accounts(SHOP)
    client.vat_types(SHOP)
    client.create_deposit_account(SHOP, 55110, "MobilePay")
    guid = client.upload_file(SHOP, "z.pdf", b"%PDF")
    made = client.create_ledger_items(SHOP, [item(file_guid=guid), item()])
    client.update_ledger_items(SHOP, [item(made[0]["Id"], amount=-1.0, file_guid=guid) | {"Version": made[0]["Version"]}])
    client.unbooked_ledger_items(SHOP, made[1:])
    client.delete_ledger_items(SHOP, made[1:])
    [status] = client.ledger_status(SHOP, [made[0]["Id"]])
    client.book_ledger_items(SHOP, [status])
    assert client.requests_made == fake.count() == 13
    assert {s for _m, _p, s in fake.requests} == {200}
    assert fake.spec_violations == []


# --- errors -------------------------------------------------------------------------------------------------


def test_duplicate_id_is_duplicate(fake: FakeDinero, client: DineroClient) -> None:
    first = item()
    client.create_ledger_items(SHOP, [first])
    with pytest.raises(Duplicate) as exc:
        client.create_ledger_items(SHOP, [first])
    assert exc.value.status == 409 and exc.value.code == 72
    assert len(fake.ledger_items(SHOP)) == 1


def test_no_pro_is_explained(client: DineroClient) -> None:
    with pytest.raises(NoPro) as exc:
        client.vat_types(FREE)
    assert exc.value.status == 403 and exc.value.code == 90
    assert "Dinero Pro" in exc.value.message
    assert {o["Id"]: o["IsPro"] for o in client.organizations()}[FREE] is False  # listing still works


def test_an_organization_the_token_may_not_use(fake: FakeDinero) -> None:
    fake.issue_token("bakery-only", [BAKERY])
    with DineroClient(fake.url, Tokens("bakery-only")) as c, pytest.raises(Rejected) as exc:
        c.vat_types(SHOP)
    assert exc.value.status == 403 and not isinstance(exc.value, NoPro)


def test_rate_limited(fake: FakeDinero, client: DineroClient) -> None:
    fake.rate_limit_next(1)
    with pytest.raises(RateLimited) as exc:
        client.vat_types(SHOP)
    assert exc.value.status == 429 and exc.value.retry_after == 60
    assert client.vat_types(SHOP)
    assert client.requests_made == 2 and fake.count() == 2


@pytest.mark.parametrize("status", [500, 502, 503, 480])
def test_server_errors_are_transient(fake: FakeDinero, client: DineroClient, status: int) -> None:
    fake.fail_next(1, status=status, path_contains="ledgeritems")
    with pytest.raises(Transient) as exc:
        client.create_ledger_items(SHOP, [item()])
    assert exc.value.status == status
    assert fake.ledger_items(SHOP) == [] and client.requests_made == 1


def test_timeout_is_transient(fake: FakeDinero) -> None:
    fake.delay_next(1, seconds=30)
    with DineroClient(fake.url, Tokens(TOKEN), timeout=0.2) as c:
        with pytest.raises(Transient) as exc:
            c.vat_types(SHOP)
        assert "in time" in exc.value.message and exc.value.status is None
        assert c.vat_types(SHOP)  # the next request gets through
        assert c.requests_made == 2


def test_connection_refused_is_transient() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with DineroClient(f"http://127.0.0.1:{port}", Tokens(TOKEN), timeout=1) as c, pytest.raises(Transient):
        c.organizations()


def test_dropped_answer_after_store_is_transient_and_the_item_is_stored(fake: FakeDinero,
                                                                       client: DineroClient) -> None:
    fake.drop_after_store_next(1)
    first = item()
    with pytest.raises(Transient):
        client.create_ledger_items(SHOP, [first])
    [stored] = fake.ledger_items(SHOP)
    assert stored["Id"] == first["Id"]
    assert fake.requests[-1] == ("POST", f"/v1.2/{SHOP}/ledgeritems", None)
    with pytest.raises(Duplicate):  # the retry: Dinero knows the Id
        client.create_ledger_items(SHOP, [first])
    assert client.ledger_status(SHOP, [first["Id"]])[0]["Version"] == stored["Version"]


def test_one_401_gets_a_fresh_token_and_one_retry(fake: FakeDinero) -> None:
    fake.issue_token("old-token-1", [SHOP])
    fake.issue_token("new-token-2", [SHOP])
    fake.revoke("old-token-1")
    tokens = Tokens("old-token-1", "new-token-2")
    with DineroClient(fake.url, tokens) as c:
        assert c.vat_types(SHOP)
        assert tokens.invalidated == 1
        assert c.requests_made == 2
    assert [s for _m, _p, s in fake.requests] == [401, 200]


def test_401_after_the_fresh_token_is_login_needed(fake: FakeDinero) -> None:
    tokens = Tokens("unknown-token-1", "unknown-token-2")
    with DineroClient(fake.url, tokens) as c, pytest.raises(LoginNeeded) as exc:
        c.vat_types(SHOP)
    assert c.requests_made == 2 and tokens.invalidated == 1
    assert "unknown-token" not in str(exc.value)


def test_expired_token_is_401(fake: FakeDinero) -> None:
    fake.expire_tokens()
    with DineroClient(fake.url, Tokens(TOKEN)) as c, pytest.raises(LoginNeeded):
        c.organizations()


# --- the personal integration ------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "data")


def connect(fake: FakeDinero, store: TokenStore, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "api_key": API_KEY} | kw
    return connect_personal(store, fake.auth_url, fake.url, **args)


def test_connect_personal_saves_the_login(fake: FakeDinero, store: TokenStore) -> None:
    fake.add_personal_client(CLIENT_ID, CLIENT_SECRET, API_KEY, SHOP)
    result = connect(fake, store)
    assert result == {"connected": True, "org_id": SHOP, "org_name": "Købmand Hansen",
                      "organizations": [{"Id": SHOP, "Name": "Købmand Hansen", "IsPro": True}]}
    record = store.load()
    assert record is not None
    assert {k: record[k] for k in ("kind", "client_id", "client_secret", "api_key", "auth_url", "api_base",
                                   "org_id", "org_name")} == {
        "kind": "personal", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "api_key": API_KEY,
        "auth_url": fake.auth_url, "api_base": fake.url, "org_id": SHOP, "org_name": "Købmand Hansen"}
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.dir.stat().st_mode) == 0o700
    assert API_KEY not in repr(result)


def test_connect_personal_with_several_organizations_asks(fake: FakeDinero, store: TokenStore) -> None:
    fake.add_personal_client(CLIENT_ID, CLIENT_SECRET, API_KEY, [SHOP, BAKERY])
    result = connect(fake, store)
    assert result["connected"] is False and [o["Id"] for o in result["organizations"]] == [SHOP, BAKERY]
    assert store.load() is None
    assert connect(fake, store, org_id=BAKERY)["org_name"] == "Bageriet"
    assert store.load()["org_id"] == BAKERY  # type: ignore[index]
    with pytest.raises(Rejected):
        connect(fake, store, org_id=9999)


def test_connect_personal_refuses_an_organization_without_pro(fake: FakeDinero, store: TokenStore) -> None:
    fake.add_personal_client(CLIENT_ID, CLIENT_SECRET, API_KEY, FREE)
    with pytest.raises(NoPro):  # the grant itself says 403/90
        connect(fake, store)
    fake.grant_checks_pro = False
    with pytest.raises(NoPro) as exc:  # the organization list says IsPro false
        connect(fake, store)
    assert "Gratis ApS" in exc.value.message and "Dinero Pro" in exc.value.message
    assert store.load() is None


def test_wrong_credentials_are_login_needed(fake: FakeDinero, store: TokenStore) -> None:
    fake.add_personal_client(CLIENT_ID, CLIENT_SECRET, API_KEY, SHOP)
    with pytest.raises(LoginNeeded, match="API key") as exc:
        connect(fake, store, api_key="api-key-wrong-0000")
    assert "api-key-wrong-0000" not in str(exc.value)
    with pytest.raises(LoginNeeded, match="client secret"):
        connect(fake, store, client_secret="secret-wrong-1111")
    assert store.load() is None


def test_personal_login_caches_and_renews_before_expiry(fake: FakeDinero, store: TokenStore) -> None:
    fake.add_personal_client(CLIENT_ID, CLIENT_SECRET, API_KEY, SHOP)
    clock = Clock()
    connect_personal(store, fake.auth_url, fake.url, CLIENT_ID, CLIENT_SECRET, API_KEY, clock=clock)
    login = PersonalLogin(store, fake.auth_url, clock=clock)
    first = login.token()
    assert first == store.load()["access_token"]  # type: ignore[index]
    assert fake.count("POST", "/oauth/token") == 1  # connect's grant is reused

    clock.now += 3600 - 61
    assert login.token() == first and fake.count("POST", "/oauth/token") == 1
    clock.now += 2  # 59 s left: renew
    second = login.token()
    assert second != first and fake.count("POST", "/oauth/token") == 2
    assert store.load()["access_token_expires_at"] == clock.now + 3600  # type: ignore[index]
    with DineroClient(fake.url, login) as c:
        assert c.vat_types(SHOP)


def test_personal_login_after_a_401_repeats_the_grant(fake: FakeDinero, store: TokenStore) -> None:
    fake.add_personal_client(CLIENT_ID, CLIENT_SECRET, API_KEY, SHOP)
    connect(fake, store)
    fake.expire_tokens()  # Dinero ended the token early
    with DineroClient(fake.url, PersonalLogin(store, fake.auth_url)) as c:
        assert c.vat_types(SHOP)
        assert c.requests_made == 2
    assert fake.count("POST", "/oauth/token") == 2


def test_personal_login_with_a_withdrawn_key(fake: FakeDinero, store: TokenStore) -> None:
    fake.add_personal_client(CLIENT_ID, CLIENT_SECRET, API_KEY, SHOP)
    connect(fake, store)
    fake.add_personal_client(CLIENT_ID, CLIENT_SECRET, "api-key-new-2222", SHOP)  # the shop made a new key
    fake.expire_tokens()
    login = PersonalLogin(store, fake.auth_url)
    login.invalidate()
    with pytest.raises(LoginNeeded, match="API key"):
        login.token()


def test_personal_login_without_a_stored_login(store: TokenStore) -> None:
    with pytest.raises(LoginNeeded):
        PersonalLogin(store, "http://127.0.0.1:9/dineroapi/oauth/token").token()


def test_personal_login_token_endpoint_down_is_transient(fake: FakeDinero, store: TokenStore) -> None:
    fake.add_personal_client(CLIENT_ID, CLIENT_SECRET, API_KEY, SHOP)
    connect(fake, store)
    login = PersonalLogin(store, fake.auth_url)
    login.invalidate()
    fake.fail_next(1, status=503, path_contains="/oauth/token")
    with pytest.raises(Transient):
        login.token()
    assert login.token()
