"""The installer's set-up, from a fresh box to the first sale: connect to Dinero (pair through the
relay with a QR code and a short code, or the personal integration's keys), check the account
mapping against the organization's chart (and create the missing clearing accounts), test the
printer, the drawer and the scanner, then "Klar til første salg".

Pairing blocks for minutes, so `relay_login.poll` runs on a thread of its own (not the backend's
worker) and its progress reaches the screen through the Clock. Leaving the screen cancels it (the
poll's sleep raises). Every other use case goes through the backend. Secrets (client secret, API
key, tokens, device code) are never logged nor shown: the two secret fields are password fields
and are emptied as soon as the login is saved."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.properties import BooleanProperty, ListProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen

from ...services.dinero_link import check_accounts, record_connection
from ..i18n import _
from ..qrcode_view import QRCodeView  # noqa: F401  (pairing.kv places it)

log = logging.getLogger(__name__)

RELAY_KEY = "dinero.relay_url"
API_KEY = "dinero.api_base"
AUTH_KEY = "dinero.auth_url"
DEFAULT_RELAY = "https://pair.tillbox.dk"
DEFAULT_API = "https://api.dinero.dk"
DEFAULT_AUTH = "https://authz.dinero.dk/dineroapi/oauth/token"
STEPS = ("start", "personal", "waiting", "failed", "paired", "accounts", "devices")


class _Cancelled(Exception):
    """The installer left the screen or started again: the poll thread stops quietly."""




# --- the step panels (their looks are in pairing.kv) ----------------------------------------------

class PairPanel(BoxLayout):
    screen = ObjectProperty(None)


class PairStart(PairPanel):
    pass


class PairPersonal(PairPanel):
    pass


class PairWaiting(PairPanel):
    pass


class PairFailed(PairPanel):
    pass


class PairDone(PairPanel):
    pass


class PairAccounts(PairPanel):
    pass


class PairDevices(PairPanel):
    pass


class AccountRow(BoxLayout):
    label = StringProperty("")
    number = StringProperty("")
    problem = StringProperty("")


PANELS = {"start": PairStart, "personal": PairPersonal, "waiting": PairWaiting, "failed": PairFailed,
          "paired": PairDone, "accounts": PairAccounts, "devices": PairDevices}


# --- plain Danish for what the services say -------------------------------------------------------

def pairing_error(exc: BaseException) -> str:
    from ...dinero.errors import NoPro, RateLimited, Rejected, Transient
    from ...dinero.relay_login import PairingDenied, PairingError, PairingExpired, RelayUnavailable
    from ...dinero.tokens import LoginNeeded
    if isinstance(exc, PairingExpired) or (isinstance(exc, PairingError) and "invalid_grant" in str(exc)):
        # invalid_grant: the relay no longer knows the code (expired long ago, or the relay restarted)
        return _("Koden udløb, før login på telefonen var gjort færdigt. Tryk 'Prøv igen' for en ny kode.")
    if isinstance(exc, PairingDenied):
        return _("Adgangen til Dinero blev afvist på telefonen. Tryk 'Prøv igen' for at starte forfra.")
    if isinstance(exc, RelayUnavailable):
        return _("Kan ikke komme i kontakt med parringsserveren. Tjek internetforbindelsen og adressen, "
                 "og prøv igen.")
    if isinstance(exc, PairingError):
        if "https://" in str(exc):
            return _("Adressen på parringsserveren skal begynde med https://")
        return _("Parringsserveren afviste parringen. Prøv igen.")
    if isinstance(exc, NoPro):
        return _("Organisationen har ikke Dinero Pro, som kræves, for at kassen kan bogføre i Dinero.")
    if isinstance(exc, (Transient, RateLimited)):
        return _("Dinero svarer ikke lige nu. Prøv igen om lidt.")
    if isinstance(exc, Rejected):
        return _("Dinero-login giver ikke adgang til en organisation, kassen kan bruge.")
    if isinstance(exc, LoginNeeded):
        return _("Dinero afviste oplysningerne. Tjek client id, client secret og API-nøglen.")
    return _("Noget gik galt. Prøv igen.")


def account_label(key: str) -> str:
    names = {"cash": _("Kontanter"), "bank": _("Bank"), "differences": _("Kassedifferencer"),
             "rounding": _("Øreafrunding"), "vat": _("Moms"), "revenue:default": _("Salg (øvrige)"),
             "payment:card": _("Betalingskort"), "payment:mobilepay": _("MobilePay"),
             "payment:manual_card": _("Kort, manuel terminal"), "payment:gift_voucher": _("Gavekort")}
    if key in names:
        return names[key]
    if key.startswith("revenue:"):
        return _("Salg: {group}").format(group=key.split(":", 1)[1])
    return key


def problem_text(problem: dict[str, Any]) -> str:
    """accounts.Problem (English, for logs and the CLI) said in Danish for the installer."""
    reason, number = str(problem.get("reason", "")), problem.get("account")
    if problem.get("key") == "vat":
        return _("Organisationen har ingen U25-momskode (dansk salgsmoms).")
    if "not mapped" in reason:
        return _("Ingen konto valgt.")
    if "is not a deposit account" in reason:
        return _("Konto {n} er ikke en betalingskonto (indbetaling) i Dinero.").format(n=number)
    if "does not exist" in reason:
        return _("Konto {n} findes ikke i Dinero.").format(n=number)
    if "is hidden" in reason:
        return _("Konto {n} er skjult i Dinero.").format(n=number)
    if "VAT code" in reason:
        return _("Konto {n} har ikke salgsmoms: salg med 25 % moms ville blive bogført uden moms.").format(
            n=number)
    return reason


# --- use cases on the backend's worker ----------------------------------------------------------

def load_setup(till: Any) -> dict[str, Any]:
    from ...dinero.tokens import LoginNeeded, TokenStore
    from ...services.kiosk import kiosk_value
    try:
        record = TokenStore(till.data_dir).load() or {}
    except LoginNeeded:
        record = {}
    return {"relay_url": kiosk_value(till, RELAY_KEY, DEFAULT_RELAY) or DEFAULT_RELAY,
            "api_base": kiosk_value(till, API_KEY, DEFAULT_API) or DEFAULT_API,
            "auth_url": kiosk_value(till, AUTH_KEY, DEFAULT_AUTH) or DEFAULT_AUTH,
            "org_name": str(record.get("org_name") or "") if record.get("org_id") else "",
            "kind": str(record.get("kind") or "")}


def save_relay_url(till: Any, url: str, who: str) -> None:
    from ...services.kiosk import change_setting
    change_setting(till, RELAY_KEY, url, who, DEFAULT_RELAY)


def print_test(till: Any, print_queue: Any) -> int:
    from ...cli_devices import test_document
    from ...services.printing import queue_job
    job = queue_job(till, "document", None, test_document(till))
    if print_queue is not None:
        print_queue.wake()
    return job


def print_job_state(till: Any, job: int) -> tuple[str, str | None]:
    from ...services.printing import job_state
    return job_state(till.conn, job)


# --- the screen ---------------------------------------------------------------------------------

class PairingScreen(Screen):
    step = StringProperty("start")
    title = StringProperty("")
    relay_url = StringProperty(DEFAULT_RELAY)
    api_base = StringProperty(DEFAULT_API)
    auth_url = StringProperty(DEFAULT_AUTH)
    connected_org = StringProperty("")       # the organization already connected, if any
    user_code = StringProperty("")
    verification_uri = StringProperty("")
    verification_uri_complete = StringProperty("")
    wait_text = StringProperty("")
    error_text = StringProperty("")
    error_retry = StringProperty("relay")    # what "Prøv igen" does: relay | personal
    org_name = StringProperty("")
    organizations = ListProperty([])         # personal login with several: [(id, name)]
    account_rows = ListProperty([])          # [(label, number, problem text or "")]
    can_create = BooleanProperty(False)
    accounts_text = StringProperty("")
    busy = BooleanProperty(False)
    print_text = StringProperty("")
    drawer_text = StringProperty("")
    scan_text = StringProperty("")

    def __init__(self, **kw: Any):
        self._panels: dict[str, PairPanel] = {}
        self._cancel: threading.Event | None = None
        self._deadline = 0.0
        self._wait_status = ""
        self._tick: Any = None
        # How the poll thread waits between polls: (seconds, cancelled) -> None. Tests step a
        # fake relay clock here instead of waiting for real.
        self.poll_sleep: Callable[[float, threading.Event], Any] = lambda s, cancel: cancel.wait(s)
        super().__init__(**kw)

    # --- steps ------------------------------------------------------------------------------------

    def show_step(self, step: str) -> None:
        titles = {"start": _("Opsætning 1/3: Forbind kassen til Dinero"),
                  "personal": _("Opsætning 1/3: Personlig integration"),
                  "waiting": _("Opsætning 1/3: Log ind på telefonen"),
                  "failed": _("Opsætning 1/3: Forbindelsen mislykkedes"),
                  "paired": _("Opsætning 1/3: Forbundet til Dinero"),
                  "accounts": _("Opsætning 2/3: Konti i Dinero"),
                  "devices": _("Opsætning 3/3: Test af printer, skuffe og skanner")}
        if step not in self._panels:
            self._panels[step] = PANELS[step](screen=self)
        self.step = step
        self.title = titles[step]
        body = self.ids.body
        body.clear_widgets()
        body.add_widget(self._panels[step])

    def panel(self, step: str) -> Any:
        return self._panels.get(step)

    def on_pre_enter(self, *_args: Any) -> None:
        app = App.get_running_app()
        self.show_step("start")
        app.backend.call(load_setup, done=self._loaded)

    def _loaded(self, setup: dict[str, Any]) -> None:
        self.relay_url, self.api_base = setup["relay_url"], setup["api_base"]
        self.auth_url = setup["auth_url"]
        self.connected_org = setup["org_name"]
        start = self.panel("start")
        if start is not None:
            start.ids.relay_url.text = self.relay_url

    def on_leave(self, *_args: Any) -> None:
        self.cancel_pairing()
        personal = self.panel("personal")
        if personal is not None:
            self._clear_secrets(personal)

    def leave(self) -> None:
        App.get_running_app().show("sale")

    # --- pairing through the relay -------------------------------------------------------------

    def start_relay(self) -> None:
        app = App.get_running_app()
        start = self.panel("start")
        url = (start.ids.relay_url.text.strip() if start is not None else "") or self.relay_url
        self.relay_url = url
        who = app.session.cashier.id if app.session.cashier else "system"
        app.backend.call(save_relay_url, url, who,
                         failed=lambda e: log.warning("event=relay_url_not_saved error=%s", type(e).__name__))
        self.cancel_pairing()
        app.clear_message()
        cancel = threading.Event()
        self._cancel = cancel
        self.user_code = self.verification_uri = self.verification_uri_complete = ""
        self.wait_text = _("Henter en kode fra parringsserveren ...")
        self.error_retry = "relay"
        self.show_step("waiting")
        threading.Thread(target=self._pair, args=(url, self.api_base, app.data_dir, cancel),
                         name="dinero-pairing", daemon=True).start()

    def cancel_pairing(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
            self._cancel = None
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None

    def _pair(self, url: str, api_base: str, data_dir: Any, cancel: threading.Event) -> None:
        """On the pairing thread: ask for a code, show it, poll until the phone is done."""
        from ...dinero.relay_login import poll, start_pairing
        from ...dinero.tokens import TokenStore

        def later(fn: Callable[[], None]) -> None:
            Clock.schedule_once(lambda _dt: None if cancel.is_set() else fn(), 0)

        def sleep(seconds: float) -> None:
            if cancel.is_set():
                raise _Cancelled
            self.poll_sleep(seconds, cancel)
            if cancel.is_set():
                raise _Cancelled

        try:
            pairing = start_pairing(url)
            if cancel.is_set():
                return
            later(lambda: self._show_code(pairing.user_code, pairing.verification_uri,
                                          pairing.verification_uri_complete, pairing.expires_in))
            record = poll(pairing, TokenStore(data_dir), api_base=api_base, sleep=sleep,
                          on_wait=lambda status, left: later(lambda: self._waiting(status, left)))
        except _Cancelled:
            log.info("event=pairing_cancelled")
            return
        except Exception as exc:  # shown in Danish; the type only in the log (never a secret)
            log.info("event=pairing_screen_failed error=%s", type(exc).__name__)
            later(functools.partial(self._failed, exc, "relay"))  # exc is unbound after this block
            return
        later(lambda: self._connected(record))

    def _show_code(self, user_code: str, uri: str, uri_complete: str, expires_in: float) -> None:
        self.user_code, self.verification_uri, self.verification_uri_complete = user_code, uri, uri_complete
        self._deadline = time.monotonic() + expires_in
        self._wait_status = "authorization_pending"
        self._update_wait()
        if self._tick is None:
            self._tick = Clock.schedule_interval(lambda _dt: self._update_wait(), 1.0)

    def _waiting(self, status: str, left: float) -> None:
        self._deadline = time.monotonic() + left
        self._wait_status = status
        self._update_wait()

    def _update_wait(self) -> None:
        left = max(0, int(self._deadline - time.monotonic()))
        text = _("Koden udløber om {m}:{s:02d}.").format(m=left // 60, s=left % 60)
        if self._wait_status == "relay_unreachable":
            text = _("Kan ikke nå parringsserveren lige nu. Prøver igen ...") + "  " + text
        self.wait_text = text

    def _failed(self, exc: BaseException, retry: str) -> None:
        self.cancel_pairing()
        self.busy = False
        self.error_text = pairing_error(exc)
        self.error_retry = retry
        self.show_step("failed")
        App.get_running_app().notify(self.error_text, error=True)

    def retry(self) -> None:
        if self.error_retry == "personal":
            self.show_step("personal")
        else:
            self.start_relay()

    # --- the personal integration --------------------------------------------------------------

    def open_personal(self) -> None:
        self.cancel_pairing()
        self.organizations = []
        self.show_step("personal")

    def connect_personal(self, org_id: int | None = None) -> None:
        from ...dinero.personal import connect_personal
        from ...dinero.tokens import TokenStore
        app = App.get_running_app()
        panel = self.panel("personal")
        client_id = panel.ids.client_id.text.strip()
        secret = panel.ids.client_secret.text.strip()
        api_key = panel.ids.api_key.text.strip()
        if not (client_id and secret and api_key):
            app.notify(_("Udfyld client id, client secret og API-nøgle."), error=True)
            return
        store, auth_url, api_base = TokenStore(app.data_dir), self.auth_url, self.api_base

        def connect(_till: Any) -> dict[str, Any]:
            return connect_personal(store, auth_url, api_base, client_id, secret, api_key, org_id=org_id)

        self.busy = True
        app.notify(_("Forbinder til Dinero ..."))
        app.backend.call(connect, done=self._personal_done,
                         failed=lambda exc: self._failed(exc, "personal"))

    def _personal_done(self, result: dict[str, Any]) -> None:
        self.busy = False
        if not result.get("connected"):
            self.organizations = [(int(o["Id"]), str(o.get("Name") or o["Id"]))
                                  for o in result["organizations"]]
            self._fill_organizations()
            App.get_running_app().notify(_("Vælg hvilken organisation kassen skal bogføre i."))
            return
        self._clear_secrets(self.panel("personal"))
        self._connected(result)

    def _fill_organizations(self) -> None:
        from ..widgets import TouchButton
        box = self.panel("personal").ids.organizations
        box.clear_widgets()
        for org_id, name in self.organizations:
            b = TouchButton(text=name, key=f"org-{org_id}")
            b.bind(on_release=lambda _b, org_id=org_id: self.connect_personal(org_id))
            box.add_widget(b)

    def _clear_secrets(self, panel: Any) -> None:
        if panel is not None:
            panel.ids.client_secret.text = ""
            panel.ids.api_key.text = ""

    # --- connected -------------------------------------------------------------------------------

    def _connected(self, record: dict[str, Any]) -> None:
        app = App.get_running_app()
        self.cancel_pairing()
        self.org_name = str(record.get("org_name") or "")
        self.connected_org = self.org_name
        who = app.session.cashier.id if app.session.cashier else "system"
        app.backend.call(record_connection, record, who)
        app.notify(_("Kassen er forbundet til {org}.").format(org=self.org_name))
        self.show_step("paired")

    # --- accounts -------------------------------------------------------------------------------

    def open_accounts(self) -> None:
        self.account_rows = []
        self.can_create = False
        self.accounts_text = _("Tjekker kontoplanen i Dinero ...")
        self.show_step("accounts")
        self.check(False)

    def check(self, create_missing: bool) -> None:
        app = App.get_running_app()
        self.busy = True
        if create_missing:
            self.accounts_text = _("Opretter de manglende konti i Dinero ...")
        app.backend.call(check_accounts, create_missing, done=self._checked, failed=self._check_failed)

    def _checked(self, result: dict[str, Any]) -> None:
        self.busy = False
        self.show_accounts(result)
        if result.get("created"):
            App.get_running_app().notify(_("Oprettet i Dinero: konto {numbers}.").format(
                numbers=", ".join(str(n) for n in result["created"])))

    def show_accounts(self, result: dict[str, Any]) -> None:
        mapping: dict[str, int] = result.get("mapping", {})
        problems: dict[str, list[dict[str, Any]]] = {}
        for p in result.get("problems", []):
            problems.setdefault(p["key"], []).append(p)

        def order(key: str) -> tuple[int, str]:
            first = ("revenue:", "cash", "bank", "payment:", "differences", "rounding")
            return next((i for i, p in enumerate(first) if key.startswith(p)), len(first)), key

        rows = []
        for key in sorted({*mapping, *problems}, key=order):
            text = " ".join(problem_text(p) for p in problems.get(key, []))
            number = mapping.get(key)
            rows.append((account_label(key), "" if number is None else str(number), text))
        self.account_rows = rows
        self.can_create = any(p.get("can_create") for p in result.get("problems", []))
        if result.get("ok"):
            self.accounts_text = _("Alle konti er i orden.")
        elif self.can_create:
            self.accounts_text = _("{n} problemer. Betalingskonti, der mangler, kan kassen oprette.").format(
                n=len(result["problems"]))
        else:
            self.accounts_text = _("{n} problemer. Ret kontoerne under Indstillinger eller i Dinero.").format(
                n=len(result["problems"]))
        panel = self.panel("accounts")
        if panel is not None:
            self._fill_accounts(panel)

    def _fill_accounts(self, panel: Any) -> None:
        box = panel.ids.rows
        box.clear_widgets()
        for label, number, problem in self.account_rows:
            box.add_widget(AccountRow(label=label, number=number, problem=problem))

    def _check_failed(self, exc: BaseException) -> None:
        from ...dinero.tokens import LoginNeeded
        self.busy = False
        self.accounts_text = (_("Kassen er ikke forbundet til Dinero. Gå tilbage og forbind den først.")
                              if isinstance(exc, LoginNeeded) and "not connected" in str(exc)
                              else pairing_error(exc))
        log.info("event=accounts_check_failed error=%s", type(exc).__name__)
        App.get_running_app().notify(self.accounts_text, error=True)

    # --- devices ---------------------------------------------------------------------------------

    def open_devices(self) -> None:
        self.print_text = _("Ikke testet.")
        self.drawer_text = _("Ikke testet.")
        self.scan_text = _("Skan en vare: skanneren er klar.")
        self.show_step("devices")

    def test_print(self) -> None:
        app = App.get_running_app()
        self.print_text = _("Sender testbon til printeren ...")
        app.backend.call(print_test, app.backend.print_queue, done=self._printing,
                         failed=lambda e: self._device_failed("print", e))

    def _printing(self, job: int, tries: int = 0) -> None:
        app = App.get_running_app()

        def state(result: tuple[str, str | None]) -> None:
            done, error = result
            if done == "printed":
                self.print_text = _("Testbonen er udskrevet.")
                return
            pq = app.backend.print_queue
            if pq is None:
                self.print_text = _("Der er ingen bonprinter sat op.")
            elif tries >= 20:
                last = pq.last.message if pq.last is not None and pq.last.message else error
                self.print_text = _("Testbonen venter: {why}").format(why=last or _("printeren svarer ikke."))
            else:
                Clock.schedule_once(lambda _dt: self._printing(job, tries + 1), 0.25)
        app.backend.call(print_job_state, job, done=state)

    def test_drawer(self) -> None:
        from ...services.drawer import open_drawer
        app = App.get_running_app()
        who = app.session.cashier.id if app.session.cashier else "system"
        devices = app.backend.devices
        self.drawer_text = _("Åbner skuffen ...")

        def opened(result: dict[str, Any]) -> None:
            self.drawer_text = {"pulsed": _("Skuffen fik besked på at åbne. Åbnede den?"),
                                "no_drawer": _("Der er ingen pengeskuffe sat op.")}.get(
                result["result"], _("Skuffen kunne ikke åbnes. Tjek at den er tilsluttet."))
        app.backend.call(open_drawer, devices, who, "test", done=opened,
                         failed=lambda e: self._device_failed("drawer", e))

    def _device_failed(self, which: str, exc: BaseException) -> None:
        log.warning("event=device_test_failed device=%s error=%s", which, exc)
        text = _("Testen mislykkedes: {error}").format(error=exc)
        if which == "print":
            self.print_text = text
        else:
            self.drawer_text = text

    def on_scan(self, code: str) -> None:
        if self.step == "devices":
            self.scan_text = _("Skanning modtaget: {code}").format(code=code)
        else:
            App.get_running_app().notify(_("Skanneren testes i sidste trin."))

    def ready(self) -> None:
        app = App.get_running_app()
        app.notify(_("Kassen er klar til første salg."))
        app.show("sale")


SCREEN = PairingScreen


# --- the tour -----------------------------------------------------------------------------------

DEMO_RESULT = {
    "ok": False, "created": [],
    "mapping": {"revenue:default": 1000, "revenue:Aviser": 1010, "revenue:Tobak": 1020, "cash": 55040,
                "bank": 55000, "differences": 7380, "rounding": 7390, "payment:card": 55100,
                "payment:mobilepay": 55110},
    "problems": [{"key": "revenue:Tobak", "account": 1020, "reason": "account 1020 does not exist in Dinero",
                  "can_create": False},
                 {"key": "payment:card", "account": 55100, "reason": "account 55100 does not exist in Dinero",
                  "can_create": True},
                 {"key": "payment:mobilepay", "account": 55110,
                  "reason": "account 55110 does not exist in Dinero", "can_create": True}],
}


def tour(driver: Any, shoot: Any) -> None:
    """Every step with demo data and no network: the relay and Dinero answers are stand-ins."""
    from ...dinero.relay_login import PairingExpired, RelayUnavailable
    app = driver.app
    screen = app.screen("pairing")
    shoot("pairing", "start")
    driver.tap("personal")
    panel = screen.panel("personal")
    panel.ids.client_id.text = "tillbox-demo"
    panel.ids.client_secret.text = "hemmelig-demo"
    panel.ids.api_key.text = "demo-api-key"
    shoot("pairing", "personal")
    screen._clear_secrets(panel)
    screen.show_step("start")
    screen.show_step("waiting")
    screen._show_code("BCDF-GHJK", "https://pair.tillbox.dk/device",
                      "https://pair.tillbox.dk/device?user_code=BCDFGHJK", 600)
    shoot("pairing", "waiting")
    screen._failed(RelayUnavailable("demo"), "relay")
    shoot("pairing", "relay-down")
    screen._failed(PairingExpired("demo"), "relay")
    shoot("pairing", "expired")
    app.clear_message()
    screen.org_name = "Kaffebaren ApS"
    screen.show_step("paired")
    shoot("pairing", "paired")
    screen.show_step("accounts")
    screen.show_accounts(DEMO_RESULT)
    shoot("pairing", "accounts")
    driver.tap("to-devices")
    driver.tap("test-print")
    driver.until(lambda: "..." not in screen.print_text, what="the test receipt")
    driver.tap("test-drawer")
    code = app.backend.run(lambda t: t.conn.execute("SELECT code FROM barcodes LIMIT 1").fetchone()[0])
    driver.scan(code)
    driver.until(lambda: code in screen.scan_text, what="the test scan")
    shoot("pairing", "devices")
    driver.tap("ready")
