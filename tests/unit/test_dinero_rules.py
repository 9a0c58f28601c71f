"""The pure parts of the Dinero transfer: deterministic ids, the ledger item's shape and amounts,
and the account-mapping check."""

from __future__ import annotations

import uuid

from appliance.dinero.accounts import check_mapping
from appliance.dinero.ledger import amount, ledger_id, ledger_item, line_id

PLAN = [
    {"account": 1000, "vat_code": "U25", "amount": -1250005, "balancing_account": 55040,
     "balancing_vat_code": "none", "text": "Z 142 2026-03-14 kasse 1: salg 25% moms"},
    {"account": 55100, "vat_code": "none", "amount": 870001, "balancing_account": 55040,
     "balancing_vat_code": "none", "text": "Z 142 2026-03-14 kasse 1: betalingskort"},
]


def test_ids_are_deterministic_and_distinct() -> None:
    a = ledger_id("12345678", "1", 142, 1)
    assert a == ledger_id("12345678", "1", 142, 1)
    assert uuid.UUID(a).version == 5
    others = {ledger_id("12345678", "1", 142, 2), ledger_id("12345678", "2", 142, 1),
              ledger_id("87654321", "1", 142, 1), ledger_id("12345678", "1", 143, 1),
              ledger_id("12345678", "1", 142, 1, "reversal")}
    assert a not in others and len(others) == 5
    assert line_id(a, 0) != line_id(a, 1) and line_id(a, 0) == line_id(a, 0)


def test_amounts_are_exact_kroner() -> None:
    assert [amount(x) for x in (-1250005, 870001, 1, -50, 0)] == [-12500.05, 8700.01, 0.01, -0.5, 0.0]
    for ore in range(-100_000, 100_000, 7):
        assert round(amount(ore) * 100) == ore


def test_ledger_item_and_its_reversal() -> None:
    item_id = ledger_id("12345678", "1", 142, 1)
    item = ledger_item(item_id, "2026-03-14", PLAN, "guid-1")
    assert set(item) == {"Id", "VoucherDate", "FileGuid", "Lines"}
    assert item["Lines"][0] == {
        "Id": line_id(item_id, 0), "Description": "Z 142 2026-03-14 kasse 1: salg 25% moms",
        "Amount": -12500.05, "AccountNumber": 1000, "AccountVatCode": "U25",
        "BalancingAccountNumber": 55040, "BalancingAccountVatCode": "none"}
    back = ledger_item(ledger_id("12345678", "1", 142, 1, "reversal"), "2026-03-14", PLAN, None,
                       negate=True, prefix="Tilbageførsel: ")
    assert [ln["Amount"] for ln in back["Lines"]] == [12500.05, -8700.01]
    assert back["Lines"][1]["Description"].startswith("Tilbageførsel: Z 142")
    assert ledger_item(item_id, "2026-03-14", PLAN, None, version="AAA")["Version"] == "AAA"


ENTRY = [
    {"AccountNumber": 1000, "Name": "Salg af varer m/moms", "VatCode": "U25", "IsHidden": False},
    {"AccountNumber": 1010, "Name": "Salg af varer u/moms", "VatCode": "none", "IsHidden": False},
    {"AccountNumber": 1020, "Name": "Gammel salgskonto", "VatCode": "U25", "IsHidden": True},
    {"AccountNumber": 7380, "Name": "Kassedifferencer", "VatCode": "none", "IsHidden": False},
    {"AccountNumber": 7390, "Name": "Øreafrunding", "VatCode": "none", "IsHidden": False},
]
DEPOSIT = [
    {"AccountNumber": 55000, "Name": "Bank", "IsHidden": False},
    {"AccountNumber": 55040, "Name": "Kontanter", "IsHidden": False},
]
VAT = [{"VatCode": "U25", "Name": "Salgsmoms", "VatRate": 0.25},
       {"VatCode": "I25", "Name": "Købsmoms", "VatRate": 0.25},
       {"VatCode": "none", "Name": "Ingen moms", "VatRate": 0.0}]
GOOD = {"revenue:default": 1000, "revenue:Aviser": 1010, "cash": 55040, "bank": 55000,
        "differences": 7380, "rounding": 7390, "payment:card": 55000, "payment:mobilepay": 55000}
RATES = {"Mejeri": {25}, "Aviser": {0}}


def test_a_good_mapping_passes_and_accounts_may_be_shared() -> None:
    assert check_mapping(GOOD, RATES, ENTRY, DEPOSIT, VAT) == []


def test_each_kind_of_bad_account_is_named_with_its_reason() -> None:
    bad = {**GOOD, "revenue:default": 1010, "revenue:Aviser": 1020, "payment:card": 55100,
           "payment:mobilepay": 1000, "rounding": 9999}
    problems = {p.key: p for p in check_mapping(bad, RATES, ENTRY, DEPOSIT, VAT)}
    assert "not sales VAT" in problems["revenue:default"].reason
    assert "hidden" in problems["revenue:Aviser"].reason
    assert "does not exist" in problems["payment:card"].reason and problems["payment:card"].can_create
    assert "not a deposit account" in problems["payment:mobilepay"].reason
    assert not problems["payment:mobilepay"].can_create
    assert "does not exist" in problems["rounding"].reason
    assert set(problems) == {"revenue:default", "revenue:Aviser", "payment:card", "payment:mobilepay",
                             "rounding"}


def test_unmapped_keys_and_a_missing_u25_code() -> None:
    mapping = {k: v for k, v in GOOD.items() if k not in ("cash", "revenue:default")}
    problems = {p.key: p.reason for p in check_mapping(mapping, {"Mejeri": {25}}, ENTRY, DEPOSIT,
                                                       [v for v in VAT if v["VatCode"] != "U25"])}
    assert problems["cash"] == "not mapped"
    assert "not mapped" in problems["revenue:default"]
    assert "U25" in problems["vat"]


def test_a_card_brands_own_clearing_account_can_be_created_with_its_name() -> None:
    from appliance.dinero.accounts import clearing_name
    problems = {p.key: p for p in check_mapping({**GOOD, "payment:card:Visa": 55200}, RATES, ENTRY, DEPOSIT, VAT)}
    assert problems["payment:card:Visa"].can_create
    assert clearing_name("payment:card:Visa") == "Betalingskort Visa (clearing)"
    assert clearing_name("revenue:default") is None
