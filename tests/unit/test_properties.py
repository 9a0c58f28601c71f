"""Property-based tests of the till core: money, baskets, tenders, receipts and Z reports.

Every expected figure is worked out here from first principles (exact fractions, our own
rounding), never by calling the function under test, so each property can fail.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from appliance.domain.basket import Basket, BasketError, Discount, allocate
from appliance.domain.catalog import Product
from appliance.domain.money import div_round_half_up, format_kroner, parse_kroner, round_cash
from appliance.domain.tenders import Payment, PaymentError, PaymentType, Underpaid, settle
from appliance.domain.vat import vat_breakdown, vat_in_gross
from appliance.services.cash import CashError, move_cash
from appliance.services.closing import close_day, x_report
from appliance.services.selling import SaleError, refund, sell
from appliance.services.setup import add_cashier, import_catalog, init_shop, set_account
from appliance.services.till import ManualClock, open_till
from appliance.store.journal import entry as journal_entry
from appliance.store.journal import verify

PURE = settings(max_examples=400, deadline=None, database=None)
DB = settings(max_examples=50, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SALES = settings(max_examples=100, deadline=None, database=None,  # ~5 ms an example
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DAYS = settings(max_examples=40, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

CVR = "12345678"
NON_CASH = ("card", "mobilepay", "manual_card", "gift_voucher")
ACCOUNTS = {
    "revenue:default": 1000, "revenue:Aviser": 1010, "cash": 55040, "bank": 55000,
    "differences": 7380, "rounding": 7390, "payment:card": 55100, "payment:mobilepay": 55110,
    "payment:manual_card": 55100, "payment:gift_voucher": 2900,
}
REVENUE_ACCOUNTS = {1000, 1010}


# --- oracles: exact arithmetic, independent of appliance.domain.money -----------------------

def half_up(numerator: int, denominator: int) -> int:
    """numerator/denominator rounded to a whole number, halves away from zero (exact)."""
    q = Fraction(numerator, denominator)
    sign = -1 if q < 0 else 1
    return sign * int(abs(q) + Fraction(1, 2))


def cash_round(ore: int) -> int:
    """Nearest 50 øre, .25/.75 away from zero."""
    return half_up(ore, 50) * 50


def vat_of(gross: int, rate: int) -> int:
    return half_up(gross * rate, 100 + rate)


def kr(ore: int) -> str:
    """øre -> kroner text for requests (non-negative only)."""
    assert ore >= 0
    return f"{ore // 100}.{ore % 100:02d}"


def ore(text: str) -> int:
    """Kroner text from a response -> øre; insists on exactly two decimals."""
    assert re.fullmatch(r"-?\d+\.\d\d", text), text
    value = Decimal(text) * 100
    assert value == value.to_integral_value()
    return int(value)


def ean13(body: str) -> str:
    total = sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


# --- the shop ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Item:
    sku: str
    price: int
    rate: int
    group: str
    barcode: str = ""


ITEMS = (
    Item("A1", 1295, 25, "Mejeri", ean13("570123400001")),
    Item("A2", 1, 25, "Mejeri"),
    Item("A3", 25, 25, "Kolonial"),
    Item("A4", 749, 25, "Kolonial", ean13("570123400002")),
    Item("A5", 19999, 25, "Kolonial"),
    Item("A6", 123457, 25, "Kolonial"),
    Item("A7", 333, 25, "Drikke"),
    Item("A8", 0, 25, "Drikke"),
    Item("B1", 2500, 0, "Aviser", ean13("570123400003")),
    Item("B2", 99, 0, "Aviser"),
    Item("B3", 4975, 0, "Frimærker"),
    Item("B4", 33, 0, "Frimærker"),
)
BY_SKU = {i.sku: i for i in ITEMS}
GROUP_ACCOUNT = {g: ACCOUNTS.get(f"revenue:{g}", ACCOUNTS["revenue:default"])
                 for g in {i.group for i in ITEMS}}


def catalog_csv() -> str:
    rows = ["sku,barcode,name,price,vat_rate,group"]
    rows += [f"{i.sku},{i.barcode},Vare {i.sku},{kr(i.price)},{i.rate},{i.group}" for i in ITEMS]
    return "\n".join(rows) + "\n"


START = datetime(2024, 3, 1, 7, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One initialised shop (key, cashier, catalog, accounts), copied for each use: the RSA key
    and the scrypt PIN hash are made once per module, not per example."""
    data = tmp_path_factory.mktemp("template") / "till"
    till = init_shop(data, "Property Købmand", CVR, "Testvej 1, 8000 Aarhus C", clock=ManualClock(START))
    add_cashier(till, "anna", "Anna", "cashier", "1234")
    import_catalog(till, catalog_csv())
    for key, number in ACCOUNTS.items():
        set_account(till, key, number)
    till.close()
    return data


