"""Returns against an original receipt: never more than was sold, priced as it was sold."""

from __future__ import annotations

from typing import Any

from .basket import check_qty
from .money import div_round_half_up
from .tenders import Payment, PaymentType


class ReturnError(ValueError):
    pass


def returned_so_far(earlier_returns: list[dict[str, Any]]) -> dict[int, tuple[int, int]]:
    """line_no -> (qty returned, amount refunded, positive) over earlier returns of one receipt."""
    done: dict[int, tuple[int, int]] = {}
    for rec in earlier_returns:
        for ln in rec["lines"]:
            no = ln.get("original_line_no")
            if no is None:
                continue
            qty, amount = done.get(no, (0, 0))
            done[no] = (qty + ln["qty"], amount - ln["total"])
    return done


def return_lines(original: dict[str, Any], earlier_returns: list[dict[str, Any]], wanted: list[dict[str, Any]]
                 ) -> list[dict[str, Any]]:
    """Lines for a return of `wanted` ({"line_no"|"sku", "qty"}) against `original`.
    Each returned unit is refunded at what it was actually sold for, discounts included; the last
    units of a line take the remainder so a line never refunds more than it took."""
    if original.get("kind") != "sale":
        raise ReturnError("only a sale can be returned against")
    if not wanted:
        raise ReturnError("a return needs at least one line")
    by_no = {ln["line_no"]: ln for ln in original["lines"]}
    done = returned_so_far(earlier_returns)
    asked: dict[int, int] = {}
    for item in wanted:
        if "line_no" in item:
            no = item["line_no"]
            if no not in by_no:
                raise ReturnError(f"receipt has no line {no}")
        elif "sku" in item:
            matches = [ln["line_no"] for ln in original["lines"] if ln["sku"] == item["sku"]]
            if not matches:
                raise ReturnError(f"SKU {item['sku']} is not on the receipt")
            no = next(
                (m for m in matches if by_no[m]["qty"] - done.get(m, (0, 0))[0] - asked.get(m, 0)
                 > 0), matches[0])
        else:
            raise ReturnError('a return line names "line_no" or "sku"')
        qty = check_qty(item.get("qty", 1))
        asked[no] = asked.get(no, 0) + qty
    lines: list[dict[str, Any]] = []
    for no, qty in sorted(asked.items()):
        orig = by_no[no]
        sold_qty = orig["qty"]
        prev_qty, prev_amount = done.get(no, (0, 0))
        if prev_qty + qty > sold_qty:
            left = sold_qty - prev_qty
            raise ReturnError(
                f"line {no} ({orig['name']}): {qty} asked back, only {left} of {sold_qty} left"
            )
        if prev_qty + qty == sold_qty:
            refund = orig["total"] - prev_amount
        else:
            refund = div_round_half_up(orig["total"] * qty, sold_qty)
        gross = div_round_half_up(orig["gross"] * qty, sold_qty)
        lines.append({
            "line_no": len(lines) + 1, "original_line_no": no, "sku": orig["sku"],
            "name": orig["name"], "group": orig["group"], "vat_rate": orig["vat_rate"],
            "qty": qty, "unit_price": orig["unit_price"], "gross": -gross,
            "line_discount": 0, "basket_discount": -(gross - refund), "total": -refund,
        })
    return lines


def default_refund_tenders(original: dict[str, Any], earlier_returns: list[dict[str, Any]],
                           amount: int) -> list[Payment]:
    """Back to the original tenders: non-cash first, up to what each still has to give back;
    whatever remains goes out in cash. A refund names the payment it gives back by that payment's
    reference (the terminal's transaction id), so two cards on one receipt are told apart."""
    Key = tuple[str, str | None, str | None]
    refunded: dict[Key, int] = {}
    for rec in earlier_returns:
        for p in rec["payments"]:
            key = (p["type"], p.get("brand"), p.get("reference"))
            refunded[key] = refunded.get(key, 0) - p["amount"]
    paid: dict[Key, int] = {}
    for p in original["payments"]:
        if p["type"] != PaymentType.CASH.value:
            key = (p["type"], p.get("brand"), p.get("reference"))
            paid[key] = paid.get(key, 0) + p["amount"]
    left = amount
    tenders: list[Payment] = []
    for (ptype, brand, reference), total in paid.items():
        take = min(total - refunded.get((ptype, brand, reference), 0), left)
        if take > 0:
            tenders.append(Payment(PaymentType(ptype), take, brand, reference))
            left -= take
    if left:
        tenders.append(Payment(PaymentType.CASH, left))
    return tenders


def tender_types(payments: list[dict[str, Any]] | list[Payment]) -> set[str]:
    return {p.type.value if isinstance(p, Payment) else p["type"] for p in payments}
