"""`till uploader run` as systemd runs it: Type=notify (READY=1, WATCHDOG=1, STOPPING=1 on the
NOTIFY_SOCKET), woken at once when a day is closed, stopped cleanly by SIGTERM; the CLI contract
(`dinero connect --personal`, `dinero status`, `dinero accounts check`, `reports list`,
`reports send`); and no secret in any log line of a whole run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakes.dinero import FakeDinero

from .test_cli import ok, till

ORG = 4711
CLIENT_ID, CLIENT_SECRET, API_KEY = "tillbox-svc", "svc-secret-Zq81x", "svc-apikey-55aa77"
SALE = {"cashier": "anna", "lines": [{"sku": "MILK", "qty": 2}, {"sku": "PAPER"}],
        "payments": [{"type": "card", "amount": "55.90", "brand": "Dankort"}]}


@pytest.fixture
def dinero():
    with FakeDinero() as fake:
        fake.add_org(ORG, "Købmand Hansen ApS", pro=True)
        fake.add_org(4799, "Gratis ApS", pro=False)
        fake.add_personal_client(CLIENT_ID, CLIENT_SECRET, API_KEY, ORG)
        yield fake


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    from tests.conftest import ACCOUNTS, CATALOG
    data = tmp_path / "shop"
    ok(till(data, "init", "--shop-name", "Købmand Hansen", "--cvr", "12345678", "--address", "Hovedgaden 1"))
    csv = tmp_path / "catalog.csv"
    csv.write_text(CATALOG, encoding="utf-8")
    ok(till(data, "catalog", "import", str(csv)))
    for key, number in ACCOUNTS.items():
        ok(till(data, "accounts", "set", key, str(number)))
    ok(till(data, "cashier", "add", "anna", "--pin", "1234"))
    return data


def connect_args(dinero: FakeDinero) -> list[str]:
    return ["dinero", "connect", "--personal", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
            "--api-key", API_KEY, "--org", str(ORG), "--api-base", dinero.url,
            "--auth-url", f"{dinero.url}/dineroapi/oauth/token"]


def test_the_service_notifies_systemd_wakes_on_close_and_stops(shop: Path, dinero, tmp_path) -> None:
    ok(till(shop, *connect_args(dinero)))
    notify_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(20)
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "2000000",
           "TILLBOX_DATA": "", "TILLBOX_LOG": "debug"}
    proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", "--data", str(shop), "uploader", "run"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert notify.recv(512).decode().startswith("READY=1")
        ok(till(shop, "sell", "--json-in", "-", stdin=json.dumps(SALE)))
        t0 = time.monotonic()
        ok(till(shop, "close-day", "--counted-cash", "0.00"))
        while not dinero.ledger_items(ORG) and time.monotonic() - t0 < 20:
            time.sleep(0.05)
        assert len(dinero.ledger_items(ORG)) == 1
        woke_in = time.monotonic() - t0
        assert woke_in < 15  # woken by the close, not by the 60 s idle pass (a generous bound)
        messages = []
        while not any(m.startswith("WATCHDOG=1") for m in messages):
            messages.append(notify.recv(512).decode())
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
        while True:
            msg = notify.recv(512).decode()
            if msg.startswith("STOPPING=1"):
                break
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
        notify.close()
    for secret in (CLIENT_SECRET, API_KEY, *dinero.issued_tokens()):
        assert secret not in err
    reports = ok(till(shop, "reports", "list"))
    assert reports[0]["state"] == "sent" and reports[0]["transferred_at"] and reports[0]["error"] is None


def test_cli_contract_connect_status_check_send(shop: Path, dinero) -> None:
    result = ok(till(shop, *connect_args(dinero)))
    assert result["org_id"] == ORG and CLIENT_SECRET not in json.dumps(result)
    status = ok(till(shop, "dinero", "status"))
    assert status["connected"] and status["login_ok"] and status["organization"]["id"] == ORG
    check = ok(till(shop, "dinero", "accounts", "check"))
    assert check["ok"] is False  # the test mapping uses clearing accounts the default chart lacks
    keys = {p["key"] for p in check["problems"]}
    assert "payment:card" in keys
    fixed = ok(till(shop, "dinero", "accounts", "check", "--create-missing"))
    assert 55100 in fixed["created"]
    assert "payment:card" not in {p["key"] for p in fixed["problems"]}
    ok(till(shop, "sell", "--json-in", "-", stdin=json.dumps(SALE)))
    ok(till(shop, "close-day", "--counted-cash", "0.00"))
    assert ok(till(shop, "reports", "list"))[0]["state"] == "queued"
    [res] = ok(till(shop, "uploader", "run", "--once"))
    assert res["state"] == "sent"
    again = ok(till(shop, "reports", "send", "1"))
    assert again["state"] == "queued"
    ok(till(shop, "uploader", "run", "--once"))
    assert len(dinero.ledger_items(ORG)) == 1  # a draft updated in place
    bad = till(shop, "reports", "send", "9")
    assert bad.returncode == 1 and "no Z report 9" in json.loads(bad.stdout)["error"]


def test_status_shows_the_queue_when_dinero_cannot_be_reached(shop: Path, dinero) -> None:
    ok(till(shop, *connect_args(dinero)))
    ok(till(shop, "sell", "--json-in", "-", stdin=json.dumps(SALE)))
    ok(till(shop, "close-day", "--counted-cash", "0.00"))
    dinero.stop()
    status = ok(till(shop, "dinero", "status"))  # exit 0: the shop still sees its queue
    assert status["reachable"] is False and status["transfers"] == {"queued": 1}
    assert "could not be reached" in status["message"]


def test_an_organization_without_pro_is_refused_plainly(shop: Path, dinero) -> None:
    dinero.add_personal_client("free-client", "free-secret", "free-key", 4799)
    proc = till(shop, "dinero", "connect", "--personal", "--client-id", "free-client", "--client-secret",
                "free-secret", "--api-key", "free-key", "--org", "4799", "--api-base", dinero.url,
                "--auth-url", f"{dinero.url}/dineroapi/oauth/token")
    assert proc.returncode == 1
    assert "Pro" in json.loads(proc.stdout)["error"]
    assert "free-secret" not in proc.stdout + proc.stderr


# The unit files (systemd-analyze verify and security, the till user) are checked in
# test_systemd_units.py with the kiosk's.
