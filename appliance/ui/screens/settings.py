"""Indstillinger, for a manager: shop details, products and groups, the favourites page, the
account mapping with the Dinero check, payment types (cash always on), devices (choose from what is
plugged in, test, simulated; the card terminal and MobilePay with their state), cashiers and PINs,
language and departments, the signing certificate and the SAF-T export (settings_saft.py). A cashier
who opens it is asked for a manager's PIN first; the approving manager is who the changes are
journalled under. Leaving the screen locks it again.

Each section is a widget of its own, built when chosen (so hidden sections never catch touches);
all their work runs on the backend's worker through existing services (and services.products)."""

from __future__ import annotations

import logging
import re
from typing import Any

from kivy.properties import BooleanProperty, ListProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.screenmanager import Screen

from ...domain.money import format_dkk
from ..i18n import _
from .section import Section, _app
from .settings_saft import SaftSection, warn_certificate

log = logging.getLogger(__name__)

PIN = re.compile(r"^\d{4,6}$")
CASHIER_ID = re.compile(r"^[A-Za-z0-9._-]{1,36}$")


def _kr(ore: int) -> str:
    return f"{ore // 100},{ore % 100:02d}"


class SettingsScreen(Screen):
    approver = ObjectProperty(None, allownone=True)  # the manager the changes are journalled under
    section = StringProperty("")
    _pending_barcode: str | None = None

    @property
    def who(self) -> str:
        return self.approver.id if self.approver is not None else ""

    def on_pre_enter(self, *_args: Any) -> None:
        app = _app()
        if app.session.is_manager:
            self.approver = app.session.cashier
        if self.approver is None:
            self._show(ManagerGate())
            return
        self._open_first()

    def on_pre_leave(self, *_args: Any) -> None:
        self.approver = None
        self.section = ""
        self._pending_barcode = None
        self.ids.content.clear_widgets()

    def unlock(self, manager: Any) -> None:
        self.approver = manager
        _app().clear_message()
        self._open_first()

    def _open_first(self) -> None:
        if self._pending_barcode is not None:
            barcode, self._pending_barcode = self._pending_barcode, None
            self.open_product(None, barcode)
        else:
            self.open(self.section or "shop")
        warn_certificate()  # an expiring or expired signing certificate is said when Settings opens

    # --- sections -------------------------------------------------------------------------------

    def open(self, name: str) -> None:
        if self.approver is None:
            _app().notify(_("Indtast en leders PIN først."), error=True)
            return
        self.section = name
        self._show(section_class(name)())

    def open_product(self, sku: str | None, barcode: str = "") -> None:
        """The product form: an existing product (sku), or a new one (with a scanned barcode)."""
        self.section = "products"
        form = ProductForm()
        self._show(form, load=False)
        form.load(sku, barcode)

    def _show(self, widget: Any, load: bool = True) -> None:
        box = self.ids.content
        box.clear_widgets()
        box.add_widget(widget)
        if load:
            widget.load()

    def current(self) -> Any:
        children = self.ids.content.children
        return children[0] if children else None

    def new_product(self, barcode: str) -> None:
        """The sale screen's "Opret vare" for an unknown scanned code: the product form opens with
        the code filled in (after the manager's PIN if need be)."""
        self._pending_barcode = barcode or ""

    def on_scan(self, code: str) -> None:
        handler = getattr(self.current(), "on_scan", None)
        if handler is None:
            _app().notify(_("Scanningen bruges ikke her. Gå til Varer for at oprette eller finde en vare."),
                          error=True)
            return
        handler(code)

    def back(self) -> None:
        _app().show("sale")


def _buttons(box: Any, items: list[tuple[str, str]], action: Any) -> None:
    from ..widgets import TouchButton
    box.clear_widgets()
    for key, text in items:
        b = TouchButton(text=text, key=key)
        b.bind(on_release=lambda _b, key=key: action(key))
        box.add_widget(b)


# --- the manager's PIN ------------------------------------------------------------------------------

class ManagerGate(Section):
    chosen = StringProperty("")
    chosen_name = StringProperty("")

    def load(self) -> None:
        from ...domain.roles import Role
        from ...services.kiosk import cashiers
        self.call(lambda t: [(c.id, c.name) for c in cashiers(t) if c.role is Role.MANAGER],
                  done=self._managers)

    def _managers(self, managers: list[tuple[str, str]]) -> None:
        names = dict(managers)
        _buttons(self.ids.managers, [(f"gate-cashier-{cid}", name) for cid, name in managers],
                 lambda key: self.choose(key.removeprefix("gate-cashier-"), names))
        if len(managers) == 1:
            self.choose(managers[0][0], names)

    def choose(self, cid: str, names: dict[str, str]) -> None:
        self.chosen, self.chosen_name = cid, names.get(cid, cid)
        self.ids.pad.text = ""

    def check(self) -> None:
        app = _app()
        if not self.chosen:
            app.notify(_("Vælg en leder først."), error=True)
            return
        cid, pin = self.chosen, self.ids.pad.text
        self.ids.pad.text = ""
        app.backend.call(lambda t: t.cashier(cid, pin), done=self._checked,
                         failed=lambda _e: app.notify(_("Forkert PIN. Prøv igen."), error=True))

    def _checked(self, who: Any) -> None:
        from ...domain.roles import Role
        if who.role is not Role.MANAGER:
            _app().notify(_("{name} er ikke leder.").format(name=who.name), error=True)
            return
        self.screen.unlock(who)


