"""Cash movements and drawer openings that are not sales."""

from __future__ import annotations

from ..domain.money import format_dkk
from ..requests import RequestError
from ..requests import parse as parse_request
from ..requests.cash import NoSale, cash_move
from ..store.db import transaction
from .devices import Devices
from .drawer import open_drawer
from .till import Till

MOVES = {"float": "cash_float", "in": "cash_in", "out": "cash_out"}


class CashError(ValueError):
    pass


def move_cash(till: Till, direction: str, amount: str, text: str, cashier_id: str,
              pin: str | None = None, devices: Devices | None = None) -> dict:
    """Opening float, cash in, or cash out to the bank; cash out cannot exceed the drawer. The
    amount is kroner as text ("500.00" or "500,00"), checked with the rest by `requests.cash`."""
    try:
        move = cash_move(direction, amount, text, cashier_id, pin)
    except RequestError as exc:
        raise CashError(str(exc)) from exc
    direction, ore, text = move.direction, move.amount, move.text.strip()
    who_id = till.acting(cashier_id, pin)
    from .closing import x_figures  # the drawer's expected cash right now
    if direction == "out":
        in_drawer = x_figures(till).cash_expected
        if ore > in_drawer:
            raise CashError(f"only {format_dkk(in_drawer)} is expected in the drawer")
    with transaction(till.conn):
        e = till.journal.append(MOVES[direction], who_id, {"amount": ore, "text": text}, ore, ore)
    drawer = open_drawer(till, devices, who_id, MOVES[direction], ref=e.nr)
    return {"journal_nr": e.nr, "kind": MOVES[direction], "amount": ore, "text": text,
            "drawer": drawer}


def no_sale(till: Till, cashier_id: str, reason: str = "", pin: str | None = None,
            devices: Devices | None = None) -> dict:
    """The drawer opened without a sale (change for a note, a check); journalled with its text."""
    try:
        parse_request(NoSale, {"reason": reason or "", "cashier": cashier_id or None, "pin": pin},
                      "drawer")
    except RequestError as exc:
        raise CashError(str(exc)) from exc
    who_id = till.acting(cashier_id, pin)
    return open_drawer(till, devices, who_id, "no_sale", text=reason)
