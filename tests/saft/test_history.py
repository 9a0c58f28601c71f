"""A random multi-day trading history, exported as SAF-T: every file passes the authority's checks.

Hypothesis draws a shop's days: sales of every tender (with discounts, voided lines, price overrides,
weighed goods, split payments), training sales, returns with and without a receipt, voided receipts,
receipt copies, park/resume, cash float/in/out, drawer openings, X reports, restarts of the till,
and the ends of days: a Z, a shift Z and a Z (two in one day), a Z after midnight, a day left open.
The start date may put the days across a summer-time change. The whole period is then exported
(once in one file, once forced into several) and checked: the offline check script finds nothing but
the self-signed certificate's trust codes, the journal verifies, the cash transactions are numbered
1..N across the set, each detached `.sig` verifies under the `.pem`, and each Z's eventReport is the
Z as journalled, which itself adds up to what this test sold and refunded (its own tally).
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from lxml import etree

from appliance.domain.money import format_kroner, parse_kroner
from appliance.services import cash, closing, selling
from appliance.services.saft_export import export
from appliance.services.till import TZ, Till, open_till
from appliance.store.journal import entry as journal_entry
from appliance.store.journal import verify
from tests.conftest import CVR, Clock, make_till
from tests.saft.checker import NS, check_file, detached_signature_ok, problems, summary

HISTORY = settings(max_examples=30, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                          HealthCheck.data_too_large])
MANAGER = {"id": "bo", "pin": "9999"}
# Friday 20 Nov (no clock change); Friday 23 Oct (summer time ends on Sunday 25 Oct, 03:00 -> 02:00);
# Friday 27 Mar (summer time starts on Sunday 29 Mar, 02:00 -> 03:00).
STARTS = (datetime(2026, 11, 20, 9, 0, tzinfo=TZ), datetime(2026, 10, 23, 9, 0, tzinfo=TZ),
          datetime(2026, 3, 27, 9, 0, tzinfo=TZ))
# CHEESE is priced 0.00 (sold by a price-embedded code): by SKU it would be a line worth nothing.
SKUS = ("MILK", "BUTTER", "BREAD", "PAPER", "UPC", "FREE")
TENDERS = ("cash", "card", "mobilepay", "manual_card", "gift_voucher", "card+cash", "voucher+cash")
_examples = itertools.count()


# --- what Hypothesis draws ------------------------------------------------------------------------

discounts = st.one_of(st.builds(lambda p: {"percent": p}, st.sampled_from([5, 10, 25, 50, 100])),
                      st.builds(lambda a: {"amount": a}, st.sampled_from(["0.25", "0.50"])))
plain_line = st.fixed_dictionaries(
    {"sku": st.sampled_from(SKUS), "qty": st.integers(1, 3)},
    optional={"discount": discounts, "void": st.booleans(),
              "price": st.sampled_from(["5.00", "19.95", "49.00"])})
lines = st.lists(st.one_of(
    plain_line,
    st.builds(lambda g: {"sku": "CANDY", "weight_g": g}, st.integers(50, 900)),
    st.builds(lambda q: {"barcode": "5701234567899", "qty": q}, st.integers(1, 2)),
), min_size=1, max_size=4)
basket_discount = st.none() | st.builds(lambda p: {"percent": p}, st.integers(5, 20))


def sale(tender: str | None = None, training: bool | None = None, voided: bool = False) -> st.SearchStrategy:
    return st.fixed_dictionaries({
        "kind": st.just("sale"), "lines": lines, "discount": basket_discount,
        "tender": st.just(tender) if tender else st.sampled_from(TENDERS),
        "training": st.just(training) if training is not None else st.sampled_from([False, False, True]),
        "voided": st.just(voided), "print": st.booleans()})


OPS: dict[str, st.SearchStrategy] = {
    "sale": sale(),
    "training": sale(training=True),
    "return": st.fixed_dictionaries({"kind": st.just("return"), "pick": st.integers(0, 99),
                                     "line": st.integers(0, 9), "qty": st.integers(0, 9)}),
    "return_no_receipt": st.fixed_dictionaries({"kind": st.just("return_no_receipt"),
                                                "sku": st.sampled_from(SKUS)}),
    "void_receipt": st.fixed_dictionaries({"kind": st.just("void_receipt"), "lines": lines}),
    "copy": st.fixed_dictionaries({"kind": st.just("copy"), "pick": st.integers(0, 99)}),
    "park": st.fixed_dictionaries({"kind": st.just("park"), "lines": lines}),
    "resume": st.fixed_dictionaries({"kind": st.just("resume"), "pick": st.integers(0, 9),
                                     "then": st.sampled_from(["sell", "void"]),
                                     "tender": st.sampled_from(TENDERS)}),
    "cash": st.fixed_dictionaries({"kind": st.just("cash"),
                                   "direction": st.sampled_from(["float", "in", "out"]),
                                   "kroner": st.integers(1, 800)}),
    "no_sale": st.just({"kind": "no_sale"}),
    "x": st.just({"kind": "x"}),
    "z": st.fixed_dictionaries({"kind": st.just("z"), "diff": st.sampled_from([0, 0, 50, -100, 2500]),
                                "bank": st.booleans()}),
    "restart": st.just({"kind": "restart"}),
}
# Every history holds each of these at least once, wherever Hypothesis puts them.
MANDATORY: list[st.SearchStrategy] = [
    *(sale(tender=t, training=False) for t in TENDERS), sale(training=True), sale(voided=True),
    OPS["return"], OPS["return_no_receipt"], OPS["void_receipt"], OPS["copy"], OPS["park"], OPS["resume"],
    *(st.fixed_dictionaries({"kind": st.just("cash"), "direction": st.just(d), "kroner": st.integers(1, 800)})
      for d in ("float", "in", "out")),
    OPS["no_sale"], OPS["x"], OPS["restart"],
]
# How a day ends: a Z; a shift Z mid-day and a Z; a Z after midnight; no Z (the period runs on). A day's
# steps all come before midnight: sales in the repeated autumn hour are test_the_repeated_autumn_hour's.
DAY_ENDS = ("close", "double", "after_midnight", "open")


@dataclass
class Day:
    steps: list[tuple[int, dict]]  # (seconds since the previous step, the step)
    end: str
    end_gap: int  # seconds after the last step (or after midnight) until the day's Z
    diff: int
    bank: bool


@st.composite
def histories(draw: st.DrawFn) -> tuple[datetime, list[Day]]:
    start = draw(st.sampled_from(STARTS))
    ends = list(draw(st.permutations(DAY_ENDS)))
    ends += draw(st.lists(st.sampled_from(DAY_ENDS), max_size=1))
    mandatory = [draw(s) for s in MANDATORY]
    extra = draw(st.lists(st.sampled_from(sorted(OPS)).flatmap(lambda k: OPS[k]), max_size=12))
    ops = draw(st.permutations(mandatory + extra))
    gaps = [draw(st.integers(1, 900)) for _ in ops]
    cuts = sorted(draw(st.lists(st.integers(0, len(ops)), min_size=len(ends) - 1, max_size=len(ends) - 1)))
    days = []
    for end, lo, hi in zip(ends, [0, *cuts], [*cuts, len(ops)], strict=True):
        days.append(Day(list(zip(gaps[lo:hi], ops[lo:hi], strict=True)), end,
                        draw(st.integers(60, 3 * 3600 if end == "after_midnight" else 900)),
                        draw(st.sampled_from([0, 0, 0, 50, -100, 2500])), draw(st.booleans())))
    return start, days


# --- playing a history on a till -----------------------------------------------------------------

@dataclass
class Receipt:
    number: int
    lines: dict[int, int]  # line_no -> qty, for the lines worth something
    returned: Counter = field(default_factory=Counter)


@dataclass
class Shop:
    """A till, its clock, and this test's own tally of what was sold since the last Z."""

    path: Path
    clock: Clock
    till: Till
    receipts: list[Receipt] = field(default_factory=list)  # sales that can be returned against
    numbers: list[int] = field(default_factory=list)  # every receipt number (sales, returns, training)
    parked: dict[int, dict] = field(default_factory=dict)
    sold: int = 0  # øre since the last Z, training excluded
    refunded: int = 0
    grand_sold: int = 0
    grand_refunded: int = 0
    references: itertools.count = field(default_factory=lambda: itertools.count(1))
    zs: list[dict] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def advance(self, seconds: float) -> None:
        """Move the clock in real (UTC) time, so a summer-time change never makes it stand still."""
        self.clock.now = (self.clock.now.astimezone(UTC) + timedelta(seconds=seconds)).astimezone(TZ)

    def set_time(self, when: datetime) -> None:
        assert when > self.clock.now
        self.clock.now = when.astimezone(TZ)

    # sales ------------------------------------------------------------------------------------

    def request(self, spec_lines: list[dict], *, discount: dict | None = None, training: bool = False,
                keep_voids: bool = True) -> dict:
        req_lines = [dict(ln) for ln in spec_lines]
        if not keep_voids:
            for ln in req_lines:
                ln.pop("void", None)
        if all(ln.get("void") for ln in req_lines):
            req_lines[0].pop("void")
        req: dict[str, Any] = {"cashier": "anna", "lines": req_lines, "training": training}
        if discount:
            req["discount"] = discount
        if any("price" in ln for ln in req_lines):
            req["manager"] = MANAGER
        return req

    def total(self, req: dict) -> int:
        basket, _ = selling.build_basket(self.till, req, self.till.cashier("anna"))
        return sum(p.total for p in basket.priced())

    def payments(self, tender: str, total: int) -> list[dict]:
        if total == 0:
            tender = "cash"
        ref = f"T{next(self.references):05d}"
        cash_note = {"type": "cash", "amount": format_kroner((total // 5000 + 1) * 5000)}
        if tender == "cash":
            return [cash_note]
        if tender == "card":
            return [{"type": "card", "brand": "Dankort", "reference": ref, "amount": format_kroner(total)}]
        if tender == "mobilepay":
            return [{"type": "mobilepay", "reference": ref, "amount": format_kroner(total)}]
        if tender == "manual_card":
            return [{"type": "manual_card", "brand": "Visa", "amount": format_kroner(total)}]
        if tender == "gift_voucher":
            voucher = min(total, 5000)
            rest = total - voucher
            return [{"type": "gift_voucher", "amount": format_kroner(voucher)},
                    *([{"type": "cash", "amount": format_kroner((rest // 5000 + 1) * 5000)}] if rest else [])]
        part = max(total // 2, 1)
        first = ({"type": "card", "brand": "Mastercard", "reference": ref, "amount": format_kroner(part)}
                 if tender == "card+cash" else {"type": "gift_voucher", "amount": format_kroner(part)})
        rest = total - part
        return [first, *([{"type": "cash", "amount": format_kroner((rest // 5000 + 1) * 5000)}]
                         if rest else [])]

    def sell(self, req: dict, tender: str, print_receipt: bool = True) -> dict:
        req = {**req, "payments": self.payments(tender, self.total(req)), "print_receipt": print_receipt}
        out = selling.sell(self.till, req)
        self.numbers.append(out["receipt_number"])
        if not out["training"]:
            total = parse_kroner(out["total"])
            self.sold += total
            self.grand_sold += total
            # a line sold for nothing (100 % off) is never returned here: see
            # test_return_of_a_line_sold_for_nothing_passes_the_check
            self.receipts.append(Receipt(out["receipt_number"], {
                ln["line_no"]: ln["qty"] for ln in out["lines"]
                if parse_kroner(ln["total"]) >= 100 * ln["qty"]}))
        training = " training" if out["training"] else ""
        self.log.append(f"sale {out['receipt_number']} {out['total']} {tender}{training}")
        return out

    def refund(self, number: int | None, req: dict) -> None:
        out = selling.refund(self.till, number, req)
        amount = -parse_kroner(out["total"])
        assert amount > 0, out
        self.refunded += amount
        self.grand_refunded += amount
        self.numbers.append(out["receipt_number"])
        self.log.append(f"return {out['receipt_number']} of {number} {out['total']}")

    # one step ----------------------------------------------------------------------------------

    def step(self, op: dict) -> None:
        kind = op["kind"]
        if kind == "sale":
            voided = op["voided"]
            spec = [*op["lines"], {"sku": "BREAD", "void": True}] if voided else op["lines"]
            self.sell(self.request(spec, discount=op["discount"], training=op["training"]), op["tender"],
                      op["print"])
        elif kind == "return":
            open_receipts = [r for r in self.receipts if any(q > r.returned[n] for n, q in r.lines.items())]
            if not open_receipts:
                self.sell(self.request([{"sku": "BUTTER", "qty": 2}]), "cash")
                open_receipts = self.receipts[-1:]
            r = open_receipts[op["pick"] % len(open_receipts)]
            left = [(n, q - r.returned[n]) for n, q in sorted(r.lines.items()) if q > r.returned[n]]
            line_no, remaining = left[op["line"] % len(left)]
            qty = 1 + op["qty"] % remaining
            self.refund(r.number, {"cashier": "anna", "lines": [{"line_no": line_no, "qty": qty}]})
            r.returned[line_no] += qty
        elif kind == "return_no_receipt":
            self.refund(None, {"cashier": "anna", "lines": [{"sku": op["sku"]}], "manager": MANAGER})
        elif kind == "void_receipt":
            req = self.request(op["lines"], keep_voids=False)
            basket, _ = selling.build_basket(self.till, req, self.till.cashier("anna"))
            selling.void_receipt(self.till, basket, "anna")
            self.log.append("void receipt")
        elif kind == "copy":
            if not self.numbers:
                self.sell(self.request([{"sku": "PAPER"}]), "cash")
            selling.receipt_copy(self.till, self.numbers[op["pick"] % len(self.numbers)], "anna")
        elif kind == "park":
            req = self.request(op["lines"])
            self.parked[selling.park(self.till, req)] = req
        elif kind == "resume":
            if not self.parked:
                req = self.request([{"sku": "UPC", "qty": 2}])
                self.parked[selling.park(self.till, req)] = req
                self.advance(30)
            parked_id = sorted(self.parked)[op["pick"] % len(self.parked)]
            req = self.parked.pop(parked_id)
            basket = selling.resume(self.till, parked_id, "anna")
            self.advance(20)
            if op["then"] == "sell":
                self.sell(req, op["tender"])
            else:
                selling.void_receipt(self.till, basket, "anna")
        elif kind == "cash":
            amount = op["kroner"] * 100
            direction = op["direction"]
            if direction == "out":
                amount = min(amount, closing.x_figures(self.till).cash_expected)
                if amount <= 0:
                    direction, amount = "in", op["kroner"] * 100
            text = "til banken" if direction == "out" else ""
            cash.move_cash(self.till, direction, format_kroner(amount), text, "anna")
            self.log.append(f"cash {direction} {format_kroner(amount)}")
        elif kind == "no_sale":
            cash.no_sale(self.till, "anna", "veksel")
        elif kind == "x":
            x = closing.x_report(self.till)
            assert parse_kroner(x["gross_sales"]) == self.sold
        elif kind == "z":
            self.close(op["diff"], op["bank"])
        elif kind == "restart":
            self.till.close()
            self.till = open_till(self.path, self.clock)
            self.log.append("restart")
        else:  # pragma: no cover - a strategy without a step
            raise AssertionError(kind)

    def close(self, diff: int, bank: bool) -> dict:
        expected = closing.x_figures(self.till).cash_expected
        counted = max(0, expected + diff)
        to_bank = counted // 2 if bank else 0
        z = closing.close_day(self.till, format_kroner(counted), format_kroner(to_bank) if to_bank else None,
                              render_pdf=False, transfer=False)
        self.log.append(f"Z {z['z_number']} at {self.clock.now.isoformat()}: {z['gross_sales']}")
        # the Z adds up to what was sold and refunded since the previous one, this test's own tally
        assert parse_kroner(z["gross_sales"]) == self.sold, (z["gross_sales"], self.sold)
        assert parse_kroner(z["returns"]) == self.refunded, (z["returns"], self.refunded)
        assert parse_kroner(z["grand_total_sales"]) == self.grand_sold
        assert parse_kroner(z["grand_total_returns"]) == self.grand_refunded
        self.sold = self.refunded = 0
        self.zs.append(z)
        return z

    def play_day(self, day: Day) -> None:
        half = len(day.steps) // 2
        for i, (gap, op) in enumerate(day.steps):
            if day.end == "double" and i == half:
                self.advance(60)
                self.close(day.diff, day.bank)  # a shift close, then trading goes on the same day
            self.advance(gap)
            self.step(op)
        if day.end == "double" and not day.steps[half:]:
            self.advance(60)
            self.close(day.diff, day.bank)
        if day.end in ("close", "double"):
            self.advance(day.end_gap)
            self.close(day.diff, day.bank)
        elif day.end == "after_midnight":
            midnight = datetime.combine(self.clock.now.date() + timedelta(days=1), time(0), TZ)
            self.set_time((midnight.astimezone(UTC) + timedelta(seconds=day.end_gap)).astimezone(TZ))
            self.close(day.diff, day.bank)
        # the next day opens at 09:00 (the same calendar day after a close after midnight)
        today = self.clock.now.date()
        self.set_time(datetime.combine(today if self.clock.now.hour < 9 else today + timedelta(days=1),
                                       time(9), TZ))


# --- reading the files -----------------------------------------------------------------------------

def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def numbers_in(path: Path) -> list[int]:
    root = etree.parse(str(path)).getroot()
    return [int(el.text) for el in root.iter(_q("cashtransaction")) for el in [el.find(_q("nr"))]]


def z_reports_in(path: Path) -> dict[int, dict[str, str]]:
    root = etree.parse(str(path)).getroot()
    out = {}
    for r in root.iter(_q("eventReport")):
        if r.findtext(_q("reportType")) == "Z report":
            out[int(r.findtext(_q("reportID")))] = {
                "total": r.findtext(f"{_q('reportTotalCashSales')}/{_q('totalCashSaleAmnt')}"),
                "returns": r.findtext(_q("reportReturnAmnt")),
                "grand_sales": r.findtext(_q("reportGrandTotalSales")),
                "grand_returns": r.findtext(_q("reportGrandTotalReturn")),
                "grand_net": r.findtext(_q("reportGrandTotalSalesNet"))}
    return out


def last_event_type(path: Path) -> str:
    root = etree.parse(str(path)).getroot()
    events = sorted(root.iter(_q("event")), key=lambda e: int(e.findtext(_q("eventID"))))
    return events[-1].findtext(_q("eventType"))



def check_export(shop: Shop, files: list[Path]) -> None:
    """Every property the brief asks of an exported set of files."""
    till = shop.till
    for f in files:
        findings = check_file(f)
        assert problems(findings) == [], f"{f.name}\n{summary(problems(findings))}"
        assert detached_signature_ok(f), f"{f.name}.sig does not verify"
    numbers = [n for f in files for n in numbers_in(f)]
    total = till.conn.execute("SELECT COUNT(*) FROM cash_transactions").fetchone()[0]
    assert numbers == list(range(1, total + 1))
    for f in files[:-1]:  # a file ends with a Z, so each holds whole Z periods
        assert last_event_type(f) == "13009", f.name
    in_files: dict[int, dict[str, str]] = {}
    for f in files:
        found = z_reports_in(f)
        assert not set(found) & set(in_files), "a Z in two files"
        in_files.update(found)
    journalled = {}
    for z_number, nr in till.conn.execute("SELECT z_number, journal_nr FROM z_reports"):
        data = journal_entry(till.conn, nr).data()  # type: ignore[union-attr]
        journalled[z_number] = {"total": data["gross_sales"], "returns": data["returns"],
                                "grand_sales": data["grand_total_sales"],
                                "grand_returns": data["grand_total_returns"],
                                "grand_net": data["grand_total_sales_net"]}
    assert in_files == journalled
    assert [z["z_number"] for z in shop.zs] == sorted(journalled)


@HISTORY
@given(history=histories(), part_target=st.sampled_from([1, 3, 10]))
def test_random_history_exports_clean(tmp_path: Path, history: tuple[datetime, list[Day]],
                                      part_target: int) -> None:
    start, days = history
    n = next(_examples)
    clock = Clock(start)
    path = tmp_path / f"t{n}"
    shop = Shop(path, clock, make_till(path, clock))
    try:
        for day in days:
            note(f"day {shop.clock.now.date()} ends {day.end}: {[op['kind'] for _, op in day.steps]}")
            shop.play_day(day)
        note("\n".join(shop.log))
        assert len(shop.zs) >= 4  # close, shift Z + close, after midnight
        report = verify(shop.till.conn, CVR)
        assert report.ok, report
        (count,) = shop.till.conn.execute("SELECT COUNT(*) FROM cash_transactions").fetchone()
        assert report.transactions == count
        first, last = start.date(), shop.clock.now.date()
        whole = export(shop.till, first, last, tmp_path / f"out{n}")
        assert len(whole.files) == 1
        check_export(shop, whole.files)
        split = export(shop.till, first, last, tmp_path / f"split{n}", part_target=part_target)
        assert 1 <= len(split.files) <= 9
        check_export(shop, split.files)
        assert split.transactions == whole.transactions
        assert verify(shop.till.conn, CVR).ok
    finally:
        shop.till.close()


def test_zs_of_a_day_and_after_midnight_are_dated_as_the_history_says(tmp_path: Path) -> None:
    """One fixed history of the kind the property draws, for a quick, readable failure: a shift Z and
    a Z on the Friday, a Z at 00:40 Sunday for Saturday's sales, a Z on Sunday."""
    clock = Clock()
    shop = Shop(tmp_path / "t", clock, make_till(tmp_path / "t", clock))
    try:
        milk = {"kind": "sale", "lines": [{"sku": "MILK"}], "discount": None, "tender": "cash",
                "training": False, "voided": False, "print": True}
        shop.play_day(Day([(60, milk), (60, {**milk, "tender": "card"})], "double", 600, 0, False))
        shop.play_day(Day([(60, milk), (60, {"kind": "return", "pick": 0, "line": 0, "qty": 0})],
                          "after_midnight", 2400, 50, True))
        shop.play_day(Day([(60, milk)], "close", 600, 0, False))
        dates = [d for (d,) in shop.till.conn.execute("SELECT business_date FROM z_reports "
                                                      "ORDER BY z_number")]
        assert dates == ["2026-11-20", "2026-11-20", "2026-11-21", "2026-11-22"]
        assert shop.zs[2]["period_end"].startswith("2026-11-22T00:40:00")
        result = export(shop.till, date(2026, 11, 20), date(2026, 11, 22), tmp_path / "out", part_target=1)
        # 7 cash transactions and a cut after every Z but the last (which ends the transactions)
        assert [f.name[-7:] for f in result.files] == ["1_4.xml", "2_4.xml", "3_4.xml", "4_4.xml"]
        check_export(shop, result.files)
    finally:
        shop.till.close()


def test_return_of_a_line_sold_for_nothing_passes_the_check(tmp_path: Path) -> None:
    """A line sold at 100 % off and returned: the return of 0.00 still carries a (0.00) payment, as the
    check script wants of every 11006."""
    clock = Clock()
    shop = Shop(tmp_path / "t", clock, make_till(tmp_path / "t", clock))
    try:
        free = shop.sell(shop.request([{"sku": "FREE", "discount": {"percent": 100}}, {"sku": "MILK"}]),
                         "cash")
        shop.advance(60)
        shop.close(0, False)
        shop.advance(60)
        selling.refund(shop.till, free["receipt_number"], {"cashier": "anna", "lines": [{"line_no": 1}]})
        shop.advance(60)
        shop.close(0, False)
        result = export(shop.till, date(2026, 11, 20), date(2026, 11, 20), tmp_path / "out")
        findings = problems(check_file(result.files[0]))
        assert findings == [], summary(findings)
    finally:
        shop.till.close()


def test_the_repeated_autumn_hour(tmp_path: Path) -> None:
    """A Z at 02:30 summer time, then a sale at 02:10 winter time 40 minutes later: the file's times
    carry their UTC offset, so the sale stays after that Z and both Zs add up."""
    clock = Clock(datetime(2026, 10, 24, 9, 0, tzinfo=TZ))
    shop = Shop(tmp_path / "t", clock, make_till(tmp_path / "t", clock))
    try:
        milk = {"kind": "sale", "lines": [{"sku": "MILK"}], "discount": None, "tender": "cash",
                "training": False, "voided": False, "print": True}
        shop.step(milk)
        shop.set_time(datetime(2026, 10, 24, 18, 0, tzinfo=TZ))
        shop.close(0, False)
        shop.set_time(datetime(2026, 10, 24, 23, 0, tzinfo=TZ))
        shop.step(milk)
        shop.set_time(datetime(2026, 10, 25, 2, 30, tzinfo=TZ))  # fold=0: the first 02:30, summer time
        assert shop.clock.now.isoformat() == "2026-10-25T02:30:00+02:00"
        shop.close(0, False)
        shop.advance(40 * 60)
        assert shop.clock.now.isoformat() == "2026-10-25T02:10:00+01:00"
        shop.step({**milk, "tender": "card"})
        shop.advance(40 * 60)
        shop.close(0, False)
        result = export(shop.till, date(2026, 10, 24), date(2026, 10, 25), tmp_path / "out")
        check_export(shop, result.files)
        times = [t.findtext(_q("transTime")) for t in etree.parse(str(result.files[0])).getroot().iter(
            _q("cashtransaction"))]
        assert times[-1] == "02:10:00.000000+01:00"
    finally:
        shop.till.close()