# --- shop details ----------------------------------------------------------------------------------

class ShopSection(Section):
    def load(self) -> None:
        from ...services.kiosk import shop
        self.call(shop, done=self._fill)

    def _fill(self, values: dict[str, str]) -> None:
        self.ids.shop_name.text = values.get("shop_name", "")
        self.ids.address.text = values.get("address", "")
        self.ids.cvr.text = values.get("cvr", "")

    def save(self) -> None:
        from ...services.products import set_shop
        self.call(set_shop, self.ids.shop_name.text, self.ids.address.text, self.ids.cvr.text,
                  self.screen.who, done=lambda _v: _app().notify(_("Butikkens oplysninger er gemt.")))


# --- products ------------------------------------------------------------------------------------------

class ProductList(Section):
    def load(self) -> None:
        self.find()

    def find(self) -> None:
        from ...services.products import search
        self.call(search, self.ids.search.text, done=self._show)

    def _show(self, products: list[Any]) -> None:
        _buttons(self.ids.results,
                 [(f"edit-{p.sku}", f"{p.name}  {format_dkk(p.price)}  ({p.group})") for p in products],
                 lambda key: self.screen.open_product(key.removeprefix("edit-")))
        if not products:
            _app().notify(_("Ingen varer fundet."))

    def on_scan(self, code: str) -> None:
        from ...services.kiosk import product_by_barcode

        def found(p: Any) -> None:
            if p is None:
                self.screen.open_product(None, code)
            else:
                self.screen.open_product(p.sku)
        self.call(lambda t: product_by_barcode(t, code), done=found)


class ProductForm(Section):
    sku = StringProperty("")
    is_new = BooleanProperty(True)
    vat = NumericProperty(25)
    groups = ListProperty([])
    label_sku = StringProperty("")  # set after a price change: "Print ny hyldeetiket" is offered

    def load(self, sku: str | None = None, barcode: str = "") -> None:
        from ...services.kiosk import product_groups
        from ...services.products import next_sku, product

        def fetch(t: Any) -> tuple[Any, str, list[str]]:
            return (product(t, sku) if sku else None), (sku or next_sku(t)), product_groups(t)
        self.call(fetch, done=lambda r: self._fill(r[0], r[1], r[2], barcode))

    def _fill(self, p: Any, sku: str, groups: list[str], barcode: str) -> None:
        self.groups = groups
        self.sku = sku
        self.is_new = p is None
        ids = self.ids
        if p is None:
            ids.name.text, ids.group.text, ids.barcode.text, ids.pad.text = "", "", barcode, ""
            self.vat = 25
        else:
            ids.name.text, ids.group.text = p.name, p.group
            ids.barcode.text = " ".join(p.barcodes)
            ids.pad.text = _kr(p.price)
            self.vat = p.vat_rate

    def on_scan(self, code: str) -> None:
        self.ids.barcode.text = code

    def save(self) -> None:
        from ...services.products import save_product
        ids = self.ids
        codes = [c for c in re.split(r"[\s|,;]+", ids.barcode.text) if c]
        self.call(save_product, self.sku, ids.name.text, ids.pad.text, int(self.vat), ids.group.text,
                  codes, self.screen.who, done=self._saved)

    def _saved(self, result: dict[str, Any]) -> None:
        app = _app()
        self.is_new = False
        change = result["price_change"]
        if change:
            self.label_sku = result["sku"]
            app.notify(_("Prisen er ændret fra {old} til {new}. "
                         "Tryk 'Print ny hyldeetiket' for en ny etiket.").format(
                           old=format_dkk(change["from"]), new=format_dkk(change["to"])))
        elif result["added"]:
            app.notify(_("Varen {sku} er oprettet.").format(sku=result["sku"]))
        else:
            app.notify(_("Varen er gemt."))

    def print_label(self) -> None:
        from ...services.labels import LabelError, plan_labels, print_labels
        devices = _app().backend.devices
        sku = self.label_sku or self.sku

        def run(t: Any) -> dict[str, Any]:
            if devices is None or devices.labels is None:
                raise LabelError("no label printer")
            return print_labels(t, devices, plan_labels(t, sku=sku))
        _app().backend.call(run, done=self._printed, failed=self._label_failed)

    def _printed(self, result: dict[str, Any]) -> None:
        if result["printed"]:
            self.label_sku = ""
            _app().notify(_("Hyldeetiketten er printet."))
        else:
            _app().notify(_("Varen har ingen 13-cifret stregkode, så der kan ikke printes en etiket."),
                          error=True)

    def _label_failed(self, exc: BaseException) -> None:
        if "no label printer" in str(exc):
            _app().notify(_("Der er ingen etiketprinter sat op."), error=True)
        else:
            _app().notify(_("Etiketprinteren svarer ikke. Tjek at den er tændt og har etiketter."),
                          error=True)


