"""Cash movements and drawer openings that are not sales."""

from __future__ import annotations

from ..domain.money import MoneyError, format_dkk, parse_kroner
from ..store.db import transaction
from .devices import Devices
from .drawer import open_drawer
from .till import Till

MOVES = {"float": "cash_float", "in": "cash_in", "out": "cash_out"}


class CashError(ValueError):
    pass


def move_cash(till: Till, direction: str, amount: str, text: str, cashier_id: str,
              pin: str | None = None, devices: Devices | None = None) -> dict:
    """Opening float, cash in, or cash out to the bank; cash out cannot exceed the drawer."""
    if direction not in MOVES:
        raise CashError(f"cash movement must be one of {', '.join(MOVES)}")
    try:
        ore = parse_kroner(amount)
    except MoneyError as exc:
        raise CashError(str(exc)) from exc
    if ore <= 0:
        raise CashError("amount must be positive")
    text = (text or "").strip()
    if direction == "out" and not text:
        raise CashError("cash out needs a text (what the money is for)")
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
    who_id = till.acting(cashier_id, pin)
    return open_drawer(till, devices, who_id, "no_sale", text=reason)
