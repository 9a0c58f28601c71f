"""The posting plan of a Z report: balanced double-entry lines, Dinero-neutral.

A positive amount debits `account` and credits `balancing_account` (Dinero's cash journal).
Every line balances against the cash account, so the plan's effect on cash is exactly the cash
that moved: counted cash minus the opening float minus what went to the bank."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .reports import Report
from .tenders import NON_CASH

PAYMENT_TEXT = {
    "card": "betalingskort", "mobilepay": "MobilePay", "manual_card": "kort (manuel terminal)",
    "gift_voucher": "gavekort",
}
VAT_CODES = {25: "U25", 0: "none"}
NO_VAT = "none"
BRAND_KEY = "payment:card:"  # + brand: an optional account of the brand's own


@dataclass(frozen=True)
class AccountMap:
    """Account numbers by key: revenue:default, revenue:<group>, cash, bank, differences,
    rounding, payment:<type>, and optionally payment:card:<brand> (e.g. payment:card:Visa)."""

    numbers: dict[str, int] = field(default_factory=dict)

    def revenue(self, group: str) -> int | None:
        return self.numbers.get(f"revenue:{group}", self.numbers.get("revenue:default"))

    def get(self, key: str) -> int | None:
        return self.numbers.get(key)


def posting_plan(report: Report, accounts: AccountMap) -> tuple[list[dict[str, Any]], list[str]]:
    """(lines, missing account keys). Zero lines are left out."""
    ctx = report.ctx
    head = f"Z {ctx.number} {ctx.business_date} kasse {ctx.register_id}"
    missing: list[str] = []
    cash = accounts.get("cash")
    if cash is None:
        missing.append("cash")

    def need(key: str, number: int | None) -> int | None:
        if number is None and key not in missing:
            missing.append(key)
        return number

    lines: list[dict[str, Any]] = []

    def add(account: int | None, amount: int, text: str, vat_code: str = NO_VAT) -> None:
        if amount:
            lines.append({
                "account": account, "vat_code": vat_code, "amount": amount,
                "balancing_account": cash, "balancing_vat_code": NO_VAT, "text": text,
            })

    revenue: dict[tuple[int | None, int], int] = {}
    for (group, rate), amount in report.groups.items():
        acc = need(f"revenue:{group}", accounts.revenue(group))
        revenue[(acc, rate)] = revenue.get((acc, rate), 0) + amount
    for (acc, rate), amount in sorted(revenue.items(), key=lambda kv: (kv[0][0] or 0, -kv[0][1])):
        add(acc, -amount, f"{head}: salg {rate}% moms", VAT_CODES[rate])
    for ptype in NON_CASH:
        amount = report.payments.get(ptype.value, 0)
        if ptype.value == "card":
            amount -= _card_brand_lines(report, accounts, add, head)
        if amount:
            add(need(f"payment:{ptype.value}", accounts.get(f"payment:{ptype.value}")), amount,
                f"{head}: {PAYMENT_TEXT[ptype.value]}")
    if report.rounding_total:
        add(need("rounding", accounts.get("rounding")), -report.rounding_total,
            f"{head}: øreafrunding")
    if report.cash_difference:
        add(need("differences", accounts.get("differences")), -report.cash_difference,
            f"{head}: kassedifference")
    moved_in = report.cash_in + report.cash_float_in
    if moved_in:
        add(need("bank", accounts.get("bank")), -moved_in, f"{head}: indbetalt til kassen")
    if report.cash_out:
        add(need("bank", accounts.get("bank")), report.cash_out, f"{head}: udbetalt til bank")
    if ctx.to_bank:
        add(need("bank", accounts.get("bank")), ctx.to_bank, f"{head}: overført til bank")
    return lines, missing


def _card_brand_lines(report: Report, accounts: AccountMap, add: Callable[..., None], head: str) -> int:
    """Card amounts of brands with an account of their own (payment:card:<brand>) posted there; returns
    what was posted, so the rest (brands without one, unbranded) goes to payment:card."""
    posted = 0
    for brand, amount in report.card_by_brand.items():
        number = accounts.get(f"{BRAND_KEY}{brand}")
        if number is not None and amount:
            add(number, amount, f"{head}: {PAYMENT_TEXT['card']} {brand}")
            posted += amount
    return posted


def cash_effect(lines: list[dict[str, Any]], cash_account: int | None) -> int:
    """Net debit to the cash account over a plan (each line credits its balancing account)."""
    total = 0
    for ln in lines:
        if ln["balancing_account"] == cash_account:
            total -= ln["amount"]
        if ln["account"] == cash_account:
            total += ln["amount"]
    return total