def copy_shop(template: Path, into: Path, clock: ManualClock):
    target = into / "till"
    shutil.copytree(template, target)
    return open_till(target, clock)


@pytest.fixture(scope="module")
def shop(template: Path, tmp_path_factory: pytest.TempPathFactory):
    """A till shared by the receipt properties; its journal must still verify afterwards."""
    clock = ManualClock(START + timedelta(hours=2))
    till = copy_shop(template, tmp_path_factory.mktemp("shop"), clock)
    yield till
    report = verify(till.conn, CVR)
    till.close()
    assert report.ok, report


def counts(till) -> tuple[int, int]:
    j = till.conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
    r = till.conn.execute("SELECT COUNT(*) FROM receipts").fetchone()[0]
    return j, r


# --- strategies ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Disc:
    percent: int | None = None  # hundredths of a percent, 1..10000
    amount: int | None = None  # øre

    def spec(self) -> dict:
        if self.percent is not None:
            return {"percent": f"{self.percent // 100}.{self.percent % 100:02d}"}
        return {"amount": kr(self.amount or 0)}

    def domain(self) -> Discount:
        if self.percent is not None:
            return Discount(percent=Decimal(self.percent) / 100)
        return Discount(amount=self.amount)

    def off(self, gross: int) -> int:
        if self.percent is not None:
            return half_up(gross * self.percent, 10000)
        return self.amount or 0


percent_discounts = st.builds(Disc, percent=st.one_of(
    st.integers(1, 10000), st.sampled_from([1, 50, 1000, 2500, 3333, 5000, 9999, 10000])))
amount_discounts = st.builds(Disc, amount=st.one_of(st.integers(1, 500), st.integers(1, 50000)))
discounts = st.one_of(percent_discounts, amount_discounts)


@dataclass(frozen=True)
class LineSpec:
    item: Item
    qty: int
    by_barcode: bool = False
    discount: Disc | None = None
    void: bool = False

    def request(self) -> dict:
        d: dict = ({"barcode": self.item.barcode} if self.by_barcode and self.item.barcode
                   else {"sku": self.item.sku})
        d["qty"] = self.qty
        if self.discount:
            d["discount"] = self.discount.spec()
        if self.void:
            d["void"] = True
        return d


def line_specs(discount_strategy=discounts, voids: bool = True):
    return st.builds(
        LineSpec, item=st.sampled_from(ITEMS), qty=st.integers(1, 20), by_barcode=st.booleans(),
        discount=st.one_of(st.none(), st.none(), discount_strategy),
        void=st.sampled_from([False] * 7 + [True]) if voids else st.just(False))


@dataclass
class Priced:
    total: int
    subtotal: int
    basket_off: int
    active: list[tuple[int, LineSpec, int, int]]  # (line_no, spec, gross, line discount)


def price_basket(lines: list[LineSpec], basket: Disc | None) -> Priced | None:
    """What the basket should cost, or None when the till must refuse it."""
    active = []
    for no, ln in enumerate(lines, start=1):
        gross = ln.item.price * ln.qty
        off = ln.discount.off(gross) if ln.discount else 0
        if off > gross:
            return None
        if not ln.void:
            active.append((no, ln, gross, off))
    if not active:
        return None
    subtotal = sum(g - o for _, _, g, o in active)
    boff = basket.off(subtotal) if basket else 0
    if boff > subtotal:
        return None
    return Priced(subtotal - boff, subtotal, boff, active)


def split(data: st.DataObject, amount: int, parts: int) -> list[int]:
    cuts = sorted(data.draw(st.lists(st.integers(0, amount), min_size=parts - 1,
                                     max_size=parts - 1)))
    edges = [0, *cuts, amount]
    return [b - a for a, b in pairwise(edges)]


