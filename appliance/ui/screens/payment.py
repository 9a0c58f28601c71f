"""Payment: the amount due large; tenders by one touch each (cash from the pad or a quick amount,
card on the terminal, MobilePay, a manual card, a gift voucher), split over several tenders until
paid, each listed with remove; the 0,50 kr. cash rounding and the change shown large; "no receipt".

The rules are the core's: `domain.tenders.settle` says what is still due, the rounding and the
change, and `services.checkout.complete_sale` commits the sale, opens the drawer on cash and
queues the receipt. The sale completes by itself the moment the tenders cover it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.app import App
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen

from ...domain.money import MoneyError, format_dkk, format_kroner, parse_kroner, round_cash
from ...domain.tenders import Payment, PaymentError, PaymentType, Settlement, Underpaid, settle
from ..i18n import _

QUICK_STEPS = (5000, 10000, 20000, 50000)  # next 50, 100, 200, 500 kr. above what is due
CARD_BRAND = "Dankort"


def tender_name(ptype: str) -> str:
    return {"cash": _("Kontant"), "card": _("Kort"), "mobilepay": "MobilePay",
            "manual_card": _("Manuelt kort"), "gift_voucher": _("Gavekort")}.get(ptype, ptype)


def signed(ore: int) -> str:
    return ("+" if ore > 0 else "") + format_dkk(ore)


def quick_amounts(due: int) -> list[tuple[str, int]]:
    """(key, øre): the exact amount, then the next 50, 100, 200 and 500 kr. above it (no repeats)."""
    if due <= 0:
        return []
    out = [("quick-exact", due)]
    for step in QUICK_STEPS:
        amount = (due // step + 1) * step
        if all(amount != a for _k, a in out):
            out.append((f"quick-{step // 100}", amount))
    return out


def who_and_ref() -> tuple[str, str]:
    """Who is paying in, and the basket's reference the terminal or MobilePay is told (customer
    number and lines)."""
    app = App.get_running_app()
    who = app.session.cashier.id if app.session.cashier else "system"
    return who, f"K{app.session.customers + 1}-{len(app.session.basket.lines)}"


# --- the card terminal ------------------------------------------------------------------------------

class TrainingTerminal:
    """Training mode never reaches the real terminal (no money moves for practice): the cashier's
    "approve" on the dialog stands in for the customer's card."""

    mode = "training"

    def __init__(self) -> None:
        self._amount = 0
        self._result: Callable[[dict | None, str], None] | None = None

    def begin(self, amount: int, result: Callable[[dict | None, str], None]) -> None:
        self._amount, self._result = amount, result

    def approve(self) -> None:
        self._finish({"type": PaymentType.CARD.value, "amount": self._amount, "brand": CARD_BRAND}, "")

    def cancel(self) -> None:
        self._finish(None, _("Kortbetalingen er annulleret."))

    def _finish(self, payment: dict | None, message: str) -> None:
        result, self._result = self._result, None
        if result is not None:
            result(payment, message)


