"""The record of a completed sale or return, as it goes into the journal (amounts in øre)."""

from __future__ import annotations

from typing import Any

from .basket import PricedLine
from .tenders import Settlement
from .vat import vat_breakdown


def line_record(p: PricedLine, sign: int = 1) -> dict[str, Any]:
    ln = p.line
    rec: dict[str, Any] = {
        "line_no": ln.line_no, "sku": ln.sku, "name": ln.name, "group": ln.group,
        "vat_rate": ln.vat_rate, "qty": ln.qty, "unit_price": ln.unit_price,
        "gross": sign * p.gross, "line_discount": sign * p.line_discount,
        "basket_discount": sign * p.basket_discount, "total": sign * p.total,
    }
    if ln.weight_g is not None:
        rec["weight_g"] = ln.weight_g
    if ln.barcode:
        rec["barcode"] = ln.barcode
    if ln.override_from is not None:
        rec["override_from"] = ln.override_from
        rec["override_by"] = ln.override_by
    return rec


def vat_record(lines: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    return {
        str(rate): {"gross": v.gross, "net": v.net, "vat": v.vat}
        for rate, v in vat_breakdown((ln["vat_rate"], ln["total"]) for ln in lines).items()
    }


def build_record(
    kind: str,
    lines: list[dict[str, Any]],
    settlement: Settlement,
    *,
    training: bool = False,
    voided: list[dict[str, Any]] | None = None,
    discount: dict[str, Any] | None = None,
    original_receipt: int | None = None,
    started_at: str | None = None,
) -> dict[str, Any]:
    total = sum(ln["total"] for ln in lines)
    paid = sum(p.amount for p in settlement.payments)
    if paid != total + settlement.rounding:
        raise AssertionError("payments do not equal total plus rounding")
    rec: dict[str, Any] = {
        "kind": kind,
        "training": training,
        "lines": lines,
        "vat": vat_record(lines),
        "total": total,
        "rounding": settlement.rounding,
        "change": settlement.change,
        "cash_tendered": settlement.cash_tendered,
        "payments": [p.to_dict() for p in settlement.payments],
    }
    if voided:
        rec["voided"] = voided
    if discount:
        rec["discount"] = discount
    if original_receipt is not None:
        rec["original_receipt"] = original_receipt
    if started_at:
        rec["started_at"] = started_at
    return rec
