"""Card brands to accounts of their own: payment:card:<brand> when the shop has one, payment:card for
the rest; the plan still balances and moves the same cash; set-up accepts (and removes) the keys."""

from __future__ import annotations

from datetime import datetime

import pytest

from appliance.domain.journal import Entry, canonical_json
from appliance.domain.posting import AccountMap, cash_effect, posting_plan
from appliance.domain.reports import ReportContext, build_report
from appliance.services.till import TZ

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=TZ)
BASE = {"revenue:default": 1000, "cash": 55040, "bank": 55000, "differences": 7380, "rounding": 7390,
        "payment:card": 55100, "payment:mobilepay": 55110}


def sale(nr: int, *payments: dict, kind: str = "sale") -> Entry:
    total = sum(p["amount"] for p in payments)
    vat = total // 5
    data = {"total": total, "rounding": 0, "payments": list(payments),
            "vat": {"25": {"gross": total, "net": total - vat, "vat": vat}},
            "lines": [{"group": "Mejeri", "vat_rate": 25, "total": total, "line_discount": 0,
                       "basket_discount": 0}]}
    return Entry(nr, T0, "1", "anna", kind, total, total, canonical_json(data))


def card(amount: int, brand: str | None) -> dict:
    return {"type": "card", "amount": amount, **({"brand": brand} if brand else {})}


ENTRIES = [sale(1, card(10000, "Dankort")), sale(2, card(5000, "Visa")), sale(3, card(2500, "Mastercard")),
           sale(4, card(-1000, "Visa"), kind="return"), sale(5, card(700, None)),
           sale(6, {"type": "mobilepay", "amount": 300, "brand": "MobilePay"}),
           sale(7, {"type": "cash", "amount": 2000})]


def report():
    ctx = ReportContext(kind="Z", number=1, register_id="1", business_date="2026-11-20",
                        period_start=T0.isoformat(), period_end=T0.isoformat(), counted=2000)
    return build_report(ctx, ENTRIES)


def by_account(lines: list[dict]) -> dict[int | None, int]:
    out: dict[int | None, int] = {}
    for ln in lines:
        out[ln["account"]] = out.get(ln["account"], 0) + ln["amount"]
    return out


def test_without_brand_accounts_all_card_goes_to_payment_card() -> None:
    lines, missing = posting_plan(report(), AccountMap(BASE))
    assert missing == []
    assert by_account(lines)[55100] == 10000 + 5000 + 2500 - 1000 + 700
    assert not any("Visa" in ln["text"] for ln in lines)


def test_brands_with_an_account_go_there_and_the_rest_to_payment_card() -> None:
    accounts = {**BASE, "payment:card:Dankort": 55101, "payment:card:Visa": 55102}
    lines, missing = posting_plan(report(), AccountMap(accounts))
    assert missing == []
    amounts = by_account(lines)
    assert amounts[55101] == 10000 and amounts[55102] == 4000          # Visa net of its refund
    assert amounts[55100] == 2500 + 700                                 # Mastercard and the unbranded one
    texts = {ln["account"]: ln["text"] for ln in lines}
    assert texts[55101].endswith("betalingskort Dankort") and texts[55102].endswith("betalingskort Visa")
    assert texts[55100].endswith("betalingskort")
    assert amounts[55110] == 300                                         # MobilePay's brand is not a card brand
    # balanced against cash, and the same cash as without brand accounts
    assert all(ln["balancing_account"] == 55040 for ln in lines)
    plain, _ = posting_plan(report(), AccountMap(BASE))
    assert cash_effect(lines, 55040) == cash_effect(plain, 55040) == 2000
    assert sum(ln["amount"] for ln in lines) == sum(ln["amount"] for ln in plain)


