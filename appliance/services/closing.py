"""X reports and closing the day (Z): figures from the journal, the posting plan, the PDF."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

from ..domain.anchors import anchor_of
from ..domain.journal import Entry
from ..domain.money import MoneyError, parse_kroner
from ..domain.posting import AccountMap, posting_plan
from ..domain.reports import DENOMINATIONS, Report, ReportContext, build_report, report_json
from ..store import cash_transactions, catalog, settings, transfers
from ..store.db import transaction
from ..store.journal import entries, entry
from .till import TZ, Till
from .wake import wake_uploader

log = logging.getLogger(__name__)


class CloseError(ValueError):
    pass


def _last_z(till: Till) -> tuple[int, dict | None, int]:
    """(last Z number, its report, last journal nr it covered)."""
    row = till.conn.execute(
        "SELECT z_number, journal_nr, last_nr FROM z_reports ORDER BY z_number DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return 0, None, 0
    z_entry = entry(till.conn, row[1])
    assert z_entry is not None
    return row[0], z_entry.data(), row[2]


def _context(till: Till, kind: str, counted: int | None = None,
             denominations: dict[int, int] | None = None, to_bank: int = 0
             ) -> tuple[ReportContext, int]:
    z_number, prev, after = _last_z(till)
    now = till.journal.next_time().astimezone(TZ)  # the period never ends before its entries
    if prev is not None:
        start = prev["period_end"]
        opening = (parse_kroner(prev["grand_total_sales"]),
                   parse_kroner(prev["grand_total_returns"]), parse_kroner(prev["next_float"]))
    else:
        first = entry(till.conn, 1)
        start = first.ts.isoformat() if first else now.isoformat()
        opening = (0, 0, 0)
    ctx = ReportContext(
        kind=kind, number=z_number + 1, register_id=till.register_id,
        business_date=now.date().isoformat(), period_start=start, period_end=now.isoformat(),
        opening_grand_total_sales=opening[0], opening_grand_total_returns=opening[1],
        carried_float=opening[2], counted=counted, denominations=denominations,
        to_bank=to_bank, terminal=terminal_configured(till))
    return ctx, after


def terminal_configured(till: Till) -> bool:
    """An integrated card terminal is set up: its reconciliation belongs in the Z."""
    return bool(settings.get_meta(till.conn, "device.terminal"))


def _period(till: Till, after: int) -> list[Entry]:
    return list(entries(till.conn, after))


def x_figures(till: Till) -> Report:
    ctx, after = _context(till, "X")
    return build_report(ctx, _period(till, after))


def _json(till: Till, report: Report) -> dict:
    accounts = AccountMap(settings.accounts(till.conn))
    plan, missing = posting_plan(report, accounts)
    groups = {g: accounts.revenue(g) for g in {g for g, _ in report.groups}}
    for g in catalog.groups(till.conn):
        groups.setdefault(g, accounts.revenue(g))
    return report_json(report, plan, groups, missing)


def x_report(till: Till, cashier_id: str = "system") -> dict:
    """An interim report; journalled whole, resets nothing."""
    who = till.acting(cashier_id)
    report = x_figures(till)
    data = _json(till, report)
    with transaction(till.conn):
        till.journal.append("x_report", who, data)
    return data


def parse_denominations(text: str) -> dict[int, int]:
    """'500:2,200:1,0.50:3' -> {50000: 2, 20000: 1, 50: 3}; only DKK notes and coins."""
    counts: dict[int, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            value_text, count_text = part.split(":")
            value = parse_kroner(value_text)
            count = int(count_text)
        except (ValueError, MoneyError) as exc:
            raise CloseError(f"denomination {part!r} is not VALUE:COUNT") from exc
        if value not in DENOMINATIONS:
            raise CloseError(f"{value_text} is not a Danish note or coin")
        if count < 0:
            raise CloseError("a count cannot be negative")
        counts[value] = counts.get(value, 0) + count
    return counts


def close_amounts(counted_cash: str | None, to_bank: str | None = None,
                  denominations: str | None = None) -> tuple[dict[int, int] | None, int, int]:
    """(denominations, counted, to the bank) in øre, checked as a close needs them."""
    counts = parse_denominations(denominations) if denominations else None
    try:
        counted = parse_kroner(counted_cash) if counted_cash is not None else None
        bank = parse_kroner(to_bank) if to_bank else 0
    except MoneyError as exc:
        raise CloseError(str(exc)) from exc
    if counts is not None:
        total = sum(v * n for v, n in counts.items())
        if counted is not None and counted != total:
            raise CloseError(f"counted cash {counted_cash} does not match the denominations")
        counted = total
    if counted is None:
        raise CloseError("closing the day needs the counted cash")
    if counted < 0 or bank < 0:
        raise CloseError("amounts cannot be negative")
    if bank > counted:
        raise CloseError("cannot take more to the bank than was counted")
    return counts, counted, bank


def business_date(period: list[Entry], closed_at: str) -> str:
    """The Z's business date (Dinero's voucher date): the date of the period's first sale or return,
    so a close after midnight books the evening before; with none, the date of the close."""
    first = next((e for e in period if e.kind in ("sale", "return")), None)
    return first.ts.date().isoformat() if first is not None else closed_at[:10]


def close_day(till: Till, counted_cash: str | None, to_bank: str | None = None,
              denominations: str | None = None, cashier_id: str = "system",
              render_pdf: bool = True, transfer: bool | None = None) -> dict:
    """Count, report, journal and close: a Z closes the open period (previous Z, now], whenever it
    is made; several a day are fine (a shift close). Zs are numbered without gaps.

    `transfer` queues the Z for Dinero (True) or not (False) for this close only; None follows the
    shop's setting (meta dinero.auto_transfer, on by default). An unsent Z can be sent later."""
    counts, counted, bank = close_amounts(counted_cash, to_bank, denominations)
    who = till.acting(cashier_id)
    with transaction(till.conn):
        ctx, after = _context(till, "Z", counted, counts, bank)
        period = _period(till, after)
        ctx = replace(ctx, business_date=business_date(period, ctx.period_end))
        report = build_report(ctx, period)
        data = _json(till, report)
        diff = report.cash_difference or 0
        if diff:
            till.journal.append("cash_difference", who, {
                "z_number": ctx.number, "expected": report.cash_expected, "counted": counted,
                "difference": diff}, diff, diff)
        if bank:
            till.journal.append("cash_to_bank", who, {"z_number": ctx.number, "amount": bank},
                                bank, bank)
        anchor = cash_transactions.last(till.conn, till.register_id)
        # The last cash transaction this Z covers: a copy of the Z outside the till (the printed Z,
        # the PDF in Dinero) then shows what a cut-off journal would have lost.
        data["last_transaction"] = None if anchor is None else {
            "nr": int(anchor.tx.nr), "signature": anchor.signature, "register_id": anchor.tx.register_id}
        data["certificate_sha256"] = settings.certificate_sha256(till.conn, till.journal.signer.key_version)
        e = till.journal.append("z_report", who, data, report.net_sales,
                                report.net_sales - sum(v["vat"] for v in report.vat.values()))
        till.conn.execute(
            "INSERT INTO z_reports (z_number, journal_nr, business_date, period_start, "
            "period_end, last_nr, last_tx_nr) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (ctx.number, e.nr, ctx.business_date, ctx.period_start, ctx.period_end, e.nr,
             None if anchor is None else int(anchor.tx.nr)))
        queued = transfers.auto_transfer(till.conn) if transfer is None else transfer
        if queued:  # "Transfer to Dinero" is on by default: queued with the close, or not at all
            transfers.queue_post(till.conn, till.register_id, ctx.number, ctx.period_end)
    if render_pdf:  # after the commit: the write lock is not held while fpdf loads and draws
        store_pdf(till, ctx.number, data)
    if queued:
        wake_uploader(till.data_dir)
    log.info("event=z_closed z=%d date=%s entries=%s..%s", ctx.number, ctx.business_date,
             report.first_nr, report.last_nr)
    return data


