"""`till dinero connect --relay URL` as an installer runs it: the till prints the code (and a QR
code) and waits; the phone approves at the relay and Visma and picks the organization; the till is
paired, and the next closed day reaches that organization through tokens the relay refreshes.
Fake Visma and fake Dinero on 127.0.0.1, the relay in-process on a real clock."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from relay.app import RelayServer
from relay.config import RelayConfig
from tests.fakes.dinero import FakeDinero
from tests.fakes.visma import FakeVisma

from .test_cli import ok, till
from .test_pairing import CLIENT_ID, CLIENT_SECRET, FREE_NAME, PASSWORD, PRO_NAME, USER, Forms

PRO_ORG, FREE_ORG = 2001, 2002


@pytest.fixture
def world():
    dinero = FakeDinero().start()
    dinero.add_org(PRO_ORG, PRO_NAME, pro=True)
    dinero.add_org(FREE_ORG, FREE_NAME, pro=False)
    visma = FakeVisma().start()
    visma.add_user(USER, PASSWORD)
    visma.on_token(lambda token, _user: dinero.issue_token(token, [PRO_ORG, FREE_ORG]))
    config = RelayConfig(public_url="", authorize_url=visma.authorize_url, token_url=visma.token_url,
                         client_id=CLIENT_ID, client_secret=CLIENT_SECRET, dinero_api=dinero.url,
                         host="127.0.0.1", port=0, interval=1, code_lifetime=120)
    relay = RelayServer(config).start(poll_interval=0.05)
    visma.register_client(CLIENT_ID, CLIENT_SECRET, [f"{relay.url}/callback"])
    yield dinero, visma, relay
    relay.stop()
    visma.stop()
    dinero.stop()


def approve_on_phone(relay_url: str, visma_url: str, user_code: str, org_id: int) -> str:
    import httpx
    with httpx.Client(follow_redirects=False, timeout=10) as http:
        redirect = http.post(f"{relay_url}/device", data={"user_code": user_code})
        assert redirect.status_code == 302, redirect.text
        page = http.get(redirect.headers["location"])
        request_id = Forms(page.text).forms[0]["fields"]["request_id"]
        http.post(f"{visma_url}/connect/login", data={"request_id": request_id, "username": USER,
                                                      "password": PASSWORD})
        auto = http.post(f"{visma_url}/connect/consent", data={"request_id": request_id, "decision": "allow"})
        form = Forms(auto.text).forms[0]
        chooser = http.post(form["action"], data=form["fields"])
        choice = Forms(chooser.text).forms[0]["fields"]["choice"]
        done = http.post(f"{relay_url}/choose", data={"choice": choice, "org_id": str(org_id)})
        return done.text


def test_connect_through_the_relay_then_post_a_day(tmp_path: Path, world) -> None:
    from tests.conftest import ACCOUNTS, CATALOG
    dinero, visma, relay = world
    shop = tmp_path / "shop"
    ok(till(shop, "init", "--shop-name", "Kaffebaren", "--cvr", "12345678", "--address", "Torvet 1"))
    csv = tmp_path / "catalog.csv"
    csv.write_text(CATALOG, encoding="utf-8")
    ok(till(shop, "catalog", "import", str(csv)))
    for key, number in ACCOUNTS.items():
        ok(till(shop, "accounts", "set", key, str(number)))
    ok(till(shop, "cashier", "add", "anna", "--pin", "1234"))

    env = {**os.environ, "TILLBOX_DATA": "", "TILLBOX_LOG": "debug"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "--data", str(shop), "--json", "dinero", "connect",
         "--relay", relay.url, "--api-base", dinero.url],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = ""
        deadline = time.monotonic() + 20
        while "enter the code" not in seen and time.monotonic() < deadline:
            seen += proc.stderr.readline()
        code = re.search(r"enter the code ([A-Z]{4}-[A-Z]{4})", seen)
        assert code, seen
        assert f"{relay.url}/device?user_code=" in seen
        done = approve_on_phone(relay.url, visma.url, code.group(1), PRO_ORG)
        assert f"Kassen er nu forbundet til {PRO_NAME}" in done
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["org_id"] == PRO_ORG and result["refresh_token"] == "***"
    record = json.loads((shop / "secrets" / "dinero.json").read_text())
    assert record["kind"] == "relay" and (shop / "secrets" / "dinero.json").stat().st_mode & 0o777 == 0o600
    for secret in (CLIENT_SECRET, record["access_token"], record["refresh_token"]):
        assert secret not in out + err + seen

    status = ok(till(shop, "dinero", "status"))
    assert status["login_ok"] and status["organization"] == {"id": PRO_ORG, "name": PRO_NAME, "pro": True}
    ok(till(shop, "sell", "--json-in", "-", stdin=json.dumps(
        {"cashier": "anna", "lines": [{"sku": "MILK"}], "payments": [{"type": "card", "amount": "12.95"}]})))
    ok(till(shop, "close-day", "--counted-cash", "0.00"))
    [sent] = ok(till(shop, "uploader", "run", "--once"))
    assert sent["state"] == "sent"
    assert len(dinero.ledger_items(PRO_ORG)) == 1 and dinero.ledger_items(FREE_ORG) == []
    assert dinero.spec_violations == []

    visma.revoke_all()  # the shop's Visma login is withdrawn: the till says so and keeps the days
    dinero.expire_tokens()
    status = ok(till(shop, "dinero", "status"))
    assert status["login_ok"] is False and "Dinero login needed" in status["message"]