class IntegratedTerminal:
    """The shop's card terminal (nexo, or the simulator as a device): the payment runs on the
    backend worker through services.payments, which journals the intent before sending and
    settles any silence with TransactionStatus, so the dialog only ever shows the truth: while the
    outcome is unknown it keeps asking the terminal, and the sale cannot go on. Cancel sends an
    Abort from a thread of its own (the worker is waiting on the terminal). A card that asks for a
    signature comes back for the cashier to check it against the card."""

    mode = "wait"
    RECHECK_S = 3.0

    def __init__(self) -> None:
        self._result: Callable[[dict | None, str], None] | None = None
        self._service: str | None = None
        self._amount = 0
        self.pending: Any = None  # an approved outcome waiting for the cashier's signature check

    def begin(self, amount: int, result: Callable[[dict | None, str], None]) -> None:
        from ...services.payments import new_service_id, pay_by_card
        app = App.get_running_app()
        self._result, self._amount, self.pending = result, amount, None
        terminal = app.backend.devices.terminal
        who, sale_ref = who_and_ref()
        service_id = self._service = new_service_id()

        def pay(till: Any) -> Any:
            return pay_by_card(till, terminal, amount, who, sale_ref, service_id)
        app.backend.call(pay, done=self._done, failed=self._failed)

    def _done(self, outcome: Any) -> None:
        from kivy.clock import Clock
        if self._result is None:
            return
        if outcome.approved and outcome.signature:
            self.pending = outcome
            App.get_running_app().screen("payment").show_signature(outcome.signature)
            return
        if outcome.approved:
            self._finish(outcome.tender(), "")
        elif outcome.state == "declined":
            self._finish(None, _decline_text(outcome))
        else:  # unknown: ask the terminal again until it knows; the sale waits
            App.get_running_app().screen("payment").dialog_status = _(
                "Ukendt udfald: kassen tjekker betalingen hos terminalen ...")
            Clock.schedule_once(lambda _dt: self._recheck(), self.RECHECK_S)

    def _recheck(self) -> None:
        from ...services.payments import settle
        app = App.get_running_app()
        terminal, service = app.backend.devices.terminal, self._service
        amount = self._amount

        def check(till: Any) -> Any:
            from ...services.payments import UNKNOWN, CardOutcome
            found = settle(till, terminal, service) if service else None
            return found or CardOutcome(service or "", UNKNOWN, amount)
        app.backend.call(check, done=self._done, failed=self._failed)

    def _failed(self, exc: BaseException) -> None:
        self._finish(None, _("Terminalen svarer ikke: {error}").format(error=exc))

    def _finish(self, payment: dict | None, message: str) -> None:
        result, self._result = self._result, None
        self.pending = None
        if result is not None:
            result(payment, message)

    def approve(self) -> None:
        """The cashier says the signature matches the card."""
        self._checked(True)

    def cancel(self) -> None:
        """Waiting: abort the payment in progress; its outcome (aborted, or approved if the card was
        faster) still comes back through `begin`'s result, from the terminal's own answer. Checking a
        signature: the signature does not match, and the payment is given back."""
        import threading
        if self.pending is not None:
            self._checked(False)
            return
        app = App.get_running_app()
        terminal, service = app.backend.devices.terminal, self._service

        def abort() -> None:
            from drivers.terminal.client import TerminalError
            if service:
                try:
                    terminal.abort(service)
                except TerminalError:
                    pass
        threading.Thread(target=abort, name="terminal-abort", daemon=True).start()

    def _checked(self, accepted: bool) -> None:
        from ...services.payments import signature_checked
        app = App.get_running_app()
        outcome, terminal = self.pending, app.backend.devices.terminal
        if outcome is None:
            return
        who, sale_ref = who_and_ref()
        app.screen("payment").dialog_mode = "busy"

        def check(till: Any) -> Any:
            return signature_checked(till, terminal, outcome, accepted, who, sale_ref)

        def done(result: Any) -> None:
            if accepted:
                self._finish(result.tender(), "")
            elif result.approved:
                self._finish(None, _("Underskriften passede ikke. Betalingen er tilbageført."))
            else:
                self._finish(None, _("Underskriften passede ikke, men tilbageførslen mislykkedes: "
                                     "tjek terminalen."))
        app.backend.call(check, done=done, failed=self._failed)


def _decline_text(outcome: Any) -> str:
    if outcome.error == "Aborted":
        return _("Kortbetalingen er annulleret.")
    if outcome.error == "NotSigned":
        return _("Kunden underskrev ikke. Betalingen er tilbageført.")
    return _("Kortet blev afvist.")


_training = TrainingTerminal()
_integrated = IntegratedTerminal()


