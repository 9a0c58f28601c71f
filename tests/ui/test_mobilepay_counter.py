"""MobilePay at the counter, against the MobilePay simulator the demo shop runs (the ePayment API over
HTTP; its simulated customer approves on the phone after two seconds, declines for a number ending
in 00): the phone number typed, the customer's code scanned, the till's QR shown, a cancel, a decline,
and a MobilePay sale returned (the money goes back through MobilePay before the return is written)."""

from __future__ import annotations

import json

from tests.ui.conftest import query
from tests.ui.test_payment import last_sale, odd_product, to_payment


def outcomes(kiosk, n: int) -> list[dict]:
    return [json.loads(p) for (p,) in query(
        kiosk, "SELECT payload FROM journal WHERE kind = 'payment_outcome' ORDER BY nr DESC LIMIT ?", n)]


def open_mobilepay(kiosk) -> object:
    kiosk.tap("tender-mobilepay", settle=False)
    screen = kiosk.app.screen("payment")
    assert screen.card_waiting and screen.dialog_mode == "mp_entry"
    return screen


def wait_done(kiosk, screen) -> None:
    kiosk.until(lambda: not screen.card_waiting, timeout=30, what="MobilePay's answer")
    kiosk.settle()


def type_phone(kiosk, digits: str) -> None:
    for d in digits:
        kiosk.tap(f"mp-{d}", settle=False)


def test_a_phone_number_typed_pays_and_the_sale_completes(kiosk) -> None:
    code, price = odd_product(kiosk, min_price=1000)
    to_payment(kiosk, code)
    screen = open_mobilepay(kiosk)
    type_phone(kiosk, "1234")
    kiosk.tap("mp-send", settle=False)
    assert "8 cifre" in screen.dialog_status and screen.dialog_mode == "mp_entry"  # not sent
    type_phone(kiosk, "5678")
    assert "12345678" in screen.dialog_status
    kiosk.tap("mp-send", settle=False)
    kiosk.until(lambda: screen.dialog_mode == "mp_wait", what="the request to reach the phone")
    assert "telefon" in screen.dialog_status and screen.mp_qr_url == ""
    wait_done(kiosk, screen)
    assert kiosk.app.manager.current == "sale"  # MobilePay covered it all: the sale completed itself
    _number, sale = last_sale(kiosk)
    [paid] = sale["payments"]
    assert (paid["type"], paid["amount"], paid["brand"]) == ("mobilepay", price, "MobilePay")
    approved, captured = outcomes(kiosk, 2)  # newest first: the capture is journalled before the payment
    assert approved["service_id"] == paid["reference"] and approved["state"] == "approved"
    assert captured["service_id"] == f"{paid['reference']}/capture"


def test_the_customers_code_scanned_and_the_tills_qr(kiosk) -> None:
    code, price = odd_product(kiosk, min_price=1500)
    to_payment(kiosk, code, times=2)
    screen = open_mobilepay(kiosk)
    kiosk.scan("https://qr.mobilepay.dk/box/0f7a1b2c-0000-4d1e-9f00-123456789abc/pos")  # the app's code
    kiosk.until(lambda: screen.dialog_mode == "mp_wait", what="the scanned code's request")
    wait_done(kiosk, screen)
    _number, sale = last_sale(kiosk)
    assert [(p["type"], p["amount"]) for p in sale["payments"]] == [("mobilepay", 2 * price)]
    # a second basket paid from the QR the till shows
    code, price = odd_product(kiosk, min_price=1500)
    to_payment(kiosk, code)
    screen = open_mobilepay(kiosk)
    kiosk.tap("mp-qr", settle=False)
    kiosk.until(lambda: screen.mp_qr_url, what="the QR to show")
    assert screen.mp_qr_url.startswith("http") and "scanner" in screen.dialog_status
    wait_done(kiosk, screen)
    assert kiosk.app.manager.current == "sale"


def test_a_decline_and_a_cancel_leave_nothing_on_the_basket(kiosk) -> None:
    code, _price = odd_product(kiosk, min_price=1000)
    to_payment(kiosk, code)
    screen = open_mobilepay(kiosk)
    type_phone(kiosk, "12345600")  # the simulated customer declines
    kiosk.tap("mp-send", settle=False)
    wait_done(kiosk, screen)
    assert screen.tenders == [] and "ikke gennemført" in kiosk.app.message
    assert outcomes(kiosk, 1)[0]["state"] == "declined"
    screen = open_mobilepay(kiosk)
    type_phone(kiosk, "12345699")  # this customer never answers: the cashier cancels
    kiosk.tap("mp-send", settle=False)
    kiosk.until(lambda: screen.dialog_mode == "mp_wait", what="the request")
    kiosk.tap("card-cancel", settle=False)
    wait_done(kiosk, screen)
    assert screen.tenders == []
    cancelled = [o for o in outcomes(kiosk, 3) if o["state"] == "declined"]
    assert cancelled, "the cancelled payment is journalled as not paid"
    kiosk.tap("back")


def test_a_mobilepay_sale_returned_goes_back_through_mobilepay(kiosk) -> None:
    code, price = odd_product(kiosk, min_price=1000)
    to_payment(kiosk, code)
    screen = open_mobilepay(kiosk)
    type_phone(kiosk, "22334455")
    kiosk.tap("mp-send", settle=False)
    wait_done(kiosk, screen)
    number, sale = last_sale(kiosk)
    reference = sale["payments"][0]["reference"]
    kiosk.scan(f"R{number}")
    returns = kiosk.app.screen("returns")
    kiosk.until(lambda: returns.original is not None, what="the receipt to load")
    kiosk.tap("return-all")
    kiosk.tap("refund")
    kiosk.until(lambda: len(returns.earlier) == 1, what="the return")
    [back] = [json.loads(p) for (p,) in query(
        kiosk, "SELECT j.payload FROM receipts r JOIN journal j ON j.nr = r.journal_nr "
               "WHERE r.original_receipt = ?", number)]
    assert back["payments"] == [{"type": "mobilepay", "amount": -price, "brand": "MobilePay",
                                 "reference": reference}]
    refund = json.loads(query(kiosk, "SELECT payload FROM journal WHERE kind = 'payment_intent' "
                                     "ORDER BY nr DESC LIMIT 1")[0][0])
    assert refund["kind"] == "refund" and refund["original"] == reference and refund["amount"] == price
    assert outcomes(kiosk, 1)[0]["state"] == "approved"
    kiosk.tap("back")
