"""X and Z reports: their content as labelled rows (shared with the PDF) and as receipt-printer text.

Keeping the wording in one place means the printed slip and the bookkeeping voucher never disagree."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from drivers.printer.document import Document, Text

from .formatting import (
    center,
    check_width,
    dk_date,
    dk_datetime,
    dkk,
    kr,
    ore,
    payment_name,
    payment_order,
    plural,
    row,
    wrap,
)

# Lists that can grow with the shop; a renderer short of room caps them (see Section.capped).
LISTS = ("groups", "cashiers", "brands", "postings")


@dataclass(frozen=True)
class Row:
    """style: "" plain, "sub" detail of the row above, "total" a sum, "note" text only, "warn"."""

    label: str
    value: str = ""
    style: str = ""


@dataclass
class Section:
    title: str
    rows: list[Row] = field(default_factory=list)


def capped(rows: list[Row], cap: int | None) -> list[Row]:
    """At most `cap` rows (cap >= 2), the last saying how many were left out."""
    if cap is None or len(rows) <= cap:
        return rows
    keep = max(cap - 1, 1)
    return [*rows[:keep], Row(f"… og {len(rows) - keep} flere", "", "note")]


def report_title(report: Mapping) -> str:
    if report.get("kind") == "Z":
        return f"Z-rapport {report.get('z_number', '')}".strip()
    return "X-rapport"


def meta_rows(report: Mapping) -> list[Row]:
    """Which register, day, period and journal entries the report covers."""
    start, end = dk_datetime(report.get("period_start")), dk_datetime(report.get("period_end"))
    if start[:10] == end[:10] and len(end) == 16:
        period = [Row("Periode", f"{start}-{end[11:]}")]
    else:
        period = [Row("Periode fra", start), Row("Periode til", end)]
    first, last = report.get("first_entry"), report.get("last_entry")
    rows = [Row("Kasse", str(report.get("register_id", ""))),
            Row("Dato", dk_date(report.get("business_date"))), *period,
            Row("Journal nr.", f"{first}-{last}" if first is not None else "ingen")]
    anchor = report.get("last_transaction")
    if anchor:  # what a cut-off journal would have lost shows against this printed copy
        rows += [Row("Sidste transaktion", f"nr. {anchor['nr']}"),
                 Row("Signatur", f"{anchor['signature'][:24]}...")]
    if report.get("kind") != "Z":
        rows.append(Row("Foreløbig opgørelse: dagen er ikke afsluttet", "", "note"))
    return rows


def _count(value: object) -> str:
    return str(value if value is not None else 0)


def report_sections(report: Mapping, caps: Mapping[str, int] | None = None) -> list[Section]:
    """Everything but the header and the posting plan, in the order a shop reads it."""
    caps = caps or {}
    receipts = report.get("receipts") or {}
    out = [Section("Omsætning", [
        Row(f"Salg ({plural(receipts.get('sales', 0), 'bon', 'bonner')})", kr(report["gross_sales"])),
        Row(f"Returneringer ({plural(receipts.get('returns', 0), 'bon', 'bonner')})",
            kr(report["returns"], negate=True)),
        Row("Nettoomsætning", kr(report["net_sales"]), "total"),
    ])]

    vat = Section("Moms")
    rates = sorted((report.get("vat") or {}).items(), key=lambda kv: -int(kv[0]))
    for rate, v in rates:
        vat.rows += [Row(f"Moms {rate} %", kr(v["vat"])),
                     Row("Omsætning inkl. moms", kr(v["gross"]), "sub"),
                     Row("Momsgrundlag", kr(v["net"]), "sub")]
    vat.rows.append(Row("Moms i alt", dkk(sum(ore(v["vat"]) for _, v in rates)), "total"))
    out.append(vat)

    groups = [Row(f"{g['group']} ({g['vat_rate']} %)", kr(g["amount"])) for g in report.get("groups") or []]
    out.append(Section("Varegrupper", capped(groups, caps.get("groups"))))

    payments = report.get("payments") or {}
    brands = capped([Row(b, kr(a), "sub") for b, a in (report.get("card_brands") or {}).items()],
                    caps.get("brands"))
    pay = Section("Betalinger")
    for kind in payment_order(list(payments)):
        pay.rows.append(Row(payment_name(kind), kr(payments[kind])))
        if kind == "card":
            pay.rows += brands
    if "card" not in payments:
        pay.rows += brands
    pay.rows += [Row("Betalinger i alt", dkk(sum(ore(a) for a in payments.values())), "total"),
                 Row("Øreafrunding", kr(report.get("rounding_total")))]
    out.append(pay)
    terminal = terminal_rows(report)
    if terminal:
        out.append(Section("Kortterminal", terminal))

    cashiers = [Row(f"{name}: {plural(c.get('sales', 0), 'salg', 'salg')}, "
                    f"{plural(c.get('returns', 0), 'retur', 'returer')}", kr(c.get("amount")))
                for name, c in (report.get("cashiers") or {}).items()]
    out.append(Section("Ekspedienter", capped(cashiers, caps.get("cashiers"))))

    disc, voids = report.get("discounts") or {}, report.get("voids") or {}
    training = report.get("training") or {}
    out.append(Section("Rabatter og kontrol", [
        Row(f"Rabatter ({_count(disc.get('count'))} stk.)", kr(disc.get("amount"))),
        Row(f"Annulleringer ({plural(voids.get('lines', 0), 'linje', 'linjer')}, "
            f"{plural(voids.get('receipts', 0), 'bon', 'bonner')})", kr(voids.get("amount"))),
        Row("Prisændringer", _count(report.get("price_overrides"))),
        Row(f"Træning ({plural(training.get('count', 0), 'bon', 'bonner')})", kr(training.get("amount"))),
        Row("Kopier", _count(report.get("receipt_copies"))),
        Row("Skuffeåbninger uden salg", _count(report.get("no_sales"))),
        Row("Skuffeåbninger i alt", _count(report.get("drawer_openings"))),
        Row("Parkerede bonner", _count(report.get("parked"))),
    ]))
    out += _cash_sections(report)
    out.append(Section("Grand total", [
        Row("Grand total salg", kr(report.get("grand_total_sales"))),
        Row("Grand total retur", kr(report.get("grand_total_returns"), negate=True)),
        Row("Grand total netto", kr(report.get("grand_total_sales_net")), "total"),
    ]))
    return [s for s in out if s.rows]


def terminal_rows(report: Mapping) -> list[Row]:
    """The terminal's reconciliation(s) in the period against the till's card payments, per brand (net:
    payments minus refunds); a difference (terminal minus till) or a missing reconciliation is a warning."""
    info = report.get("terminal_reconciliation") or {}
    rows: list[Row] = []
    if info.get("missing"):
        rows.append(Row("Ingen afstemning med terminalen", "", "warn"))
    if info.get("reconciliations"):
        rows.append(Row("Netto pr. kort; (antal køb/retur)", "", "note"))
    for rec in info.get("reconciliations") or []:
        rows.append(Row(f"Afstemning {rec.get('reconciliation_id') or ''}".rstrip(),
                        dk_datetime(rec.get("time"))[11:]))
        for r in rec.get("rows") or []:
            for side, name in (("till", "kasse"), ("terminal", "terminal")):
                t = r.get(side) or {}
                counts = f"{_count(t.get('payments'))}/{_count(t.get('refunds'))}"
                rows.append(Row(f"{r['brand']} {name} ({counts})", kr(t.get("net")), "sub"))
            if not r.get("agrees"):
                rows.append(Row(f"Afviger: {r['brand']} {kr(r.get('difference'))}", "", "warn"))
        if rec.get("agreed"):
            rows.append(Row("Terminal og kasse er enige", "", "note"))
    return rows


def _cash_sections(report: Mapping) -> list[Section]:
    """The drawer: what should be in it, what was counted, where it went."""
    cash = Section("Kasseopgørelse", [
        Row("Byttepenge (startbeholdning)", kr(report.get("cash_float"))),
        Row("Kontant salg og retur", kr((report.get("payments") or {}).get("cash"))),
        Row("Indbetalinger", kr(report.get("cash_in"))),
        Row("Udbetalinger", kr(report.get("cash_out"), negate=True)),
        Row("Forventet", kr(report.get("cash_expected")), "total"),
    ])
    if report.get("cash_counted") is not None:
        cash.rows += [Row("Optalt", kr(report["cash_counted"])),
                      Row("Kassedifference", kr(report.get("cash_difference")))]
    if report.get("kind") == "Z":
        cash.rows += [Row("Overført til bank", kr(report.get("to_bank"))),
                      Row("Byttepenge til næste dag", kr(report.get("next_float")))]
    out = [cash]
    denominations = report.get("denominations") or {}
    if denominations:
        counted = Section("Optælling", [Row(f"{n} x {kr(d)}", dkk(n * ore(d)))
                                        for d, n in denominations.items()])
        counted.rows.append(Row("Optalt i alt", dkk(sum(n * ore(d) for d, n in denominations.items())),
                                "total"))
        out.append(counted)
    return out


def account(number: object) -> str:
    return "mangler" if number is None else str(number)


def vat_code(code: object) -> str:
    return "" if code in (None, "", "none") else str(code)


def posting_rows(report: Mapping) -> list[Row]:
    """The posting plan for the text slip: accounts and amount, then the posting text."""
    rows: list[Row] = []
    for p in report.get("posting_plan") or []:
        code = vat_code(p.get("vat_code"))
        label = (f"Konto {account(p.get('account'))}{' ' + code if code else ''}, "
                 f"modkonto {account(p.get('balancing_account'))}")
        rows += [Row(label, kr(p.get("amount"))), Row(str(p.get("text", "")), "", "sub")]
    missing = report.get("posting_missing_accounts") or []
    if missing:
        rows.append(Row(f"Mangler konto: {', '.join(map(str, missing))}", "", "warn"))
    return rows


def _lines(rows: list[Row], width: int) -> list[str]:
    out: list[str] = []
    for r in rows:
        if r.style == "total":
            out.append(("-" * min(10, width // 3)).rjust(width))
        if r.style in ("note", "warn") or (r.style == "sub" and not r.value):
            indent = "  " if r.style != "warn" else ""
            text = r.label if r.style != "warn" else f"! {r.label}"
            out += [indent + line for line in wrap(text, width - len(indent))]
        else:
            out += row(r.label, r.value, width, 2 if r.style == "sub" else 0)
    return out


def render_report_text(report: dict, shop: dict, width: int = 42) -> str:
    """The report for a receipt printer; no line is wider than `width`."""
    check_width(width)
    lines = ["=" * width, *center(report_title(report), width)]
    for text in (shop.get("shop_name"), shop.get("address"),
                 f"CVR: {shop['cvr']}" if shop.get("cvr") else None):
        if text:
            lines += center(str(text), width)
    lines += ["=" * width, *_lines(meta_rows(report), width)]
    sections = report_sections(report)
    if report.get("kind") == "Z" and (report.get("posting_plan") or report.get("posting_missing_accounts")):
        sections.append(Section("Posteringer", posting_rows(report)))
    for s in sections:
        lines += ["", s.title, "-" * width, *_lines(s.rows, width)]
    lines += ["=" * width]
    return "\n".join(lines) + "\n"


def render_report_doc(report: dict, shop: dict, width: int = 42) -> Document:
    """The X or Z report for the receipt printer: the text above, line for line, then a cut."""
    lines = render_report_text(report, shop, width).splitlines()
    return Document(tuple(Text(line) for line in lines), cut=True,
                    meta={"kind": str(report.get("kind", "report"))})
