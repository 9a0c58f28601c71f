"""The declared schemas every request and file passes through (appliance/requests): what they take,
what they refuse, and that a refusal is one line that never repeats a secret."""

from __future__ import annotations

import json
import math

import pytest

from appliance.requests import MAX_AMOUNT_ORE, MAX_LINES, RequestError, kroner_text
from appliance.requests.cash import cash_move
from appliance.requests.close import close_day_request
from appliance.requests.devices import device_spec, label_layout
from appliance.requests.files import catalog_row, secrets_record
from appliance.requests.sale import return_request, sale_request
from appliance.requests.settings import account_setting, cashier_setting
from appliance.services.selling import SaleError, sell

from ..conftest import journal_count

SALE = {"cashier": "anna", "lines": [{"sku": "MILK"}], "payments": [{"type": "card", "amount": "12.95"}]}


def sale(**changes: object) -> dict:
    return {**SALE, **changes}


def refused(data: object, needle: str, schema=sale_request) -> str:
    with pytest.raises(RequestError) as err:
        schema(data)
    message = str(err.value)
    assert "\n" not in message and needle in message, message
    return message


def test_the_readme_sale_request_is_taken_and_comes_out_in_the_services_one_form() -> None:
    out = sale_request({
        "cashier": "anna", "pin": "1234",
        "lines": [{"barcode": "5701234567899", "qty": 1}, {"sku": "BREAD", "qty": 2, "discount": {"percent": 10}},
                  {"sku": "CHEESE", "weight_g": 350}, {"sku": "CANDY", "price": "10,00"}, {"sku": "X", "void": True}],
        "discount": {"amount": "5.00"},
        "payments": [{"type": "cash", "amount": "100,00"}, {"type": "card", "amount": "20.00", "brand": "Dankort"}],
        "manager": {"id": "bo", "pin": "9999"}, "training": True, "print_receipt": False})
    assert out["payments"] == [{"type": "cash", "amount": "100.00"},
                               {"type": "card", "amount": "20.00", "brand": "Dankort"}]
    assert out["lines"][1]["discount"] == {"percent": "10"} and out["lines"][3]["price"] == "10.00"
    assert out["lines"][2] == {"sku": "CHEESE", "weight_g": 350} and out["lines"][4]["void"] is True
    assert out["discount"] == {"amount": "5.00"} and out["training"] is True and out["print_receipt"] is False
    assert out["manager"] == {"id": "bo", "pin": "9999"} and out["pin"] == "1234"


def test_kroner_with_a_comma_or_a_dot_and_whole_ore_for_a_discount() -> None:
    assert kroner_text("12,50") == kroner_text("12.50") == kroner_text(" 12.5 ") == 1250
    # the kiosk's basket sends a fixed discount as whole øre (Discount.to_dict): 500 øre is 5 kr.
    assert sale_request(sale(discount={"amount": 500}))["discount"] == {"amount": "5.00"}


@pytest.mark.parametrize("value,needle", [
    ("no", "training"), ("yes", "training"), (1, "training"), (0, "training"), ("true", "training"),
])
def test_training_must_be_true_or_false_never_text_or_a_number(value: object, needle: str) -> None:
    refused(sale(training=value), needle)
    refused(sale(print_receipt=value), "print_receipt")


@pytest.mark.parametrize("amount", [
    12.95, math.nan, math.inf, -math.inf, True, None, 1295, "NaN", "nan", "inf", "Infinity", "1e3",
    "１２.９５", "12.9５", "١٢", "12,950", "1.234,50", "12,5,0", "", " ", "0x10", "12.-", "+-1",
])
def test_a_payment_amount_that_is_not_plain_kroner_text_is_refused(amount: object) -> None:
    refused(sale(payments=[{"type": "card", "amount": amount}]), "payments[0].amount")


def test_amounts_past_the_ceiling_are_refused_and_the_ceiling_is_taken() -> None:
    top = f"{MAX_AMOUNT_ORE // 100}.00"
    assert sale_request(sale(payments=[{"type": "cash", "amount": top}]))["payments"][0]["amount"] == top
    msg = refused(sale(payments=[{"type": "cash", "amount": f"{MAX_AMOUNT_ORE // 100}.01"}]), "ceiling")
    assert "1.000.000,00 kr." in msg
    refused(sale(lines=[{"sku": "MILK", "price": "99999999999"}]), "ceiling")
    refused(sale(discount={"amount": MAX_AMOUNT_ORE + 1}), "ceiling")


