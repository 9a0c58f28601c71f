"""Selling, returns, cash, X and Z through the use cases, against a real database."""

from __future__ import annotations

import pytest

from appliance.domain.roles import PermissionDenied
from appliance.services import selling
from appliance.services.cash import CashError, move_cash, no_sale
from appliance.services.closing import close_day, get_report, list_reports, x_report
from appliance.services.selling import SaleError, park, receipt_copy, refund, resume, sell
from appliance.services.till import AuthError, open_till
from appliance.store.db import StoreError
from appliance.store.journal import verify

from ..conftest import CVR, journal_count

CARD = {"type": "card", "amount": "0"}


def pay_card(amount: str, brand: str | None = None) -> list[dict]:
    return [{"type": "card", "amount": amount, **({"brand": brand} if brand else {})}]


def test_sale_by_every_kind_of_code(till) -> None:
    sale = sell(till, {"cashier": "anna", "lines": [
        {"barcode": "5701234567899", "qty": 2},  # EAN-13
        {"barcode": "4006381333931"},  # second barcode of BUTTER
        {"barcode": "2135040039753"},  # in-store price code, 39.75
        {"barcode": "2712341002251"},  # 225 g at 129.00/kg = 29.03 (29.025 half up)
        {"barcode": "036000291452"},  # UPC-A
        {"barcode": "ABC-123"},  # free code
        {"sku": "PAPER"},
    ], "payments": [{"type": "cash", "amount": "500.00"}]})
    totals = [ln["total"] for ln in sale["lines"]]
    assert totals == ["25.90", "24.50", "39.75", "29.03", "15.00", "1.00", "30.00"]
    assert sale["total"] == "165.18"
    assert sale["rounding"] == "-0.18" and sale["change"] == "335.00"
    assert sale["payments"] == [{"type": "cash", "amount": "165.00"}]
    assert sale["vat"]["25"] == {"gross": "135.18", "net": "108.14", "vat": "27.04"}
    assert sale["vat"]["0"] == {"gross": "30.00", "net": "30.00", "vat": "0.00"}
    assert sale["receipt_number"] == 1


@pytest.mark.parametrize("line,message", [
    ({"barcode": "5709999999993"}, "unknown barcode"),
    ({"barcode": "5701234567890"}, "check digit"),
    ({"sku": "NOPE"}, "unknown SKU"),
    ({"sku": "MILK", "qty": 0}, "quantity"),
    ({"sku": "MILK", "qty": -2}, "quantity"),
    ({"sku": "MILK", "qty": 100000}, "quantity"),
])
def test_bad_lines_write_nothing(till, line: dict, message: str) -> None:
    before = journal_count(till)
    with pytest.raises(SaleError, match=message):
        sell(till, {"cashier": "anna", "lines": [line], "payments": pay_card("12.95")})
    assert journal_count(till) == before


def test_underpayment_writes_nothing(till) -> None:
    before = journal_count(till)
    with pytest.raises(SaleError, match="underpaid"):
        sell(till, {"cashier": "anna", "lines": [{"sku": "MILK"}],
                    "payments": [{"type": "cash", "amount": "10.00"}]})
    with pytest.raises(SaleError, match="two decimals"):
        sell(till, {"cashier": "anna", "lines": [{"sku": "MILK"}],
                    "payments": [{"type": "card", "amount": "12.951"}]})
    assert journal_count(till) == before


def test_wrong_pin_is_refused_and_journalled(till) -> None:
    with pytest.raises(AuthError, match="wrong PIN"):
        sell(till, {"cashier": "anna", "pin": "0000", "lines": [{"sku": "MILK"}],
                    "payments": pay_card("12.95")})
    kinds = [r[0] for r in till.conn.execute("SELECT kind FROM journal ORDER BY nr DESC LIMIT 1")]
    assert kinds == ["login_failed"]
    with pytest.raises(AuthError, match="unknown cashier"):
        sell(till, {"cashier": "ghost", "lines": [{"sku": "MILK"}], "payments": pay_card("12.95")})


