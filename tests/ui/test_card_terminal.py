"""The card terminal at the counter, through the simulated terminal the demo shop has as a device
(the real nexo protocol over HTTP): a signature the cashier checks or refuses, an approved card
taken off the basket (given back through the terminal), a till with no terminal, and a crash
between the card's approval and the sale (the next start puts the payment back on the basket)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ui.conftest import query
from tests.ui.test_counter_flows import copy_shop, run_child
from tests.ui.test_payment import odd_product, to_payment, type_amount


def ledger(kiosk) -> list[dict]:
    path = kiosk.app.data_dir / "sim" / "terminal" / "ledger.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def simulator(kiosk):
    return kiosk.app.backend.devices.terminal.sim  # the simulated customer's card is scripted here


def test_a_signature_is_checked_by_the_cashier(kiosk) -> None:
    code, _price = odd_product(kiosk, min_price=1500)
    to_payment(kiosk, code)
    screen = kiosk.app.screen("payment")
    simulator(kiosk).script("signature")  # this card asks for a signature; the shopper signs
    type_amount(kiosk, "10")
    kiosk.tap("tender-card", settle=False)
    kiosk.until(lambda: screen.dialog_mode == "signature", what="the signature to check")
    assert "underskrift" in screen.dialog_title and "terminalen" in screen.dialog_status
    assert screen.tenders == []  # not taken until the cashier says the signature matches
    kiosk.tap("card-approve", settle=False)
    kiosk.until(lambda: not screen.card_waiting, what="the signature accepted")
    [card] = screen.tenders
    assert card["amount"] == 1000 and card["reference"]
    steps = [json.loads(p) for (p,) in query(kiosk, "SELECT payload FROM journal WHERE kind = "
                                                    "'payment_signature' ORDER BY nr DESC LIMIT 2")]
    assert [s["step"] for s in steps] == ["checked", "captured"] and steps[0]["accepted"] is True

    # a second card whose signature does not match: refused, and the money goes straight back
    simulator(kiosk).script("signature")
    type_amount(kiosk, "5")
    kiosk.tap("tender-card", settle=False)
    kiosk.until(lambda: screen.dialog_mode == "signature", what="the second signature")
    kiosk.tap("card-cancel", settle=False)
    kiosk.until(lambda: not screen.card_waiting, what="the refused signature's reversal")
    assert len(screen.tenders) == 1 and "tilbageført" in kiosk.app.message
    refused = [e for e in ledger(kiosk) if e["type"] == "payment" and e["amount"] == 500][-1]
    assert any(e["type"] == "refund" and e["original_poi_transaction_id"] == refused["poi_transaction_id"]
               for e in ledger(kiosk))

    # the first card taken off the basket again: given back through the terminal too
    kiosk.tap("remove-0", settle=False)
    kiosk.until(lambda: not screen.card_waiting and not screen.tenders, what="the card given back")
    assert any(e["type"] == "refund" and e["original_poi_transaction_id"] == card["reference"]
               for e in ledger(kiosk))
    assert "tilbageført" in kiosk.app.message
    kiosk.tap("back")
    assert kiosk.app.manager.current == "sale"


def test_a_card_approved_just_before_a_crash_is_back_on_the_basket(tmp_path: Path, kiosk_data: Path) -> None:
    data = copy_shop(kiosk_data, tmp_path)
    # the kiosk is killed the moment the terminal approved: the payment is in the journal, not in
    # any sale and not in the saved session
    run_child("""
d.login("anna", "1111")
code = app.backend.run(lambda t: t.conn.execute(
    "SELECT code FROM barcodes WHERE code LIKE '570%' ORDER BY code LIMIT 1").fetchone()[0])
d.scan(code)
from appliance.services.payments import pay_by_card
terminal = app.backend.devices.terminal
outcome = app.backend.run(lambda t: pay_by_card(t, terminal, 700, "anna", "K1-1"))
print(json.dumps({"approved": outcome.approved, "ref": outcome.poi_transaction_id}), flush=True)
os._exit(9)
""", data)
    result = run_child("""
d.settle()
screen = app.screen("payment")
print(json.dumps({"screen": app.manager.current, "tenders": screen.tenders, "message": app.message,
                  "lines": len(app.session.basket.lines)}), flush=True)
d.close()
""", data)
    assert result["screen"] == "payment" and result["lines"] >= 1  # the basket, as it was
    [tender] = result["tenders"]
    assert tender["type"] == "card" and tender["amount"] == 700 and tender["reference"]
    assert "godkendt" in result["message"]
    charged = [json.loads(line) for line in (data / "sim" / "terminal" / "ledger.jsonl").read_text().splitlines()]
    assert [(c["type"], c["poi_transaction_id"]) for c in charged] == [("payment", tender["reference"])]


def test_without_a_terminal_the_card_key_points_to_manual_card(tmp_path: Path, kiosk_data: Path) -> None:
    from appliance.services.devices import set_device
    from appliance.services.till import open_till
    data = copy_shop(kiosk_data, tmp_path)
    with open_till(data) as till:
        set_device(till, "terminal", None, "system")
    result = run_child("""
d.login("anna", "1111")
code = app.backend.run(lambda t: t.conn.execute(
    "SELECT code FROM barcodes WHERE code LIKE '570%' ORDER BY code LIMIT 1").fetchone()[0])
d.scan(code)
d.tap("pay")
d.tap("tender-card")
screen = app.screen("payment")
print(json.dumps({"waiting": screen.card_waiting, "tenders": screen.tenders, "message": app.message}),
      flush=True)
d.close()
""", data)
    assert not result["waiting"] and result["tenders"] == []
    assert "Manuelt kort" in result["message"]