def test_too_many_lines_or_none_are_refused() -> None:
    assert len(sale_request(sale(lines=[{"sku": "MILK"}] * MAX_LINES))["lines"]) == MAX_LINES
    refused(sale(lines=[{"sku": "MILK"}] * (MAX_LINES + 1)), "lines")
    refused(sale(lines=[]), "lines")
    refused(sale(payments=[]), "payments")


@pytest.mark.parametrize("weight", ["350", 350.0, 0, -5, 100_001, True, "３５０"])
def test_a_weight_is_whole_grams_only(weight: object) -> None:
    refused(sale(lines=[{"sku": "CHEESE", "weight_g": weight}]), "weight")


@pytest.mark.parametrize("qty,needle", [("2", "quantity"), (2.0, "quantity"), (0, "quantity"),
                                        (1000, "quantity"), (False, "quantity")])
def test_a_quantity_is_a_whole_number_in_range(qty: object, needle: str) -> None:
    refused(sale(lines=[{"sku": "MILK", "qty": qty}]), needle)


@pytest.mark.parametrize("data,needle", [
    ({**SALE, "colour": "red"}, "not a known field"),
    ({**SALE, "lines": [{"sku": "MILK", "qtty": 2}]}, "lines[0].qtty"),
    ({**SALE, "lines": [{"sku": "MILK", "barcode": "5701234567899"}]}, "one of them"),
    ({**SALE, "lines": [{"qty": 1}]}, "one of them"),
    ({**SALE, "lines": ["MILK"]}, "lines[0]"),
    ({**SALE, "payments": [{"type": "bitcoin", "amount": "1.00"}]}, "payments[0].type"),
    ({**SALE, "payments": [{"type": "cash", "amount": "0.00"}]}, "positive"),
    ({**SALE, "discount": {"percent": 10, "amount": "1.00"}}, "one of them"),
    ({**SALE, "discount": {"percent": 120}}, "at most 100"),
    ({**SALE, "discount": {"percent": 12.5}}, "percent"),
    ({**SALE, "discount": {"percent": "１０"}}, "percent"),
    ({**SALE, "pin": 1234}, "PIN"),
    ({**SALE, "pin": "１２３４"}, "PIN"),
    ({**SALE, "manager": {"id": "bo"}}, "manager.pin"),
    ({**SALE, "cashier": "anna\n"}, "cashier"),
    ({**SALE, "cashier": ""}, "cashier"),
    ([SALE], "sale"),
    ("sale", "sale"),
])
def test_malformed_sales_are_refused_naming_the_field(data: object, needle: str) -> None:
    refused(data, needle)


def test_returns_take_line_numbers_or_skus_and_refuse_the_rest() -> None:
    assert return_request({"cashier": "anna", "lines": [{"line_no": 1}, {"sku": "BREAD", "qty": 2}]})["lines"] == [
        {"line_no": 1}, {"sku": "BREAD", "qty": 2}]
    refused({"cashier": "anna", "lines": [{"line_no": "1"}]}, "line number", return_request)
    refused({"cashier": "anna", "lines": [{"line_no": 1, "sku": "X"}]}, "one of them", return_request)
    refused({"cashier": "anna", "lines": [{"sku": "X", "price": "1.00"}]}, "not a known field", return_request)


def test_the_service_refuses_before_writing_and_says_so_as_a_sale_error(till) -> None:
    before = journal_count(till)
    with pytest.raises(SaleError, match="training"):
        sell(till, sale(training="no"))
    with pytest.raises(SaleError, match="two decimals"):
        sell(till, sale(payments=[{"type": "card", "amount": "12.999"}]))
    assert journal_count(till) == before
    assert sell(till, sale(payments=[{"type": "card", "amount": "12,95"}]))["total"] == "12.95"


def test_cash_and_close_day() -> None:
    assert cash_move("float", "500,00").amount == 50_000
    for args, needle in ((("in", "0"), "positive"), (("in", "５"), "digits"), (("out", "5.00", ""), "text"),
                         (("sideways", "5.00"), "direction"), (("in", "5.00", "x" * 201), "longer"),
                         (("in", "5.00", "a\x00b"), "control")):
        with pytest.raises(RequestError, match=needle):
            cash_move(*args)
    assert close_day_request("1234,50", "1000").plain() == {
        "counted_cash": "1234.50", "to_bank": "1000.00", "denominations": None}
    assert close_day_request(None, None, "500:2, 0.50:4").plain()["denominations"] == "500:2,0.50:4"
    for args, needle in ((("-1",), "negative"), (("10", "20"), "more to the bank"), ((None,), "counted"),
                         ((None, None, "500:２"), "VALUE:COUNT"), ((None, None, "500:2:1"), "VALUE:COUNT")):
        with pytest.raises(RequestError, match=needle):
            close_day_request(*args)


