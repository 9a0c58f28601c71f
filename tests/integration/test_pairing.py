"""Pairing a till with Dinero through the relay, end to end over real HTTP on 127.0.0.1.

FakeVisma (login, consent, form_post, PKCE, rotating refresh tokens) + FakeDinero (two organizations,
one without Pro) + the relay in-process + the till's relay_login. One test drives a real headless
Chromium through the installer's pages; the others play the phone with httpx, so the protocol is
covered even where Chromium is missing. Every test ends by grepping the captured logs (DEBUG, all
loggers) and stderr for every secret handed out: client secret, tokens, device codes, authorization
codes and PKCE verifiers."""

from __future__ import annotations

import logging
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.dinero.relay_login import (
    Pairing,
    PairingDenied,
    PairingExpired,
    RelayLogin,
    RelayUnavailable,
    poll,
    qr_text,
    start_pairing,
)
from appliance.dinero.tokens import LoginNeeded, TokenStore
from relay import RelayConfig, RelayServer
from relay.config import ConfigError, load_config
from tests.fakes.dinero import FakeDinero
from tests.fakes.visma import FakeVisma, s256

CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = Path("/usr/bin/chromium")
CLIENT_ID = "isv_tillbox"
CLIENT_SECRET = "relay-client-secret-" + "x7Qp2LmZ9vR4"
PRO_ORG, FREE_ORG = 1001, 1002
PRO_NAME, FREE_NAME = "Kaffebaren ApS", "Hobbyklubben"
USER, PASSWORD = "anna@kaffebaren.dk", "hemmeligt-kodeord"
DONE_TEXT = f"Kassen er nu forbundet til {PRO_NAME}. Du kan lukke siden."


class Clock:
    """The relay's monotonic clock, moved by hand (the till's fake sleep moves it in step)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


class World:
    """Fake Visma, fake Dinero and the relay, wired together, plus every secret that must stay unlogged."""

    def __init__(self, tmp: Path, **relay_settings: Any) -> None:
        self.clock = Clock()
        self.dinero = FakeDinero().start()
        self.dinero.add_org(PRO_ORG, PRO_NAME, pro=True)
        self.dinero.add_org(FREE_ORG, FREE_NAME, pro=False)
        self.visma = FakeVisma().start()
        self.visma.add_user(USER, PASSWORD)
        self.visma.on_token(lambda token, user: self.dinero.issue_token(token, [PRO_ORG, FREE_ORG]))
        settings: dict[str, Any] = {"interval": 5, "code_lifetime": 600} | relay_settings
        config = RelayConfig(public_url="", authorize_url=self.visma.authorize_url, token_url=self.visma.token_url,
                             client_id=CLIENT_ID, client_secret=CLIENT_SECRET, dinero_api=self.dinero.url,
                             host="127.0.0.1", port=0, **settings)
        self.relay = RelayServer(config, clock=self.clock).start(poll_interval=0.05)
        self.visma.register_client(CLIENT_ID, CLIENT_SECRET, [f"{self.relay.url}/callback"])
        self.store = TokenStore(tmp / "till")
        self.pairings: list[Pairing] = []
        self.real_pause = 0.02  # real seconds per fake_sleep; the code lasts lifetime/interval polls

    def start_pairing(self) -> Pairing:
        pairing = start_pairing(self.relay.url)
        self.pairings.append(pairing)
        return pairing

    def fast_sleep(self, seconds: float) -> None:
        """The till's sleep: the relay's clock moves the full interval, real time barely."""
        self.clock.advance(seconds)
        time.sleep(self.real_pause)

    def poll(self, pairing: Pairing, **kw: Any) -> dict[str, Any]:
        kw.setdefault("sleep", self.fast_sleep)
        return poll(pairing, self.store, api_base=self.dinero.url, **kw)

    def secrets(self) -> list[str]:
        found = [CLIENT_SECRET, *self.visma.issued.all(), *(p._device_code for p in self.pairings)]
        for form in self.visma.token_requests():
            found += [form[k] for k in ("code", "code_verifier", "refresh_token", "client_secret") if form.get(k)]
        record = self.store.load() or {}
        found += [record[k] for k in ("access_token", "refresh_token") if record.get(k)]
        return sorted(set(found))

    def dinero_works(self, token: str) -> bool:
        resp = httpx.get(f"{self.dinero.url}/v1/organizations", params={"fields": "Id,Name,IsPro,IsPayingPro"},
                         headers={"Authorization": f"Bearer {token}"})
        return resp.status_code == 200 and {o["Id"] for o in resp.json()} == {PRO_ORG, FREE_ORG}

    def stop(self) -> None:
        self.relay.stop()
        self.visma.stop()
        self.dinero.stop()


@pytest.fixture
def world(tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]):
    caplog.set_level(logging.DEBUG)
    w = World(tmp_path)
    yield w
    w.stop()
    assert_no_secrets(w, caplog, capfd)


def assert_no_secrets(w: World, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    out, err = capfd.readouterr()
    formatter = logging.Formatter("%(name)s %(message)s")
    records = [r for when in ("setup", "call", "teardown") for r in caplog.get_records(when)]
    logged = "\n".join(formatter.format(r) for r in records) + out + err
    secrets = w.secrets()
    assert CLIENT_SECRET in secrets
    leaked = [s[:6] + "…" for s in secrets if s in logged]
    assert not leaked, f"secrets in the logs: {leaked}"
    assert "event=" in logged  # the logs were captured at all


# --- playing the installer's phone with plain HTTP ---------------------------------------------------


class Forms(HTMLParser):
    """Every form on a page: action, and the name/value of its inputs and buttons (buttons as lists)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.disabled: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "fields": {}, "buttons": []})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")
        elif tag == "button":
            if "disabled" in a:
                self.disabled.append(a.get("id", ""))
            elif self.forms and a.get("name"):
                self.forms[-1]["buttons"].append((a["name"], a.get("value", "")))


