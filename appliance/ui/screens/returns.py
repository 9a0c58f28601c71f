"""Returns: scan the receipt (the sale screen sends `R<n>` here through `start(n)`) or type its
number; the original lines with what was sold and what is already returned; choose lines and
quantities with +/-; refund. The core decides everything that matters: which lines may come
back and at what price (`domain.returns.return_lines`), and the tenders (the original ones:
`checkout.complete_return` without payments). The screen shows the core's preview and result."""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.screenmanager import Screen

from ...domain.money import format_dkk, parse_kroner
from ...domain.returns import ReturnError, default_refund_tenders, return_lines, returned_so_far
from ...domain.tenders import PaymentError, PaymentType, settle_refund
from ..i18n import _
from .payment import tender_name

DARK = (0.1, 0.1, 0.1, 1)


def _label(text: str, align: str = "center", **kw: Any) -> Label:
    from ..widgets import FONT
    label = Label(text=text, font_size=FONT, color=DARK, halign=align, valign="middle",
                  shorten=True, **kw)
    label.bind(size=lambda w, size: setattr(w, "text_size", size))
    return label


def tenders_text(payments: list[dict]) -> str:
    """'Kontant 12,50 kr. · Kort (Dankort) 20,00 kr.' for money going back (amounts shown positive)."""
    parts = []
    for p in payments:
        amount = -p["amount"] if isinstance(p["amount"], int) else -parse_kroner(p["amount"])
        brand = f" ({p['brand']})" if p.get("brand") else ""
        parts.append(f"{tender_name(p['type'])}{brand} {format_dkk(amount)}")
    return "  ·  ".join(parts)