def draw_tenders(data: st.DataObject, total: int, allow_invalid: bool) -> list[tuple[str, int]]:
    """(type, øre) tenders for `total`: a random split over non-cash types, the rest in cash
    (possibly over-tendered). With allow_invalid the last tender may come up short or be off."""
    with_cash = data.draw(st.booleans(), label="cash") or total == 0
    kinds = data.draw(st.lists(st.sampled_from(NON_CASH), min_size=0 if with_cash else 1,
                               max_size=3), label="non-cash types")
    portion = data.draw(st.integers(0, total), label="non-cash part") if with_cash else total
    tenders = [(k, a) for k, a in zip(kinds, split(data, portion, len(kinds)) if kinds else [],
                                      strict=True)]
    mode = data.draw(st.sampled_from(["ok", "ok", "short", "off"]) if allow_invalid
                     else st.just("ok"), label="mode")
    if mode == "ok":
        delta = data.draw(st.one_of(st.just(0), st.integers(1, 100), st.integers(1, 100_000)),
                          label="cash over-tendered") if with_cash else 0
    elif mode == "short":
        delta = -data.draw(st.integers(1, 50), label="short by")
    else:
        delta = data.draw(st.integers(-5000, 5000), label="off by")
    if with_cash:
        cash = cash_round(total - sum(a for _, a in tenders)) + delta
        tenders.append(("cash", 50 if mode == "ok" and cash == 0 else cash))
    elif tenders:
        k, a = tenders[-1]
        tenders[-1] = (k, a + delta)
    return [(k, a) for k, a in tenders if a > 0]


def tenders_ok(total: int, tenders: list[tuple[str, int]]) -> bool:
    if not tenders:
        return False
    non_cash = sum(a for k, a in tenders if k != "cash")
    cash = [a for k, a in tenders if k == "cash"]
    if non_cash > total:
        return False
    if not cash:
        return non_cash == total
    return sum(cash) >= cash_round(total - non_cash)


# --- pure domain ---------------------------------------------------------------------------

@PURE
@given(st.integers(-10**9, 10**9))
def test_round_cash_is_nearest_50_ties_away_from_zero(x: int):
    r = round_cash(x)
    assert r % 50 == 0
    assert abs(r - x) <= 25
    if x % 50 == 25:  # x.25 / x.75 on a positive amount go up; on a refund away from zero
        assert r == (x + 25 if x > 0 else x - 25)
    assert r == cash_round(x)
    assert round_cash(-x) == -r
    assert round_cash(r) == r


@PURE
@given(st.integers(0, 10**7))
def test_round_cash_of_a_sale_leaves_rounding_in_range(due: int):
    rounding = round_cash(due) - due
    assert -24 <= rounding <= 25


@PURE
@given(st.integers(-10**12, 10**12), st.integers(1, 10**6))
def test_div_round_half_up_matches_exact_fraction(n: int, d: int):
    assert div_round_half_up(n, d) == half_up(n, d)


@PURE
@given(st.integers(-10**9, 10**9))
def test_kroner_text_round_trips(x: int):
    text = format_kroner(x)
    assert re.fullmatch(r"-?\d+\.\d\d", text)
    assert parse_kroner(text) == x
    assert Decimal(text) * 100 == x


@PURE
@given(st.integers(0, 10**7), st.sampled_from([0, 1, 2]))
def test_parse_kroner_takes_one_or_two_decimals(x: int, decimals: int):
    kroner, rest = divmod(x, 100)
    if decimals == 0:
        text, expect = str(kroner), kroner * 100
    elif decimals == 1:
        text, expect = f"{kroner}.{rest // 10}", kroner * 100 + rest // 10 * 10
    else:
        text, expect = f"{kroner}.{rest:02d}", x
    assert parse_kroner(text) == expect
    assert parse_kroner("-" + text) == -expect


@PURE
@given(st.lists(st.tuples(st.sampled_from([25, 0]), st.integers(-10**7, 10**7)), max_size=20))
def test_vat_breakdown_rounds_once_per_rate(lines: list[tuple[int, int]]):
    out = vat_breakdown(lines)
    assert sum(v.gross for v in out.values()) == sum(g for _, g in lines)
    assert set(out) == {r for r, _ in lines}
    for rate, v in out.items():
        assert v.gross == sum(g for r, g in lines if r == rate)
        assert v.vat == vat_of(v.gross, rate) == vat_in_gross(v.gross, rate)
        assert v.net == v.gross - v.vat
        if rate == 0:
            assert v.vat == 0


