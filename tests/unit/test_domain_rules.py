"""Money, VAT, barcodes, catalog parsing, basket and tenders: the pure rules."""

from __future__ import annotations

from decimal import Decimal

import pytest

from appliance.domain.barcodes import BarcodeError, make_price_code, parse_scan, validate_code
from appliance.domain.basket import Basket, BasketError, Discount, allocate
from appliance.domain.catalog import CatalogError, Product, parse_catalog_csv
from appliance.domain.money import (
    MoneyError,
    format_dkk,
    format_kroner,
    parse_kroner,
    round_cash,
)
from appliance.domain.roles import Cashier, PermissionDenied, Role, check_pin, hash_pin
from appliance.domain.tenders import Payment, PaymentError, PaymentType, Underpaid, settle, settle_refund
from appliance.domain.vat import vat_breakdown, vat_in_gross


@pytest.mark.parametrize("text,ore", [("123.50", 12350), ("0.05", 5), ("7", 700), ("-11.65", -1165),
                                      ("1000.5", 100050)])
def test_parse_kroner(text: str, ore: int) -> None:
    assert parse_kroner(text) == ore


@pytest.mark.parametrize("bad", ["1.234", "12,50", "abc", "", "1e3", "0.001"])
def test_parse_kroner_refuses(bad: str) -> None:
    with pytest.raises(MoneyError):
        parse_kroner(bad)


def test_parse_kroner_refuses_float() -> None:
    with pytest.raises(MoneyError):
        parse_kroner(12.5)  # type: ignore[arg-type]


def test_formats() -> None:
    assert format_kroner(123450) == "1234.50"
    assert format_kroner(-5) == "-0.05"
    assert format_dkk(123450) == "1.234,50 kr."
    assert format_dkk(-1165, suffix=False) == "-11,65"


@pytest.mark.parametrize("ore,rounded", [(1001, 1000), (1024, 1000), (1025, 1050), (1026, 1050),
                                         (1074, 1050), (1075, 1100), (1099, 1100), (-1025, -1050)])
def test_cash_rounding(ore: int, rounded: int) -> None:
    assert round_cash(ore) == rounded


def test_vat_is_a_fifth_of_gross_at_25() -> None:
    assert vat_in_gross(12500, 25) == 2500
    assert vat_in_gross(1295, 25) == 259  # 258.999 -> 259
    assert vat_in_gross(3000, 0) == 0
    lines = vat_breakdown([(25, 1295), (25, 1295), (0, 3000)])
    assert lines[25].gross == 2590 and lines[25].vat == 518 and lines[25].net == 2072
    assert lines[0].vat == 0


def test_barcode_check_digits() -> None:
    assert validate_code("4006381333931") == "4006381333931"
    assert validate_code("96385074") == "96385074"  # EAN-8
    assert validate_code("036000291452") == "036000291452"  # UPC-A
    with pytest.raises(BarcodeError, match="check digit"):
        validate_code("4006381333932")
    with pytest.raises(BarcodeError):
        validate_code("bad code!")
    assert validate_code("ABC-123") == "ABC-123"


def test_danish_in_store_codes() -> None:
    price = parse_scan("2135040039753")
    assert price.price_ore == 3975 and price.lookup == "2135040000005"
    weight = parse_scan("2712341002251")
    assert weight.weight_g == 225 and weight.lookup == "2712341000004"
    assert parse_scan("036000291452").lookup == "0036000291452"  # UPC-A looked up as EAN-13
    code = make_price_code("22", "0001", 2495)
    assert parse_scan(code).price_ore == 2495


def test_catalog_csv_names_the_broken_line() -> None:
    good = "sku,barcode,name,price,vat_rate,group\nA,4006381333931,Mælk,12.95,25,Mejeri\n"
    assert parse_catalog_csv(good)[0] == Product("A", "Mælk", 1295, 25, "Mejeri", ("4006381333931",))
    for bad_row, msg in [("B,4006381333932,X,1.00,25,G", "check digit"),
                         ("B,,X,1.005,25,G", "two decimals"),
                         ("B,,X,1.00,12,G", "VAT rate"),
                         ("B,,X,1.00,25", "expected 6 fields"),
                         ("A,,Y,1.00,25,G", "also on line 2")]:
        with pytest.raises(CatalogError, match=msg) as info:
            parse_catalog_csv(good + bad_row + "\n")
        assert info.value.line == 3
    with pytest.raises(CatalogError, match="header"):
        parse_catalog_csv("sku,name\n")


MILK = Product("MILK", "Mælk", 1295, 25, "Mejeri")
PAPER = Product("PAPER", "Avis", 3000, 0, "Aviser")
BOSS = Cashier("bo", "Bo", Role.MANAGER)
CLERK = Cashier("anna", "Anna", Role.CASHIER)


def test_basket_lines_discounts_and_voids() -> None:
    b = Basket()
    b.add(MILK, 3)
    b.add(PAPER)
    line = b.add(MILK)
    b.void(line.line_no)
    b.discount_line(1, Discount(percent=Decimal(10)))  # 10 % of 38.85 = 3.885 -> 3.89
    assert b.priced()[0].line_discount == 389
    b.discount_basket(Discount(amount=500))
    priced = b.priced()
    assert sum(p.basket_discount for p in priced) == 500
    assert b.total == 3885 + 3000 - 389 - 500
    with pytest.raises(BasketError):
        b.set_qty(line.line_no, 2)  # voided


