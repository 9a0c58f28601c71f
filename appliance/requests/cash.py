"""Cash movements that are not sales (`till cash float|in|out`, the kiosk's cash screen) and the
drawer opened without a sale, as schemas."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import model_validator

from . import MAX_TEXT, CashierId, Model, Pin, PositiveKroner, free_text, parse


class CashMove(Model):
    direction: Literal["float", "in", "out"]
    amount: PositiveKroner
    text: Annotated[str, free_text(MAX_TEXT, "text")] = ""
    cashier: CashierId | None = None
    pin: Pin | None = None

    @model_validator(mode="after")
    def _out_says_why(self) -> CashMove:
        if self.direction == "out" and not self.text.strip():
            raise ValueError("cash out needs a text (what the money is for)")
        return self


class NoSale(Model):
    reason: Annotated[str, free_text(MAX_TEXT, "reason")] = ""
    cashier: CashierId | None = None
    pin: Pin | None = None


def cash_move(direction: object, amount: object, text: object = "", cashier: object = None,
              pin: object = None) -> CashMove:
    return parse(CashMove, {"direction": direction, "amount": amount, "text": text or "",
                            "cashier": cashier or None, "pin": pin}, "cash")