# --- favourites -----------------------------------------------------------------------------------------

class FavouritesSection(Section):
    skus = ListProperty([])

    def load(self) -> None:
        from ...services.products import favourites
        self.call(favourites, done=self._current)
        self.find()

    def _current(self, products: list[Any]) -> None:
        self.skus = [p.sku for p in products]
        _buttons(self.ids.current, [(f"fav-remove-{p.sku}", f"- {p.name}") for p in products],
                 lambda key: self._change([s for s in self.skus if s != key.removeprefix("fav-remove-")]))

    def find(self) -> None:
        from ...services.products import search
        self.call(search, self.ids.search.text, done=self._found)

    def _found(self, products: list[Any]) -> None:
        _buttons(self.ids.results, [(f"fav-add-{p.sku}", f"+ {p.name}") for p in products],
                 lambda key: self._change([*self.skus, key.removeprefix("fav-add-")]))

    def _change(self, skus: list[str]) -> None:
        from ...services.products import favourites, set_favourites

        def change(t: Any) -> list[Any]:
            set_favourites(t, skus, self.screen.who)
            return favourites(t)
        self.call(change, done=self._current)

    def on_scan(self, code: str) -> None:
        self.ids.search.text = code
        self.find()


# --- accounts and the Dinero check -----------------------------------------------------------------

BASE_ACCOUNTS = ("revenue:default", "cash", "bank", "differences", "rounding", "payment:card",
                 "payment:card:Dankort", "payment:card:Visa", "payment:card:Mastercard",
                 "payment:mobilepay", "payment:manual_card", "payment:gift_voucher")


def account_label(key: str) -> str:
    names = {"revenue:default": _("Omsætning (standard)"), "cash": _("Kasse"), "bank": _("Bank"),
             "differences": _("Kassedifferencer"), "rounding": _("Øreafrunding"),
             "payment:card": _("Betalingskort"), "payment:mobilepay": _("MobilePay"),
             "payment:manual_card": _("Kort, manuel terminal"), "payment:gift_voucher": _("Gavekort"),
             "vat": _("Moms")}
    if key.startswith("revenue:") and key not in names:
        return _("Omsætning: {group}").format(group=key.removeprefix("revenue:"))
    if key.startswith("payment:card:"):
        return _("Betalingskort: {brand}").format(brand=key.removeprefix("payment:card:"))
    return names.get(key, key)


def problem_text(p: dict[str, Any]) -> str:
    reason = str(p.get("reason", ""))
    if p.get("key") == "vat":
        what = _("organisationen har ingen U25-momskode (salgsmoms)")
    elif "not mapped" in reason:
        what = _("mangler et kontonummer")
    elif "does not exist" in reason:
        what = _("konto {n} findes ikke i Dinero").format(n=p.get("account"))
    elif "is hidden" in reason:
        what = _("konto {n} er skjult i Dinero").format(n=p.get("account"))
    elif "not a deposit account" in reason:
        what = _("konto {n} er ikke en bank- eller kassekonto i Dinero").format(n=p.get("account"))
    elif "VAT code" in reason:
        what = _("konto {n} har ikke salgsmoms (25 %-salg ville blive bogført uden moms)").format(
            n=p.get("account"))
    else:
        what = reason
    return f"{account_label(str(p.get('key')))}: {what}"


