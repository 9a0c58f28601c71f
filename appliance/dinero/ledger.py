"""A Z report's posting plan as one Dinero ledger item (kassekladde), with deterministic ids.

The item's Id and every line's Id are uuid5 of the shop, register, Z number and revision, so a
repeated POST of the same send is recognised by Dinero (409, code 72) instead of becoming a second
item. Amounts go as DKK with two decimals; VAT codes are always explicit ("none", never null,
which would silently apply the account's default code)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

# Tillbox's own namespace for ledger ids (a fixed, random UUID: never change it).
NAMESPACE = uuid.UUID("5b0c2f0e-7a52-4c1e-9f3e-3d1f8d6a9c41")


def ledger_id(cvr: str, register_id: str, z_number: int, revision: int, action: str = "post") -> str:
    name = f"{cvr}/{register_id}/z{z_number}/r{revision}" + ("" if action == "post" else f"/{action}")
    return str(uuid.uuid5(NAMESPACE, name))


def line_id(item_id: str, index: int) -> str:
    return str(uuid.uuid5(uuid.UUID(item_id), f"line/{index}"))


def amount(ore: int) -> float:
    """øre -> DKK as the API's double ("XXXX.YY"); exact for every øre amount a till handles."""
    return float(Decimal(ore) / 100)


def ledger_item(item_id: str, voucher_date: str, plan: list[dict[str, Any]], file_guid: str | None,
                version: str | None = None, negate: bool = False, prefix: str = "") -> dict[str, Any]:
    """The LedgerItemModelV2 for a plan (amounts in øre). `negate` makes the reversal of it."""
    lines = []
    for i, p in enumerate(plan):
        ore = -p["amount"] if negate else p["amount"]
        lines.append({
            "Id": line_id(item_id, i),
            "Description": (prefix + p["text"])[:250],
            "Amount": amount(ore),
            "AccountNumber": int(p["account"]),
            "AccountVatCode": p.get("vat_code") or "none",
            "BalancingAccountNumber": int(p["balancing_account"]),
            "BalancingAccountVatCode": p.get("balancing_vat_code") or "none",
        })
    item: dict[str, Any] = {"Id": item_id, "VoucherDate": voucher_date, "FileGuid": file_guid, "Lines": lines}
    if version is not None:
        item["Version"] = version
    return item


def plan_from_item(item: dict[str, Any]) -> list[tuple[int, str, int, int, str]]:
    """A ledger item's lines as comparable tuples (account, vat, øre, balancing, vat) for checks."""
    return [(ln["AccountNumber"], ln["AccountVatCode"], round(Decimal(str(ln["Amount"])) * 100),
             ln["BalancingAccountNumber"], ln["BalancingAccountVatCode"]) for ln in item["Lines"]]
