"""The installer's set-up on the touchscreen: pairing through the relay (QR code and short code),
the organization chosen on the phone, the account check with clearing accounts created, the device
test, then the first sale; the personal integration as the other way in; an expired and a denied
pairing in plain Danish with a retry. FakeVisma, FakeDinero and the relay in-process over real
HTTP on 127.0.0.1 (the relay on a hand-moved clock, stepped by the till's poll). No secret may
reach the logs or the screen."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from tests.integration.test_pairing import (
    CLIENT_SECRET,
    FREE_NAME,
    FREE_ORG,
    PASSWORD,
    PRO_NAME,
    PRO_ORG,
    USER,
    Forms,
    World,
)
from tests.ui.conftest import query

PERSONAL_ID, PERSONAL_SECRET, PERSONAL_KEY = "tillbox-personal", "personal-secret-" + "Zq81", "api-key-" + "Kp55x"
SECOND_ORG, SECOND_NAME = 1003, "Bageriet ApS"


@pytest.fixture
def world(tmp_path: Path, kiosk, caplog: pytest.LogCaptureFixture):
    """The relay, Visma and Dinero, and the kiosk pointed at them; afterwards the shop's Dinero
    login and settings are put back as they were (the suite shares one shop)."""
    from appliance.store.db import transaction
    from appliance.store.settings import set_meta
    caplog.set_level(logging.DEBUG)
    w = World(tmp_path, interval=5, code_lifetime=100_000)
    w.dinero.add_org(SECOND_ORG, SECOND_NAME, pro=True)
    w.dinero.add_personal_client(PERSONAL_ID, PERSONAL_SECRET, PERSONAL_KEY, [PRO_ORG, SECOND_ORG])
    app = kiosk.app
    secrets_file = app.data_dir / "secrets" / "dinero.json"
    saved_login = secrets_file.read_bytes() if secrets_file.exists() else None
    keys = ("dinero.relay_url", "dinero.api_base", "dinero.auth_url")
    saved_meta = dict(query(kiosk, "SELECT key, value FROM meta WHERE key IN (?, ?, ?)", *keys))

    def point(t) -> None:
        with transaction(t.conn):
            set_meta(t.conn, "dinero.api_base", w.dinero.url)
            set_meta(t.conn, "dinero.auth_url", w.dinero.auth_url)
    app.backend.run(point)
    screen = app.screen("pairing")
    screen.poll_sleep = lambda seconds, _cancel: w.fast_sleep(seconds)
    yield w
    app.show("sale")  # leaving cancels a pairing still polling
    kiosk.settle()

    def restore(t) -> None:
        with transaction(t.conn):
            t.conn.execute("DELETE FROM meta WHERE key IN (?, ?, ?)", keys)
            for key, value in saved_meta.items():
                set_meta(t.conn, key, value)
    app.backend.run(restore)
    record = json.loads(secrets_file.read_text()) if secrets_file.exists() else {}
    if saved_login is None:
        secrets_file.unlink(missing_ok=True)
    else:
        secrets_file.write_bytes(saved_login)
    w.stop()
    logged = "\n".join(r.getMessage() for when in ("setup", "call", "teardown") for r in caplog.get_records(when))
    secrets = {CLIENT_SECRET, PERSONAL_SECRET, PERSONAL_KEY, *w.visma.issued.all(), *w.dinero.issued_tokens(),
               *(record.get(k) for k in ("access_token", "refresh_token", "client_secret", "api_key")
                 if record.get(k))}
    assert "event=" in logged  # the logs were captured at all
    leaked = [s[:6] + "..." for s in secrets if s and s in logged]
    assert not leaked, f"secrets in the logs: {leaked}"


def open_setup(kiosk) -> object:
    kiosk.login("bo", "2222")
    kiosk.tap("menu-toggle")
    kiosk.tap("menu-pairing")
    assert kiosk.app.manager.current == "pairing"
    screen = kiosk.app.screen("pairing")
    assert screen.step == "start"
    return screen


def start_relay(kiosk, screen, relay_url: str) -> str:
    screen.panel("start").ids.relay_url.text = relay_url  # typed by the installer
    kiosk.tap("start-relay")
    kiosk.until(lambda: screen.user_code, what="the pairing code")
    return screen.user_code


def phone(w: World, user_code: str, decision: str = "allow", org_id: int = PRO_ORG) -> str:
    """The installer's phone, with plain HTTP: the code, Visma's login and consent, the organization."""
    with httpx.Client(follow_redirects=False, timeout=10) as http:
        redirect = http.post(f"{w.relay.url}/device", data={"user_code": user_code})
        assert redirect.status_code == 302, redirect.text
        page = http.get(redirect.headers["location"])
        request_id = Forms(page.text).forms[0]["fields"]["request_id"]
        http.post(f"{w.visma.url}/connect/login", data={"request_id": request_id, "username": USER,
                                                         "password": PASSWORD})
        auto = http.post(f"{w.visma.url}/connect/consent", data={"request_id": request_id, "decision": decision})
        form = Forms(auto.text).forms[0]
        chooser = http.post(form["action"], data=form["fields"])
        if decision != "allow":
            return chooser.text
        choice = Forms(chooser.text).forms[0]["fields"]["choice"]
        return http.post(f"{w.relay.url}/choose", data={"choice": choice, "org_id": str(org_id)}).text


def screen_texts(kiosk) -> str:
    """Every text the screen shows (labels, buttons and what text fields display)."""
    from kivy.uix.label import Label
    from kivy.uix.textinput import TextInput
    out, stack = [], [kiosk.app.root]
    while stack:
        w = stack.pop()
        if isinstance(w, Label):
            out.append(w.text)
        elif isinstance(w, TextInput):
            out.append(w.password_mask * len(w.text) if w.password else w.text)
        stack.extend(w.children)
    return "\n".join(out)


def decode_qr(png: Path) -> list[str]:
    import zxingcpp
    from PIL import Image
    with Image.open(png) as img:
        return [r.text for r in zxingcpp.read_barcodes(img.convert("L"))]


def test_pair_by_phone_then_accounts_then_devices_then_the_first_sale(kiosk, world, tmp_path: Path) -> None:
    app = kiosk.app
    screen = open_setup(kiosk)
    before = query(kiosk, "SELECT COALESCE(MAX(nr), 0) FROM journal")[0][0]
    code = start_relay(kiosk, screen, world.relay.url)

    # The code and the QR code show; the QR code scans back to the relay's own link.
    waiting = screen.panel("waiting")
    assert waiting.ids.code.text == code and len(code.replace("-", "")) == 8
    assert screen.verification_uri_complete.startswith(f"{world.relay.url}/device?user_code=")
    assert decode_qr(kiosk.screenshot(tmp_path / "waiting.png")) == [screen.verification_uri_complete]
    assert "Koden udløber om" in waiting.ids.wait.text
    assert query(kiosk, "SELECT value FROM meta WHERE key = 'dinero.relay_url'") == [(world.relay.url,)]

    # The phone approves and picks the organization: the screen names it.
    assert f"Kassen er nu forbundet til {PRO_NAME}" in phone(world, code, org_id=PRO_ORG)
    kiosk.until(lambda: screen.step == "paired", timeout=20, what="the pairing to finish")
    kiosk.settle()
    assert screen.panel("paired").ids.org.text == PRO_NAME
    record = json.loads((app.data_dir / "secrets" / "dinero.json").read_text())
    assert record["kind"] == "relay" and record["org_id"] == PRO_ORG and record["api_base"] == world.dinero.url
    [(payload,)] = query(kiosk, "SELECT payload FROM journal WHERE nr > ? AND kind = 'settings_change' "
                                "AND payload LIKE '%dinero.organization%'", before)
    assert json.loads(payload)["value"] == PRO_ORG and json.loads(payload)["name"] == PRO_NAME

    # The accounts: the demo's mapping lacks the clearing accounts; the till creates them.
    kiosk.tap("to-accounts")
    kiosk.until(lambda: not screen.busy and screen.account_rows, what="the account check")
    rows = {label: (number, problem) for label, number, problem in screen.account_rows}
    assert rows["Betalingskort"] == ("55100", "Konto 55100 findes ikke i Dinero.")
    assert rows["MobilePay"][1] == "Konto 55110 findes ikke i Dinero."
    assert rows["Kontanter"] == ("55040", "")
    assert "problemer" in screen.panel("accounts").ids.summary.text
    assert 55100 not in world.dinero.accounts(PRO_ORG)
    kiosk.tap("create-accounts")
    kiosk.until(lambda: not screen.busy, what="the clearing accounts")
    created = world.dinero.accounts(PRO_ORG)
    assert {55100, 55110, 2900} <= set(created) and created[55100]["Name"] == "Betalingskort (clearing)"
    rows = {label: (number, problem) for label, number, problem in screen.account_rows}
    assert rows["Betalingskort"] == ("55100", "") and rows["MobilePay"] == ("55110", "")
    assert rows["Gavekort"] == ("2900", "")
    assert not screen.can_create and "Oprettet i Dinero" in app.message
    assert world.dinero.accounts(FREE_ORG).get(55100) is None  # only the chosen organization

    # The devices: a test receipt on the (simulated) printer, the drawer, a scan.
    kiosk.tap("to-devices")
    printed_before = set((app.data_dir / "sim" / "printer").glob("*.txt"))
    kiosk.tap("test-print")
    kiosk.until(lambda: screen.print_text == "Testbonen er udskrevet.", what="the test receipt")
    [(state,)] = query(kiosk, "SELECT state FROM print_jobs WHERE document LIKE '%TESTBON%' ORDER BY id DESC LIMIT 1")
    assert state == "printed"
    new = set((app.data_dir / "sim" / "printer").glob("*.txt")) - printed_before
    assert any("TESTBON" in p.read_text(encoding="utf-8") for p in new)
    kiosk.tap("test-drawer")
    assert "Skuffen fik besked på at åbne" in screen.panel("devices").ids.drawer_status.text
    [(drawer,)] = query(kiosk, "SELECT payload FROM journal WHERE nr > ? AND kind = 'drawer_open' "
                               "ORDER BY nr DESC LIMIT 1", before)
    assert json.loads(drawer)["reason"] == "test" and json.loads(drawer)["result"] == "pulsed"
    [(barcode,)] = query(kiosk, "SELECT code FROM barcodes ORDER BY code LIMIT 1")
    kiosk.scan(barcode)
    status = screen.panel("devices").ids.scan_status
    kiosk.until(lambda: "modtaget" in status.text, what="the test scan")
    assert status.text == f"Skanning modtaget: {barcode}"
    assert not app.session.basket.lines  # a test scan is not a sale

    kiosk.tap("ready")
    assert app.manager.current == "sale" and "klar til første salg" in app.message
    assert not any(s in screen_texts(kiosk) for s in (record["access_token"], record["refresh_token"]))


def test_expired_then_denied_pairing_say_so_in_danish_and_retry(kiosk, world) -> None:
    app = kiosk.app
    screen = open_setup(kiosk)
    first = start_relay(kiosk, screen, world.relay.url)
    world.clock.advance(100_001)  # nobody finished on the phone: the relay lets the code expire
    kiosk.until(lambda: screen.step == "failed", timeout=20, what="the expiry")
    assert "Koden udløb" in screen.panel("failed").ids.error.text
    assert app.message_level == "error" and "Koden udløb" in app.message

    kiosk.tap("retry")  # a new code at once
    kiosk.until(lambda: screen.user_code and screen.user_code != first, what="a new code")
    assert screen.step == "waiting"
    assert "Du afviste adgangen" in phone(world, screen.user_code, decision="deny")
    kiosk.until(lambda: screen.step == "failed", timeout=20, what="the refusal")
    assert "afvist" in screen.panel("failed").ids.error.text
    assert not (app.data_dir / "secrets" / "dinero.json").exists() or \
        json.loads((app.data_dir / "secrets" / "dinero.json").read_text()).get("kind") != "relay"

    kiosk.tap("retry")
    kiosk.until(lambda: screen.step == "waiting" and screen.user_code, what="a third code")
    kiosk.tap("back")  # leaving stops the poll
    assert app.manager.current == "sale" and screen._cancel is None


def test_relay_down_says_so(kiosk, world) -> None:
    screen = open_setup(kiosk)
    world.relay.stop()
    screen.panel("start").ids.relay_url.text = world.relay.url
    kiosk.tap("start-relay")
    kiosk.until(lambda: screen.step == "failed", timeout=30, what="the relay error")
    assert "Kan ikke komme i kontakt med parringsserveren" in kiosk.app.message
    screen.panel("failed")  # and the way back to the choice
    kiosk.tap("failed-start")
    assert screen.step == "start"


def test_personal_integration_with_two_organizations(kiosk, world) -> None:
    app = kiosk.app
    screen = open_setup(kiosk)
    kiosk.tap("personal")
    panel = screen.panel("personal")
    assert panel.ids.client_secret.password and panel.ids.api_key.password
    panel.ids.client_id.text = PERSONAL_ID
    panel.ids.client_secret.text = "wrong-" + PERSONAL_SECRET
    panel.ids.api_key.text = PERSONAL_KEY
    kiosk.tap("personal-connect")
    kiosk.until(lambda: screen.step == "failed", what="the refusal")
    assert "Dinero afviste oplysningerne" in screen.panel("failed").ids.error.text
    kiosk.tap("retry")
    assert screen.step == "personal"
    panel.ids.client_secret.text = PERSONAL_SECRET
    texts = screen_texts(kiosk)
    assert PERSONAL_SECRET not in texts and PERSONAL_KEY not in texts
    kiosk.tap("personal-connect")
    kiosk.until(lambda: screen.organizations, what="the organizations")
    kiosk.tap(f"org-{SECOND_ORG}")
    kiosk.until(lambda: screen.step == "paired", what="the login")
    assert screen.panel("paired").ids.org.text == SECOND_NAME
    assert panel.ids.client_secret.text == "" and panel.ids.api_key.text == ""
    record = json.loads((app.data_dir / "secrets" / "dinero.json").read_text())
    assert record["kind"] == "personal" and record["org_id"] == SECOND_ORG
    assert record["auth_url"] == world.dinero.auth_url
    texts = screen_texts(kiosk)
    assert PERSONAL_SECRET not in texts and PERSONAL_KEY not in texts and record["access_token"] not in texts
    kiosk.tap("to-accounts")
    kiosk.until(lambda: not screen.busy and screen.account_rows, what="the account check")
    assert world.dinero.count(path_contains=f"/{SECOND_ORG}/accounts") >= 1
    assert FREE_NAME not in screen_texts(kiosk)
