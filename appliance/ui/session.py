"""What the counter is doing right now: who is logged in, the basket, training mode, the customer
count. It lives on the UI thread; use cases run on the backend's worker.

The unfinished basket is saved (meta `kiosk.session`) after every change, so after a crash or a
power cut the till comes back to the same cashier's screen with the same basket."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..domain.basket import Basket, Line
from ..domain.money import format_kroner
from ..domain.roles import Cashier, Role

SESSION_KEY = "kiosk.session"


@dataclass
class Session:
    cashier: Cashier | None = None
    basket: Basket = field(default_factory=Basket)
    training: bool = False
    customers: int = 0  # customers served since login (the shop's count of the day)
    screen: str = "login"
    overrides: dict[int, str] = field(default_factory=dict)  # line_no -> approving manager id
    # payments taken for this basket and not yet in a sale (an approved card stays after a crash)
    tenders: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_manager(self) -> bool:
        return self.cashier is not None and self.cashier.role is Role.MANAGER

    def to_json(self) -> str:
        return json.dumps({"cashier": self.cashier.id if self.cashier else None,
                           "basket": self.basket.to_dict(), "training": self.training,
                           "customers": self.customers, "screen": self.screen,
                           "overrides": {str(k): v for k, v in self.overrides.items()},
                           "tenders": self.tenders})

    def new_basket(self) -> None:
        """A fresh basket; tenders stay (money taken is only let go by a sale or by giving it back)."""
        self.basket = Basket()
        self.overrides = {}


def basket_request(session: Session, payments: list[dict[str, Any]], manager: dict | None = None) -> dict:
    """The `sell` request for the basket: lines as scanned (in-store codes keep their price or
    weight), voided lines kept (they are journalled), discounts and overrides carried over."""
    lines: list[dict[str, Any]] = []
    for ln in session.basket.lines:
        lines.append(line_request(ln))
    request: dict[str, Any] = {"cashier": session.cashier.id if session.cashier else "",
                               "lines": lines, "payments": payments}
    if session.basket.discount is not None:
        request["discount"] = session.basket.discount.to_dict()
    if session.training:
        request["training"] = True
    if manager:
        request["manager"] = manager
    return request


def line_request(ln: Line) -> dict[str, Any]:
    item: dict[str, Any] = {"barcode": ln.barcode} if ln.barcode else {"sku": ln.sku}
    if ln.weight_g is None:
        item["qty"] = ln.qty
    elif not ln.barcode:
        item["weight_g"] = ln.weight_g
    if ln.override_from is not None:
        item["price"] = format_kroner(ln.unit_price)
    if ln.discount is not None:
        item["discount"] = ln.discount.to_dict()
    if ln.voided:
        item["void"] = True
    return item


def restore(data: str | None) -> dict[str, Any] | None:
    if not data:
        return None
    try:
        saved = json.loads(data)
        saved["basket"] = Basket.from_dict(saved["basket"])
        return saved
    except (ValueError, KeyError, TypeError):
        return None  # a damaged snapshot costs the basket, never the start-up
