"""The terminal reconciliation's pure rules: the till's card totals per brand since the last
reconciliation, the comparison with the terminal's, the journal payload, and how a Z shows it."""

from __future__ import annotations

from datetime import datetime

from appliance.domain.journal import KINDS, Entry, canonical_json
from appliance.domain.reconciliation import KIND, UNBRANDED, Totals, compare, payload, rows_of, till_totals
from appliance.domain.reports import ReportContext, build_report, report_json
from appliance.render.report_text import render_report_text
from appliance.services.till import TZ

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=TZ)


def entry(nr: int, kind: str, data: dict) -> Entry:
    return Entry(nr, T0, "1", "anna", kind, 0, 0, canonical_json(data))


def receipt(nr: int, *payments: dict, kind: str = "sale", training: bool = False) -> Entry:
    total = sum(p["amount"] for p in payments)
    data = {"total": total, "lines": [], "vat": {}, "payments": list(payments), "rounding": 0}
    if training:
        data["training"] = True
    return entry(nr, kind, data)


def card(amount: int, brand: str | None = None) -> dict:
    return {"type": "card", "amount": amount, **({"brand": brand} if brand else {})}


def test_the_kind_is_journalled_as_an_other_event() -> None:
    assert KINDS[KIND] == "13999"


def test_till_totals_count_card_payments_and_refunds_per_brand_since_the_last_reconciliation() -> None:
    entries = [
        receipt(1, card(5000, "Visa")),                      # before the last reconciliation: not counted
        entry(2, KIND, {"terminal": {}, "till": {}}),
        receipt(3, card(12950, "Dankort")),
        receipt(4, card(2000, "Dankort"), {"type": "cash", "amount": 500}),
        receipt(5, card(-2000, "Dankort"), kind="return"),
        receipt(6, card(4000, "Visa")),
        receipt(7, card(999)),                               # an old journal's card payment, no brand
        receipt(8, {"type": "manual_card", "amount": 700, "brand": "Visa"}),  # another terminal
        receipt(9, {"type": "mobilepay", "amount": 300, "brand": "MobilePay"}),
        receipt(10, card(800, "Visa"), training=True),       # training moves no money
        entry(11, "payment_outcome", {"state": "approved", "brand": "Visa", "amount": 123}),
    ]
    assert till_totals(entries) == {
        "Dankort": Totals(2, 14950, 1, 2000),
        "Visa": Totals(1, 4000, 0, 0),
        UNBRANDED: Totals(1, 999, 0, 0),
    }
    assert till_totals([]) == {}


def test_compare_lists_every_brand_in_the_shops_order_with_terminal_minus_till() -> None:
    till = {"Visa": Totals(1, 12950), "Dankort": Totals(2, 5000, 1, 1000)}
    terminal = {"Dankort": Totals(2, 5000, 1, 1000), "Amex": Totals(1, 300), "Mastercard": Totals(1, 100)}
    rows = compare(till, terminal)
    assert [r.brand for r in rows] == ["Dankort", "Visa", "Mastercard", "Amex"]
    dankort, visa, mastercard, amex = rows
    assert dankort.agrees and dankort.difference == Totals()
    assert not visa.agrees and visa.difference == Totals(-1, -12950) and visa.difference.net_ore == -12950
    assert mastercard.difference.net_ore == 100 and amex.till == Totals()
    data = payload(rows, "R000002", "SIM-1", 4, 17)
    assert data["agreed"] is False
    assert set(data["differences"]) == {"Visa", "Mastercard", "Amex"}
    assert data["terminal"]["Dankort"] == {"payments": 2, "payments_ore": 5000, "refunds": 1, "refunds_ore": 1000}
    assert "Visa" not in data["terminal"] and "Amex" not in data["till"]
    assert (data["since_nr"], data["upto_nr"], data["reconciliation_id"], data["poi_id"]) == (4, 17, "R000002", "SIM-1")
    assert rows_of(data) == rows