class Phone:
    """What the installer's phone does, without a browser."""

    def __init__(self, w: World) -> None:
        self.w = w
        self.http = httpx.Client(follow_redirects=False, timeout=10)

    def enter_code(self, code: str) -> httpx.Response:
        return self.http.post(f"{self.w.relay.url}/device", data={"user_code": code})

    def visma_login(self, location: str, decision: str = "allow") -> tuple[str, dict[str, str]]:
        """Log in and answer the consent page; returns the auto-submitting form (action, fields)."""
        page = self.http.get(location)
        assert page.status_code == 200, page.text
        request_id = Forms(page.text).forms[0]["fields"]["request_id"]
        consent = self.http.post(f"{self.w.visma.url}/connect/login",
                                 data={"request_id": request_id, "username": USER, "password": PASSWORD})
        assert "Tillad" in consent.text and "Afvis" in consent.text
        auto = self.http.post(f"{self.w.visma.url}/connect/consent",
                              data={"request_id": request_id, "decision": decision})
        form = Forms(auto.text).forms[0]
        assert "document.forms[0].submit()" in auto.text  # form_post: the browser posts it on load
        return form["action"], form["fields"]

    def approve(self, pairing: Pairing, org_id: int = PRO_ORG) -> httpx.Response:
        redirect = self.enter_code(pairing.user_code)
        assert redirect.status_code == 302
        action, fields = self.visma_login(redirect.headers["location"])
        choose = self.http.post(action, data=fields)
        assert choose.status_code == 200, choose.text
        form = Forms(choose.text).forms[0]
        return self.http.post(f"{self.w.relay.url}/choose",
                              data={"choice": form["fields"]["choice"], "org_id": str(org_id)})


# --- the real browser -------------------------------------------------------------------------------------


@pytest.fixture
def chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    if not CHROMEDRIVER.exists():
        pytest.skip(f"{CHROMEDRIVER} is missing (apt install chromium chromium-driver); CI installs it")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never download anything
    options = webdriver.ChromeOptions()
    if CHROMIUM.exists():
        options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=412,915"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


