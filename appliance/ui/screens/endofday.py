"""End of day: count the drawer by denomination, see expected cash and the difference live, choose
what goes to the bank and whether the Z goes to Dinero, close the day, print the Z and show it.
The X report (an interim report that resets nothing) can be printed at any time.

Counting: +/- on each note and coin, or tap its count and type it on the pad. The to-bank amount
follows the count (counted minus the float that stays in the drawer) until it is typed by hand.
"Overfør til Dinero" starts as the shop's setting (meta dinero.auto_transfer, on by default);
unticking it skips the transfer for this close only (the Z can be sent later from Reports).
Closing asks once more before it happens: a Z cannot be undone, and there is one per day.

With an integrated card terminal, closing first reconciles it (on the backend's worker, before the
Z, so the Z holds the reconciliation) and the result shows per brand what the till booked, what the
terminal charged and any difference. A terminal that does not answer does not stop the close: the
screen says so and the Z notes that no reconciliation was made."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from kivy.app import App
from kivy.properties import BooleanProperty, DictProperty, NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen
from kivy.uix.widget import Widget

from ...domain.money import MoneyError, format_dkk, format_kroner, parse_kroner
from ...domain.reports import DENOMINATIONS
from ..i18n import _
from ..widgets import ROW
from .cash import UserError, danish_error

NOTES = tuple(d for d in DENOMINATIONS if d >= 5000)
COINS = tuple(d for d in DENOMINATIONS if d < 5000)


def denomination_name(ore: int) -> str:
    return f"{ore // 100} kr." if ore % 100 == 0 else format_dkk(ore)


def dk_date(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        return date.fromisoformat(iso[:10]).strftime("%d-%m-%Y")
    except ValueError:
        return iso


def dk_time(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).strftime("%d-%m-%Y %H:%M")
    except ValueError:
        return iso


def kr(text: str | None) -> str:
    """A report's kroner string ('123.50') as the shop writes it."""
    if text is None:
        return ""
    return format_dkk(parse_kroner(text))


def transfer_text(state: str | None, transferred_at: str | None = None, error: str | None = None) -> str:
    """The Dinero state as the Reports list and the Z summary show it."""
    if state == "queued":
        return _("I kø")
    if state == "sent":
        return _("Overført {time}").format(time=dk_time(transferred_at))
    if state == "failed":
        return _("Fejlet: {reason}").format(reason=error or "")
    return _("Ikke sendt")


def report_rows(data: dict) -> list[tuple[str, str]]:
    """The figures of an X or Z report worth a glance on the screen (the slip has all of them)."""
    rows = [(_("Dato"), dk_date(data.get("business_date"))),
            (_("Periode"), f"{dk_time(data.get('period_start'))} - {dk_time(data.get('period_end'))}"),
            (_("Salg ({n} bonner)").format(n=data["receipts"]["sales"]), kr(data["gross_sales"])),
            (_("Returneringer ({n})").format(n=data["receipts"]["returns"]), kr(data["returns"])),
            (_("Nettoomsætning"), kr(data["net_sales"]))]
    for rate, v in data.get("vat", {}).items():
        rows.append((_("Moms {rate} %").format(rate=rate), kr(v["vat"])))
    names = {"cash": _("Kontant"), "card": _("Betalingskort"), "mobilepay": _("MobilePay"),
             "manual_card": _("Kort (manuel)"), "gift_voucher": _("Gavekort")}
    for kind, amount in data.get("payments", {}).items():
        rows.append((names.get(kind, kind), kr(amount)))
    rows += [(_("Forventet kontant"), kr(data["cash_expected"]))]
    if data.get("cash_counted") is not None:
        rows += [(_("Optalt"), kr(data["cash_counted"])),
                 (_("Difference"), kr(data["cash_difference"])),
                 (_("Til bank"), kr(data["to_bank"])),
                 (_("Næste byttepenge"), kr(data["next_float"]))]
    return rows


def _net(totals: dict) -> int:
    return int(totals.get("payments_ore", 0)) - int(totals.get("refunds_ore", 0))


def terminal_rows(reconciliation: dict | None) -> tuple[list[tuple[str, str]], tuple[str, ...]]:
    """Per brand the till's and the terminal's net card amount, and a difference where they disagree;
    with the labels to highlight."""
    if not reconciliation:
        return [], ()
    rows, warn = [(_("Kortterminal"), _("kasse / terminal"))], []
    for r in reconciliation.get("rows", []):
        rows.append((r["brand"], f"{format_dkk(_net(r['till']))} / {format_dkk(_net(r['terminal']))}"))
        if not r.get("agrees"):
            label = _("{brand}: difference").format(brand=r["brand"])
            rows.append((label, format_dkk(_net(r["difference"]))))
            warn.append(label)
    return rows, tuple(warn)