@PURE
@given(st.data())
def test_allocate_sums_exactly_and_stays_proportional(data: st.DataObject):
    weights = data.draw(st.lists(st.integers(0, 10**7), min_size=1, max_size=15))
    amount = data.draw(st.integers(0, sum(weights)))
    shares = allocate(amount, weights)
    assert len(shares) == len(weights)
    assert sum(shares) == amount
    total = sum(weights)
    for share, w in zip(shares, weights, strict=True):
        assert 0 <= share <= w
        if total:
            assert abs(share - Fraction(amount * w, total)) < 1


@PURE
@given(st.lists(line_specs(), min_size=1, max_size=8), st.one_of(st.none(), discounts))
def test_basket_discounts_are_allocated_exactly(lines: list[LineSpec], bdisc: Disc | None):
    expected = price_basket(lines, bdisc)
    basket = Basket()

    def build() -> None:
        for ln in lines:
            it = ln.item
            added = basket.add(Product(it.sku, f"Vare {it.sku}", it.price, it.rate, it.group),
                               ln.qty)
            if ln.discount:
                basket.discount_line(added.line_no, ln.discount.domain())
            if ln.void:
                basket.void(added.line_no)
        if not basket.active:
            raise BasketError("all voided")
        if bdisc:
            basket.discount_basket(bdisc.domain())

    if expected is None:
        with pytest.raises(BasketError):
            build()
        return
    build()
    priced = basket.priced()
    assert [p.line.line_no for p in priced] == [no for no, *_ in expected.active]
    for p, (_, _, gross, off) in zip(priced, expected.active, strict=True):
        assert p.gross == gross
        assert p.line_discount == off
        assert 0 <= p.basket_discount <= gross - off
        assert p.total >= 0
        share = Fraction(expected.basket_off * (gross - off), expected.subtotal or 1)
        assert abs(p.basket_discount - share) < 1
    assert sum(p.basket_discount for p in priced) == expected.basket_off
    assert basket.total == expected.total


@PURE
@given(st.data(), st.integers(0, 2_000_000))
def test_settle_cash_rounding_and_change(data: st.DataObject, total: int):
    tenders = draw_tenders(data, total, allow_invalid=True)
    if not tenders:  # refused by the service before settling; nothing to settle
        return
    payments = [Payment(PaymentType(k), a) for k, a in tenders]
    if not tenders_ok(total, tenders):
        with pytest.raises(PaymentError) as info:
            settle(total, payments)
        non_cash = sum(a for k, a in tenders if k != "cash")
        if non_cash <= total:
            assert isinstance(info.value, Underpaid)
        return
    s = settle(total, payments)
    non_cash = [(k, a) for k, a in tenders if k != "cash"]
    cash_tendered = sum(a for k, a in tenders if k == "cash")
    assert sum(p.amount for p in s.payments) == total + s.rounding
    assert [(p.type.value, p.amount) for p in s.payments if p.type is not PaymentType.CASH] == non_cash
    assert s.cash_tendered == cash_tendered
    assert s.change >= 0
    assert -24 <= s.rounding <= 25
    if cash_tendered:
        cash_due = total - sum(a for _, a in non_cash)
        assert s.rounding == cash_round(cash_due) - cash_due
        assert s.change == cash_tendered - cash_round(cash_due)
    else:
        assert s.rounding == 0 and s.change == 0


@PURE
@given(st.data(), st.integers(1, 2_000_000))
def test_settle_refuses_any_cash_shortfall(data: st.DataObject, total: int):
    kinds = data.draw(st.lists(st.sampled_from(NON_CASH), max_size=3))
    portion = data.draw(st.integers(0, total))
    tenders = [(k, a) for k, a in zip(kinds, split(data, portion, len(kinds)) if kinds else [],
                                      strict=True) if a > 0]
    due = total - sum(a for _, a in tenders)
    rounded = cash_round(due)
    short = data.draw(st.one_of(st.integers(1, 50), st.integers(1, max(rounded, 1))))
    cash = rounded - short
    payments = [Payment(PaymentType(k), a) for k, a in tenders]
    if cash > 0:
        payments.append(Payment(PaymentType.CASH, cash))
    if due == 0 and cash <= 0:
        return  # paid in full without cash: nothing is short
    with pytest.raises(Underpaid) as info:
        settle(total, payments)
    assert info.value.missing == (rounded - cash if cash > 0 else due)


# --- receipts through the sell() service -----------------------------------------------------

