"""The cash screen: a no-sale with a reason, and cash out to the bank, by touches."""

from __future__ import annotations

import json

from tests.ui.conftest import query


def drawer_pulses(kiosk) -> int:
    log = kiosk.app.data_dir / "sim" / "drawer" / "drawer.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def last_entry(kiosk, kind: str):
    rows = query(kiosk, "SELECT nr, cashier, payload, amount_in FROM journal WHERE kind = ? "
                        "ORDER BY nr DESC LIMIT 1", kind)
    return rows[0] if rows else None


def type_amount(kiosk, text: str) -> None:
    for ch in text:
        kiosk.tap("pad-comma" if ch == "," else f"pad-{ch}")


def test_no_sale_with_a_reason_opens_the_drawer_and_is_journalled(kiosk) -> None:
    kiosk.login("anna", "1111")
    kiosk.tap("menu-toggle")
    kiosk.tap("menu-cash")
    assert kiosk.app.manager.current == "cash"
    before = query(kiosk, "SELECT COALESCE(MAX(nr), 0) FROM journal WHERE kind = 'drawer_open'")[0][0]
    pulses = drawer_pulses(kiosk)
    kiosk.tap("nosale-Kontrol")
    nr, cashier, payload, _amount = last_entry(kiosk, "drawer_open")
    assert nr > before and cashier == "anna"
    data = json.loads(payload)
    assert data["reason"] == "no_sale" and data["text"] == "Kontrol" and data["result"] == "pulsed"
    assert drawer_pulses(kiosk) == pulses + 1
    assert "Skuffen er åbnet" in kiosk.app.message and kiosk.app.message_level == "info"
    assert "Kontrol" in kiosk.app.screen("cash").last_text
    kiosk.tap("back")
    assert kiosk.app.manager.current == "sale"


def test_cash_out_to_bank_is_journalled_and_lowers_the_expected_cash(kiosk) -> None:
    from appliance.services.closing import x_figures
    kiosk.login("bo", "2222")
    kiosk.app.show("cash")
    kiosk.settle()
    screen = kiosk.app.screen("cash")
    expected_before = kiosk.app.backend.run(lambda t: x_figures(t).cash_expected)
    pulses = drawer_pulses(kiosk)
    kiosk.tap("cash-out")
    assert screen.ids.text.text == "Til bank"
    screen.ids.text.text = "Til bank, eftermiddag"
    type_amount(kiosk, "150,5")
    assert screen.ids.amount.text == "150,5 kr."
    kiosk.tap("cash-register")
    nr, cashier, payload, amount = last_entry(kiosk, "cash_out")
    assert cashier == "bo" and amount == 15050
    assert json.loads(payload) == {"amount": 15050, "text": "Til bank, eftermiddag"}
    [(drawer,)] = query(kiosk, "SELECT payload FROM journal WHERE kind = 'drawer_open' AND nr > ? "
                               "ORDER BY nr LIMIT 1", nr)
    assert json.loads(drawer) == {"reason": "cash_out", "result": "pulsed", "ref": nr}
    assert drawer_pulses(kiosk) == pulses + 1
    assert "Udbetaling til bank på 150,50 kr. er registreret" in kiosk.app.message
    expected_after = kiosk.app.backend.run(lambda t: x_figures(t).cash_expected)
    assert expected_after == expected_before - 15050
    from appliance.domain.money import format_dkk
    assert screen.ids.expected.text == format_dkk(expected_after)
    assert screen.ids.pad.text == ""


def test_cash_out_refusals_are_in_danish(kiosk) -> None:
    from appliance.domain.money import format_dkk
    from appliance.services.closing import x_figures
    kiosk.login("bo", "2222")
    kiosk.app.show("cash")
    kiosk.settle()
    screen = kiosk.app.screen("cash")
    before = query(kiosk, "SELECT COUNT(*) FROM journal WHERE kind = 'cash_out'")[0][0]
    kiosk.tap("cash-register")  # no amount
    assert "Tast et beløb" in kiosk.app.message and kiosk.app.message_level == "error"
    type_amount(kiosk, "10")
    screen.ids.text.text = ""
    kiosk.tap("cash-register")  # no text
    assert "Skriv hvad pengene" in kiosk.app.message
    in_drawer = kiosk.app.backend.run(lambda t: x_figures(t).cash_expected)
    screen.ids.text.text = "Til bank"
    type_amount(kiosk, "0000000")  # 100.000.000 kr: more than the drawer holds
    kiosk.tap("cash-register")
    assert f"Der er kun {format_dkk(in_drawer)} i skuffen" in kiosk.app.message
    assert query(kiosk, "SELECT COUNT(*) FROM journal WHERE kind = 'cash_out'")[0][0] == before


def test_cash_in_and_opening_float(kiosk) -> None:
    kiosk.login("anna", "1111")
    kiosk.app.show("cash")
    kiosk.settle()
    kiosk.tap("cash-in")
    type_amount(kiosk, "25")
    kiosk.tap("cash-register")
    _nr, _who, payload, amount = last_entry(kiosk, "cash_in")
    assert amount == 2500 and json.loads(payload)["amount"] == 2500
    kiosk.tap("cash-float")
    assert kiosk.app.screen("cash").ids.text.text == "Startbeholdning"
    type_amount(kiosk, "100")
    kiosk.tap("cash-register")
    _nr, _who, payload, amount = last_entry(kiosk, "cash_float")
    assert amount == 10000 and json.loads(payload)["text"] == "Startbeholdning"
