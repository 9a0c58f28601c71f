"""The returns screen: a receipt scanned from the sale screen (or typed), part of it chosen with
+/-, refunded to the original tenders; the return receipt, its refund tenders and the screen."""

from __future__ import annotations

import json

from appliance.domain.money import format_dkk, round_cash
from tests.ui.conftest import query
from tests.ui.test_payment import last_sale, odd_product, scan, to_payment, type_amount


def a_split_sale(kiosk) -> tuple[int, dict, int]:
    """Two lines (the first with qty 2) paid 10 kr. by card and the rest in cash."""
    code, price = odd_product(kiosk, min_price=1500)
    to_payment(kiosk, code)
    kiosk.tap("back")
    kiosk.tap("qty-plus")
    other, _other_price = odd_product(kiosk, min_price=price)
    scan(kiosk, other, 2)
    kiosk.tap("pay")
    type_amount(kiosk, "10")
    kiosk.tap("tender-card")
    kiosk.until(lambda: not kiosk.app.screen("payment").card_waiting, what="the card payment")
    kiosk.tap("quick-exact")
    number, sale = last_sale(kiosk)
    assert [ln["qty"] for ln in sale["lines"]] == [2, 1]
    return number, sale, price


def test_part_of_a_sale_comes_back_to_the_original_tenders(kiosk) -> None:
    number, sale, _price = a_split_sale(kiosk)
    assert kiosk.app.manager.current == "sale"
    kiosk.scan(f"R{number}")  # the receipt's barcode on the sale screen opens the return
    screen = kiosk.app.screen("returns")
    kiosk.until(lambda: screen.original is not None, what="the receipt to load")
    assert kiosk.app.manager.current == "returns"
    assert f"Bon nr. {number}" in screen.ids.title.text
    assert not screen.can_refund
    kiosk.tap("ret-plus-1")
    kiosk.tap("ret-plus-1")
    assert kiosk.key("ret-plus-1").disabled  # never more than was sold
    kiosk.tap("ret-minus-1")
    assert screen.wanted() == [{"line_no": 1, "qty": 1}]
    unit = sale["lines"][0]["total"] // 2  # no discount: each unit at what it was sold for
    assert screen.ids.refund_total.text == format_dkk(unit)
    [paid_card] = [p for p in sale["payments"] if p["type"] == "card"]
    assert f"Kort ({paid_card['brand']})" in screen.ids.tenders.text  # back to the card first
    before = query(kiosk, "SELECT COUNT(*) FROM receipts WHERE original_receipt = ?", number)[0][0]
    kiosk.tap("refund")

    [(back_no, payload)] = query(kiosk, "SELECT r.receipt_number, j.payload FROM receipts r JOIN journal j "
                                        "ON j.nr = r.journal_nr WHERE r.original_receipt = ? AND r.kind = 'return' "
                                        "ORDER BY r.receipt_number DESC LIMIT 1", number)
    back = json.loads(payload)
    assert before == 0
    assert back["kind"] == "return" and back["original_receipt"] == number
    assert [(ln["original_line_no"], ln["qty"], ln["total"]) for ln in back["lines"]] == [(1, 1, -unit)]
    card = min(1000, unit)
    expected = [{"type": "card", "amount": -card, "brand": paid_card["brand"],
                 "reference": paid_card["reference"]}]
    if unit > card:
        expected.append({"type": "cash", "amount": -round_cash(unit - card)})
    assert back["payments"] == expected
    # the card part went back through the terminal: a refund of that very payment in its ledger
    ledger = [json.loads(line) for line in
              (kiosk.app.data_dir / "sim" / "terminal" / "ledger.jsonl").read_text().splitlines()]
    assert [(e["amount"], e["original_poi_transaction_id"]) for e in ledger if e["type"] == "refund"
            and e["original_poi_transaction_id"] == paid_card["reference"]] == [(card, paid_card["reference"])]
    # the screen: the result, and the line now shows one returned, one left
    assert f"Returbon nr. {back_no}" in screen.ids.result.text
    kiosk.until(lambda: len(screen.earlier) == 1, what="the receipt to reload")
    assert screen.left(1) == 1 and screen.chosen == {}
    assert query(kiosk, "SELECT COUNT(*) FROM print_jobs WHERE kind = 'receipt' AND ref = ?", back_no)[0][0] == 1
    # the rest of the receipt: "Alt" takes what is left, and it all goes back
    kiosk.tap("return-all")
    assert screen.wanted() == [{"line_no": 1, "qty": 1}, {"line_no": 2, "qty": 1}]
    kiosk.tap("refund")
    kiosk.until(lambda: len(screen.earlier) == 2, what="the second return")
    assert all(screen.left(ln["line_no"]) == 0 for ln in sale["lines"])
    returns = [json.loads(pl) for (pl,) in query(
        kiosk, "SELECT j.payload FROM receipts r JOIN journal j ON j.nr = r.journal_nr "
               "WHERE r.original_receipt = ? ORDER BY r.receipt_number", number)]
    assert -sum(r["total"] for r in returns) == sale["total"]  # all of it came back, never more
    assert [p["type"] for p in returns[1]["payments"]] == ["cash"]  # the card had given back its 10 kr.
    kiosk.tap("back")
    assert kiosk.app.manager.current == "sale"


def test_typed_receipt_number_and_unknown_receipt(kiosk) -> None:
    kiosk.login("anna", "1111")
    kiosk.tap("menu-toggle")
    kiosk.tap("menu-returns")
    assert kiosk.app.manager.current == "returns"
    screen = kiosk.app.screen("returns")
    assert screen.original is None and not screen.can_refund
    [(last,)] = query(kiosk, "SELECT MAX(receipt_number) FROM receipts")
    type_amount(kiosk, str(last + 100))
    kiosk.tap("load-receipt")
    assert f"Bon nr. {last + 100} findes ikke" in kiosk.app.message and kiosk.app.message_level == "error"
    [(number,)] = query(kiosk, "SELECT MAX(receipt_number) FROM receipts WHERE kind = 'sale' AND training = 0")
    for _ in str(last + 100):
        kiosk.tap("pad-back")
    type_amount(kiosk, str(number))
    kiosk.tap("load-receipt")
    kiosk.until(lambda: screen.receipt_number == number, what="the typed receipt")
    assert len(screen.ids.lines.children) == len(screen.original["lines"])
    kiosk.tap("back")
    assert screen.original is None  # leaving clears the screen for the next return