@SALES
@given(data=st.data())
def test_random_sale_receipt_adds_up(shop, data: st.DataObject):
    lines = data.draw(st.lists(line_specs(), min_size=1, max_size=6), label="lines")
    bdisc = data.draw(st.one_of(st.none(), st.none(), discounts), label="basket discount")
    expected = price_basket(lines, bdisc)
    total = expected.total if expected else data.draw(st.integers(0, 50000))
    tenders = draw_tenders(data, total, allow_invalid=True)
    request: dict = {"cashier": "anna", "lines": [ln.request() for ln in lines],
                     "payments": [{"type": k, "amount": kr(a)} for k, a in tenders]}
    if bdisc:
        request["discount"] = bdisc.spec()
    note(f"request={request}")
    before = counts(shop)
    if expected is None or not tenders_ok(total, tenders):
        event("refused: basket" if expected is None else "refused: tenders")
        with pytest.raises(SaleError):
            sell(shop, request)
        assert counts(shop) == before, "a refused sale wrote to the journal or receipts"
        return

    r = sell(shop, request)
    event("sold with cash" if any(k == "cash" for k, _ in tenders) else "sold without cash")
    note(f"receipt={r}")
    actions = sum(1 for ln in lines if ln.discount) + sum(1 for ln in lines if ln.void)
    actions += 1 if bdisc else 0
    assert counts(shop) == (before[0] + actions + 1, before[1] + 1)
    assert r["receipt_number"] == before[1] + 1
    assert ore(r["total"]) == total

    # lines: what each was sold for, discounts included
    assert [ln["line_no"] for ln in r["lines"]] == [no for no, *_ in expected.active]
    for ln, (_, spec, gross, off) in zip(r["lines"], expected.active, strict=True):
        assert ln["sku"] == spec.item.sku and ln["qty"] == spec.qty
        assert ln["vat_rate"] == spec.item.rate
        assert ore(ln["unit_price"]) * ln["qty"] == gross
        assert ore(ln["unit_price"]) * ln["qty"] - ore(ln["discount"]) == ore(ln["total"])
        assert 0 <= ore(ln["total"]) <= gross - off
    assert sum(ore(ln["total"]) for ln in r["lines"]) == total

    # VAT: one line per rate, each rounded half up on its own gross, and together the receipt
    by_rate: Counter = Counter()
    for ln in r["lines"]:
        by_rate[ln["vat_rate"]] += ore(ln["total"])
    assert set(r["vat"]) == {str(rate) for rate in by_rate}
    vat_total = 0
    for rate_text, v in r["vat"].items():
        rate, gross, vat = int(rate_text), ore(v["gross"]), ore(v["vat"])
        assert gross == by_rate[rate]
        assert vat == vat_of(gross, rate)
        assert ore(v["net"]) == gross - vat
        vat_total += vat
    assert sum(ore(v["gross"]) for v in r["vat"].values()) == total
    e = journal_entry(shop.conn, r["journal_nr"])
    assert e is not None and e.kind == "sale"
    assert e.amount_in == total and e.amount_in - e.amount_ex == vat_total
    assert sum(v["vat"] for v in e.data()["vat"].values()) == vat_total

    # tenders: cash rounded on the cash part only, change only from cash
    rounding, change = ore(r["rounding"]), ore(r["change"])
    paid = [(p["type"], ore(p["amount"])) for p in r["payments"]]
    assert sum(a for _, a in paid) == total + rounding
    non_cash = [(k, a) for k, a in tenders if k != "cash"]
    assert [(k, a) for k, a in paid if k != "cash"] == non_cash
    cash_tendered = sum(a for k, a in tenders if k == "cash")
    assert -24 <= rounding <= 25
    assert change >= 0
    if cash_tendered:
        cash_due = total - sum(a for _, a in non_cash)
        assert [a for k, a in paid if k == "cash"] == [cash_round(cash_due)]
        assert rounding == cash_round(cash_due) - cash_due
        assert change == cash_tendered - cash_round(cash_due)
    else:
        assert rounding == 0 and change == 0
        assert all(k != "cash" for k, _ in paid)
    assert e.data()["cash_tendered"] == cash_tendered


def nonzero(c: Counter) -> dict:
    return {k: v for k, v in c.items() if v}


def _by_type(payments: list[dict]) -> dict:
    out: Counter = Counter()
    for p in payments:
        out[p["type"]] += ore(p["amount"])
    return nonzero(out)


def _sell_a1(till, qty: int, tenders: list[tuple[str, int]]) -> dict:
    return sell(till, {"cashier": "anna", "lines": [{"sku": "A1", "qty": qty}],
                       "payments": [{"type": k, "amount": kr(a)} for k, a in tenders]})