def test_price_override_needs_a_manager_pin(till) -> None:
    req = {"cashier": "anna", "lines": [{"sku": "MILK", "price": "10.00"}], "payments": pay_card("10.00")}
    with pytest.raises(PermissionDenied):
        sell(till, req)
    with pytest.raises(PermissionDenied):
        sell(till, {**req, "manager": {"id": "anna", "pin": "1234"}})
    sale = sell(till, {**req, "manager": {"id": "bo", "pin": "9999"}})
    assert sale["total"] == "10.00"
    row = till.conn.execute("SELECT cashier, payload FROM journal WHERE kind = 'price_override'").fetchone()
    assert row[0] == "bo" and '"from":1295' in row[1]


def test_returns_partial_never_more_and_to_original_tender(till) -> None:
    sale = sell(till, {"cashier": "anna", "lines": [{"sku": "MILK", "qty": 3}], "discount": {"percent": 10},
                       "payments": pay_card("34.96", "Visa")})
    n = sale["receipt_number"]
    r1 = refund(till, n, {"cashier": "anna", "lines": [{"line_no": 1, "qty": 2}]})
    assert r1["total"] == "-23.31" and r1["payments"] == [{"type": "card", "amount": "-23.31", "brand": "Visa"}]
    with pytest.raises(SaleError, match="only 1 of 3 left"):
        refund(till, n, {"cashier": "anna", "lines": [{"line_no": 1, "qty": 2}]})
    r2 = refund(till, n, {"cashier": "anna", "lines": [{"sku": "MILK", "qty": 1}]})
    assert r2["total"] == "-11.65"  # the remainder: never more than was taken
    assert r2["original_receipt"] == n
    with pytest.raises(SaleError, match="only 0 of 3 left"):
        refund(till, n, {"cashier": "anna", "lines": [{"line_no": 1, "qty": 1}]})


def test_refund_to_other_tender_needs_manager(till) -> None:
    n = sell(till, {"cashier": "anna", "lines": [{"sku": "BREAD"}], "payments": pay_card("22.00")})["receipt_number"]
    req = {"cashier": "anna", "lines": [{"line_no": 1}], "payments": [{"type": "cash", "amount": "22.00"}]}
    with pytest.raises(PermissionDenied):
        refund(till, n, req)
    r = refund(till, n, {**req, "manager": {"id": "bo", "pin": "9999"}})
    assert r["payments"] == [{"type": "cash", "amount": "-22.00"}]


def test_free_return_needs_manager(till) -> None:
    req = {"cashier": "anna", "lines": [{"sku": "BREAD"}]}
    with pytest.raises(PermissionDenied):
        refund(till, None, req)
    r = refund(till, None, {**req, "manager": {"id": "bo", "pin": "9999"}})
    assert r["total"] == "-22.00" and r["payments"] == [{"type": "cash", "amount": "-22.00"}]


def test_training_sales_are_kept_apart(till, clock) -> None:
    sell(till, {"cashier": "anna", "lines": [{"sku": "MILK"}], "payments": pay_card("12.95")})
    sell(till, {"cashier": "anna", "training": True, "lines": [{"sku": "BREAD"}],
                "payments": pay_card("22.00")})
    z = close_day(till, "0.00")
    assert z["gross_sales"] == "12.95" and z["training"] == {"count": 1, "amount": "22.00"}
    assert z["payments"] == {"card": "12.95"}


def test_cash_out_cannot_exceed_drawer_and_needs_text(till) -> None:
    move_cash(till, "float", "500.00", "", "bo")
    with pytest.raises(CashError, match=r"only 500,00 kr\."):
        move_cash(till, "out", "600.00", "bank", "bo")
    with pytest.raises(CashError, match="text"):
        move_cash(till, "out", "100.00", "", "bo")
    with pytest.raises(CashError):
        move_cash(till, "in", "-5.00", "x", "bo")