def terminal_note(reconciliation: dict | None, error: str | None) -> str:
    """One line in plain Danish: agreed, which brands differ (terminal minus till), or no answer."""
    if error:
        return error
    if not reconciliation:
        return ""
    differing = [r for r in reconciliation.get("rows", []) if not r.get("agrees")]
    if not differing:
        return _("Terminalen og kassen er enige.")
    brands = ", ".join(f"{r['brand']} {format_dkk(_net(r['difference']))}" for r in differing)
    return _("Terminalen og kassen er ikke enige: {brands}").format(brands=brands)


def fill_rows(grid: Any, rows: list[tuple[str, str]], warn: tuple[str, ...] = ()) -> None:
    """Label/value pairs into a two-column GridLayout (see ReportRows in endofday.kv)."""
    from kivy.factory import Factory
    grid.clear_widgets()
    for label, value in rows:
        bad = label in warn
        grid.add_widget(Factory.ReportLabel(text=label, bold=bad))
        grid.add_widget(Factory.ReportValue(text=value, color=(0.75, 0.15, 0.15, 1) if bad
                                            else (0.1, 0.1, 0.1, 1)))


# --- on the backend's worker ------------------------------------------------------------------------

def queue_report_print(till: Any, journal_nr: int, queue: Any) -> int:
    """A report print job (X or Z, by its journal entry); the print queue prints it off this thread."""
    from ...services.printing import queue_job
    job = queue_job(till, "report", journal_nr)
    if queue is not None:
        queue.wake()
    return job


def closed_note(z: int) -> str:
    """What the count screen says once a Z was made today: another closes the period since it."""
    return _("Z-rapport {z} er lavet i dag. En ny Z-rapport lukker perioden siden den.").format(z=z)


def load_figures(till: Any) -> dict:
    from ...services.closing import x_figures
    from ...services.uploader import auto_transfer
    report = x_figures(till)
    today = till.now().date().isoformat()
    closed = till.conn.execute("SELECT z_number FROM z_reports WHERE substr(period_end, 1, 10) = ? "
                               "ORDER BY z_number DESC LIMIT 1", (today,)).fetchone()
    return {"expected": report.cash_expected, "float": report.cash_float,
            "transfer": auto_transfer(till), "closed_z": closed[0] if closed else None,
            "business_date": report.ctx.business_date}


def do_close(till: Any, counts: dict[int, int], to_bank: int, cashier_id: str, transfer: bool,
             queue: Any, terminal: Any = None) -> dict:
    from ...services.closing import CloseError, close_day, z_journal_nr
    from ...services.reconciliation import NO_ANSWER, reconcile_before_close
    from ...services.uploader import transfer_states
    total = sum(v * n for v, n in counts.items())
    rec, why_not = reconcile_before_close(till, terminal, cashier_id, total, to_bank)
    rec_error = None if why_not is None else (
        _("Terminalen svarer ikke: afstemningen mangler") if why_not.danish == NO_ANSWER else why_not.danish)
    denominations = ",".join(f"{format_kroner(v)}:{n}" for v, n in sorted(counts.items(), reverse=True) if n)
    try:
        data = close_day(till, format_kroner(total), format_kroner(to_bank), denominations or None,
                         cashier_id, transfer=transfer)
    except CloseError:
        if to_bank > total:
            raise UserError(_("Der kan ikke gå mere i banken, end der er talt op.")) from None
        raise
    z = data["z_number"]
    job = queue_report_print(till, z_journal_nr(till, z), queue)
    state = transfer_states(till).get(z, {})
    return {"report": data, "job": job, "transfer": state.get("state", "not_sent"),
            "reconciliation": rec, "reconciliation_error": rec_error}


def do_x_report(till: Any, cashier_id: str, queue: Any) -> dict:
    from ...services.closing import x_report
    data = x_report(till, cashier_id)
    [(nr,)] = till.conn.execute("SELECT MAX(nr) FROM journal WHERE kind = 'x_report'").fetchall()
    return {"report": data, "job": queue_report_print(till, nr, queue)}


# --- the screen ------------------------------------------------------------------------------------

class DenomRow(BoxLayout):
    value = NumericProperty(0)       # øre
    name = StringProperty("")
    count = NumericProperty(0)
    subtotal = StringProperty("")
    selected = BooleanProperty(False)