def store_pdf(till: Till, z_number: int, data: dict) -> bytes:
    """The Z's voucher PDF, kept beside its index row (not in the journal, which holds the data).
    It carries the Z's anchor, so the copy in Dinero can later vouch for the journal."""
    from ..render.z_pdf import render_z_pdf
    z_entry = entry(till.conn, z_journal_nr(till, z_number))
    assert z_entry is not None
    pdf = render_z_pdf(data, settings.shop(till.conn), anchor_of(z_entry))
    with transaction(till.conn):
        till.conn.execute("UPDATE z_reports SET pdf = ? WHERE z_number = ? AND pdf IS NULL",
                          (pdf, z_number))
    return pdf


def z_journal_nr(till: Till, z_number: int) -> int:
    row = till.conn.execute("SELECT journal_nr FROM z_reports WHERE z_number = ?", (z_number,)).fetchone()
    if row is None:
        raise CloseError(f"no Z report {z_number}")
    return int(row[0])


def list_reports(till: Till) -> list[dict]:
    """Closed days with their Dinero transfer: state not_sent | queued | sent | failed."""
    states = transfers.transfer_states(till.conn)
    out = []
    for z, nr, date, start, end in till.conn.execute(
            "SELECT z_number, journal_nr, business_date, period_start, period_end FROM z_reports "
            "ORDER BY z_number"):
        data = entry(till.conn, nr).data()  # type: ignore[union-attr]
        t = states.get(z, {})
        out.append({"z_number": z, "business_date": date, "period_start": start,
                    "period_end": end, "net_sales": data["net_sales"],
                    "cash_difference": data["cash_difference"], "state": t.get("state", "not_sent"),
                    "transferred_at": t.get("transferred_at"), "error": t.get("error")})
    return out