def test_full_day_z_report(till, clock) -> None:
    move_cash(till, "float", "1000.00", "Startbeholdning", "bo")
    s1 = sell(till, {"cashier": "anna", "lines": [{"sku": "MILK", "qty": 2}, {"sku": "PAPER"}],
                     "payments": [{"type": "cash", "amount": "100.00"}]})  # 55.90 -> 56.00 cash
    sell(till, {"cashier": "bo", "lines": [{"sku": "BUTTER"}], "payments": pay_card("24.50", "Dankort")})
    sell(till, {"cashier": "anna", "lines": [{"sku": "BREAD", "discount": {"amount": "2.00"}},
                                             {"sku": "MILK", "void": True}],
                "payments": [{"type": "mobilepay", "amount": "20.00"}]})
    sell(till, {"cashier": "anna", "lines": [{"sku": "BREAD"}],
                "payments": [{"type": "gift_voucher", "amount": "10.00"}, {"type": "manual_card", "amount": "12.00"}]})
    refund(till, s1["receipt_number"], {"cashier": "anna", "lines": [{"line_no": 2}]})  # paper back in cash
    move_cash(till, "in", "200.00", "Veksel", "bo")
    move_cash(till, "out", "300.00", "Bank", "bo")
    no_sale(till, "anna", "veksle")
    receipt_copy(till, s1["receipt_number"], "anna")
    park(till, {"cashier": "anna", "lines": [{"sku": "MILK"}]})
    x = x_report(till)
    assert x["kind"] == "X" and "z_number" not in x and x["cash_counted"] is None
    clock.advance(hours=8)
    z = close_day(till, None, "500.00", denominations="500:1,200:2,20:1,5:1,1:1,0.50:1")
    assert z["z_number"] == 1
    assert z["gross_sales"] == "122.40" and z["returns"] == "30.00" and z["net_sales"] == "92.40"
    assert z["vat"]["25"] == {"gross": "92.40", "net": "73.92", "vat": "18.48"}
    assert z["vat"]["0"] == {"gross": "0.00", "net": "0.00", "vat": "0.00"}
    assert z["payments"] == {"card": "24.50", "cash": "26.00", "gift_voucher": "10.00",
                             "manual_card": "12.00", "mobilepay": "20.00"}
    assert z["card_brands"] == {"Dankort": "24.50"}
    assert z["cashiers"]["bo"] == {"sales": 1, "returns": 0, "amount": "24.50"}
    assert z["cashiers"]["anna"]["returns"] == 1
    assert z["discounts"] == {"count": 1, "amount": "2.00"}
    assert z["voids"]["lines"] == 1 and z["voids"]["amount"] == "12.95"
    assert z["no_sales"] == 1 and z["receipt_copies"] == 1 and z["parked"] == 1
    assert z["cash_float"] == "1000.00" and z["cash_in"] == "200.00" and z["cash_out"] == "300.00"
    assert z["cash_expected"] == "926.00"  # 1000 + 56 - 30 + 200 - 300
    assert z["cash_counted"] == "926.50" and z["cash_difference"] == "0.50"
    assert z["denominations"]["500.00"] == 1 and z["denominations"]["0.50"] == 1
    assert z["rounding_total"] == "0.10"
    assert z["to_bank"] == "500.00" and z["next_float"] == "426.50"
    assert z["grand_total_sales"] == "122.40" and z["grand_total_returns"] == "30.00"
    accounts = {(ln["account"], ln["vat_code"]): ln["amount"] for ln in z["posting_plan"]}
    assert accounts[(1000, "U25")] == "-92.40"
    assert accounts[(55100, "none")] in ("24.50", "12.00")
    assert accounts[(7380, "none")] == "-0.50" and accounts[(7390, "none")] == "-0.10"
    assert all(ln["balancing_account"] == 55040 for ln in z["posting_plan"])
    assert z["posting_missing_accounts"] == []
    report, pdf = get_report(till, 1)
    assert report == z and pdf and pdf.startswith(b"%PDF")
    assert verify(till.conn, CVR).ok