def card_terminal() -> TrainingTerminal | IntegratedTerminal | None:
    """The terminal the payment screen talks to: none in training (practice moves no money), the
    shop's own when one is set up, else None (a till without an integrated terminal takes manual card)."""
    app = App.get_running_app()
    if app.session.training:
        return _training
    devices = getattr(getattr(app, "backend", None), "devices", None)
    if devices is not None and getattr(devices, "terminal", None) is not None:
        return _integrated
    return None


def give_back(tender: dict[str, Any], done: Callable[[bool, str], None]) -> None:
    """Give back a payment the terminal or MobilePay approved (a tender the cashier removes): a
    referenced refund on the worker; `done(ok, message)` on the UI thread."""
    from ...services import mobilepay
    from ...services.payments import CardOutcome, reverse
    app = App.get_running_app()
    devices = app.backend.devices
    card = tender["type"] == PaymentType.CARD.value
    service = devices.terminal if card else devices.mobilepay
    if service is None:
        done(False, _("Betalingen kan ikke tilbageføres herfra: {what} er ikke sat op.").format(
            what=_("kortterminalen") if card else "MobilePay"))
        return
    who, _ref = who_and_ref()
    outcome = CardOutcome(tender.get("service_id", ""), "approved", tender["amount"], tender.get("brand"),
                          tender["reference"])

    def back(till: Any) -> Any:
        if card:
            return reverse(till, service, outcome, who, "fjernet")
        return mobilepay.refund(till, service, tender["reference"], tender["amount"], who, "fjernet")

    def answered(result: Any) -> None:
        if result.approved:
            amount = format_dkk(tender["amount"])
            done(True, _("Betalingen på {amount} er tilbageført.").format(amount=amount))
        else:
            done(False, _("Tilbageførslen blev ikke gennemført: betalingen står stadig på kurven."))
    def failed(exc: BaseException) -> None:
        done(False, _("Tilbageførslen fik intet svar: {error}").format(error=exc))
    app.backend.call(back, done=answered, failed=failed)


# --- the screen -----------------------------------------------------------------------------------------

class PaymentDialog(BoxLayout):
    """A status dialog over the screen: while it is open, no touch reaches what is under it."""
    is_open = BooleanProperty(False)

    def on_touch_down(self, touch: Any) -> bool:
        if not self.is_open:
            return False
        super().on_touch_down(touch)
        return True

    def on_touch_up(self, touch: Any) -> bool:
        if not self.is_open:
            return False
        super().on_touch_up(touch)
        return True