@DB
@given(data=st.data())
def test_returns_pay_back_each_tender_at_most_what_it_took(shop, data: st.DataObject):
    """Returns in one or more goes: no non-cash tender gets back more than it paid, and once
    everything is back each tender type has got back exactly what it took."""
    kinds = data.draw(st.lists(st.sampled_from(NON_CASH), max_size=3), label="non-cash types")
    qty = data.draw(st.integers(1, 20), label="qty")
    total = BY_SKU["A1"].price * qty
    parts = split(data, total, len(kinds) + 1)
    tenders = [(k, a) for k, a in zip(kinds, parts, strict=False) if a > 0]
    if parts[-1] or not tenders:
        tenders.append(("cash", cash_round(parts[-1]) or 50))
    sale = _sell_a1(shop, qty, tenders)
    taken = _by_type(sale["payments"])

    back: Counter = Counter()
    rounding = 0
    left = qty
    while left:
        n = data.draw(st.integers(1, left), label="qty back")
        r = refund(shop, sale["receipt_number"], {"cashier": "anna",
                                                  "lines": [{"line_no": 1, "qty": n}]})
        left -= n
        rounding += ore(r["rounding"])
        for k, a in _by_type(r["payments"]).items():
            back[k] -= a
        for k, a in back.items():
            if k != "cash":
                assert a <= taken.get(k, 0), f"{k} got back {a}, took {taken.get(k, 0)}"
    assert sum(back.values()) + rounding == ore(sale["total"])  # paid out = refunded - rounding
    non_cash_back = {k: a for k, a in nonzero(back).items() if k != "cash"}
    assert non_cash_back == {k: a for k, a in taken.items() if k != "cash"}
    if "cash" not in taken:  # cash comes back only as far as the return's own rounding goes
        assert back["cash"] == 0


def test_full_return_of_split_card_payment_pays_no_cash(shop):
    """Regression: two card payments on one receipt were refunded short, the rest in cash."""
    sale = _sell_a1(shop, 3, [("card", 1295), ("card", 2590)])
    back = refund(shop, sale["receipt_number"], {"cashier": "anna",
                                                 "lines": [{"line_no": 1, "qty": 3}]})
    assert _by_type(sale["payments"]) == {"card": 3885}
    assert _by_type(back["payments"]) == {"card": -3885}


# --- several days: Z reports, posting plans, grand totals --------------------------------------

@dataclass
class Day:
    carried: int = 0
    float_in: int = 0
    cash_in: int = 0
    cash_out: int = 0
    cash_payments: int = 0
    sales: int = 0
    returns: int = 0
    rounding: int = 0
    non_cash: Counter = field(default_factory=Counter)
    revenue: Counter = field(default_factory=Counter)  # (account, rate) -> net revenue
    vat: Counter = field(default_factory=Counter)  # (rate, "gross"|"vat") -> amount

    @property
    def expected(self) -> int:
        return self.carried + self.float_in + self.cash_payments + self.cash_in - self.cash_out

    def book(self, receipt: dict) -> None:
        total = ore(receipt["total"])
        if receipt["kind"] == "sale":
            self.sales += total
        else:
            self.returns -= total
        self.rounding += ore(receipt["rounding"])
        for p in receipt["payments"]:
            if p["type"] == "cash":
                self.cash_payments += ore(p["amount"])
            else:
                self.non_cash[p["type"]] += ore(p["amount"])
        for ln in receipt["lines"]:
            account = GROUP_ACCOUNT[BY_SKU[ln["sku"]].group]
            self.revenue[(account, ln["vat_rate"])] += ore(ln["total"])
        for rate, v in receipt["vat"].items():
            self.vat[(int(rate), "gross")] += ore(v["gross"])
            self.vat[(int(rate), "vat")] += ore(v["vat"])


def cash_effect(plan: list[dict], cash_account: int) -> int:
    """Net debit on the cash account: a positive amount debits `account`, credits the other."""
    total = 0
    for ln in plan:
        amount = ore(ln["amount"])
        if ln["account"] == cash_account:
            total += amount
        if ln["balancing_account"] == cash_account:
            total -= amount
    return total


OPS = ["sale"] * 6 + ["return"] * 3 + ["cash_in", "cash_out", "float", "training", "x"]