def test_several_closes_a_day_each_close_the_open_period_and_grand_totals_carry(till, clock) -> None:
    sell(till, {"cashier": "anna", "lines": [{"sku": "MILK"}], "payments": pay_card("12.95")})
    z1 = close_day(till, "0.00")
    clock.advance(hours=2)
    sell(till, {"cashier": "anna", "lines": [{"sku": "BUTTER"}], "payments": pay_card("24.50")})
    z2 = close_day(till, "0.00")  # a shift close the same day
    assert z2["z_number"] == 2 and z2["gross_sales"] == "24.50" and z2["period_start"] == z1["period_end"]
    assert z2["business_date"] == z1["business_date"] == "2026-11-20"
    clock.next_day()
    sell(till, {"cashier": "anna", "lines": [{"sku": "BREAD"}], "payments": pay_card("22.00")})
    z3 = close_day(till, "0.00")
    assert z3["z_number"] == 3 and z3["gross_sales"] == "22.00"
    assert z3["grand_total_sales"] == "59.45" and z3["period_start"] == z2["period_end"]
    assert [r["z_number"] for r in list_reports(till)] == [1, 2, 3]
    assert verify(till.conn, CVR).ok


def test_a_close_after_midnight_books_the_evening_and_the_next_evening_closes_too(till, clock) -> None:
    clock.now = clock.now.replace(hour=21)
    sell(till, {"cashier": "anna", "lines": [{"sku": "MILK"}], "payments": pay_card("12.95")})
    clock.now = clock.now.replace(hour=23, minute=59)
    sell(till, {"cashier": "anna", "lines": [{"sku": "BREAD"}], "payments": pay_card("22.00")})
    clock.advance(minutes=31)  # 00:30 the next day
    z1 = close_day(till, "0.00")
    assert z1["business_date"] == "2026-11-20" and z1["period_end"].startswith("2026-11-21T00:30")
    clock.advance(hours=10)
    sell(till, {"cashier": "anna", "lines": [{"sku": "BUTTER"}], "payments": pay_card("24.50")})
    clock.advance(hours=8)
    z2 = close_day(till, "0.00")  # that evening's close is not "already closed"
    assert z2["business_date"] == "2026-11-21" and z2["gross_sales"] == "24.50"
    empty = close_day(till, "0.00")  # nothing sold since: the date of the close
    assert empty["business_date"] == "2026-11-21" and empty["gross_sales"] == "0.00"


def test_missing_accounts_are_named_but_day_still_closes(tmp_path, clock) -> None:
    from appliance.services.setup import add_cashier, import_catalog, init_shop

    from ..conftest import CATALOG
    t = init_shop(tmp_path / "bare", "Butik", CVR, "Vej 1", "1", clock)
    add_cashier(t, "anna", "Anna", "cashier", "1234")
    import_catalog(t, CATALOG)
    sell(t, {"cashier": "anna", "lines": [{"sku": "MILK"}], "payments": pay_card("12.95")})
    z = close_day(t, "0.00")
    assert set(z["posting_missing_accounts"]) >= {"cash", "revenue:Mejeri", "payment:card"}
    t.close()


def test_park_and_resume(till) -> None:
    pid = park(till, {"cashier": "anna", "lines": [{"sku": "MILK", "qty": 2}]})
    basket = resume(till, pid, "anna")
    assert basket.total == 2590
    with pytest.raises(SaleError):
        resume(till, pid, "anna")


def test_missing_and_corrupt_database(tmp_path, till) -> None:
    with pytest.raises(StoreError, match="till init"):
        open_till(tmp_path / "nowhere")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "till.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="corrupt"):
        open_till(bad)


def test_deterministic_lookup_api(till) -> None:
    product, extra = selling.resolve(till, {"barcode": "2135040012343"})
    assert product.sku == "CHEESE" and extra["price"] == 1234
