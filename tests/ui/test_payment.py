"""The payment screen driven by touches: a cash sale with change and the 0,50 rounding, a split
card + cash sale, an underpaid attempt refused, and "no receipt"; each checks the screen and the
receipt, journal, print job, sim printer and drawer log behind it."""

from __future__ import annotations

import json
import re

from appliance.domain.money import format_dkk, round_cash
from tests.ui.conftest import query


def odd_product(kiosk, min_price: int = 200) -> tuple[str, int]:
    """A scannable product whose price is not a whole 50 øre (so cash rounding shows)."""
    [(code, price)] = query(kiosk, "SELECT b.code, p.price FROM barcodes b JOIN products p ON p.sku = b.sku "
                                   "WHERE p.price % 50 <> 0 AND p.price > ? AND p.price < 40000 "
                                   "AND b.code LIKE '570%' ORDER BY p.sku LIMIT 1", min_price)
    return code, price


def last_sale(kiosk) -> tuple[int, dict]:
    [(number, payload)] = query(kiosk, "SELECT r.receipt_number, j.payload FROM receipts r JOIN journal j "
                                       "ON j.nr = r.journal_nr ORDER BY r.receipt_number DESC LIMIT 1")
    return number, json.loads(payload)


def receipt_count(kiosk) -> int:
    return query(kiosk, "SELECT COUNT(*) FROM receipts")[0][0]


def drawer_lines(kiosk) -> int:
    log = kiosk.app.data_dir / "sim" / "drawer" / "drawer.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def to_payment(kiosk, code: str, times: int = 1) -> None:
    kiosk.login("anna", "1111")
    for n in range(times):
        scan(kiosk, code, n + 1)
    kiosk.tap("pay")
    assert kiosk.app.manager.current == "payment", kiosk.app.message


def scan(kiosk, code: str, lines: int) -> None:
    """A scan, waited for until its line is in the basket (Driver.scan can return before the
    UI's 20 ms event tick has taken the scan off the queue)."""
    kiosk.scan(code)
    kiosk.until(lambda: len(kiosk.app.session.basket.lines) == lines, what="the scanned line")


def type_amount(kiosk, text: str) -> None:
    for ch in text:
        kiosk.tap("pad-comma" if ch == "," else f"pad-{ch}")


def test_cash_sale_with_change_and_rounding(kiosk) -> None:
    code, price = odd_product(kiosk)
    to_payment(kiosk, code)
    screen = kiosk.app.screen("payment")
    rounded = round_cash(price)
    assert screen.ids.due.value == format_dkk(price)
    assert format_dkk(rounded - price).lstrip("-") in screen.ids.rounding.text  # the 0,50 rounding shown
    assert screen.ids.rest.value == format_dkk(price)
    customers = kiosk.app.session.customers
    drawer_before = drawer_lines(kiosk)
    type_amount(kiosk, "500")
    kiosk.tap("tender-cash")  # covers it: the sale completes by itself

    number, sale = last_sale(kiosk)
    assert sale["kind"] == "sale" and sale["total"] == price
    assert sale["payments"] == [{"type": "cash", "amount": rounded}]
    assert sale["rounding"] == rounded - price and sale["rounding"] != 0
    assert sale["cash_tendered"] == 50000 and sale["change"] == 50000 - rounded
    # the screen: back to a new sale, the change in the message, one more customer
    assert kiosk.app.manager.current == "sale"
    assert f"Byttepenge: {format_dkk(50000 - rounded)}" in kiosk.app.message
    assert not kiosk.app.session.basket.lines and kiosk.app.session.customers == customers + 1
    # the drawer opened (sim log line + journal), the receipt printed through the queue
    assert drawer_lines(kiosk) == drawer_before + 1
    [(opened,)] = query(kiosk, "SELECT payload FROM journal WHERE kind = 'drawer_open' ORDER BY nr DESC LIMIT 1")
    assert json.loads(opened)["ref"] == number
    kiosk.until(lambda: query(kiosk, "SELECT state FROM print_jobs WHERE kind = 'receipt' AND ref = ?",
                              number) == [("printed",)], what="the receipt to print")
    mark = re.compile(rf"Bon nr\. {number}\b")
    printed = [p for p in (kiosk.app.data_dir / "sim" / "printer").glob("*.txt")
               if mark.search(p.read_text(encoding="utf-8"))]
    assert len(printed) == 1
    assert format_dkk(50000 - rounded, suffix=False) in printed[0].read_text(encoding="utf-8")