class EndOfDayScreen(Screen):
    mode = StringProperty("count")          # count | done | x
    counts = DictProperty({})               # øre -> count
    selected = StringProperty("")           # "" | "<øre>" | "bank"
    expected = NumericProperty(0)
    day_float = NumericProperty(0)
    counted = NumericProperty(0)
    to_bank = NumericProperty(0)
    to_bank_typed = BooleanProperty(False)  # typed by hand: stops following the count
    transfer = BooleanProperty(True)
    confirming = BooleanProperty(False)
    loaded = BooleanProperty(False)
    counted_text = StringProperty("")
    expected_text = StringProperty("")
    difference = NumericProperty(0)
    difference_text = StringProperty("")
    to_bank_text = StringProperty("")
    next_float_text = StringProperty("")
    notes_text = StringProperty("")
    coins_text = StringProperty("")
    closed_note = StringProperty("")
    result_title = StringProperty("")
    result_note = StringProperty("")
    last_z = NumericProperty(0)             # the Z shown in the done panel
    terminal_note = StringProperty("")      # the card terminal's reconciliation, one line
    terminal_warn = BooleanProperty(False)  # ... with a difference, or not made
    _syncing = False

    def on_kv_post(self, *_args: Any) -> None:
        self.rows: dict[int, DenomRow] = {}
        for box, values in ((self.ids.notes, NOTES), (self.ids.coins, COINS)):
            for v in values:
                row = DenomRow(value=v, name=denomination_name(v))
                self.rows[v] = row
                box.add_widget(row)
            for _i in range(len(COINS) - len(values)):  # the columns' rows line up
                box.add_widget(Widget(size_hint_min_y=ROW, size_hint_max_y=ROW * 1.6))
            box.add_widget(Widget())  # what is left over goes below the rows
        self.counts = {v: 0 for v in DENOMINATIONS}
        self.recount()

    def on_pre_enter(self, *_args: Any) -> None:
        if self.mode != "count":
            self.reset()
        self.confirming = False
        self.load()

    def load(self) -> None:
        app = App.get_running_app()
        self.loaded = False
        app.backend.call(load_figures, done=self._loaded,
                         failed=lambda e: app.notify(danish_error(e), error=True))

    def _loaded(self, figures: dict) -> None:
        self.expected = figures["expected"]
        self.day_float = figures["float"]
        self.transfer = figures["transfer"]
        z = figures["closed_z"]
        self.closed_note = closed_note(z) if z else ""
        self.loaded = True
        self.recount()

    def reset(self) -> None:
        self.mode = "count"
        self.counts = {v: 0 for v in DENOMINATIONS}
        self.to_bank_typed = False
        self.select("")
        self.recount()

    # --- counting -------------------------------------------------------------------------------

    def change(self, value: int, delta: int) -> None:
        self.counts[value] = max(0, self.counts.get(value, 0) + delta)
        if self.selected == str(value):
            self._set_pad(str(self.counts[value]))
        self.confirming = False
        self.recount()

    def select(self, what: str) -> None:
        """The field the pad types into: a denomination's count or the to-bank amount."""
        self.selected = what
        pad = self.ids.pad
        pad.allow_comma = what == "bank"
        pad.max_length = 9 if what == "bank" else 5
        if what == "bank":
            self._set_pad(format_kroner(self.to_bank).replace(".", ",").removesuffix(",00"))
        elif what:
            count = self.counts.get(int(what), 0)
            self._set_pad(str(count) if count else "")
        else:
            self._set_pad("")
        for v, row in getattr(self, "rows", {}).items():
            row.selected = what == str(v)

    def _set_pad(self, text: str) -> None:
        self._syncing = True
        try:
            self.ids.pad.text = text
        finally:
            self._syncing = False

    def pad_changed(self, text: str) -> None:
        if self._syncing or not self.selected:
            return
        self.confirming = False
        if self.selected == "bank":
            try:
                self.to_bank = parse_kroner(text.replace(",", ".").rstrip(".") or "0")
            except MoneyError:
                return
            self.to_bank_typed = True
        else:
            self.counts[int(self.selected)] = int(text or 0)
        self.recount()

    def recount(self) -> None:
        counts = self.counts
        notes = sum(v * counts.get(v, 0) for v in NOTES)
        coins = sum(v * counts.get(v, 0) for v in COINS)
        self.counted = notes + coins
        for v, row in getattr(self, "rows", {}).items():
            row.count = counts.get(v, 0)
            row.subtotal = format_dkk(v * row.count, suffix=False) if row.count else ""
        if not self.to_bank_typed:
            self.to_bank = max(0, self.counted - self.day_float)
        self.difference = self.counted - self.expected
        self.notes_text = _("Sedler: {amount}").format(amount=format_dkk(notes))
        self.coins_text = _("Mønter: {amount}").format(amount=format_dkk(coins))
        self.counted_text = format_dkk(self.counted)
        self.expected_text = format_dkk(self.expected) if self.loaded else "..."
        sign = "+" if self.difference > 0 else ""
        self.difference_text = sign + format_dkk(self.difference) if self.loaded else "..."
        self.to_bank_text = format_dkk(self.to_bank)
        self.next_float_text = format_dkk(self.counted - self.to_bank)

    # --- closing ---------------------------------------------------------------------------------

    def toggle_transfer(self) -> None:
        self.transfer = not self.transfer

    def ask_close(self) -> None:
        app = App.get_running_app()
        if self.to_bank > self.counted:
            app.notify(_("Der kan ikke gå mere i banken, end der er talt op."), error=True)
            return
        self.confirming = True

    def close_day(self) -> None:
        app = App.get_running_app()
        self.confirming = False
        counts = {v: n for v, n in self.counts.items() if n}
        terminal = getattr(getattr(app.backend, "devices", None), "terminal", None)
        if terminal is not None:
            app.notify(_("Afstemmer med kortterminalen ..."))
        app.backend.call(do_close, counts, self.to_bank, app.session.cashier.id, self.transfer,
                         app.backend.print_queue, terminal, done=self._closed,
                         failed=lambda e: app.notify(danish_error(e), error=True))

    def _closed(self, result: dict) -> None:
        app = App.get_running_app()
        data = result["report"]
        self.mode = "done"
        self.result_title = _("Z-rapport {z} - dagen er afsluttet").format(z=data["z_number"])
        rows = report_rows(data)
        rows.append((_("Dinero"), transfer_text(result["transfer"])))
        card_rows, card_warn = terminal_rows(result.get("reconciliation"))
        warn = ((_("Difference"),) if parse_kroner(data["cash_difference"] or "0") else ()) + card_warn
        fill_rows(self.ids.result_rows, rows + card_rows, warn=warn)
        self.terminal_note = terminal_note(result.get("reconciliation"), result.get("reconciliation_error"))
        self.terminal_warn = bool(card_warn or result.get("reconciliation_error"))
        printing = self._print_note()
        self.result_note = printing
        self.closed_note = closed_note(data["z_number"])
        self.last_z = data["z_number"]
        message = _("Dagen er afsluttet med Z-rapport {z}.").format(z=data["z_number"]) + " " + printing
        app.notify(f"{message} {self.terminal_note}".rstrip(),
                   error=App.get_running_app().backend.print_queue is None or self.terminal_warn)

    def _print_note(self) -> str:
        if App.get_running_app().backend.print_queue is None:
            return _("Der er ingen bonprinter sat op.")
        return _("Rapporten udskrives.")

    def reprint_z(self) -> None:
        from ...services.closing import z_journal_nr
        app = App.get_running_app()
        z = self.last_z
        if not z:
            return
        queue = app.backend.print_queue
        app.backend.call(lambda t: queue_report_print(t, z_journal_nr(t, z), queue),
                         done=lambda _job: app.notify(self._print_note(), error=queue is None),
                         failed=lambda e: app.notify(danish_error(e), error=True))

    def x_report(self) -> None:
        app = App.get_running_app()
        app.backend.call(do_x_report, app.session.cashier.id, app.backend.print_queue, done=self._x,
                         failed=lambda e: app.notify(danish_error(e), error=True))

    def _x(self, result: dict) -> None:
        app = App.get_running_app()
        self.mode = "x"
        self.terminal_note, self.terminal_warn = "", False
        self.result_title = _("X-rapport (nulstiller ingenting)")
        fill_rows(self.ids.result_rows, report_rows(result["report"]))
        self.result_note = self._print_note()
        app.notify(_("X-rapporten er lavet.") + " " + self.result_note,
                   error=app.backend.print_queue is None)

    def back_to_count(self) -> None:
        if self.mode == "done":
            self.reset()
        self.mode = "count"
        self.load()