class AccountsSection(Section):
    result = StringProperty("")

    def load(self) -> None:
        from ...services.kiosk import accounts, product_groups
        self.call(lambda t: (accounts(t), product_groups(t)), done=self._fill)

    def _fill(self, data: tuple[dict[str, int], list[str]]) -> None:
        from kivy.factory import Factory
        from kivy.uix.textinput import TextInput

        from ..widgets import FONT, ROW
        mapping, groups = data
        keys = list(BASE_ACCOUNTS[:1]) + [f"revenue:{g}" for g in groups] + list(BASE_ACCOUNTS[1:])
        keys += [k for k in mapping if k not in keys]
        grid = self.ids.accounts
        grid.clear_widgets()
        self.inputs: dict[str, Any] = {}
        self.saved = mapping
        for key in keys:
            grid.add_widget(Factory.SettingsLabel(text=account_label(key), height=ROW))
            box = TextInput(text=str(mapping.get(key, "")), input_filter="int", multiline=False,
                            font_size=FONT, size_hint_y=None, height=ROW,
                            hint_text=_("som standard") if key.startswith("revenue:") else
                            _("som betalingskort") if key.startswith("payment:card:") else "")
            self.inputs[key] = box
            grid.add_widget(box)

    def save(self) -> None:
        from ...services.setup import clear_account, set_account
        changes = {k: w.text.strip() for k, w in self.inputs.items()
                   if w.text.strip() and w.text.strip() != str(self.saved.get(k, ""))}
        # a card brand's own account emptied: that brand goes to payment:card again
        cleared = [k for k, w in self.inputs.items()
                   if k.startswith("payment:card:") and not w.text.strip() and k in self.saved]
        who = self.screen.who

        def run(t: Any) -> int:
            for key, number in changes.items():
                set_account(t, key, number, who)
            for key in cleared:
                clear_account(t, key, who)
            return len(changes) + len(cleared)
        _app().backend.call(run, done=self._saved,
                            failed=lambda _e: _app().notify(
                                _("Et kontonummer skal være et positivt heltal."), error=True))

    def _saved(self, count: int) -> None:
        _app().notify(_("{n} konti er gemt.").format(n=count) if count else _("Ingen ændringer."))
        self.load()

    def check(self) -> None:
        from ...services.dinero_link import check_accounts
        self.result = _("Tjekker mod Dinero ...")
        _app().backend.call(check_accounts, False, done=self._checked, failed=self._check_failed)

    def _checked(self, result: dict[str, Any]) -> None:
        if result.get("ok"):
            self.result = _("Alle konti er i orden i Dinero.")
            return
        self.result = "\n".join([_("Dinero fandt problemer:")] +
                                [problem_text(p) for p in result.get("problems", [])])

    def _check_failed(self, exc: BaseException) -> None:
        from ...dinero.tokens import LoginNeeded
        if isinstance(exc, LoginNeeded):
            self.result = _("Dinero er ikke forbundet. Brug 'Opsætning af Dinero' i menuen.")
        else:
            self.result = _("Dinero svarede ikke. Tjek internetforbindelsen og prøv igen.")
        _app().notify(self.result, error=True)


# --- payment types -----------------------------------------------------------------------------------

def payment_type_note(row: dict[str, Any]) -> str:
    """What the manager should know about one payment type: cash is the law, card and MobilePay say
    whether they are set up (never a secret)."""
    ptype, setup = row["type"], row.get("setup") or {}
    if row.get("always_on"):
        return _("Kontant er altid slået til: danske butikker skal tage imod kontanter.")
    if ptype == "card":
        if setup.get("kind") is None:
            return _("Ingen kortterminal sat op. Vælg den under Enheder.")
        if setup.get("key") == "missing":
            return _("Kortterminalen mangler sin nøgle ('till hw terminal-key').")
        if setup.get("kind") == "sim":
            return _("Kortterminal sat op (simuleret).")
        return _("Kortterminal sat op ({poi}).").format(poi=setup.get("poi_id") or setup.get("kind"))
    if ptype == "mobilepay":
        if setup.get("kind") is None:
            return _("MobilePay er ikke sat op ('till mobilepay set').")
        if setup.get("kind") == "sim":
            return _("MobilePay er sat op (simuleret).")
        if not setup.get("ready"):
            return _("MobilePay mangler sine nøgler ('till mobilepay set').")
        env = _("produktion") if setup.get("environment") == "production" else _("test")
        return _("MobilePay er sat op ({env}, MSN {msn}).").format(env=env, msn=setup.get("msn") or "")
    if ptype == "manual_card":
        return _("Kort på en terminal, der ikke er koblet til kassen.")
    return _("Gavekort tages imod som betaling.")


class PaymentTypesSection(Section):
    """Which tenders the payment screen offers (services.payment_types); cash always."""

    def load(self) -> None:
        from ...services.payment_types import overview
        self.call(overview, done=self._fill)

    def _fill(self, rows: list[dict[str, Any]]) -> None:
        from ..widgets import TouchButton
        from .payment import tender_name
        grid = self.ids.types
        grid.clear_widgets()
        for row in rows:
            ptype, on = row["type"], row["enabled"]
            state = _("altid til") if row["always_on"] else (_("til") if on else _("fra"))
            button = TouchButton(text=f"{tender_name(ptype)}: {state}", key=f"ptype-{ptype}",
                                 disabled=bool(row["always_on"]), size_hint_x=0.45,
                                 background_color=(0.15, 0.55, 0.3, 1) if on else (0.55, 0.55, 0.55, 1))
            button.bind(on_release=lambda _b, ptype=ptype, on=on: self.switch(ptype, not on))
            grid.add_widget(button)
            grid.add_widget(_note(payment_type_note(row)))

    def switch(self, ptype: str, on: bool) -> None:
        from ...services.payment_types import set_type_enabled
        from .payment import tender_name

        def done(_types: list[str]) -> None:
            _app().notify((_("{name} er slået til.") if on else _("{name} er slået fra.")).format(
                name=tender_name(ptype)))
            self.load()
        self.call(set_type_enabled, ptype, on, self.screen.who, done=done)


def _note(text: str) -> Any:
    from kivy.factory import Factory

    from ..widgets import ROW
    label = Factory.SettingsLabel(text=text)
    label.bind(texture_size=lambda w, size: setattr(w, "height", max(ROW, size[1])))
    return label


# --- devices ------------------------------------------------------------------------------------------