def test_a_count_difference_with_equal_money_is_still_a_difference() -> None:
    [row] = compare({"Visa": Totals(1, 1000, 1, 1000)}, {"Visa": Totals(0, 0, 0, 0)})
    assert row.difference.net_ore == 0 and not row.agrees


def test_totals_read_the_drivers_brand_totals_too() -> None:
    from drivers.terminal.messages import BrandTotals
    assert Totals.from_json(BrandTotals(3, 4500, 1, 500)) == Totals(3, 4500, 1, 500)
    assert Totals.from_json({"payments": 1, "payments_ore": 10}) == Totals(1, 10)


def ctx(kind: str = "Z", terminal: bool = True) -> ReportContext:
    return ReportContext(kind=kind, number=3, register_id="1", business_date="2026-11-20",
                         period_start=T0.isoformat(), period_end=T0.isoformat(), counted=0, terminal=terminal)


def test_the_z_holds_the_reconciliations_of_its_period_and_shows_a_difference() -> None:
    rows = compare({"Visa": Totals(1, 12950), "Dankort": Totals(1, 2000)}, {"Dankort": Totals(1, 2000)})
    entries = [receipt(1, card(12950, "Visa")), receipt(2, card(2000, "Dankort")),
               entry(3, KIND, payload(rows, "R000001", "SIM-1", 0, 2))]
    report = build_report(ctx(), entries)
    assert report.card_by_brand == {"Dankort": 2000, "Visa": 12950}
    data = report_json(report, [], {}, [])
    info = data["terminal_reconciliation"]
    assert info["expected"] and not info["missing"]
    [rec] = info["reconciliations"]
    assert rec["nr"] == 3 and rec["reconciliation_id"] == "R000001" and rec["agreed"] is False
    visa = next(r for r in rec["rows"] if r["brand"] == "Visa")
    assert visa["difference"] == "-129.50" and visa["till"]["net"] == "129.50" and visa["terminal"]["net"] == "0.00"
    assert data["card_by_brand"] == {"Dankort": "20.00", "Visa": "129.50"}
    text = render_report_text(data, {"shop_name": "Købmand Hansen"})
    assert "Kortterminal" in text and "Afstemning R000001" in text
    assert "! Afviger: Visa -129,50" in text
    assert "Ingen afstemning" not in text and all(len(line) <= 42 for line in text.splitlines())


def test_a_z_without_a_reconciliation_says_so_when_a_terminal_is_set_up() -> None:
    data = report_json(build_report(ctx(), [receipt(1, card(100, "Visa"))]), [], {}, [])
    assert data["terminal_reconciliation"] == {"expected": True, "reconciliations": [], "missing": True}
    assert "! Ingen afstemning med terminalen" in render_report_text(data, {})
    # an X report is interim: nothing is missing yet
    assert report_json(build_report(ctx("X"), []), [], {}, [])["terminal_reconciliation"]["missing"] is False


def test_without_a_terminal_the_report_is_as_before() -> None:
    data = report_json(build_report(ctx(terminal=False), [receipt(1, card(100, "Visa"))]), [], {}, [])
    assert "terminal_reconciliation" not in data
    assert "Kortterminal" not in render_report_text(data, {})


def test_an_agreeing_reconciliation_in_the_pdf() -> None:
    from appliance.render.z_pdf import render_z_pdf
    rows = compare({"Dankort": Totals(1, 2000)}, {"Dankort": Totals(1, 2000)})
    report = build_report(ctx(), [receipt(1, card(2000, "Dankort")), entry(2, KIND, payload(rows, "R1", None, 0, 1))])
    data = report_json(report, [], {}, [])
    assert data["terminal_reconciliation"]["reconciliations"][0]["agreed"] is True
    assert "Terminal og kasse er enige" in render_report_text(data, {})
    assert render_z_pdf(data, {"shop_name": "Købmand Hansen", "cvr": "12345678", "address": "Gaden 1"}).startswith(b"%PDF")
