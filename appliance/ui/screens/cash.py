"""Cash in and out of the drawer, and opening it without a sale.

Left: what kind of movement (opening float, cash in, cash out to the bank), the amount on the pad,
the text (cash out needs one), and "Registrér", which journals it and opens the drawer. Right: the
no-sale reasons; one touch on a reason opens the drawer and journals it with that reason. The
expected cash in the drawer is shown and refreshed after every movement."""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.properties import StringProperty
from kivy.uix.screenmanager import Screen

from ...domain.money import MoneyError, format_dkk, parse_kroner
from ..i18n import _

DIRECTIONS = ("float", "in", "out")
NO_SALE_REASONS = ("Byttepenge", "Kontrol", "Andet")  # Danish msgids; journalled in Danish


class UserError(ValueError):
    """A refusal already worded for the cashier."""


def direction_names() -> dict[str, str]:
    return {"float": _("Byttepenge (start)"), "in": _("Indbetaling"), "out": _("Udbetaling til bank")}


def drawer_message(drawer: dict[str, Any]) -> tuple[str, bool]:
    """What the drawer did, for the message line: (text, is_error)."""
    result = drawer.get("result")
    if result == "pulsed":
        return _("Skuffen er åbnet."), False
    if result == "failed":
        return drawer.get("message") or _("Skuffen kunne ikke åbnes."), True
    return _("Der er ingen skuffe sat op."), True


def danish_error(exc: BaseException) -> str:
    """A refusal in plain Danish; unexpected errors keep their own text after a Danish lead."""
    from ...services.till import AuthError
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, AuthError):
        return _("Forkert PIN.")
    if isinstance(exc, PermissionError):
        return _("Det kræver en leder.")
    return _("Det lykkedes ikke: {error}").format(error=exc)


# --- on the backend's worker ----------------------------------------------------------------------

def expected_cash(till: Any) -> int:
    from ...services.closing import x_figures
    return x_figures(till).cash_expected


def do_move(till: Any, direction: str, amount: str, text: str, cashier_id: str, devices: Any) -> dict:
    from ...services.cash import CashError, move_cash
    try:
        result = move_cash(till, direction, amount, text, cashier_id, devices=devices)
    except CashError:
        in_drawer = expected_cash(till)
        if direction == "out" and parse_kroner(amount) > in_drawer:
            text = _("Der er kun {amount} i skuffen.").format(amount=format_dkk(in_drawer))
            raise UserError(text) from None
        raise
    result["expected"] = expected_cash(till)
    return result


def do_no_sale(till: Any, cashier_id: str, reason: str, devices: Any) -> dict:
    from ...services.cash import no_sale
    return no_sale(till, cashier_id, reason, devices=devices)


# --- the screen ------------------------------------------------------------------------------------

class CashScreen(Screen):
    direction = StringProperty("out")
    expected_text = StringProperty("")
    last_text = StringProperty("")  # what was done last, shown under the expected cash

    def on_pre_enter(self, *_args: Any) -> None:
        self.ids.pad.text = ""
        self.choose("out")
        self.last_text = ""
        self.refresh()

    def refresh(self) -> None:
        app = App.get_running_app()
        app.backend.call(expected_cash, done=self._expected)

    def _expected(self, ore: int) -> None:
        self.expected_text = format_dkk(ore)

    def choose(self, direction: str) -> None:
        self.direction = direction
        default = {"float": _("Startbeholdning"), "in": "", "out": _("Til bank")}[direction]
        self.ids.text.text = default

    def register(self) -> None:
        app = App.get_running_app()
        raw = self.ids.pad.text.strip()
        try:
            ore = parse_kroner(raw.replace(",", ".")) if raw else 0
        except MoneyError:
            ore = -1
        if ore <= 0:
            app.notify(_("Tast et beløb større end 0."), error=True)
            return
        text = self.ids.text.text.strip()
        if self.direction == "out" and not text:
            app.notify(_("Skriv hvad pengene skal bruges til."), error=True)
            return
        amount = raw.replace(",", ".")
        app.backend.call(do_move, self.direction, amount, text, app.session.cashier.id, app.backend.devices,
                         done=self._moved, failed=lambda e: app.notify(danish_error(e), error=True))

    def _moved(self, result: dict) -> None:
        app = App.get_running_app()
        name = direction_names()[self.direction]
        done = _("{what} på {amount} er registreret.").format(what=name, amount=format_dkk(result["amount"]))
        drawer, bad = drawer_message(result["drawer"])
        self.last_text = done
        self.expected_text = format_dkk(result["expected"])
        self.ids.pad.text = ""
        app.notify(f"{done} {drawer}", error=bad)

    def no_sale(self, reason: str) -> None:
        app = App.get_running_app()

        def opened(result: dict) -> None:
            text, bad = drawer_message(result)
            self.last_text = _("Skuffe åbnet uden salg: {reason}").format(reason=_(reason))
            app.notify(text, error=bad)
        app.backend.call(do_no_sale, app.session.cashier.id, reason, app.backend.devices,
                         done=opened, failed=lambda e: app.notify(danish_error(e), error=True))


SCREEN = CashScreen


def tour(driver: Any, shoot: Any) -> None:
    """Cash: the screen, a cash out typed on the pad, after registering it, a no-sale."""
    shoot("cash", "open")
    driver.tap("cash-out")
    for d in "200":
        driver.tap(f"pad-{d}")
    shoot("cash", "cash-out-typed")
    driver.tap("cash-register")
    shoot("cash", "cash-out-done")
    driver.tap("nosale-Byttepenge")
    shoot("cash", "no-sale")