def role_name(role: str) -> str:
    return {"printer": _("Bonprinter"), "drawer": _("Kasseskuffe"), "scanner": _("Scanner"),
            "labels": _("Etiketprinter"), "terminal": _("Kortterminal")}.get(role, role)


# what drivers.detect finds, by the role it can fill
ROLE_KINDS = {"printer": ("receipt_printer",), "labels": ("label_printer",),
              "scanner": ("scanner", "serial_scanner"), "drawer": ("gpio_chip",), "terminal": ()}
KICK_DRAWER = {"kind": "printer_kick", "pin": 2, "pulse_ms": 200}


def spec_text(spec: dict[str, Any] | None) -> str:
    """A device setting in a few words (specs never hold secrets)."""
    if not spec:
        return _("ikke sat op")
    kind = spec.get("kind")
    if kind == "sim":
        return _("simuleret")
    if kind == "printer_kick":
        return _("via bonprinterens skuffeport")
    if kind == "usb":
        return f"USB {spec.get('vendor_id')}:{spec.get('product_id')}"
    if kind == "gpio":
        return _("GPIO {chip}, linje {line}").format(chip=spec.get("chip"), line=spec.get("line"))
    if kind == "nexo":
        return f"nexo {spec.get('url', '')} ({spec.get('poi_id', '')})"
    where = spec.get("device") or spec.get("path") or spec.get("host") or spec.get("target") or ""
    return f"{kind} {where}".strip()


def device_error_text(role: str, exc: BaseException) -> str:
    """set_device's refusal (an English DeviceError naming the key) in plain Danish."""
    text = str(exc)
    if "passphrase" in text:
        return _("Kortterminalens nøgle er ikke gemt. Den sættes med 'till hw terminal-key'.")
    if role == "drawer" and ("line" in text or "chip" in text):
        return _("Skuffens GPIO-linje kan ikke bruges. Tjek linjenummeret.")
    if "pulse" in text:
        return _("Skuffens puls skal være 50-500 ms.")
    return _("{role} kunne ikke sættes op med den enhed. Intet er ændret.").format(role=role_name(role))


def terminal_test_text(exc: BaseException | None) -> str:
    """The answer to "Test terminal" in plain Danish: any status answer means the terminal was
    reached and understood the till's key."""
    from drivers.terminal.client import TerminalProtocolError, TerminalRejected, TerminalUnreachable
    if exc is None:
        return _("Terminalen svarer, og nøglen passer.")
    if isinstance(exc, TerminalUnreachable):
        if not exc.maybe_processed:
            return _("Terminalen kan ikke nås. Tjek at den er tændt og på netværket, "
                     "og at adressen er rigtig.")
        return _("Terminalen svarede ikke i tide. Tjek at den er tændt og ikke er optaget.")
    if isinstance(exc, TerminalRejected):
        return _("Terminalen afviste forespørgslen. Tjek terminalens POI-id i indstillingen.")
    if isinstance(exc, TerminalProtocolError):
        if "security" in str(exc) or "refused" in str(exc):
            return _("Terminalen svarer, men nøglen passer ikke. Tjek nøgle-id, version og "
                     "kodeordet ('till hw terminal-key').")
        return _("Terminalens svar kunne ikke læses. Tjek at adressen er terminalens nexo-adresse.")
    return _("Terminalen kunne ikke testes.")