class PaymentScreen(Screen):
    due_text = StringProperty("")        # the total, large
    rest_label = StringProperty("")      # "Mangler" / "Byttepenge"
    rest_text = StringProperty("")
    paid = BooleanProperty(False)
    rounding_text = StringProperty("")   # the cash rounding, always visible while cash may be due
    print_receipt = BooleanProperty(True)
    busy = BooleanProperty(False)        # the sale is being committed
    card_waiting = BooleanProperty(False)  # the terminal's dialog is open
    card_text = StringProperty("")
    dialog_title = StringProperty("")
    dialog_status = StringProperty("")
    dialog_mode = StringProperty("wait")   # wait | training | signature | busy | mp_entry | mp_wait
    mp_qr_url = StringProperty("")         # the MobilePay QR the customer scans (the till shows it)
    enabled_tenders: list[str]             # the tender buttons shown (set in on_kv_post, show_tenders)

    @property
    def tenders(self) -> list[dict[str, Any]]:
        """{"type", "amount" (øre), "brand"?, "reference"?}: kept in the session, so an approved card
        payment is still on the basket after a crash."""
        return App.get_running_app().session.tenders

    @tenders.setter
    def tenders(self, value: list[dict[str, Any]]) -> None:
        App.get_running_app().session.tenders = value

    def on_pre_enter(self, *_args: Any) -> None:
        self.ids.pad.text = ""
        App.get_running_app().clear_message()  # an error left from the sale screen is stale here
        self.refresh()
        self.load_tenders()

    def load_tenders(self) -> None:
        """The tender buttons the manager has switched on (Settings, Betalingsformer); cash always."""
        from ...services.payment_types import enabled_types
        backend = getattr(App.get_running_app(), "backend", None)
        if backend is not None:
            backend.call(enabled_types, done=self.show_tenders)

    def show_tenders(self, enabled: list[str]) -> None:
        enabled = [PaymentType.CASH.value, *(t for t in enabled if t != PaymentType.CASH.value)]
        grid = self.ids.tender_keys
        if enabled == self.enabled_tenders and len(grid.children) == len(enabled):
            return  # as shown: no new layout under the cashier's finger
        self.enabled_tenders = enabled
        grid.clear_widgets()
        for ptype, button in self._tender_buttons.items():
            if ptype in self.enabled_tenders:
                grid.add_widget(button)

    def on_kv_post(self, *_args: Any) -> None:
        from ..widgets import TouchButton
        # every tender button, in the kv's order; show_tenders puts back the enabled ones
        keys = reversed(self.ids.tender_keys.children)
        self._tender_buttons = {b.key.removeprefix("tender-"): b for b in keys}
        self.enabled_tenders = list(self._tender_buttons)
        for key in ("1", "2", "3", "4", "5", "<-", "6", "7", "8", "9", "0", "C"):
            name = {"<-": "del", "C": "clear"}.get(key, key)  # the font has no erase glyph
            b = TouchButton(text=key, key=f"mp-{name}")
            b.bind(on_release=lambda _b, name=name: self.mp_key(name))
            self.ids.mp_keys.add_widget(b)

    def on_scan(self, code: str) -> None:
        if self.card_waiting and self.dialog_mode == "mp_entry":  # the customer's MobilePay code
            self._mp_start(personal_qr=code)
            return
        App.get_running_app().notify(_("Gør betalingen færdig, før der scannes flere varer."), error=True)

    # --- what is due ----------------------------------------------------------------------------

    def total(self) -> int:
        basket = App.get_running_app().session.basket
        return basket.total if basket.active else 0

    def payments(self) -> list[Payment]:
        return [Payment(PaymentType(t["type"]), t["amount"], t.get("brand")) for t in self.tenders]

    def settlement(self) -> tuple[Settlement | None, int]:
        """(the settlement, 0) when paid, else (None, what is still missing) - the core's rule."""
        try:
            return settle(self.total(), self.payments()), 0
        except Underpaid as exc:
            return None, exc.missing
        except PaymentError:  # card/MobilePay above the total (the basket shrank after paying)
            return None, 0

    def sums(self) -> tuple[int, int]:
        non_cash = sum(t["amount"] for t in self.tenders if t["type"] != PaymentType.CASH.value)
        cash = sum(t["amount"] for t in self.tenders if t["type"] == PaymentType.CASH.value)
        return non_cash, cash

    def cash_due(self) -> int:
        """What cash still has to cover, rounded to 50 øre as the core will round it."""
        non_cash, cash = self.sums()
        return max(0, round_cash(self.total() - non_cash) - cash)

    def refresh(self) -> None:
        total = self.total()
        non_cash, cash = self.sums()
        self.due_text = format_dkk(total)
        done, missing = self.settlement()
        self.paid = done is not None
        if done is not None:
            self.rest_label = _("Byttepenge")
            self.rest_text = format_dkk(done.change)
            self.rounding_text = (_("Afrunding kontant: {r}").format(r=signed(done.rounding))
                                  if cash else "")
        elif non_cash > total:
            self.rest_label = _("Betalt for meget")
            self.rest_text = format_dkk(non_cash - total)
            self.rounding_text = _("Scan varerne, eller fjern betalingen (den tilbageføres).")
        else:
            self.rest_label = _("Mangler")
            self.rest_text = format_dkk(missing)
            unrounded = total - non_cash
            rounded = round_cash(unrounded)
            self.rounding_text = _("Kontant: {amount} (afrunding {r})").format(
                amount=format_dkk(max(0, rounded - cash)), r=signed(rounded - unrounded))
        self._tender_rows()
        self._quick_keys()

    def _tender_rows(self) -> None:
        from kivy.uix.label import Label

        from ..widgets import FONT, ROW, TouchButton
        box = self.ids.tenders
        box.clear_widgets()
        for i, t in enumerate(self.tenders):
            row = BoxLayout(size_hint_y=None, height=ROW, spacing=4)
            name = tender_name(t["type"]) + (f" ({t['brand']})" if t.get("brand") else "")
            for text, align in ((name, "left"), (format_dkk(t["amount"]), "right")):
                label = Label(text=text, font_size=FONT, color=(0.1, 0.1, 0.1, 1), halign=align,
                              valign="middle", shorten=True)
                label.bind(size=lambda w, size: setattr(w, "text_size", size))
                row.add_widget(label)
            remove = TouchButton(text=_("Fjern"), key=f"remove-{i}", size_hint_x=0.5,
                                 background_color=(0.6, 0.2, 0.2, 1))
            remove.bind(on_release=lambda _b, i=i: self.remove_tender(i))
            row.add_widget(remove)
            box.add_widget(row)

    def _quick_keys(self) -> None:
        from ..widgets import TouchButton
        box = self.ids.quick
        box.clear_widgets()
        for key, amount in quick_amounts(self.cash_due() if not self.paid else 0):
            label = _("Præcis") + "\n" + format_dkk(amount, suffix=False) if key == "quick-exact" \
                else format_dkk(amount, suffix=False).removesuffix(",00")
            b = TouchButton(text=label, key=key, background_color=(0.15, 0.45, 0.3, 1))
            b.bind(on_release=lambda _b, amount=amount: self.add_cash(amount))
            box.add_widget(b)

    # --- tenders ------------------------------------------------------------------------------

    def typed(self) -> int | None:
        """The amount on the pad in øre, None when empty; a bad amount raises MoneyError."""
        text = self.ids.pad.text.strip().rstrip(",")
        if not text:
            return None
        return parse_kroner(text.replace(",", "."))

    def _typed_or_error(self) -> tuple[bool, int | None]:
        try:
            return True, self.typed()
        except MoneyError:
            App.get_running_app().notify(_("Beløbet kan ikke læses. Tast det igen."), error=True)
            self.ids.pad.text = ""
            return False, None

    def tender(self, ptype: str) -> None:
        """A tender button: cash takes the typed amount (or exactly what is due); the others take
        the typed amount (a part) or the rest."""
        app = App.get_running_app()
        if self.busy or self.card_waiting:
            return
        if ptype not in self.enabled_tenders:
            app.notify(_("{name} er slået fra i Indstillinger.").format(name=tender_name(ptype)), error=True)
            return
        ok, amount = self._typed_or_error()
        if not ok:
            return
        if ptype == PaymentType.CASH.value:
            self.add_cash(amount if amount is not None else self.cash_due())
            return
        non_cash, cash = self.sums()
        rest = self.total() - non_cash - cash
        if amount is None:
            amount = rest
        if amount <= 0:
            app.notify(_("Der er ikke mere at betale."), error=True)
            return
        if amount > self.total() - non_cash:
            app.notify(_("Kort, MobilePay og gavekort kan ikke betale mere end beløbet. "
                         "Byttepenge gives kun i kontanter."), error=True)
            return
        if ptype == PaymentType.CARD.value:
            self._card(amount)
            return
        if ptype == PaymentType.MOBILEPAY.value and not app.session.training:
            self._mobilepay(amount)
            return
        self._add({"type": ptype, "amount": amount})

    def add_cash(self, amount: int) -> None:
        if self.busy or self.card_waiting:
            return
        if amount <= 0:
            App.get_running_app().notify(_("Der er ikke mere at betale."), error=True)
            return
        self._add({"type": PaymentType.CASH.value, "amount": amount})

    def _add(self, tender: dict[str, Any]) -> None:
        self.tenders.append(tender)
        App.get_running_app().save_session()
        self.ids.pad.text = ""
        self.refresh()
        if self.paid:
            self.complete()

    def remove_tender(self, index: int) -> None:
        """A tender the terminal approved is given back through the terminal before it leaves the list."""
        if self.busy or self.card_waiting or not 0 <= index < len(self.tenders):
            return
        tender = self.tenders[index]
        integrated = (PaymentType.CARD.value, PaymentType.MOBILEPAY.value)
        if tender["type"] in integrated and tender.get("reference"):
            self._open_dialog(_("Tilbagefører betalingen ..."), tender["amount"], "busy")

            def done(ok: bool, message: str) -> None:
                self.card_waiting = False
                if ok and tender in self.tenders:
                    self.tenders.remove(tender)
                    App.get_running_app().save_session()
                self.refresh()
                App.get_running_app().notify(message, error=not ok)
            give_back(tender, done)
            return
        del self.tenders[index]
        App.get_running_app().save_session()
        self.refresh()

    # --- card ---------------------------------------------------------------------------------

    def _open_dialog(self, title: str, amount: int, mode: str) -> None:
        self.dialog_title, self.card_text, self.dialog_mode = title, format_dkk(amount), mode
        self.dialog_status = ""
        self.card_waiting = True

    def _card(self, amount: int) -> None:
        terminal = card_terminal()
        if terminal is None:
            App.get_running_app().notify(_("Der er ingen kortterminal sat op. Brug Manuelt kort."),
                                         error=True)
            return
        self._open_dialog(_("Følg anvisningerne på terminalen"), amount, terminal.mode)
        self.ids.pad.text = ""  # the amount went to the terminal
        terminal.begin(amount, self._card_result)

    def show_signature(self, where: str) -> None:
        self.dialog_mode = "signature"
        self.dialog_title = _("Tjek kundens underskrift mod kortet")
        self.dialog_status = (_("Kunden har skrevet under på terminalen.") if where == "terminal" else
                              _("Lad kunden skrive under på butikkens kopi fra printeren."))

    def card_cancel(self) -> None:
        if self.dialog_mode == "mp_entry":  # nothing was sent yet
            self.card_waiting = False
            return
        if self.dialog_mode == "mp_wait":
            self._mp_stop.set()  # the poll stops, and the payment is cancelled at MobilePay
            self.dialog_status = _("Annullerer ...")
            return
        terminal = card_terminal()
        if terminal is not None:
            terminal.cancel()

    def card_approve(self) -> None:
        terminal = card_terminal()
        if terminal is not None and self.dialog_mode in ("training", "signature"):
            terminal.approve()

    def _card_result(self, payment: dict | None, message: str) -> None:
        self.card_waiting = False
        if payment is None:
            App.get_running_app().notify(message or _("Kortbetalingen blev ikke gennemført."), error=True)
            return
        self._add(payment)

    # --- MobilePay ------------------------------------------------------------------------------

    def _mobilepay(self, amount: int) -> None:
        """The customer's code scanned, the phone number typed, or a QR on the screen for the customer."""
        import threading
        if App.get_running_app().backend.devices.mobilepay is None:
            App.get_running_app().notify(_("MobilePay er ikke sat op."), error=True)
            return
        self._mp_amount, self._mp_phone, self._mp_stop = amount, "", threading.Event()
        self.mp_qr_url = ""
        self._open_dialog(_("MobilePay: scan kundens kode, eller tast telefonnummeret"), amount, "mp_entry")
        self.ids.pad.text = ""
        self._mp_show_phone()

    def _mp_show_phone(self) -> None:
        self.dialog_status = _("Telefon: {number}").format(number=self._mp_phone or "-")

    def mp_key(self, name: str) -> None:
        if name == "del":
            self._mp_phone = self._mp_phone[:-1]
        elif name == "clear":
            self._mp_phone = ""
        elif len(self._mp_phone) < 8:
            self._mp_phone += name
        self._mp_show_phone()

    def mp_send(self) -> None:
        if len(self._mp_phone) != 8:
            self.dialog_status = _("Et dansk mobilnummer har 8 cifre.")
            return
        self._mp_start(phone=self._mp_phone)

    def mp_show_qr(self) -> None:
        self._mp_start()

    def _mp_start(self, personal_qr: str | None = None, phone: str | None = None) -> None:
        from ...services.mobilepay import start_payment
        app = App.get_running_app()
        client, amount = app.backend.devices.mobilepay, self._mp_amount
        who, sale_ref = who_and_ref()
        self.dialog_mode = "busy"
        self.dialog_status = _("Sender til MobilePay ...")

        def start(till: Any) -> Any:
            return start_payment(till, client, amount, who, sale_ref, personal_qr=personal_qr, phone=phone)
        app.backend.call(start, done=lambda started: self._mp_started(started, who),
                         failed=self._mp_failed)

    def _mp_started(self, started: Any, who: str) -> None:
        """Poll in a thread of its own (the customer may take minutes; the till's worker stays free),
        then capture or cancel on the worker, where the journal is."""
        import threading

        from kivy.clock import Clock

        from ...services.mobilepay import settle
        app = App.get_running_app()
        client, amount, stop = app.backend.devices.mobilepay, self._mp_amount, self._mp_stop
        self.mp_qr_url = started.qr_url or ""
        self.dialog_mode = "mp_wait"
        self.dialog_title = _("Venter på kunden i MobilePay ...")
        self.dialog_status = (_("Kunden scanner koden med MobilePay.") if started.qr_url else
                              _("Kunden godkender på sin telefon."))

        def wait() -> None:
            try:
                payment = client.poll(started.reference, stop=stop.is_set, sleep=stop.wait)
            except Exception:  # MobilePay unreachable: the worker reads the payment once more below
                payment = None

            def finish(till: Any) -> Any:
                return settle(till, client, started.reference, amount, who, payment=payment,
                              abort=stop.is_set())
            Clock.schedule_once(lambda _dt: app.backend.call(finish, done=self._mp_done,
                                                             failed=self._mp_failed))
        threading.Thread(target=wait, name="mobilepay-poll", daemon=True).start()

    def _mp_done(self, outcome: Any) -> None:
        self.card_waiting, self.mp_qr_url = False, ""
        app = App.get_running_app()
        if outcome.approved:
            self._add(outcome.tender())
        elif outcome.state == "declined":
            app.notify(_("MobilePay-betalingen blev ikke gennemført."), error=True)
        else:
            app.notify(_("MobilePay svarer ikke om betalingen. Den tjekkes igen, når kassen starter."),
                       error=True)

    def _mp_failed(self, exc: BaseException) -> None:
        self.card_waiting, self.mp_qr_url = False, ""
        App.get_running_app().notify(_("MobilePay-betalingen kunne ikke sendes: {error}").format(error=exc),
                                     error=True)

    # --- completing --------------------------------------------------------------------------------

    def toggle_receipt(self) -> None:
        self.print_receipt = not self.print_receipt

    def complete(self) -> None:
        from ...services.checkout import complete_sale
        from ..session import basket_request
        app = App.get_running_app()
        if self.busy:
            return
        if not app.session.basket.active:
            app.notify(_("Kurven er tom."), error=True)
            return
        done, missing = self.settlement()
        if done is None:
            app.notify(_("Der mangler {amount}. Salget er ikke gennemført.").format(
                amount=format_dkk(missing)), error=True)
            return
        payments = [{"type": t["type"], "amount": format_kroner(t["amount"]),
                     **({"brand": t["brand"]} if t.get("brand") else {}),
                     **({"reference": t["reference"]} if t.get("reference") else {})} for t in self.tenders]
        request = basket_request(app.session, payments)
        if not self.print_receipt:
            request["print_receipt"] = False
        backend = app.backend
        devices, queue = backend.devices, backend.print_queue
        self.busy = True
        backend.call(lambda t: complete_sale(t, devices, queue, request, background=True),
                     done=self._completed, failed=self._failed)

    def _completed(self, sale: dict) -> None:
        app = App.get_running_app()
        self.busy = False
        self.tenders = []  # the sale carries them now
        self.print_receipt = True
        app.session.new_basket()
        app.session.customers += 1
        app.save_session()
        change = parse_kroner(sale["change"])
        number = sale["receipt_number"]
        if change:
            text = _("Byttepenge: {change}   (bon nr. {n})").format(change=format_dkk(change), n=number)
        else:
            text = _("Betalt. Bon nr. {n}.").format(n=number)
        drawer = sale.get("drawer") or {}
        sale_screen = app.screen("sale")
        sale_screen.selected = 0
        sale_screen.refresh()
        app.show("sale")
        if drawer.get("message"):
            app.notify(text + "  " + drawer["message"], error=True)
        else:
            app.notify(text)

    def _failed(self, exc: BaseException) -> None:
        app = App.get_running_app()
        self.busy = False
        cause = exc.__cause__
        if isinstance(cause, Underpaid):
            text = _("Der mangler {amount}. Salget er ikke gennemført.").format(
                amount=format_dkk(cause.missing))
        elif isinstance(cause, PaymentError):
            text = _("Betalingen passer ikke: {error}").format(error=cause)
        else:
            text = _("Salget kunne ikke gennemføres: {error}").format(error=exc)
        self.refresh()
        app.notify(text, error=True)

    def back(self) -> None:
        app = App.get_running_app()
        if self.busy:
            return
        if self.tenders and app.session.basket.active:
            app.notify(_("Fjern betalingerne, før du går tilbage til salget."), error=True)
            return
        app.show("sale")  # with an empty basket, paid tenders wait here for the goods to be scanned


