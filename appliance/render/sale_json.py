"""A journalled sale or return as the till answers it (`till sell --json`, the kiosk) and as the
receipt is drawn from it: amounts as kroner text. Shared by selling and printing, which is why it
lives down here rather than in either."""

from __future__ import annotations

from typing import Any

from ..domain.money import format_kroner


def sale_json(record: dict[str, Any], cashier: str, journal_nr: int) -> dict[str, Any]:
    k = format_kroner
    out: dict[str, Any] = {
        "receipt_number": record["receipt_number"],
        "kind": record["kind"],
        "journal_nr": journal_nr,
        "time": record["time"],
        "cashier": cashier,
        "training": record["training"],
        "lines": [{
            "line_no": ln["line_no"], "sku": ln["sku"], "name": ln["name"],
            "qty": ln["qty"], **({"weight_g": ln["weight_g"]} if "weight_g" in ln else {}),
            "unit_price": k(ln["unit_price"]), "vat_rate": ln["vat_rate"],
            "discount": k(ln["line_discount"] + ln["basket_discount"]), "total": k(ln["total"]),
        } for ln in record["lines"]],
        "vat": {rate: {key: k(v[key]) for key in ("gross", "net", "vat")}
                for rate, v in record["vat"].items()},
        "total": k(record["total"]),
        "rounding": k(record["rounding"]),
        "change": k(record["change"]),
        "payments": [{**p, "amount": k(p["amount"])} for p in record["payments"]],
    }
    if record.get("original_receipt") is not None:
        out["original_receipt"] = record["original_receipt"]
    return out