class DevicesSection(Section):
    """What is set up and what is plugged in, per role, with a button per detected device; the card
    terminal and MobilePay with their state; tests of each device. A chosen device is checked
    (services.devices.set_device) and saved; the running kiosk keeps the devices it started with."""
    status = StringProperty("")
    terminal_result = StringProperty("")
    # drivers.detect's own seams: a pyudev-like context (None: the system's udev) and the GPIO chips'
    # folder. Tests put a fake context here, as tests/drivers/test_detect.py does.
    udev_context: Any = None
    chips_dir = "/dev"

    def load(self) -> None:
        from ...services.devices import device_settings
        from ...services.payment_types import card_setup, mobilepay_setup
        from ...services.printing import hold_reason, pending_jobs
        devices = _app().backend.devices
        context, chips_dir = self.udev_context, self.chips_dir

        def read(t: Any) -> dict[str, Any]:
            from drivers.detect import detect
            lines = []
            printer = devices.printer if devices is not None else None
            if printer is not None:
                state = printer.status()
                lines.append(_("Printerstatus: {state}").format(
                    state=hold_reason(state) or (_("klar") + (", " + _("papiret er ved at slippe op")
                                                              if state.paper_low else ""))))
            lines.append(_("Bonner i kø: {n}").format(n=pending_jobs(t.conn)))
            return {"settings": device_settings(t), "found": detect(context, chips_dir),
                    "running": dict(getattr(devices, "specs", None) or {}),
                    "card": card_setup(t), "mobilepay": mobilepay_setup(t),
                    "mobilepay_running": getattr(devices, "mobilepay", None) is not None,
                    "status": "\n".join(lines)}
        self.call(read, done=self._fill)

    def _fill(self, info: dict[str, Any]) -> None:
        from kivy.uix.gridlayout import GridLayout
        from kivy.uix.textinput import TextInput

        from ...services.devices import ROLES
        from ..widgets import FONT, ROW, TouchButton
        self.status = info["status"]
        box = self.ids.roles
        box.clear_widgets()
        box.add_widget(_note(self.status))
        self.candidates: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self.gpio_line: Any = None
        for role in ROLES:
            current, running = info["settings"].get(role), info["running"].get(role)
            text = f"{role_name(role)}: {spec_text(current)}"
            if role == "terminal":
                text = f"{role_name(role)}: {self._terminal_state(current, info['card'])}"
            if (current or None) != (running or None):
                text += "  " + _("(tages i brug, når kassen startes igen)")
            box.add_widget(_note(text))
            found = [(f"GPIO {f.name}" if f.kind == "gpio_chip" else f.name, dict(f.spec))
                     for f in info["found"] if f.kind in ROLE_KINDS[role]]
            if role == "drawer":
                found.insert(0, (_("Via bonprinteren"), dict(KICK_DRAWER)))
            self.candidates[role] = found
            grid = GridLayout(cols=2, spacing=4, size_hint_y=None, row_default_height=ROW,
                              row_force_default=True)
            grid.bind(minimum_height=grid.setter("height"))
            for i, (name, spec) in enumerate(found):
                chosen = current is not None and all(current.get(k) == v for k, v in spec.items())
                b = TouchButton(text=name, key=f"device-{role}-{i}", shorten=True,
                                background_color=(0.15, 0.45, 0.7, 1) if chosen else (0.20, 0.33, 0.52, 1))
                b.bind(size=lambda w, size: setattr(w, "text_size", (size[0] - 8, None)))
                b.bind(on_release=lambda _b, role=role, i=i: self.choose(role, i))
                grid.add_widget(b)
            if any(spec.get("kind") == "gpio" for _n, spec in found):
                self.gpio_line = TextInput(hint_text=_("GPIO-linje til skuffen, fx 17"), input_filter="int",
                                           multiline=False, font_size=FONT, size_hint_y=None, height=ROW)
                grid.add_widget(self.gpio_line)
            none = TouchButton(text=_("Ingen"), key=f"device-{role}-none",
                               background_color=(0.35, 0.35, 0.35, 1))
            none.bind(on_release=lambda _b, role=role: self.choose(role, None))
            grid.add_widget(none)
            box.add_widget(grid)
        box.add_widget(_note(_("MobilePay: {state}").format(
            state=payment_type_note({"type": "mobilepay", "setup": info["mobilepay"]}))))

    @staticmethod
    def _terminal_state(spec: dict[str, Any] | None, card: dict[str, Any]) -> str:
        if not spec:
            return _("ikke sat op")
        if card.get("key") == "missing":
            return spec_text(spec) + ", " + _("nøglen mangler")
        return spec_text(spec) + (", " + _("nøgle gemt") if card.get("key") == "set" else "")

    def choose(self, role: str, index: int | None) -> None:
        """Set `role` to a detected device (or to none): checked by building its driver, then saved
        and journalled under the approving manager."""
        from ...services.devices import set_device
        app = _app()
        if index is None:
            name, spec = _("Ingen"), None
        else:
            name, found = self.candidates[role][index]
            spec = dict(found)
            if spec.get("kind") == "gpio":
                line = self.gpio_line.text.strip() if self.gpio_line is not None else ""
                if not line.isdigit():
                    app.notify(_("Skriv først, hvilken GPIO-linje skuffen sidder på (fx 17)."), error=True)
                    return
                spec.update(line=int(line), pulse_ms=200)

        def done(_spec: Any) -> None:
            app.notify(_("{role}: {name} er gemt. Den tages i brug, når kassen startes igen.").format(
                role=role_name(role), name=name))
            self.load()

        def failed(exc: BaseException) -> None:
            log.warning("event=device_choice_refused role=%s error=%s", role, exc)
            app.notify(device_error_text(role, exc), error=True)
        app.backend.call(set_device, role, spec, self.screen.who, done=done, failed=failed)

    def test_terminal(self) -> None:
        """TransactionStatus for a service id that never was: NotFound means the terminal was reached
        and took the till's key. Never a reconciliation (that closes the terminal's period). The
        request runs on a thread of its own: a terminal that does not answer must not hold up the
        worker. The running terminal is asked, or one opened for the test when the setting changed."""
        from ...dinero.tokens import TokenStore
        from ...services.devices import device_settings, open_devices
        devices = _app().backend.devices
        self.terminal_result = _("Tester terminalen ...")

        def prepare(t: Any) -> tuple[Any, bool, str]:
            spec = device_settings(t).get("terminal")
            if not spec:
                return None, False, _("Der er ingen kortterminal sat op.")
            running = getattr(devices, "terminal", None)
            if running is not None and (getattr(devices, "specs", None) or {}).get("terminal") == spec:
                return running, False, ""
            stored = TokenStore(t.data_dir, "terminal").load() or {}
            if spec.get("kind") == "nexo" and not stored.get("passphrase"):
                return None, False, device_error_text("terminal", ValueError("passphrase"))
            opened = open_devices(t, ("terminal",))
            if opened.terminal is None:
                return None, False, _("Kortterminalens indstilling kan ikke bruges. Vælg den igen.")
            return opened.terminal, True, ""
        self.call(prepare, done=self._probe)

    def _probe(self, prepared: tuple[Any, bool, str]) -> None:
        import threading
        terminal, temporary, problem = prepared
        if terminal is None:
            self._terminal_tested(problem, ok=False)
            return
        deliver = _app().backend.deliver

        def run() -> None:
            from drivers.terminal.messages import new_service_id
            error: BaseException | None = None
            try:
                terminal.status(new_service_id())  # NotFound (or any state) = reached, key accepted
            except Exception as exc:  # TerminalError, or anything else: still an answer for the screen
                error = exc
            finally:
                if temporary:
                    terminal.close()
            if error is not None:
                log.warning("event=terminal_test_failed error=%s: %s", type(error).__name__, error)
            text = terminal_test_text(error)
            deliver(lambda: self._terminal_tested(text, ok=error is None))
        threading.Thread(target=run, name="terminal-test", daemon=True).start()

    def _terminal_tested(self, text: str, ok: bool) -> None:
        self.terminal_result = text
        _app().notify(text, error=not ok)

    def test_printer(self) -> None:
        from ...cli_devices import test_document
        from ...services.printing import queue_job
        queue = _app().backend.print_queue

        def run(t: Any) -> Any:
            if queue is None:
                return None
            queue_job(t, "document", None, test_document(t))
            return queue.pump()

        def done(state: Any) -> None:
            if state is None:
                _app().notify(_("Der er ingen bonprinter sat op."), error=True)
            elif state.message and not state.ready:
                _app().notify(_("Testbonen venter: {reason}").format(reason=state.message), error=True)
            else:
                _app().notify(_("Testbonen er printet."))
            self.load()
        self.call(run, done=done)

    def test_drawer(self) -> None:
        from ...services.drawer import open_drawer
        devices, who = _app().backend.devices, self.screen.who

        def done(result: dict[str, Any]) -> None:
            if result["result"] == "pulsed":
                _app().notify(_("Skuffen er åbnet."))
            elif result["result"] == "no_drawer":
                _app().notify(_("Der er ingen kasseskuffe sat op."), error=True)
            else:
                _app().notify(result.get("message") or _("Skuffen kunne ikke åbnes."), error=True)
        self.call(lambda t: open_drawer(t, devices, who, "test"), done=done)

    def test_labels(self) -> None:
        from drivers.printer.label import Label

        from ...services.labels import LabelPlan, print_labels
        devices = _app().backend.devices
        label = Label(name="Testetiket æøå ÆØÅ", price="12,50 kr", ean13="5701234567899",
                      unit_price="Kilopris 25,00 kr/kg")

        def run(t: Any) -> Any:
            if devices is None or devices.labels is None:
                return None
            return print_labels(t, devices, LabelPlan([label], []))

        def done(result: Any) -> None:
            if result is None:
                _app().notify(_("Der er ingen etiketprinter sat op."), error=True)
            else:
                _app().notify(_("Testetiketten er printet."))
        _app().backend.call(run, done=done, failed=lambda _e: _app().notify(
            _("Etiketprinteren svarer ikke. Tjek at den er tændt og har etiketter."), error=True))

    def use_sim(self) -> None:
        from ...services.devices import set_device, sim_specs
        who = self.screen.who

        def run(t: Any) -> None:
            for role, spec in sim_specs(t.data_dir / "sim").items():
                set_device(t, role, spec, who)

        def done(_r: Any) -> None:
            _app().notify(_("Simulerede enheder er valgt. De tages i brug, når kassen startes igen."))
            self.load()
        self.call(run, done=done)