class ReturnsScreen(Screen):
    receipt_number = NumericProperty(0)    # 0 = no receipt loaded
    title_text = StringProperty("")
    refund_text = StringProperty("")
    tenders_text = StringProperty("")
    result_text = StringProperty("")
    can_refund = BooleanProperty(False)
    busy = BooleanProperty(False)
    rest_text = StringProperty("")         # a card refund was declined: what the customer is still owed

    def __init__(self, **kw: Any):
        super().__init__(**kw)
        self.original: dict | None = None
        self.earlier: list[dict] = []
        self.chosen: dict[int, int] = {}   # original line_no -> qty to return

    def on_kv_post(self, *_args: Any) -> None:
        self.reset()

    def on_pre_enter(self, *_args: Any) -> None:
        from ...services.payments import unfinished_returns
        app = App.get_running_app()
        app.clear_message()
        app.backend.call(unfinished_returns, done=self._unfinished)

    def _unfinished(self, found: list[dict]) -> None:
        """Money that went back to a card for a return that was never written (a declined second card
        the cashier left, a crash): said until the cashier returns that receipt again."""
        if not found:
            return
        first = found[0]
        if first["given"]:
            text = _("Bon nr. {n}: {amount} er givet tilbage til kunden, men returneringen er ikke skrevet. "
                     "Hent bonnen og returnér igen: det, der er givet tilbage, gives ikke to gange.").format(
                n=first["receipt"], amount=format_dkk(first["given"]))
        else:
            text = _("Bon nr. {n}: en tilbagebetaling til kortet er uafklaret. Hent bonnen og prøv igen "
                     "om lidt.").format(n=first["receipt"])
        App.get_running_app().notify(text, error=True)

    def on_leave(self, *_args: Any) -> None:
        self.reset()

    def reset(self) -> None:
        self.original, self.earlier, self.chosen = None, [], {}
        self.receipt_number = 0
        self.result_text = ""
        self.rest_text = ""
        if "pad" in self.ids:
            self.ids.pad.text = ""
        self.refresh()

    # --- finding the receipt -------------------------------------------------------------------------

    def on_scan(self, code: str) -> None:
        from ...render.receipt_text import receipt_number_from_scan
        number = receipt_number_from_scan(code)
        if number is None:
            App.get_running_app().notify(_("Scan stregkoden på kundens bon (den starter med R)."), error=True)
            return
        self.start(number)

    def load_typed(self) -> None:
        text = self.ids.pad.text
        if not text.isdigit() or int(text) <= 0:
            App.get_running_app().notify(_("Tast bonnummeret først."), error=True)
            return
        self.start(int(text))

    def start(self, receipt_number: int, quiet: bool = False) -> None:
        """Open a receipt for return (a scan of its barcode, or its number typed)."""
        from ...services.selling import load_receipt
        app = App.get_running_app()
        if not quiet:
            self.result_text = ""
            app.clear_message()
        app.backend.call(load_receipt, receipt_number,
                         done=lambda found: self._loaded(receipt_number, *found),
                         failed=lambda exc: self._not_loaded(receipt_number, exc))

    def _not_loaded(self, number: int, _exc: BaseException) -> None:
        App.get_running_app().notify(_("Bon nr. {n} findes ikke.").format(n=number), error=True)

    def _loaded(self, number: int, original: dict, earlier: list[dict]) -> None:
        app = App.get_running_app()
        self.ids.pad.text = ""
        if original.get("kind") != "sale":
            app.notify(_("Bon nr. {n} er en returbon. Der kan kun returneres mod et salg.").format(n=number),
                       error=True)
            return
        if original.get("training"):
            app.notify(_("Bon nr. {n} er fra træning og kan ikke returneres.").format(n=number), error=True)
            return
        self.original, self.earlier, self.chosen = original, earlier, {}
        self.receipt_number = number
        self.refresh()

    # --- choosing ------------------------------------------------------------------------------------

    def left(self, line_no: int) -> int:
        """How many of a line can still come back."""
        assert self.original is not None
        sold = next(ln["qty"] for ln in self.original["lines"] if ln["line_no"] == line_no)
        return sold - returned_so_far(self.earlier).get(line_no, (0, 0))[0]

    def change(self, line_no: int, delta: int) -> None:
        if self.original is None or self.busy:
            return
        self.rest_text = ""  # another choice: the refund is tried afresh
        qty = min(max(self.chosen.get(line_no, 0) + delta, 0), self.left(line_no))
        if qty:
            self.chosen[line_no] = qty
        else:
            self.chosen.pop(line_no, None)
        self.refresh()

    def choose_all(self) -> None:
        if self.original is None or self.busy:
            return
        self.chosen = {ln["line_no"]: self.left(ln["line_no"]) for ln in self.original["lines"]
                       if self.left(ln["line_no"]) > 0}
        self.refresh()

    def wanted(self) -> list[dict]:
        return [{"line_no": no, "qty": qty} for no, qty in sorted(self.chosen.items()) if qty > 0]

    # --- showing ------------------------------------------------------------------------------------

    def refresh(self) -> None:
        if "lines" not in self.ids:
            return
        box = self.ids.lines
        box.clear_widgets()
        self.can_refund = False
        if self.original is None:
            self.title_text = _("Scan kundens bon eller tast bonnummeret")
            self.refund_text = ""
            self.tenders_text = ""
            return
        when = str(self.original.get("time", ""))[:16].replace("T", " ")
        self.title_text = _("Bon nr. {n}  {when}").format(n=self.receipt_number, when=when)
        self._rows(box)
        self._preview()

    def _rows(self, box: BoxLayout) -> None:
        from ..widgets import ROW, TouchButton
        assert self.original is not None
        done = returned_so_far(self.earlier)
        for ln in self.original["lines"]:
            no = ln["line_no"]
            row = BoxLayout(size_hint_y=None, height=ROW, spacing=4)
            grams = ln.get("weight_g")
            name = ln["name"] + (f" ({grams // 1000},{grams % 1000:03d} kg)" if grams else "")
            row.add_widget(_label(name, "left"))
            row.add_widget(_label(str(ln["qty"]), size_hint_x=0.22))
            row.add_widget(_label(str(done.get(no, (0, 0))[0]), size_hint_x=0.22))
            minus = TouchButton(text="-", key=f"ret-minus-{no}", size_hint_x=None, width=ROW)
            minus.bind(on_release=lambda _b, no=no: self.change(no, -1))
            plus = TouchButton(text="+", key=f"ret-plus-{no}", size_hint_x=None, width=ROW)
            plus.bind(on_release=lambda _b, no=no: self.change(no, 1))
            plus.disabled = self.chosen.get(no, 0) >= self.left(no)
            row.add_widget(minus)
            chosen = _label(str(self.chosen.get(no, 0)), size_hint_x=0.22, bold=True)
            row.add_widget(chosen)
            row.add_widget(plus)
            box.add_widget(row)

    def _preview(self) -> None:
        """The core's own arithmetic for what goes back, before anything is written."""
        assert self.original is not None
        wanted = self.wanted()
        if not wanted:
            self.refund_text = format_dkk(0)
            self.tenders_text = _("Vælg varer og antal med + og -.")
            return
        try:
            lines = return_lines(self.original, self.earlier, wanted)
            amount = -sum(ln["total"] for ln in lines)
            tenders = [p for p in default_refund_tenders(self.original, self.earlier, amount)
                       if p.type is not PaymentType.CASH]
            settlement = settle_refund(amount, tenders)
        except (ReturnError, PaymentError) as exc:
            self.refund_text = ""
            self.tenders_text = str(exc)
            return
        self.refund_text = format_dkk(amount)
        self.tenders_text = _("Tilbage til: {tenders}").format(
            tenders=tenders_text([p.to_dict() for p in settlement.payments]))
        self.can_refund = True

    # --- refunding ---------------------------------------------------------------------------------

    def refund(self, rest_tender: str | None = None) -> None:
        """Refund the chosen lines; `rest_tender` ("cash") after a declined card refund: what went back
        stays, the rest is paid out in that tender and the return written with both."""
        from ...services.checkout import complete_return
        app = App.get_running_app()
        if self.busy:
            return
        if self.original is None:
            app.notify(_("Scan eller tast bonnummeret først."), error=True)
            return
        if not self.wanted():
            app.notify(_("Vælg mindst én vare, der skal returneres."), error=True)
            return
        if app.session.training:
            app.notify(_("Retur kan ikke laves i træning."), error=True)
            return
        request = {"cashier": app.session.cashier.id, "lines": self.wanted()}
        number = self.receipt_number
        backend = app.backend
        devices, queue = backend.devices, backend.print_queue
        self.busy = True
        backend.call(lambda t: complete_return(t, devices, queue, number, request, background=True,
                                               rest_tender=rest_tender),
                     done=self._refunded, failed=self._failed)

    def refund_rest_cash(self) -> None:
        if self.rest_text and not self.busy:
            self.refund("cash")

    def _refunded(self, back: dict) -> None:
        app = App.get_running_app()
        self.busy = False
        self.rest_text = ""
        total = -parse_kroner(back["total"])
        self.result_text = _("Returbon nr. {n}: {amount} retur.  {tenders}").format(
            n=back["receipt_number"], amount=format_dkk(total), tenders=tenders_text(back["payments"]))
        cash = -sum(parse_kroner(p["amount"]) for p in back["payments"] if p["type"] == "cash")
        if cash:
            app.notify(_("Udbetal {amount} kontant til kunden.").format(amount=format_dkk(cash)))
        else:
            app.notify(_("Returneringen er gennemført."))
        drawer = back.get("drawer") or {}
        if drawer.get("message"):
            app.notify(drawer["message"], error=True)
        self.start(self.receipt_number, quiet=True)  # reload: the returned quantities now count

    def _failed(self, exc: BaseException) -> None:
        from ...services.payments import RefundIncomplete
        self.busy = False
        if isinstance(exc, RefundIncomplete):  # what went back stays; the cashier chooses for the rest
            if exc.given:
                text = _("{given} er givet tilbage, men tilbagebetalingen af resten blev afvist. Kunden har "
                         "{rest} til gode: tryk \"Resten kontant\".").format(
                    given=format_dkk(exc.given), rest=format_dkk(exc.rest))
            else:
                text = _("Tilbagebetalingen blev afvist, og returneringen er ikke lavet. Kunden kan få "
                         "{rest} kontant: tryk \"Resten kontant\".").format(rest=format_dkk(exc.rest))
            self.rest_text = text
            App.get_running_app().notify(text, error=True)
            return
        App.get_running_app().notify(
            _("Returneringen kunne ikke gennemføres: {error}").format(error=exc), error=True)


SCREEN = ReturnsScreen


def tour(driver: Any, shoot: Any) -> None:
    """Returns: empty, a receipt scanned with a line chosen, the refund done."""
    app = driver.app
    shoot("returns", "empty")
    number = app.backend.run(lambda t: t.conn.execute(
        "SELECT r.receipt_number FROM receipts r WHERE r.kind = 'sale' AND r.training = 0 "
        "AND NOT EXISTS (SELECT 1 FROM receipts x WHERE x.original_receipt = r.receipt_number) "
        "ORDER BY r.receipt_number DESC LIMIT 1").fetchone())
    if number is None:
        return
    driver.scan(f"R{number[0]}")
    screen = app.screen("returns")
    if screen.original is None:
        return
    first = screen.original["lines"][0]["line_no"]
    driver.tap(f"ret-plus-{first}")
    shoot("returns", "chosen")
    driver.tap("refund")
    shoot("returns", "refunded")