def test_price_override_needs_manager() -> None:
    b = Basket()
    b.add(MILK)
    with pytest.raises(PermissionDenied):
        b.override_price(1, 1000, CLERK)
    new = b.override_price(1, 1000, BOSS)
    assert new.unit_price == 1000 and new.override_from == 1295 and new.override_by == "bo"


@pytest.mark.parametrize("qty", [0, -1, 1000, 1.5, "2", True])
def test_absurd_quantities_refused(qty: object) -> None:
    with pytest.raises(BasketError):
        Basket().add(MILK, qty)  # type: ignore[arg-type]


def test_discount_cannot_exceed() -> None:
    b = Basket()
    b.add(MILK)
    with pytest.raises(BasketError):
        b.discount_basket(Discount(amount=2000))
    with pytest.raises(BasketError):
        Discount.parse({"percent": 120})


def test_allocate_sums_exactly() -> None:
    assert sum(allocate(101, [1, 1, 1])) == 101
    assert allocate(0, [5, 5]) == [0, 0]


def test_settle_split_rounds_only_cash() -> None:
    s = settle(9774, [Payment(PaymentType.CARD, 2000), Payment(PaymentType.CASH, 10000)])
    assert s.rounding == -24 and s.change == 2250
    assert [p.amount for p in s.payments] == [2000, 7750]
    card_only = settle(9774, [Payment(PaymentType.CARD, 9774)])
    assert card_only.rounding == 0 and card_only.change == 0


def test_underpaid_and_card_overpay() -> None:
    with pytest.raises(Underpaid) as info:
        settle(10000, [Payment(PaymentType.CASH, 9000)])
    assert info.value.missing == 1000
    with pytest.raises(PaymentError, match="change is only given in cash"):
        settle(10000, [Payment(PaymentType.CARD, 10100)])
    with pytest.raises(Underpaid):
        settle(10000, [Payment(PaymentType.MOBILEPAY, 5000)])


def test_refund_settlement_is_negative() -> None:
    s = settle_refund(1165, [])
    assert [p.amount for p in s.payments] == [-1150] and s.rounding == 15
    s2 = settle_refund(1165, [Payment(PaymentType.CARD, 1165)])
    assert [p.amount for p in s2.payments] == [-1165] and s2.rounding == 0


def test_pins_are_slow_hashes() -> None:
    stored = hash_pin("1234")
    assert stored.startswith("scrypt$") and "1234" not in stored
    assert check_pin("1234", stored) and not check_pin("4321", stored)
    for bad in ("123", "1234567", "12a4"):
        with pytest.raises(ValueError):
            hash_pin(bad)


# --- package contents and unit prices (shelf labels) -------------------------------------------

@pytest.mark.parametrize(("text", "shown", "price", "unit_price"), [
    ("500 g", "500 g", 2495, (4990, "kg")),
    ("400g", "400 g", 2495, (6238, "kg")),  # 62.375 rounds half up
    ("1,5 l", "1,5 l", 1800, (1200, "l")),
    ("33 cl", "33 cl", 1000, (3030, "l")),
    ("330 ml", "330 ml", 1000, (3030, "l")),
    ("2 kg", "2 kg", 3000, (1500, "kg")),
    ("6 stk", "6 stk", 3000, (500, "stk")),
    ("0.75 L", "0,75 l", 6000, (8000, "l")),
])
def test_contents_and_unit_prices(text: str, shown: str, price: int, unit_price: tuple[int, str]) -> None:
    from appliance.domain.units import parse_content
    from appliance.domain.units import unit_price as per_unit
    content = parse_content(text)
    assert str(content) == shown
    assert per_unit(price, content) == unit_price


@pytest.mark.parametrize("text", ["", "g", "500", "500 pund", "0 g", "-1 l", "1,2345 kg", "1e3 g"])
def test_bad_contents_are_refused(text: str) -> None:
    from appliance.domain.units import ContentError, parse_content
    with pytest.raises(ContentError):
        parse_content(text)


def test_catalog_takes_an_optional_content_column_and_names_a_bad_one() -> None:
    from appliance.domain.catalog import CatalogError, parse_catalog_csv
    products = parse_catalog_csv("sku,barcode,name,price,vat_rate,group,content\n"
                                 "JAM,5701234567943,Syltetøj,24.95,25,Kolonial,400 g\n"
                                 "BAG,,Pose,1.00,25,Diverse,\n")
    assert [p.content for p in products] == ["400 g", None]
    with pytest.raises(CatalogError, match="line 3"):
        parse_catalog_csv("sku,barcode,name,price,vat_rate,group,content\n"
                          "JAM,5701234567943,Syltetøj,24.95,25,Kolonial,400 g\n"
                          "BAG,,Pose,1.00,25,Diverse,3 pund\n")


@pytest.mark.parametrize("percent", ["NaN", "sNaN", "-NaN", "Infinity", "-inf"])
def test_a_discount_percent_that_is_not_a_number_is_refused_as_such(percent: str) -> None:
    """Decimal takes these; comparing a NaN raises InvalidOperation, which must never escape."""
    with pytest.raises(BasketError, match="discount percent"):
        Discount.parse({"percent": percent})