def test_split_card_and_cash_sale(kiosk) -> None:
    code, price = odd_product(kiosk, min_price=1500)
    to_payment(kiosk, code, times=2)
    total = 2 * price
    drawer_before = drawer_lines(kiosk)
    # a card payment cancelled at the terminal leaves nothing behind
    type_amount(kiosk, "10")
    kiosk.tap("tender-card", settle=False)  # the customer takes a moment: the dialog is up
    screen = kiosk.app.screen("payment")
    assert screen.card_waiting
    kiosk.tap("card-cancel", settle=False)  # an Abort to the (simulated) terminal, which answers Aborted
    kiosk.until(lambda: not screen.card_waiting, what="the aborted payment's answer")
    assert screen.tenders == []
    assert "annulleret" in kiosk.app.message
    # 10 kr. on the card (the customer taps it on the terminal), the rest exactly in cash
    type_amount(kiosk, "10")
    kiosk.tap("tender-card")
    kiosk.until(lambda: not screen.card_waiting, what="the card payment")
    assert kiosk.app.manager.current == "payment"
    assert [t["type"] for t in screen.tenders] == ["card"]
    card = dict(screen.tenders[0])
    assert card["reference"]  # the terminal's transaction id
    assert screen.ids.rest.value == format_dkk(total - 1000)
    assert f"Kontant: {format_dkk(round_cash(total - 1000))}" in screen.ids.rounding.text
    kiosk.tap("quick-exact")

    number, sale = last_sale(kiosk)
    assert sale["total"] == total
    assert sale["payments"] == [{"type": "card", "amount": 1000, "brand": card["brand"],
                                 "reference": card["reference"]},
                                {"type": "cash", "amount": round_cash(total - 1000)}]
    assert card["brand"] in ("Dankort", "Visa", "Mastercard")
    assert sale["rounding"] == round_cash(total - 1000) - (total - 1000) and sale["change"] == 0
    assert kiosk.app.manager.current == "sale"
    assert f"Bon nr. {number}" in kiosk.app.message
    assert drawer_lines(kiosk) == drawer_before + 1


def test_underpaid_is_refused(kiosk) -> None:
    code, price = odd_product(kiosk)
    to_payment(kiosk, code)
    before = receipt_count(kiosk)
    kiosk.tap("pad-1")
    kiosk.tap("tender-cash")  # 1 kr. of cash: not enough
    screen = kiosk.app.screen("payment")
    assert len(screen.tenders) == 1 and kiosk.app.manager.current == "payment"
    assert screen.ids.rest.title == "Mangler"
    assert screen.ids.rest.value == format_dkk(round_cash(price) - 100)
    kiosk.tap("complete")
    assert kiosk.app.message_level == "error"
    assert f"Der mangler {format_dkk(round_cash(price) - 100)}" in kiosk.app.message
    assert receipt_count(kiosk) == before and kiosk.app.manager.current == "payment"
    # the core refuses it too, in Danish on the screen
    screen.busy = False
    from appliance.domain.tenders import Underpaid
    from appliance.services.selling import SaleError
    err = SaleError("underpaid")
    err.__cause__ = Underpaid(round_cash(price) - 100)
    screen._failed(err)
    assert "Der mangler" in kiosk.app.message
    # leaving with a tender still listed is refused; remove it and go back
    kiosk.tap("back")
    assert kiosk.app.manager.current == "payment" and "Fjern betalingerne" in kiosk.app.message
    kiosk.tap("remove-0")
    assert screen.tenders == []
    kiosk.tap("back")
    assert kiosk.app.manager.current == "sale"
    assert receipt_count(kiosk) == before


def test_no_receipt_queues_no_print_job(kiosk) -> None:
    code, price = odd_product(kiosk)
    to_payment(kiosk, code)
    screen = kiosk.app.screen("payment")
    kiosk.tap("receipt-toggle")
    assert not screen.print_receipt and screen.ids  # "Ingen bon"
    kiosk.tap("quick-exact")
    number, sale = last_sale(kiosk)
    assert sale["total"] == price and sale["payments"] == [{"type": "cash", "amount": round_cash(price)}]
    assert query(kiosk, "SELECT COUNT(*) FROM print_jobs WHERE kind = 'receipt' AND ref = ?", number)[0][0] == 0
    assert kiosk.app.manager.current == "sale"
    assert screen.print_receipt  # the next customer gets a receipt again
    # and the next sale prints as usual
    scan(kiosk, code, 1)
    kiosk.tap("pay")
    kiosk.tap("tender-manual_card")
    number2, sale2 = last_sale(kiosk)
    assert number2 == number + 1 and sale2["payments"] == [{"type": "manual_card", "amount": price}]
    assert query(kiosk, "SELECT COUNT(*) FROM print_jobs WHERE kind = 'receipt' AND ref = ?", number2)[0][0] == 1
