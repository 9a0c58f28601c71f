"""X and Z reports, computed from the journal entries of one period (amounts in øre)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .journal import Entry
from .money import format_kroner
from .reconciliation import CARD, KIND, UNBRANDED, Totals, rows_of
from .tenders import PaymentType

# DKK notes and coins, in øre
DENOMINATIONS = (100000, 50000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100, 50)


@dataclass(frozen=True)
class ReportContext:
    kind: str  # "X" or "Z"
    number: int  # Z number (Z), or the Z number the X report runs ahead of
    register_id: str
    business_date: str
    period_start: str
    period_end: str
    opening_grand_total_sales: int = 0
    opening_grand_total_returns: int = 0
    carried_float: int = 0
    counted: int | None = None
    denominations: dict[int, int] | None = None
    to_bank: int = 0
    terminal: bool = False  # an integrated card terminal was set up: a Z without its reconciliation says so


@dataclass
class Report:
    ctx: ReportContext
    first_nr: int | None = None
    last_nr: int | None = None
    sales_count: int = 0
    returns_count: int = 0
    gross_sales: int = 0
    returns: int = 0  # positive: what was refunded
    vat: dict[int, dict[str, int]] = field(default_factory=dict)
    groups: dict[tuple[str, int], int] = field(default_factory=dict)
    payments: dict[str, int] = field(default_factory=dict)
    card_brands: dict[str, int] = field(default_factory=dict)  # brand -> amount, any tender with a brand
    card_by_brand: dict[str, int] = field(default_factory=dict)  # brand -> amount, tender "card" only
    # journalled payloads, with nr/time
    terminal_reconciliations: list[dict[str, Any]] = field(default_factory=list)
    cashiers: dict[str, dict[str, int]] = field(default_factory=dict)
    discounts_count: int = 0
    discounts_amount: int = 0
    voids_count: int = 0
    voids_amount: int = 0
    voided_receipts: int = 0
    price_overrides: int = 0
    training_count: int = 0
    training_amount: int = 0
    receipt_copies: int = 0
    no_sales: int = 0
    drawer_openings: int = 0
    parked: int = 0
    cash_float_in: int = 0
    cash_in: int = 0
    cash_out: int = 0
    rounding_total: int = 0
    # What SAF-T's eventReport asks beyond the above: counts beside amounts.
    payment_counts: dict[str, int] = field(default_factory=dict)  # tender -> payments
    cashier_payments: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # -> [count, amount]
    group_qty: dict[str, int] = field(default_factory=dict)  # group -> items sold less returned
    void_lines_amount: int = 0
    voided_receipts_amount: int = 0
    overrides_amount: int = 0
    receipt_copies_amount: int = 0
    cash_in_count: int = 0
    cash_out_count: int = 0

    @property
    def net_sales(self) -> int:
        return self.gross_sales - self.returns

    @property
    def cash_float(self) -> int:
        return self.ctx.carried_float + self.cash_float_in

    @property
    def cash_expected(self) -> int:
        return (self.cash_float + self.payments.get(PaymentType.CASH.value, 0)
                + self.cash_in - self.cash_out)

    @property
    def cash_difference(self) -> int | None:
        return None if self.ctx.counted is None else self.ctx.counted - self.cash_expected

    @property
    def grand_total_sales(self) -> int:
        return self.ctx.opening_grand_total_sales + self.gross_sales

    @property
    def grand_total_returns(self) -> int:
        return self.ctx.opening_grand_total_returns + self.returns

    @property
    def next_float(self) -> int:
        """What stays in the drawer for tomorrow."""
        counted = self.cash_expected if self.ctx.counted is None else self.ctx.counted
        return counted - self.ctx.to_bank


def build_report(ctx: ReportContext, entries: Iterable[Entry]) -> Report:
    r = Report(ctx)
    vat: dict[int, Counter[str]] = defaultdict(Counter)
    groups: Counter[tuple[str, int]] = Counter()
    payments: Counter[str] = Counter()
    brands: Counter[str] = Counter()
    card: Counter[str] = Counter()
    cashiers: dict[str, Counter[str]] = defaultdict(Counter)
    pay_counts: Counter[str] = Counter()
    cashier_payments: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    group_qty: Counter[str] = Counter()
    for e in entries:
        if r.first_nr is None:
            r.first_nr = e.nr
        r.last_nr = e.nr
        kind = e.kind
        if kind in ("sale", "return"):
            rec = e.data()
            if rec.get("training"):
                r.training_count += 1
                r.training_amount += rec["total"]
                continue
            c = cashiers[e.cashier]
            if kind == "sale":
                r.sales_count += 1
                r.gross_sales += rec["total"]
                c["sales"] += 1
                for ln in rec["lines"]:
                    off = ln["line_discount"] + ln["basket_discount"]
                    if off:
                        r.discounts_count += 1
                        r.discounts_amount += off
                    if "override_from" in ln:
                        r.price_overrides += 1
                        r.overrides_amount += ln["override_from"] * ln["qty"] - ln["gross"]
                for ln in rec.get("voided", ()):
                    r.voids_count += 1
                    r.voids_amount += ln["gross"]
                    r.void_lines_amount += ln["gross"]
            else:
                r.returns_count += 1
                r.returns -= rec["total"]
                c["returns"] += 1
            c["amount"] += rec["total"]
            for rate, v in rec["vat"].items():
                vat[int(rate)].update(v)
            for ln in rec["lines"]:
                groups[(ln["group"], ln["vat_rate"])] += ln["total"]
                group_qty[ln["group"]] += ln.get("qty", 0) if kind == "sale" else -ln.get("qty", 0)
            for p in rec["payments"]:
                payments[p["type"]] += p["amount"]
                pay_counts[p["type"]] += 1
                per_cashier = cashier_payments[(e.cashier, p["type"])]
                per_cashier[0] += 1
                per_cashier[1] += p["amount"]
                if p.get("brand"):
                    brands[p["brand"]] += p["amount"]
                if p["type"] == CARD:
                    card[p.get("brand") or UNBRANDED] += p["amount"]
            r.rounding_total += rec["rounding"]
        elif kind == "void_receipt":
            r.voided_receipts += 1
            r.voids_amount += e.data().get("total", 0)
            r.voided_receipts_amount += e.data().get("total", 0)
        elif kind == "drawer_open":
            r.drawer_openings += 1
            if e.data().get("reason") == "no_sale":
                r.no_sales += 1
        elif kind == KIND:  # terminal_reconciliation
            r.terminal_reconciliations.append({**e.data(), "nr": e.nr, "time": e.ts.isoformat()})
        elif kind == "receipt_copy":
            r.receipt_copies += 1
            r.receipt_copies_amount += e.data().get("total", 0)
        elif kind == "park":
            r.parked += 1
        elif kind == "cash_float":
            r.cash_float_in += e.amount_in
        elif kind == "cash_in":
            r.cash_in += e.amount_in
            r.cash_in_count += 1
        elif kind == "cash_out":
            r.cash_out += e.amount_in
            r.cash_out_count += 1
    r.vat = {rate: {"gross": v["gross"], "net": v["net"], "vat": v["vat"]}
             for rate, v in sorted(vat.items(), reverse=True)}
    r.groups = dict(sorted(groups.items()))
    r.payments = dict(sorted(payments.items()))
    r.card_brands = dict(sorted(brands.items()))
    r.card_by_brand = dict(sorted(card.items()))
    r.cashiers = {k: dict(v) for k, v in sorted(cashiers.items())}
    r.payment_counts = dict(sorted(pay_counts.items()))
    r.cashier_payments = dict(sorted(cashier_payments.items()))
    r.group_qty = dict(sorted(group_qty.items()))
    return r


def report_json(r: Report, posting_plan: list[dict[str, Any]], group_accounts: dict[str, int | None],
                missing_accounts: list[str]) -> dict[str, Any]:
    """The report as other tools read it: amounts as kroner strings with two decimals."""
    k = format_kroner
    ctx = r.ctx
    accounts: Counter[tuple[int | None, int]] = Counter()
    for (group, rate), amount in r.groups.items():
        accounts[(group_accounts.get(group), rate)] += amount
    out: dict[str, Any] = {
        "kind": ctx.kind,
        "register_id": ctx.register_id,
        "business_date": ctx.business_date,
        "period_start": ctx.period_start,
        "period_end": ctx.period_end,
        "first_entry": r.first_nr,
        "last_entry": r.last_nr,
        "receipts": {"sales": r.sales_count, "returns": r.returns_count},
        "gross_sales": k(r.gross_sales),
        "returns": k(r.returns),
        "net_sales": k(r.net_sales),
        "vat": {str(rate): {key: k(v[key]) for key in ("gross", "net", "vat")}
                for rate, v in r.vat.items()},
        "groups": [{"group": g, "vat_rate": rate, "account": group_accounts.get(g),
                    "amount": k(a)} for (g, rate), a in r.groups.items()],
        "revenue_accounts": [{"account": acc, "vat_rate": rate, "amount": k(a)}
                             for (acc, rate), a in accounts.items()],
        "payments": {t: k(a) for t, a in r.payments.items()},
        "card_brands": {b: k(a) for b, a in r.card_brands.items()},
        "cashiers": {c: {"sales": v.get("sales", 0), "returns": v.get("returns", 0),
                         "amount": k(v.get("amount", 0))} for c, v in r.cashiers.items()},
        "discounts": {"count": r.discounts_count, "amount": k(r.discounts_amount)},
        "voids": {"lines": r.voids_count, "receipts": r.voided_receipts,
                  "amount": k(r.voids_amount)},
        "price_overrides": r.price_overrides,
        "training": {"count": r.training_count, "amount": k(r.training_amount)},
        "receipt_copies": r.receipt_copies,
        "no_sales": r.no_sales,
        "drawer_openings": r.drawer_openings,
        "parked": r.parked,
        "cash_float": k(r.cash_float),
        "cash_in": k(r.cash_in),
        "cash_out": k(r.cash_out),
        "cash_expected": k(r.cash_expected),
        "cash_counted": None if ctx.counted is None else k(ctx.counted),
        "cash_difference": None if r.cash_difference is None else k(r.cash_difference),
        "denominations": None if ctx.denominations is None else
        {k(d): n for d, n in sorted(ctx.denominations.items(), reverse=True)},
        "to_bank": k(ctx.to_bank),
        "next_float": k(r.next_float),
        "rounding_total": k(r.rounding_total),
        "grand_total_sales": k(r.grand_total_sales),
        "grand_total_returns": k(r.grand_total_returns),
        "grand_total_sales_net": k(r.grand_total_sales - r.grand_total_returns),
        "posting_plan": [{**line, "amount": k(line["amount"])} for line in posting_plan],
        "posting_missing_accounts": missing_accounts,
    }
    out["card_by_brand"] = {b: k(a) for b, a in r.card_by_brand.items()}
    out["counts"] = {  # counts beside the amounts, for SAF-T's eventReport
        "payments": r.payment_counts,
        "cashier_payments": [{"cashier": c, "type": t, "count": n, "amount": k(a)}
                             for (c, t), (n, a) in r.cashier_payments.items()],
        "group_qty": r.group_qty,
        "void_lines_amount": k(r.void_lines_amount),
        "voided_receipts_amount": k(r.voided_receipts_amount),
        "price_overrides_amount": k(r.overrides_amount),
        "receipt_copies_amount": k(r.receipt_copies_amount),
        "cash_in": r.cash_in_count, "cash_out": r.cash_out_count,
    }
    if ctx.terminal or r.terminal_reconciliations:
        out["terminal_reconciliation"] = terminal_json(r)
    if ctx.kind == "Z":
        out["z_number"] = ctx.number
    return out


def _totals_json(t: Totals) -> dict[str, int | str]:
    k = format_kroner
    return {"payments": t.payments, "payments_amount": k(t.payments_ore), "refunds": t.refunds,
            "refunds_amount": k(t.refunds_ore), "net": k(t.net_ore)}


def terminal_json(r: Report) -> dict[str, Any]:
    """The terminal reconciliations of the period, amounts as kroner strings; `missing` on a Z of a
    till with a terminal that was not reconciled (it did not answer, or nobody asked)."""
    recs = []
    for rec in r.terminal_reconciliations:
        rows = rows_of(rec)
        recs.append({"nr": rec["nr"], "time": rec["time"], "reconciliation_id": rec.get("reconciliation_id"),
                     "agreed": all(row.agrees for row in rows),
                     "rows": [{"brand": row.brand, "till": _totals_json(row.till),
                               "terminal": _totals_json(row.terminal),
                               "difference": format_kroner(row.difference.net_ore), "agrees": row.agrees}
                              for row in rows]})
    return {"expected": r.ctx.terminal, "reconciliations": recs,
            "missing": r.ctx.kind == "Z" and r.ctx.terminal and not recs}
