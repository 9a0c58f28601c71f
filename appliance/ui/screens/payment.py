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


# --- the card terminal ------------------------------------------------------------------------------

class SimulatedTerminal:
    """The integrated card terminal's place until the payments issue brings the real one. The
    screen only calls `begin` (the customer is asked to pay `amount`; `result(payment, message)`
    comes back on the UI thread: a payment dict, or None and why) and `cancel`. A real terminal runs
    its dialogue off the UI thread; this one waits for the cashier's "approve" on the status dialog
    (shown only because `simulated` is true), which stands in for the customer's card."""

    simulated = True

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


_terminal = SimulatedTerminal()


class IntegratedTerminal:
    """The shop's card terminal (nexo, or the simulator as a device): the payment runs on the
    backend worker through services.payments, which journals the intent before sending and
    settles any silence with TransactionStatus, so the dialog only ever shows the truth. Cancel
    sends an Abort from a thread of its own (the worker is waiting on the terminal)."""

    simulated = False

    def __init__(self) -> None:
        self._result: Callable[[dict | None, str], None] | None = None
        self._service: str | None = None

    def begin(self, amount: int, result: Callable[[dict | None, str], None]) -> None:
        from ...services.payments import new_service_id, pay_by_card
        app = App.get_running_app()
        self._result = result
        terminal = app.backend.devices.terminal
        who = app.session.cashier.id if app.session.cashier else "system"
        sale_ref = f"K{app.session.customers + 1}-{len(app.session.basket.lines)}"
        service_id = self._service = new_service_id()

        def pay(till: Any) -> Any:
            return pay_by_card(till, terminal, amount, who, sale_ref, service_id)
        app.backend.call(pay, done=self._done, failed=self._failed)

    def _done(self, outcome: Any) -> None:
        result, self._result = self._result, None
        if result is None:
            return
        if outcome.approved:
            result({"type": PaymentType.CARD.value, "amount": outcome.amount or 0, "brand": outcome.brand,
                    "reference": outcome.poi_transaction_id}, "")
        elif outcome.state == "declined":
            result(None, _("Kortet blev afvist."))
        else:
            result(None, _("Ukendt udfald: kassen tjekker betalingen hos terminalen. Prøv ikke igen endnu."))

    def _failed(self, exc: BaseException) -> None:
        result, self._result = self._result, None
        if result is not None:
            result(None, _("Terminalen svarer ikke: {error}").format(error=exc))

    def approve(self) -> None:
        pass  # the customer approves on the terminal

    def cancel(self) -> None:
        """Abort the payment in progress; its outcome (aborted, or approved if the card was faster)
        still comes back through `begin`'s result, from the terminal's own answer."""
        import threading
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


_integrated = IntegratedTerminal()


def card_terminal() -> SimulatedTerminal | IntegratedTerminal:
    """The terminal the payment screen talks to: the shop's own when one is set up, else the
    dialog's simulated approval (a till without an integrated terminal uses manual card)."""
    app = App.get_running_app()
    devices = getattr(getattr(app, "backend", None), "devices", None)
    if devices is not None and getattr(devices, "terminal", None) is not None:
        return _integrated
    return _terminal


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
    card_waiting = BooleanProperty(False)
    card_text = StringProperty("")
    terminal_simulated = BooleanProperty(True)

    def __init__(self, **kw: Any):
        super().__init__(**kw)
        self.tenders: list[dict[str, Any]] = []  # {"type", "amount" (øre), "brand"?}

    def on_pre_enter(self, *_args: Any) -> None:
        self.ids.pad.text = ""
        App.get_running_app().clear_message()  # an error left from the sale screen is stale here
        self.refresh()

    def on_scan(self, _code: str) -> None:
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
        self.ids.pad.text = ""
        self.refresh()
        if self.paid:
            self.complete()

    def remove_tender(self, index: int) -> None:
        if self.busy or not 0 <= index < len(self.tenders):
            return
        del self.tenders[index]
        self.refresh()

    # --- card ---------------------------------------------------------------------------------

    def _card(self, amount: int) -> None:
        terminal = card_terminal()
        self.terminal_simulated = bool(getattr(terminal, "simulated", False))
        self.card_text = format_dkk(amount)
        self.card_waiting = True
        self.ids.pad.text = ""  # the amount went to the terminal
        terminal.begin(amount, self._card_result)

    def card_cancel(self) -> None:
        card_terminal().cancel()

    def card_approve(self) -> None:
        terminal = card_terminal()
        if getattr(terminal, "simulated", False):
            terminal.approve()

    def _card_result(self, payment: dict | None, message: str) -> None:
        self.card_waiting = False
        if payment is None:
            App.get_running_app().notify(message or _("Kortbetalingen blev ikke gennemført."), error=True)
            return
        self._add(payment)

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
        self.tenders = []
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
        if self.tenders:
            app.notify(_("Fjern betalingerne, før du går tilbage til salget."), error=True)
            return
        app.show("sale")


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
    driver.tap("pad-2")
    driver.tap("pad-0")
    driver.tap("tender-card")
    shoot("payment", "card-terminal")
    driver.tap("card-approve")
    shoot("payment", "split")
    screen = app.screen("payment")
    if screen.cash_due() > 5000:
        driver.tap("pad-5")
        driver.tap("pad-0")
        driver.tap("tender-cash")
        shoot("payment", "part-cash")
    driver.tap("receipt-toggle")
    keys = [k for k, _a in quick_amounts(screen.cash_due())]
    driver.tap(keys[-1] if keys else "quick-exact")
    shoot("payment", "done")
