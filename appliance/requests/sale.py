"""The sale and return requests (`till sell|return --json-in`, the kiosk's basket), as schemas.

A request is checked whole before anything is looked up or written; `sale_request` and
`return_request` give back the plain dict the selling service reads, with every amount in the
one form it takes ("12.50"), so the kroner-with-comma form and whole øre arrive the same way.

    {"cashier": "anna", "pin": "1234",
     "lines": [{"barcode": "5701234567899", "qty": 1},
               {"sku": "BREAD", "qty": 2, "discount": {"percent": 10}},
               {"sku": "CHEESE", "weight_g": 350}, {"sku": "CANDY", "price": "10.00"},
               {"sku": "X", "void": true}],
     "discount": {"amount": "5.00"},           # or {"percent": 10}; whole øre as an integer also
     "payments": [{"type": "cash", "amount": "100.00"}, {"type": "card", "amount": "20,00", "brand": "Visa"}],
     "manager": {"id": "bo", "pin": "9999"}, "training": false, "print_receipt": true}
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from ..domain.basket import MAX_QTY, MAX_WEIGHT_G
from ..domain.money import format_kroner
from . import (
    MAX_LINES,
    MAX_PAYMENTS,
    CashierId,
    Model,
    NonNegativeKroner,
    Pin,
    PositiveAmount,
    PositiveKroner,
    ascii_text,
    decimal_text,
    free_text,
    parse,
    whole,
)

PaymentKind = Literal["cash", "card", "mobilepay", "manual_card", "gift_voucher"]
Qty = Annotated[int, whole(1, MAX_QTY, "quantity")]
Grams = Annotated[int, whole(1, MAX_WEIGHT_G, "weight in grams")]
Code = Annotated[str, ascii_text(64, r"[\x21-\x7e]+", "barcode")]
Sku = Annotated[str, ascii_text(40, r"[A-Za-z0-9][A-Za-z0-9._/-]*", "SKU")]


def _percent(value: object) -> str:
    try:
        pct = decimal_text(value)
    except ValueError as exc:
        raise ValueError(f"discount percent {exc}") from None
    if not Decimal(0) < pct <= Decimal(100):
        raise ValueError("discount percent must be above 0 and at most 100")
    return str(pct)


Percent = Annotated[str, BeforeValidator(_percent)]


class Discount(Model):
    """{"percent": P} (a whole number or text, two decimals) or {"amount": A} (kroner text or øre)."""

    percent: Percent | None = None
    amount: PositiveAmount | None = None

    @model_validator(mode="after")
    def _one(self) -> Discount:
        if (self.percent is None) == (self.amount is None):
            raise ValueError('a discount is {"percent": P} or {"amount": "A"}, one of them')
        return self

    def plain(self) -> dict[str, str]:
        if self.percent is not None:
            return {"percent": self.percent}
        return {"amount": format_kroner(self.amount or 0)}


class Line(Model):
    barcode: Code | None = None
    sku: Sku | None = None
    qty: Qty | None = None
    weight_g: Grams | None = None
    price: NonNegativeKroner | None = None   # a price override (a manager approves)
    discount: Discount | None = None
    void: bool = False

    @model_validator(mode="after")
    def _names_one_product(self) -> Line:
        if (self.barcode is None) == (self.sku is None):
            raise ValueError('each line needs "barcode" or "sku", one of them')
        if self.weight_g is not None and self.qty is not None:
            raise ValueError("a line is sold by weight or by quantity, not both")
        return self

    def plain(self) -> dict[str, Any]:
        out: dict[str, Any] = {"barcode": self.barcode} if self.barcode is not None else {"sku": self.sku}
        if self.qty is not None:
            out["qty"] = self.qty
        if self.weight_g is not None:
            out["weight_g"] = self.weight_g
        if self.price is not None:
            out["price"] = format_kroner(self.price)
        if self.discount is not None:
            out["discount"] = self.discount.plain()
        if self.void:
            out["void"] = True
        return out


class Payment(Model):
    type: PaymentKind
    amount: PositiveKroner
    brand: Annotated[str, free_text(30, "brand")] | None = None
    reference: Annotated[str, ascii_text(100, r"[\x20-\x7e]+", "reference")] | None = None

    def plain(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "amount": format_kroner(self.amount)}
        if self.brand:
            out["brand"] = self.brand
        if self.reference:
            out["reference"] = self.reference
        return out


class Manager(Model):
    """A manager's approval: the manager's PIN, and id (the acting cashier's own when left out)."""

    id: CashierId | None = None
    pin: Pin

    def plain(self) -> dict[str, str]:
        return {**({"id": self.id} if self.id is not None else {}), "pin": self.pin}


class _Request(Model):
    cashier: CashierId
    pin: Pin | None = None
    manager: Manager | None = None
    payments: Annotated[list[Payment], Field(max_length=MAX_PAYMENTS)] | None = None

    def _plain(self) -> dict[str, Any]:
        out: dict[str, Any] = {"cashier": self.cashier}
        if self.pin is not None:
            out["pin"] = self.pin
        if self.manager is not None:
            out["manager"] = self.manager.plain()
        if self.payments is not None:
            out["payments"] = [p.plain() for p in self.payments]
        return out


class SaleRequest(_Request):
    lines: Annotated[list[Line], Field(min_length=1, max_length=MAX_LINES)]
    payments: Annotated[list[Payment], Field(min_length=1, max_length=MAX_PAYMENTS)]
    discount: Discount | None = None
    training: bool = False
    print_receipt: bool = True

    def plain(self) -> dict[str, Any]:
        out = {**self._plain(), "lines": [ln.plain() for ln in self.lines]}
        if self.discount is not None:
            out["discount"] = self.discount.plain()
        if self.training:
            out["training"] = True
        if not self.print_receipt:
            out["print_receipt"] = False
        return out


class ReturnLine(Model):
    """A line of a return against a receipt ({"line_no": N} or {"sku": S}, "qty"), or of a free
    return (a sale line: "barcode" or "sku", "qty" or "weight_g")."""

    line_no: Annotated[int, whole(1, MAX_LINES, "line number")] | None = None
    barcode: Code | None = None
    sku: Sku | None = None
    qty: Qty | None = None
    weight_g: Grams | None = None

    @model_validator(mode="after")
    def _names_one(self) -> ReturnLine:
        if sum(x is not None for x in (self.line_no, self.barcode, self.sku)) != 1:
            raise ValueError('each line needs "line_no", "sku" or "barcode", one of them')
        if self.weight_g is not None and self.qty is not None:
            raise ValueError("a line is sold by weight or by quantity, not both")
        return self

    def plain(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in (("line_no", self.line_no), ("barcode", self.barcode),
                                                  ("sku", self.sku), ("qty", self.qty),
                                                  ("weight_g", self.weight_g)) if v is not None}
        return out


class ReturnRequest(_Request):
    lines: Annotated[list[ReturnLine], Field(min_length=1, max_length=MAX_LINES)]

    def plain(self) -> dict[str, Any]:
        return {**self._plain(), "lines": [ln.plain() for ln in self.lines]}


def sale_request(data: object) -> dict[str, Any]:
    """The sale request checked against its schema, as the plain dict `selling.sell` reads."""
    return parse(SaleRequest, data, "sale").plain()


def return_request(data: object) -> dict[str, Any]:
    """The return request checked against its schema, as the plain dict `selling.refund` reads."""
    return parse(ReturnRequest, data, "return").plain()