SCREEN = EndOfDayScreen


def tour(driver: Any, shoot: Any) -> None:
    """End of day: counting (with the pad on a coin), the X report, the confirm step. The tour
    does not close the day: the demo shop's today stays open for selling."""
    screen = driver.app.screen("endofday")
    screen.reset()
    screen.load()
    driver.settle()
    shoot("endofday", "empty")
    for v, n in ((50000, 3), (20000, 4), (10000, 6), (5000, 2), (2000, 7)):
        for _i in range(n):
            driver.tap(f"denom-{v}-plus")
    driver.tap("denom-1000")
    for d in "23":
        driver.tap(f"pad-{d}")
    driver.tap("denom-50-plus")
    shoot("endofday", "counting")
    driver.tap("to-bank")
    shoot("endofday", "to-bank")
    driver.tap("close-day")
    shoot("endofday", "confirm")
    driver.tap("close-cancel")
    driver.tap("transfer")
    shoot("endofday", "no-transfer")
    driver.tap("transfer")
    driver.tap("x-report")
    shoot("endofday", "x-report")
    driver.tap("x-close")
    driver.tap("close-day")
    driver.tap("close-confirm")  # the tour's own demo folder: its today is closed from here on
    shoot("endofday", "closed" if screen.mode == "done" else "refused")
    driver.tap("back")