def _draw_sale(data: st.DataObject, training: bool = False) -> tuple[dict, int]:
    lines = data.draw(st.lists(line_specs(percent_discounts, voids=False), min_size=1, max_size=5))
    bdisc = data.draw(st.one_of(st.none(), st.none(), percent_discounts))
    expected = price_basket(lines, bdisc)
    assert expected is not None
    tenders = draw_tenders(data, expected.total, allow_invalid=False)
    request: dict = {"cashier": "anna", "lines": [ln.request() for ln in lines],
                     "payments": [{"type": k, "amount": kr(a)} for k, a in tenders]}
    if bdisc:
        request["discount"] = bdisc.spec()
    if training:
        request["training"] = True
    return request, expected.total


class Trading:
    """Several business days on one till, with a model of what each Z must say."""

    def __init__(self, till, clock: ManualClock, data: st.DataObject):
        self.till, self.clock, self.data = till, clock, data
        self.returnable: dict[int, dict[int, int]] = {}  # receipt -> line_no -> qty left
        self.grand_sales = self.grand_returns = 0
        self.day = Day()
        self.today: set[int] = set()

    def run(self) -> None:
        n_days = self.data.draw(st.integers(1, 4), label="days")
        event(f"days: {n_days}")
        for day_no in range(n_days):
            self.clock.now = datetime(2024, 3, 4, 7, 0, tzinfo=UTC) + timedelta(days=day_no)
            self.today = set()
            ops = self.data.draw(st.lists(st.sampled_from(OPS), max_size=12), label="ops")
            for op in ops:
                self.clock.now += timedelta(minutes=7)
                getattr(self, f"do_{op}")()
            self.close(day_no + 1 + (day_no > 0))  # day 1 has a second, shift close
        report = verify(self.till.conn, CVR)
        assert report.ok, report

    def do_sale(self, training: bool = False) -> None:
        request, total = _draw_sale(self.data, training)
        r = sell(self.till, request)
        assert ore(r["total"]) == total and r["training"] is training
        if not training:
            self.today.add(r["receipt_number"])
            self.day.book(r)
            self.returnable[r["receipt_number"]] = {ln["line_no"]: ln["qty"] for ln in r["lines"]}

    def do_training(self) -> None:
        self.do_sale(training=True)

    def do_return(self) -> None:
        open_receipts = sorted(n for n, lns in self.returnable.items() if any(lns.values()))
        if not open_receipts:
            return
        number = self.data.draw(st.sampled_from(open_receipts), label="return against")
        left = self.returnable[number]
        nos = self.data.draw(st.lists(st.sampled_from(sorted(n for n, q in left.items() if q)),
                                      min_size=1, unique=True), label="lines back")
        wanted = [{"line_no": n, "qty": self.data.draw(st.integers(1, left[n]))} for n in nos]
        r = refund(self.till, number, {"cashier": "anna", "lines": wanted})
        event("return from an earlier day" if number not in self.today else "return")
        assert r["kind"] == "return" and r["original_receipt"] == number
        assert ore(r["total"]) <= 0
        assert sum(ore(p["amount"]) for p in r["payments"]) == ore(r["total"]) + ore(r["rounding"])
        for w in wanted:
            left[w["line_no"]] -= w["qty"]
        self.day.book(r)

    def do_cash_in(self) -> None:
        amount = self.data.draw(st.integers(1, 200_000), label="cash in")
        move_cash(self.till, "in", kr(amount), "veksel", "anna")
        self.day.cash_in += amount

    def do_float(self) -> None:
        amount = self.data.draw(st.integers(1, 200_000), label="float")
        move_cash(self.till, "float", kr(amount), "", "anna")
        self.day.float_in += amount

    def do_cash_out(self) -> None:
        expected = self.day.expected
        amount = max(1, self.data.draw(st.one_of(
            st.integers(1, max(expected, 1)), st.integers(1, 5000).map(lambda a: expected + a)),
            label="cash out"))
        if amount <= expected:
            move_cash(self.till, "out", kr(amount), "til banken", "anna")
            self.day.cash_out += amount
            return
        event("cash out refused")
        before = counts(self.till)
        with pytest.raises(CashError):
            move_cash(self.till, "out", kr(amount), "til banken", "anna")
        assert counts(self.till) == before

    def do_x(self) -> None:
        x = x_report(self.till)
        assert ore(x["cash_expected"]) == self.day.expected
        assert ore(x["gross_sales"]) == self.day.sales
        assert ore(x["returns"]) == self.day.returns

    def close(self, z_number: int) -> None:
        day = self.day
        self.clock.now = self.clock.now.replace(hour=17, minute=30)
        counted = max(0, self.data.draw(st.one_of(
            st.just(day.expected), st.integers(day.expected - 3000, day.expected + 3000)),
            label="counted"))
        to_bank = self.data.draw(st.integers(0, counted), label="to bank")
        z = close_day(self.till, kr(counted), to_bank=kr(to_bank) if to_bank else None,
                      render_pdf=False)
        note(f"Z {z_number}: {z}")
        assert z["z_number"] == z_number
        assert z["posting_missing_accounts"] == []

        # the drawer: float carried in, expected, counted, the difference, what stays
        assert ore(z["cash_float"]) == day.carried + day.float_in
        assert ore(z["cash_expected"]) == day.expected
        assert ore(z["cash_counted"]) == counted
        assert ore(z["cash_difference"]) == counted - day.expected
        assert ore(z["next_float"]) == counted - to_bank
        assert ore(z["rounding_total"]) == day.rounding

        # sales and returns, and grand totals continuous from Z to Z
        net = day.sales - day.returns
        assert ore(z["gross_sales"]) == day.sales
        assert ore(z["returns"]) == day.returns
        assert ore(z["net_sales"]) == net
        assert ore(z["grand_total_sales"]) == self.grand_sales + ore(z["gross_sales"])
        assert ore(z["grand_total_returns"]) == self.grand_returns + ore(z["returns"])
        self.grand_sales = ore(z["grand_total_sales"])
        self.grand_returns = ore(z["grand_total_returns"])
        assert sum(ore(v["gross"]) for v in z["vat"].values()) == net
        for rate, v in z["vat"].items():
            assert ore(v["gross"]) == day.vat[(int(rate), "gross")]
            assert ore(v["vat"]) == day.vat[(int(rate), "vat")]
            assert ore(v["net"]) == ore(v["gross"]) - ore(v["vat"])

        self.check_plan(z["posting_plan"], counted, to_bank)

        self.day = Day(carried=counted - to_bank)
        if z_number == 1:  # a second close the same evening (a shift close): an empty period that
            again = close_day(self.till, kr(counted - to_bank), render_pdf=False)  # carries everything on
            assert again["gross_sales"] == "0.00" and again["grand_total_sales"] == z["grand_total_sales"]
            assert again["period_start"] == z["period_end"] and again["cash_difference"] == "0.00"
            assert again["z_number"] == z_number + 1

    def check_plan(self, plan: list[dict], counted: int, to_bank: int) -> None:
        day = self.day

        def on(account: int) -> int:
            return sum(ore(ln["amount"]) for ln in plan if ln["account"] == account)

        cash = ACCOUNTS["cash"]
        assert all(ln["balancing_account"] == cash for ln in plan)
        assert all(ore(ln["amount"]) != 0 for ln in plan)
        # the plan moves the cash account by exactly the cash that moved
        assert cash_effect(plan, cash) == (counted - to_bank) - day.carried
        # revenue: credited per account and VAT code, together the net sales
        revenue = [ln for ln in plan if ln["account"] in REVENUE_ACCOUNTS]
        assert -sum(ore(ln["amount"]) for ln in revenue) == day.sales - day.returns
        by_account: Counter = Counter()
        for ln in revenue:
            by_account[(ln["account"], {"U25": 25, "none": 0}[ln["vat_code"]])] -= ore(ln["amount"])
        assert nonzero(by_account) == nonzero(day.revenue)
        # non-cash tenders, rounding, the difference and the bank
        assert on(ACCOUNTS["payment:card"]) == day.non_cash["card"] + day.non_cash["manual_card"]
        assert on(ACCOUNTS["payment:mobilepay"]) == day.non_cash["mobilepay"]
        assert on(ACCOUNTS["payment:gift_voucher"]) == day.non_cash["gift_voucher"]
        assert on(ACCOUNTS["rounding"]) == -day.rounding
        assert on(ACCOUNTS["differences"]) == -(counted - day.expected)
        assert on(ACCOUNTS["bank"]) == to_bank + day.cash_out - day.cash_in - day.float_in


@DAYS
@given(data=st.data())
def test_days_close_balanced_and_continuous(template: Path, data: st.DataObject):
    workdir = Path(tempfile.mkdtemp(prefix="days-", dir=template.parent))
    clock = ManualClock(START + timedelta(hours=1))
    till = copy_shop(template, workdir, clock)
    try:
        Trading(till, clock, data).run()
    finally:
        till.close()
        shutil.rmtree(workdir, ignore_errors=True)