def test_every_brand_on_its_own_account_needs_no_payment_card_account() -> None:
    entries = [sale(1, card(10000, "Dankort")), sale(2, card(5000, "Visa"))]
    ctx = ReportContext(kind="Z", number=1, register_id="1", business_date="2026-11-20",
                        period_start=T0.isoformat(), period_end=T0.isoformat(), counted=0)
    accounts = {k: v for k, v in BASE.items() if k != "payment:card"}
    accounts.update({"payment:card:Dankort": 55101, "payment:card:Visa": 55102})
    lines, missing = posting_plan(build_report(ctx, entries), AccountMap(accounts))
    assert missing == [] and by_account(lines) == {1000: -15000, 55101: 10000, 55102: 5000}
    # a brand without its own account still needs payment:card, which is then missing
    lines, missing = posting_plan(build_report(ctx, [*entries, sale(3, card(100, "Mastercard"))]),
                                  AccountMap(accounts))
    assert missing == ["payment:card"]
    assert [ln["amount"] for ln in lines if ln["account"] is None] == [100]


def test_a_brand_that_nets_to_zero_posts_nothing() -> None:
    entries = [sale(1, card(5000, "Visa")), sale(2, card(-5000, "Visa"), kind="return")]
    ctx = ReportContext(kind="Z", number=1, register_id="1", business_date="2026-11-20",
                        period_start=T0.isoformat(), period_end=T0.isoformat(), counted=0)
    lines, missing = posting_plan(build_report(ctx, entries), AccountMap({**BASE, "payment:card:Visa": 55102}))
    assert lines == [] and missing == []


def test_setup_accepts_brand_keys_and_removes_them(till) -> None:
    from appliance.services.closing import close_day, z_posting_plan
    from appliance.services.selling import sell
    from appliance.services.setup import SetupError, clear_account, set_account
    from appliance.store.settings import accounts
    set_account(till, "payment:card:Visa", "55102")
    set_account(till, "payment:card:American Express", 55103)
    with pytest.raises(SetupError, match="unknown account key"):
        set_account(till, "payment:card:", 1)
    with pytest.raises(SetupError, match="unknown account key"):
        set_account(till, "payment:cards:Visa", 1)
    with pytest.raises(SetupError, match="only a card brand"):
        clear_account(till, "payment:card")
    assert accounts(till.conn)["payment:card:Visa"] == 55102
    sell(till, {"cashier": "anna", "lines": [{"sku": "BUTTER"}],
                "payments": [{"type": "card", "amount": "24.50", "brand": "Visa", "reference": "X1"}]})
    z = close_day(till, "0.00")
    plan = {ln["account"]: ln["amount"] for ln in z["posting_plan"]}
    assert plan[55102] == "24.50" and 55100 not in plan
    # removed: the same Z, posted again under today's mapping, goes to payment:card
    assert clear_account(till, "payment:card:Visa") is True
    assert clear_account(till, "payment:card:Visa") is False
    lines, missing, _ = z_posting_plan(till, z["z_number"])
    assert {ln["account"]: ln["amount"] for ln in lines}[55100] == 2450 and missing == []
    [change] = [p for (p,) in till.conn.execute(
        "SELECT payload FROM journal WHERE kind = 'settings_change' ORDER BY nr DESC LIMIT 1")]
    assert '"to":null' in change and "payment:card:Visa" in change


def test_the_dinero_check_takes_a_brand_account_as_a_clearing_account() -> None:
    from appliance.dinero.accounts import check_mapping
    entry = [{"AccountNumber": 1000, "Name": "Salg", "VatCode": "U25"},
             {"AccountNumber": 7380, "Name": "Diff"}, {"AccountNumber": 7390, "Name": "Øre"}]
    deposit = [{"AccountNumber": n, "Name": str(n)} for n in (55040, 55000, 55100, 55110, 55101)]
    vat = [{"VatCode": "U25", "VatRate": 0.25}]
    ok = {**BASE, "payment:card:Dankort": 55101}
    assert check_mapping(ok, {"Mejeri": {25}}, entry, deposit, vat) == []
    [problem] = check_mapping({**ok, "payment:card:Visa": 1000}, {"Mejeri": {25}}, entry, deposit, vat)
    assert problem.key == "payment:card:Visa" and "not a deposit account" in problem.reason
