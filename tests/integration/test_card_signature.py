"""A card that asks for a signature, the terminal's slips on the till's printer, and payments that no
sale carries: all through the terminal simulator over real HTTP with nexo message security."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.services import payments
from drivers.printer.document import Document
from drivers.terminal import messages as m
from drivers.terminal.client import TerminalClient
from drivers.terminal.security import SharedKey
from drivers.terminal.simulator import TerminalSimulator

KEY = SharedKey("tillbox-test-key", "a passphrase only the till and terminal know", 1)
POI = "V400m-324688179"


@pytest.fixture
def terminal(tmp_path: Path):
    with TerminalSimulator(key=KEY, ledger=tmp_path / "ledger.jsonl", poi_id=POI, timeout_s=0.5) as sim:
        yield sim, TerminalClient(sim.url, KEY, poi_id=POI, sale_id="TILL-1", timeout=2)


def ledger(sim) -> list[tuple[str, int]]:
    return [(e["type"], e["amount"]) for e in map(json.loads, sim.ledger.read_text().splitlines())]


def journal(till, kind: str) -> list[dict]:
    return [json.loads(p) for (p,) in till.conn.execute(
        "SELECT payload FROM journal WHERE kind = ? ORDER BY nr", (kind,))]


def jobs(till) -> list[Document]:
    return [Document.from_json(json.loads(d)) for (d,) in till.conn.execute(
        "SELECT document FROM print_jobs WHERE kind = 'document' ORDER BY id")]


def test_signature_request_and_answer_have_adyens_shape() -> None:
    req = m.signature_request("TILL-1", "abc123", POI, "Underskriv venligst", 45)["SaleToPOIRequest"]
    assert req["MessageHeader"]["MessageClass"] == "Device"
    assert req["MessageHeader"]["MessageCategory"] == "Input"
    body = req["InputRequest"]
    assert body["DisplayOutput"]["OutputContent"]["PredefinedContent"]["ReferenceID"] == "GetSignature"
    assert body["InputData"] == {"Device": "CustomerInput", "InfoQualify": "Input",
                                 "InputCommand": "GetConfirmation", "MaxInputTime": 45}
    refused = m.parse_input_response({"InputResult": {
        "Device": "CustomerInput", "InfoQualify": "Input",
        "Response": {"Result": "Failure", "ErrorCondition": "Cancel"},
        "Input": {"InputCommand": "GetConfirmation", "ConfirmedFlag": False}}})
    assert not refused.signed and refused.error_condition == "Cancel" and refused.signature is None
    with pytest.raises(m.MessageError):
        m.parse_input_response({"InputResult": {"Response": {"Result": "Maybe"}}})


def test_signed_on_the_terminal_then_accepted_by_the_cashier(till, terminal) -> None:
    sim, client = terminal
    sim.script("signature", "sign")
    outcome = payments.pay_by_card(till, client, 12950, "anna", "S1")
    assert outcome.approved and outcome.signature == "terminal"
    [captured] = journal(till, "payment_signature")
    assert captured["signed"] and captured["on"] == "terminal" and "SignaturePoint" in captured["signature"]
    kept = payments.signature_checked(till, client, outcome, True, "anna", "S1")
    assert kept is outcome
    assert ledger(sim) == [("payment", 12950)]
    assert [s["step"] for s in journal(till, "payment_signature")] == ["captured", "checked"]


def test_a_signature_the_cashier_refuses_reverses_the_payment(till, terminal) -> None:
    sim, client = terminal
    sim.script("signature")  # the shopper signs (the default), the cashier says it does not match
    outcome = payments.pay_by_card(till, client, 5000, "anna", "S2")
    back = payments.signature_checked(till, client, outcome, False, "anna", "S2")
    assert back.approved
    assert ledger(sim) == [("payment", 5000), ("refund", 5000)]
    assert payments.unsold_payments(till) == []


def test_a_shopper_who_will_not_sign_is_given_the_money_back_at_once(till, terminal) -> None:
    sim, client = terminal
    sim.script("signature", "refuse_signature")
    outcome = payments.pay_by_card(till, client, 7000, "anna", "S3")
    assert outcome.state == "declined" and outcome.error == "NotSigned"
    assert "tilbageført" in outcome.message
    assert ledger(sim) == [("payment", 7000), ("refund", 7000)]
    assert payments.open_intents(till) == [] and payments.unsold_payments(till) == []


def test_the_terminals_slips_print_with_the_outcome(till, terminal) -> None:
    from appliance.services.devices import set_device
    set_device(till, "printer", {"kind": "sim", "dir": str(till.data_dir / "sim" / "printer")}, "system")
    sim, client = terminal
    payments.pay_by_card(till, client, 2000, "anna", "S4")
    [customer] = jobs(till)
    text = "\n".join(customer.lines(42))
    assert "KUNDENS KOPI" in text and "GODKENDT" in text and "DKK 20,00" in text
    assert "underskrift" not in text
    sim.script("signature")
    payments.pay_by_card(till, client, 3000, "anna", "S5")
    merchant, customer2 = jobs(till)[1:]
    assert "BUTIKKENS KOPI" in "\n".join(merchant.lines(42))
    assert "Kundens underskrift" in "\n".join(merchant.lines(42))
    assert "KUNDENS KOPI" in "\n".join(customer2.lines(42))
    sim.script("decline")
    payments.pay_by_card(till, client, 4000, "anna", "S6")
    assert len(jobs(till)) == 3  # a declined card prints nothing


def test_unsold_payments_are_found_until_sold_or_given_back(till, terminal) -> None:
    from appliance.services.selling import sell
    _sim, client = terminal
    sold = payments.pay_by_card(till, client, 2450, "anna", "S7")
    lost = payments.pay_by_card(till, client, 1800, "anna", "S8")  # the kiosk died before the sale
    assert {o.poi_transaction_id for o in payments.unsold_payments(till)} == {
        sold.poi_transaction_id, lost.poi_transaction_id}
    sell(till, {"cashier": "anna", "lines": [{"sku": "BUTTER"}], "payments": [sold.payment()]})
    [left] = payments.unsold_payments(till)
    assert left.poi_transaction_id == lost.poi_transaction_id and left.amount == 1800
    assert payments.reverse(till, client, left, "anna", "S8").approved
    assert payments.unsold_payments(till) == []