def test_settings_accounts_and_cashiers() -> None:
    assert account_setting("cash", "55040").number == 55040 and account_setting("cash", 1000).number == 1000
    for number in ("５５０４０", "-5", "0", "1e3", 12.0, True, "1234567890"):
        with pytest.raises(RequestError, match="account"):
            account_setting("cash", number)
    assert cashier_setting("anna", "Anna Ø", "cashier", "1234").role == "cashier"
    for args in (("anna", "A", "boss", "1234"), ("anna", "A", "cashier", "１２３４"), ("an na", "A", "cashier", "1234"),
                 ("anna", "A", "cashier", "1234\n"), ("anna", "A", "cashier", 1234)):
        with pytest.raises(RequestError):
            cashier_setting(*args)


def test_catalog_rows() -> None:
    row = {"sku": "MILK", "barcode": "5701234567899", "name": "Sødmælk", "price": "12,95", "vat_rate": "25",
           "group": "Mejeri"}
    assert catalog_row(row)["price"] == "12.95"
    for change, needle in (({"price": "１２.95"}, "price"), ({"vat_rate": "２５"}, "VAT"),
                           ({"price": "NaN"}, "price"), ({"price": "200000.00"}, "price"),
                           ({"barcode": "５７０１２３４５６７８９９"}, "barcode"), ({"price": ""}, "price")):
        with pytest.raises(RequestError, match=needle):
            catalog_row({**row, **change})


def test_device_specs_and_the_label_layout() -> None:
    assert device_spec("drawer", {"kind": "printer_kick", "pin": 2, "pulse_ms": 200})["pin"] == 2
    for role, spec, needle in (
            ("drawer", {"kind": "printer_kick", "pulse_ms": "200"}, "pulse_ms"),
            ("drawer", {"kind": "printer_kick", "pulse_ms": 200.0}, "pulse_ms"),
            ("drawer", {"kind": "gpio", "chip": "x", "line": True}, "line"),
            ("terminal", {"kind": "sim", "dir": "/tmp/x", "delay_s": math.nan}, "finite"),
            ("terminal", {"kind": "sim", "dir": "/tmp/x", "delay_s": "1"}, "delay_s"),
            ("printer", {"kind": "laser"}, "kind"),
            ("printer", {"kind": "sim", "dir": {"nested": 1}}, "dir"),
            ("scanner", ["sim"], "object"),
            ("coffee", {"kind": "sim"}, "role")):
        with pytest.raises(RequestError, match=needle):
            device_spec(role, spec)
    assert label_layout({"width_mm": 62, "height_mm": 29.5, "dpi": 300})["dpi"] == 300
    with pytest.raises(RequestError, match="dpi"):
        label_layout({"dpi": "300"})


def test_a_secrets_file_is_refused_without_its_values_in_the_message() -> None:
    good = {"kind": "personal", "client_id": "c", "client_secret": "s3cr3t-value", "api_key": "k",
            "org_id": 123, "access_token_expires_at": 1_700_000_000.5}
    assert secrets_record("dinero", good) == good
    for name, data in (("dinero", {**good, "kind": "hacker-s3cr3t"}), ("dinero", {**good, "org_id": "s3cr3t"}),
                       ("terminal", {"passphrase": ["s3cr3t"]}), ("terminal", {"key_version": "s3cr3t"}),
                       ("mobilepay", {"client_secret": 42.5, "subscription_key": "s3cr3t\n"}),
                       ("mobilepay", {"s3cr3t key": "x"}), ("dinero", ["s3cr3t"]),
                       ("terminal", {"passphrase": "s3cr3t", "n": math.inf})):
        with pytest.raises(RequestError) as err:
            secrets_record(name, data)
        assert "s3cr3t" not in str(err.value) and "\n" not in str(err.value), str(err.value)
        assert f"secrets/{name}.json" in str(err.value)


def test_the_token_store_refuses_a_file_that_does_not_fit_its_schema(tmp_path) -> None:
    from appliance.dinero.tokens import LoginNeeded, TokenStore
    store = TokenStore(tmp_path, "terminal")
    store.save({"passphrase": "long enough", "key_id": "sim", "key_version": 1})
    assert store.load() == {"passphrase": "long enough", "key_id": "sim", "key_version": 1}
    store.path.write_text(json.dumps({"passphrase": "long enough", "key_version": "1"}))
    with pytest.raises(LoginNeeded, match="key_version"):
        store.load()
    store.path.write_text('{"passphrase": NaN}')
    with pytest.raises(LoginNeeded, match="unreadable"):
        store.load()