SCREEN = PaymentScreen


def tour(driver: Any, shoot: Any) -> None:
    """Payment: the amount due, the card terminal's dialog, a split (card + cash typed), done."""
    app = driver.app
    if not app.session.basket.active:
        codes = app.backend.run(lambda t: [r[0] for r in t.conn.execute(
            "SELECT code FROM barcodes WHERE code LIKE '570%' ORDER BY code LIMIT 3")])
        app.show("sale")
        driver.settle()
        for code in codes:
            driver.scan(code)
        app.show("payment")
        driver.settle()
    shoot("payment", "due")
    screen = app.screen("payment")
    if "mobilepay" in screen.enabled_tenders and app.backend.devices.mobilepay is not None:
        driver.tap("tender-mobilepay", settle=False)
        for digit in "2233":
            driver.tap(f"mp-{digit}", settle=False)
        shoot("payment", "mobilepay-phone")
        driver.tap("mp-qr", settle=False)
        driver.until(lambda: screen.mp_qr_url, what="the MobilePay QR")
        shoot("payment", "mobilepay-qr")
        driver.tap("card-cancel", settle=False)  # the customer changes their mind: cancelled at MobilePay
        driver.until(lambda: not screen.card_waiting, timeout=30, what="the MobilePay cancel")
        driver.settle()
    driver.tap("pad-2")
    driver.tap("pad-0")
    driver.tap("tender-card", settle=False)
    shoot("payment", "card-terminal")
    driver.until(lambda: not app.screen("payment").card_waiting, what="the card payment")
    shoot("payment", "split")
    if screen.cash_due() > 5000:
        driver.tap("pad-5")
        driver.tap("pad-0")
        driver.tap("tender-cash")
        shoot("payment", "part-cash")
    driver.tap("receipt-toggle")
    keys = [k for k, _a in quick_amounts(screen.cash_due())]
    driver.tap(keys[-1] if keys else "quick-exact")
    shoot("payment", "done")