# --- cashiers and PINs -----------------------------------------------------------------------------------

class CashiersSection(Section):
    role = StringProperty("cashier")
    editing = BooleanProperty(False)

    def load(self) -> None:
        from ...services.kiosk import cashiers
        self.call(lambda t: [(c.id, c.name, c.role.value) for c in cashiers(t)], done=self._list)

    def _list(self, people: list[tuple[str, str, str]]) -> None:
        self.people = {cid: (name, role) for cid, name, role in people}
        _buttons(self.ids.people,
                 [(f"pick-cashier-{cid}", f"{name} ({_('leder') if role == 'manager' else _('ekspedient')})")
                  for cid, name, role in people],
                 lambda key: self.pick(key.removeprefix("pick-cashier-")))

    def pick(self, cid: str) -> None:
        name, role = self.people[cid]
        self.ids.cid.text, self.ids.name.text = cid, name
        self.role, self.editing = role, True
        self.ids.pad.text = ""

    def new(self) -> None:
        self.ids.cid.text = self.ids.name.text = self.ids.pad.text = ""
        self.role, self.editing = "cashier", False

    def save(self) -> None:
        from ...domain.roles import Role
        from ...services.kiosk import cashiers
        from ...services.products import ProductError
        from ...services.setup import add_cashier
        app = _app()
        cid, name = self.ids.cid.text.strip(), self.ids.name.text.strip()
        pin, role = self.ids.pad.text, self.role
        if not CASHIER_ID.match(cid) or cid == "system":
            app.notify(_("Kort navn (id) skal være 1-36 bogstaver eller tal uden mellemrum."), error=True)
            return
        if not PIN.match(pin):
            app.notify(_("PIN skal være 4 til 6 cifre."), error=True)
            return
        who = self.screen.who

        def run(t: Any) -> Any:
            managers = [c.id for c in cashiers(t) if c.role is Role.MANAGER]
            if role != "manager" and managers == [cid]:
                raise ProductError("Der skal være mindst én leder.")
            return add_cashier(t, cid, name, role, pin, who)

        def done(c: Any) -> None:
            self.ids.pad.text = ""
            app.notify(_("{name} er gemt og kan logge ind med sin PIN.").format(name=c.name))
            self.load()
        self.call(run, done=done)