def get_report(till: Till, z_number: int | None = None) -> tuple[dict, bytes]:
    """A closed day's report and its PDF; a PDF lost to a crash right after the close is drawn again."""
    if z_number is None:
        row = till.conn.execute(
            "SELECT z_number, journal_nr, pdf FROM z_reports ORDER BY z_number DESC LIMIT 1").fetchone()
    else:
        row = till.conn.execute("SELECT z_number, journal_nr, pdf FROM z_reports WHERE z_number = ?",
                                (z_number,)).fetchone()
    if row is None:
        raise CloseError("no such Z report" if z_number else "no day has been closed yet")
    data = json.loads(entry(till.conn, row[1]).payload)  # type: ignore[union-attr]
    return data, row[2] if row[2] is not None else store_pdf(till, row[0], data)


def rebuild_z(till: Till, z_number: int) -> tuple[Report, dict]:
    """A closed day's report computed again from its journal entries (one source of truth), with
    the context it was closed with; and the Z as journalled. Used to post a Z with today's account
    mapping after a missing or wrong account was fixed."""
    row = till.conn.execute("SELECT journal_nr FROM z_reports WHERE z_number = ?", (z_number,)).fetchone()
    if row is None:
        raise CloseError(f"no Z report {z_number}")
    z_entry = entry(till.conn, row[0])
    assert z_entry is not None
    data = z_entry.data()
    prev = till.conn.execute("SELECT journal_nr, last_nr FROM z_reports WHERE z_number = ?",
                             (z_number - 1,)).fetchone()
    opening = (0, 0, 0)
    after = 0
    if prev is not None:
        prev_entry = entry(till.conn, prev[0])
        assert prev_entry is not None
        p = prev_entry.data()
        opening = (parse_kroner(p["grand_total_sales"]), parse_kroner(p["grand_total_returns"]),
                   parse_kroner(p["next_float"]))
        after = prev[1]
    counts = data.get("denominations")
    ctx = ReportContext(
        kind="Z", number=z_number, register_id=data["register_id"], business_date=data["business_date"],
        period_start=data["period_start"], period_end=data["period_end"],
        opening_grand_total_sales=opening[0], opening_grand_total_returns=opening[1],
        carried_float=opening[2],
        counted=None if data.get("cash_counted") is None else parse_kroner(data["cash_counted"]),
        denominations=None if counts is None else {parse_kroner(d): n for d, n in counts.items()},
        to_bank=parse_kroner(data["to_bank"]),
        terminal=bool((data.get("terminal_reconciliation") or {}).get("expected")))
    last = data.get("last_entry")
    period = [] if last is None else list(entries(till.conn, after, int(last)))
    return build_report(ctx, period), data


def z_posting_plan(till: Till, z_number: int) -> tuple[list[dict], list[str], dict]:
    """(posting plan lines with amounts in øre, accounts still missing, the journalled Z) under the
    account mapping as it is now."""
    report, data = rebuild_z(till, z_number)
    lines, missing = posting_plan(report, AccountMap(settings.accounts(till.conn)))
    return lines, missing, data