def test_pairing_in_chromium_then_refresh_with_rotation_then_revocation(chromium: Any, world: World) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(chromium, 15)
    world.real_pause = 0.25  # 120 polls before the code expires: 30 s for the browser, however slow the host
    pairing = world.start_pairing()
    assert pairing.verification_uri == f"{world.relay.url}/device"
    assert pairing.verification_uri_complete == f"{world.relay.url}/device?user_code={pairing.user_code}"
    assert "device_code" not in repr(pairing) and pairing._device_code not in repr(pairing)

    result: dict[str, Any] = {}

    def till() -> None:
        try:
            result["record"] = world.poll(pairing)
        except Exception as exc:
            result["error"] = exc

    poller = threading.Thread(target=till, daemon=True)
    poller.start()

    # A mistyped code first: a Danish error and a form to retry; the pairing stays pending.
    chromium.get(pairing.verification_uri)
    typed = chromium.find_element(By.ID, "user_code")
    typed.send_keys("bcdf-ghjk" if pairing.user_code != "BCDF-GHJK" else "zzzz-zzzz")
    chromium.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".error"), "Koden findes ikke"))
    assert chromium.find_element(By.ID, "user_code").is_displayed()

    # The QR code's URL: the code is shown to compare with the till's screen, then Visma.
    chromium.get(pairing.verification_uri_complete)
    assert chromium.find_element(By.ID, "user-code").text == pairing.user_code
    assert chromium.find_element(By.TAG_NAME, "html").get_attribute("lang") == "da"
    chromium.find_element(By.ID, "confirm").click()
    wait.until(ec.presence_of_element_located((By.ID, "username"))).send_keys(USER)
    chromium.find_element(By.ID, "password").send_keys(PASSWORD)
    chromium.find_element(By.ID, "login").click()
    wait.until(ec.element_to_be_clickable((By.ID, "allow"))).click()

    # form_post lands on the relay, which shows the user's organizations.
    pro = wait.until(ec.element_to_be_clickable((By.ID, f"org-{PRO_ORG}")))
    free = chromium.find_element(By.ID, f"org-{FREE_ORG}")
    assert not free.is_enabled() and "Dinero Pro" in free.text and FREE_NAME in free.text
    pro.click()
    done = wait.until(ec.presence_of_element_located((By.ID, "done")))
    assert done.text == DONE_TEXT

    poller.join(timeout=30)
    assert not poller.is_alive() and "error" not in result, result
    assert result["record"]["org_id"] == PRO_ORG and result["record"]["org_name"] == PRO_NAME
    assert result["record"]["access_token"] == "***"  # poll returns the record redacted

    # What the relay asked Visma for: PKCE S256, form_post, Danish UI, the three scopes.
    authorize = next(r for r in world.visma.requests if r["path"] == "/connect/authorize")["query"]
    assert authorize["response_mode"] == "form_post" and authorize["code_challenge_method"] == "S256"
    assert authorize["ui_locales"] == "da-DK" and authorize["client_id"] == CLIENT_ID
    assert authorize["scope"] == "dineropublicapi:read dineropublicapi:write offline_access"
    assert authorize["redirect_uri"] == f"{world.relay.url}/callback"
    exchange = world.visma.token_requests()[0]
    assert exchange["grant_type"] == "authorization_code" and exchange["code_verifier"]

    record = world.store.load()
    assert record is not None and record["kind"] == "relay" and record["relay_url"] == world.relay.url
    assert record["org_id"] == PRO_ORG and record["api_base"] == world.dinero.url
    assert record["access_token"] in world.visma.issued.access_tokens
    assert world.dinero_works(record["access_token"])

    # The till's token source: the stored token while fresh, then a refresh through the relay.
    login = RelayLogin(world.store)
    assert login.token() == record["access_token"]
    login.invalidate()
    fresh = login.token()
    after = world.store.load()
    assert after is not None and fresh == after["access_token"] != record["access_token"]
    assert after["refresh_token"] != record["refresh_token"]  # rotated, and saved
    assert world.dinero_works(fresh)
    old_refused = httpx.post(world.visma.token_url, data={
        "grant_type": "refresh_token", "refresh_token": record["refresh_token"],
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    assert old_refused.status_code == 400 and old_refused.json()["error"] == "invalid_grant"

    # The grant is withdrawn at Visma: the next refresh fails and the till needs a new pairing.
    world.visma.revoke_all()
    login.invalidate()
    with pytest.raises(LoginNeeded, match="Dinero login needed: pair the till again"):
        login.token()
    with pytest.raises(LoginNeeded):  # remembered: no more refresh attempts against the relay
        RelayLogin(world.store).token()


# --- the protocol without a browser ------------------------------------------------------------------------


def test_pairing_by_phone_collects_once_and_refreshes(world: World) -> None:
    pairing = world.start_pairing()
    phone = Phone(world)
    finished: list[str] = []
    waits: list[tuple[str, float]] = []

    def sleep(seconds: float) -> None:
        if len(waits) == 2:  # the installer finishes during the till's second wait
            finished.append(phone.approve(pairing).text)
        world.clock.advance(seconds)

    saved = world.poll(pairing, sleep=sleep, on_wait=lambda status, left: waits.append((status, left)))
    assert DONE_TEXT in finished[0]
    assert [status for status, _ in waits] == ["authorization_pending"] * 2
    assert saved["org_id"] == PRO_ORG and saved["refresh_token"] == "***"

    # Handed out exactly once, then forgotten.
    world.clock.advance(10)
    again = httpx.post(f"{world.relay.url}/device/token", data={
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": pairing._device_code})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert len(world.relay.pairings) == 0

    # Near expiry, token() refreshes by itself; a relay failure is not a lost login.
    record = world.store.load()
    assert record is not None
    late = RelayLogin(world.store, clock=lambda: record["expires_at"] - 30)
    world.visma.fail_token(500)
    with pytest.raises(RelayUnavailable):
        late.token()
    assert world.store.load() == record
    token = late.token()
    assert token != record["access_token"] and world.dinero_works(token)
    rotated = world.store.load()
    assert rotated is not None and rotated["refresh_token"] != record["refresh_token"]
    assert rotated["access_token"] == token and rotated["expires_at"] == record["expires_at"] - 30 + 3600

    world.visma.revoke_all()
    with pytest.raises(LoginNeeded, match="pair the till again"):
        RelayLogin(world.store, clock=lambda: rotated["expires_at"]).token()


def test_wrong_code_is_refused_in_danish_and_the_pairing_stays_pending(world: World) -> None:
    pairing = world.start_pairing()
    phone = Phone(world)
    wrong = phone.enter_code("BBBB-BBBB" if pairing.user_code != "BBBB-BBBB" else "CCCC-CCCC")
    assert wrong.status_code == 400 and "Koden findes ikke eller er udløbet" in wrong.text
    assert Forms(wrong.text).forms[0]["action"] == "/device"  # the retry form
    pending = httpx.post(f"{world.relay.url}/device/token", data={
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": pairing._device_code})
    assert pending.json() == {"error": "authorization_pending"}
    # Case and dash do not matter.
    right = phone.enter_code(pairing.user_code.lower().replace("-", ""))
    assert right.status_code == 302 and right.headers["location"].startswith(world.visma.authorize_url)


def test_expired_code(world: World) -> None:
    pairing = world.start_pairing()
    world.clock.advance(601)
    # The till's own deadline never passes here: the relay's "expired_token" is what stops it.
    with pytest.raises(PairingExpired, match="expired"):
        world.poll(pairing, clock=lambda: 0.0)
    late = Phone(world).enter_code(pairing.user_code)
    assert late.status_code == 400 and "udløbet" in late.text


def test_denied_consent(world: World) -> None:
    pairing = world.start_pairing()
    phone = Phone(world)
    redirect = phone.enter_code(pairing.user_code)
    action, fields = phone.visma_login(redirect.headers["location"], decision="deny")
    assert fields.get("error") == "access_denied" and "code" not in fields
    page = phone.http.post(action, data=fields)
    assert page.status_code == 200 and "Du afviste adgangen" in page.text
    with pytest.raises(PairingDenied):
        world.poll(pairing)
    assert world.store.load() is None
    assert world.visma.token_requests() == []  # nothing was exchanged


def test_guessing_codes_is_rate_limited(world: World) -> None:
    pairing = world.start_pairing()
    phone = Phone(world)
    guesses = [c * 8 for c in "BCDFGHJKLM" if c * 8 != pairing.user_code.replace("-", "")][:5]
    assert [phone.enter_code(g).status_code for g in guesses] == [400] * 5
    blocked = phone.enter_code(pairing.user_code)  # even the right code, from this address, for now
    assert blocked.status_code == 429 and "For mange forkerte koder" in blocked.text
    world.clock.advance(61)
    assert phone.enter_code(pairing.user_code).status_code == 302


def test_slow_down_when_polling_too_fast(world: World) -> None:
    pairing = world.start_pairing()
    assert pairing.interval == 5
    phone = Phone(world)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            world.clock.advance(2)  # too soon: the relay answers slow_down
            return
        if len(sleeps) == 4:
            assert DONE_TEXT in phone.approve(pairing).text
        world.clock.advance(seconds)

    world.poll(pairing, sleep=sleep)
    assert sleeps == [5, 5, 10, 10]

    # The relay's side directly: a second poll at once is slow_down, and the interval grows by 5 s.
    other = world.start_pairing()
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": other._device_code}
    first = httpx.post(f"{world.relay.url}/device/token", data=form)
    second = httpx.post(f"{world.relay.url}/device/token", data=form)
    assert first.json()["error"] == "authorization_pending"
    assert second.status_code == 400 and second.json() == {"error": "slow_down", "interval": 10}


def test_callback_with_a_wrong_state_is_refused(world: World) -> None:
    pairing = world.start_pairing()
    phone = Phone(world)
    redirect = phone.enter_code(pairing.user_code)
    action, fields = phone.visma_login(redirect.headers["location"])
    forged = phone.http.post(action, data={**fields, "state": "forged-" + fields["state"][:8]})
    assert forged.status_code == 400 and "ugyldig" in forged.text
    assert world.visma.token_requests() == []  # the code was not even exchanged
    choose = phone.http.post(action, data=fields)
    assert choose.status_code == 200 and PRO_NAME in choose.text
    replayed = phone.http.post(action, data=fields)  # the state is single-use
    assert replayed.status_code == 400
    # An organization without Pro cannot be chosen, even by a hand-made request.
    form = Forms(choose.text)
    assert f"org-{FREE_ORG}" in form.disabled
    refused = phone.http.post(f"{world.relay.url}/choose",
                              data={"choice": form.forms[0]["fields"]["choice"], "org_id": str(FREE_ORG)})
    assert refused.status_code == 400 and "Dinero Pro" in refused.text


def test_pending_pairings_are_capped(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                     capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    w = World(tmp_path, max_pending=2)
    try:
        w.start_pairing()
        w.start_pairing()
        with pytest.raises(RelayUnavailable, match="503"):
            start_pairing(w.relay.url)
        w.clock.advance(601)  # expired pairings no longer count
        w.start_pairing()
    finally:
        w.stop()
    assert_no_secrets(w, caplog, capfd)


def test_device_page_get_shows_the_code_without_checking_it(world: World) -> None:
    page = httpx.get(f"{world.relay.url}/device", params={"user_code": "bcdf-ghjk"})
    assert page.status_code == 200 and "BCDF-GHJK" in page.text and 'lang="da"' in page.text
    assert "viewport" in page.text and page.headers["cache-control"] == "no-store"
    assert "form-action 'self' " + world.visma.url in page.headers["content-security-policy"]
    assert "Skriv koden" in httpx.get(f"{world.relay.url}/device").text


def test_fake_visma_enforces_the_protocol() -> None:
    """The relay's tests mean something only if the fake refuses what Visma refuses."""
    with FakeVisma() as visma:
        visma.register_client(CLIENT_ID, CLIENT_SECRET, ["https://relay.example/callback"])
        visma.add_user(USER, PASSWORD)
        verifier = "v" * 50
        good = {"client_id": CLIENT_ID, "redirect_uri": "https://relay.example/callback", "response_type": "code",
                "response_mode": "form_post", "scope": "dineropublicapi:read offline_access", "state": "s1",
                "code_challenge": s256(verifier), "code_challenge_method": "S256"}
        http = httpx.Client(timeout=5)
        for bad in ({"redirect_uri": "https://evil.example/callback"}, {"response_mode": "query"},
                    {"code_challenge_method": "plain"}, {"state": ""}, {"client_id": "isv_other"}):
            assert http.get(visma.authorize_url, params={**good, **bad}).status_code == 400, bad
        page = http.get(visma.authorize_url, params=good)
        request_id = Forms(page.text).forms[0]["fields"]["request_id"]
        wrong = http.post(f"{visma.url}/connect/login", data={"request_id": request_id, "username": USER,
                                                               "password": "nope"})
        assert "Forkert brugernavn" in wrong.text
        http.post(f"{visma.url}/connect/login", data={"request_id": request_id, "username": USER,
                                                       "password": PASSWORD})
        auto = http.post(f"{visma.url}/connect/consent", data={"request_id": request_id, "decision": "allow"})
        code = Forms(auto.text).forms[0]["fields"]["code"]
        exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": good["redirect_uri"],
                    "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "code_verifier": verifier}
        assert http.post(visma.token_url, data={**exchange, "client_secret": "wrong"}).status_code == 401
        assert http.post(visma.token_url, data={**exchange, "code_verifier": "w" * 50}).status_code == 400
        # The code was burnt by the failed PKCE attempt: single use, whatever happened.
        assert http.post(visma.token_url, data=exchange).json()["error"] == "invalid_grant"
        assert visma.issued.access_tokens == []


# --- small pieces -------------------------------------------------------------------------------------------------


def test_qr_text_is_a_readable_qr_code() -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    url = "https://pair.tillbox.dk/device?user_code=BCDF-GHJK"
    rows = qr_text(url).splitlines()
    assert len(rows) > 10 and {ch for row in rows for ch in row} <= {"█", "▀", "▄", " ", "\xa0"}
    width, scale = max(len(r) for r in rows), 6
    img = Image.new("L", ((width + 4) * scale, (len(rows) * 2 + 4) * scale), 255)
    for y, row in enumerate(rows):  # inverted for dark terminals: a drawn half-block is a light module
        for x, ch in enumerate(row):
            for half, light in ((0, ch in "█▀"), (1, ch in "█▄")):
                if not light:
                    img.paste(0, ((x + 2) * scale, (2 * y + half + 2) * scale,
                                  (x + 3) * scale, (2 * y + half + 3) * scale))
    assert [r.text for r in zxingcpp.read_barcodes(img)] == [url]


def test_relay_config_from_toml_env_and_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(CLIENT_SECRET + "\n")
    toml = tmp_path / "relay.toml"
    toml.write_text(f'''public_url = "https://pair.tillbox.dk/"
authorize_url = "https://connect.visma.com/connect/authorize"
token_url = "https://connect.visma.com/connect/token"
client_id = "{CLIENT_ID}"
client_secret_file = "{secret}"
''')
    config = load_config(toml, env={"TILLBOX_RELAY_INTERVAL": "7", "TILLBOX_RELAY_TRUST_FORWARDED_FOR": "yes"})
    assert config.public_url == "https://pair.tillbox.dk" and config.client_secret == CLIENT_SECRET
    assert config.interval == 7 and config.trust_forwarded_for and config.code_lifetime == 600
    assert config.scopes == "dineropublicapi:read dineropublicapi:write offline_access"
    assert CLIENT_SECRET not in repr(config)
    assert load_config(toml, env={"TILLBOX_RELAY_CLIENT_SECRET": "from-env"}).client_secret == "from-env"
    inline = tmp_path / "inline.toml"
    inline.write_text(toml.read_text() + 'client_secret = "oops"\n')
    with pytest.raises(ConfigError, match="not in the TOML"):
        load_config(inline, env={})
    with pytest.raises(ConfigError, match="https"):
        load_config(toml, env={"TILLBOX_RELAY_TOKEN_URL": "http://connect.visma.com/connect/token"})


def test_relay_main_refuses_a_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from relay.__main__ import main

    assert main(["--config", str(tmp_path / "missing.toml")]) == 2
    assert "cannot read" in capsys.readouterr().err