# --- language and departments -----------------------------------------------------------------------------

class LanguageSection(Section):
    chosen = StringProperty("")

    def load(self) -> None:
        from ..i18n import language
        self.chosen = language()

    def choose(self, code: str) -> None:
        from ...services.products import set_language as save_language
        from ..i18n import set_language

        def done(_c: str) -> None:
            set_language(code)
            self.chosen = code
            _app().notify(_("Sproget er gemt. Det skifter helt, når kassen startes igen."))
        self.call(save_language, code, self.screen.who, done=done)


class DepartmentsSection(Section):
    info = StringProperty("")

    def load(self) -> None:
        from ...dinero.tokens import TokenStore

        def read(t: Any) -> tuple[str, Any, Any]:
            record = TokenStore(t.data_dir).load() or {}
            return str(t.data_dir), record.get("org_id"), record.get("org_name")

        def show(r: tuple[str, Any, Any]) -> None:
            folder, org_id, org_name = r
            org = (f"{org_name or ''} ({org_id})".strip() if org_id else _("ikke forbundet til Dinero"))
            self.info = "\n\n".join([
                _("Denne kasses datamappe: {folder}").format(folder=folder),
                _("Dinero-organisation: {org}").format(org=org),
                _("Hver afdeling eller butik er sin egen datamappe med sine egne varer, ekspedienter, "
                  "journal og Dinero-organisation. En ny afdeling sættes op som en ny kasse med sin egen "
                  "datamappe og forbindes til Dinero for sig.")])
        self.call(read, done=show)


SECTIONS: dict[str, type[Section]] = {
    "shop": ShopSection, "products": ProductList, "favourites": FavouritesSection,
    "accounts": AccountsSection, "payments": PaymentTypesSection, "devices": DevicesSection,
    "cashiers": CashiersSection, "language": LanguageSection, "departments": DepartmentsSection}



def section_class(name: str) -> type[Section]:
    """A section by its menu name ("SAF-T og certifikat" lives in settings_saft.py, with its own .kv)."""
    if name == "saft":
        return SaftSection
    return SECTIONS[name]


SCREEN = SettingsScreen


def tour(driver: Any, shoot: Any) -> None:
    """The gate (as the cashier), then every section as the manager, and a product from a scan."""
    app = driver.app
    screen = app.screen("settings")
    manager = app.session.cashier
    anna = app.backend.run(lambda t: t.cashier("anna"))
    app.show("sale")
    driver.settle()
    app.session.cashier = anna
    app.show("settings")
    driver.settle()
    shoot("settings", "manager-pin")
    driver.tap("gate-cashier-bo")
    driver.type_pin("2222")
    driver.tap("gate-ok")
    shoot("settings", "shop")
    app.show("sale")
    driver.settle()
    app.session.cashier = manager
    app.show("settings")
    driver.settle()
    driver.tap("section-products")
    screen.current().ids.search.text = "mælk"
    driver.tap("products-search")
    shoot("settings", "products")
    sku = app.backend.run(lambda t: t.conn.execute(
        "SELECT sku FROM products WHERE name LIKE '%mælk%' ORDER BY grp, name LIMIT 1").fetchone()[0])
    driver.tap(f"edit-{sku}")
    shoot("settings", "product-edit")
    from ...domain.barcodes import gtin_check_digit
    driver.tap("section-products")
    driver.tap("product-new")
    driver.scan("570777777777" + str(gtin_check_digit("570777777777")))
    driver.until(app.backend.devices.events.empty, what="the scan to be taken")
    driver.settle()
    shoot("settings", "product-new")
    for name in ("favourites", "accounts", "payments", "devices", "cashiers", "language", "departments",
                 "saft"):
        driver.tap(f"section-{name}")
        if name == "accounts":
            driver.tap("accounts-check")
        if name == "devices":
            driver.tap("test-printer")
        if name == "cashiers":
            driver.tap("pick-cashier-anna")
        shoot("settings", name)
