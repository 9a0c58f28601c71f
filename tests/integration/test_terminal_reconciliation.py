"""The terminal's reconciliation against the till's journal, through the terminal simulator over
HTTP (the real nexo messages and message security): agreement after card sales and a refund; a
difference shown and journalled for a sale the terminal never charged and a charge whose sale was
never completed; a terminal that is down journals nothing; the Z carries what was journalled."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from appliance.services import payments
from appliance.services.closing import close_day
from appliance.services.reconciliation import (
    NO_ANSWER,
    ReconciliationError,
    reconcile_before_close,
    reconcile_terminal,
)
from appliance.services.selling import refund, sell
from drivers.terminal.client import TerminalClient
from drivers.terminal.messages import ReconciliationResult
from drivers.terminal.security import SharedKey
from drivers.terminal.simulator import TerminalSimulator
from tests.conftest import journal_count

KEY = SharedKey("tillbox-test-key", "a passphrase only the till and terminal know", 1)
POI = "V400m-324688179"


@pytest.fixture
def terminal(tmp_path: Path):
    with TerminalSimulator(key=KEY, ledger=tmp_path / "ledger.jsonl", poi_id=POI) as sim:
        client = TerminalClient(sim.url, KEY, poi_id=POI, sale_id="TILL-1", timeout=5)
        yield sim, client
        client.close()


def card_sale(till, client, sku: str, amount: int) -> tuple[payments.CardOutcome, dict]:
    outcome = payments.pay_by_card(till, client, amount, "anna", f"S-{sku}")
    assert outcome.approved
    sale = sell(till, {"cashier": "anna", "lines": [{"sku": sku}], "payments": [outcome.payment()]})
    return outcome, sale


def reconciliations(till) -> list[dict]:
    return [json.loads(p) for (p,) in till.conn.execute(
        "SELECT payload FROM journal WHERE kind = 'terminal_reconciliation' ORDER BY nr")]


def test_card_sales_and_a_refund_reconcile_without_a_difference(till, terminal) -> None:
    sim, client = terminal
    butter, butter_sale = card_sale(till, client, "BUTTER", 2450)   # Dankort (the simulator rotates brands)
    card_sale(till, client, "BREAD", 2200)                           # Visa
    card_sale(till, client, "MILK", 1295)                            # Mastercard
    card_sale(till, client, "PAPER", 3000)                           # Dankort
    back = payments.refund_card(till, client, butter.poi_transaction_id, 2450, "anna", "R1")
    assert back.approved
    ret = refund(till, butter_sale["receipt_number"], {"cashier": "anna", "lines": [{"line_no": 1}]})
    [back_to_card] = ret["payments"]
    assert (back_to_card["type"], back_to_card["amount"], back_to_card["brand"]) == ("card", "-24.50", "Dankort")
    before = journal_count(till)

    result = reconcile_terminal(till, client, "anna")

    assert result["agreed"] is True and result["differences"] == {}
    assert journal_count(till) == before + 1 and result["nr"] == before + 1
    assert result["reconciliation_id"] == "R000001" and result["poi_id"] == POI
    assert result["terminal"] == result["till"] == {
        "Dankort": {"payments": 2, "payments_ore": 5450, "refunds": 1, "refunds_ore": 2450},
        "Visa": {"payments": 1, "payments_ore": 2200, "refunds": 0, "refunds_ore": 0},
        "Mastercard": {"payments": 1, "payments_ore": 1295, "refunds": 0, "refunds_ore": 0}}
    assert [r["brand"] for r in result["rows"]] == ["Dankort", "Visa", "Mastercard"]
    [journalled] = reconciliations(till)
    assert journalled["agreed"] is True and journalled["since_nr"] == 0 and journalled["upto_nr"] == before
    assert [e["type"] for e in sim.entries()][-1] == "reconciliation"


def test_a_sale_the_terminal_never_saw_and_a_charge_without_a_sale_show_as_differences(till, terminal) -> None:
    _sim, client = terminal
    card_sale(till, client, "BUTTER", 2450)                          # Dankort
    assert reconcile_terminal(till, client, "anna")["agreed"] is True
    card_sale(till, client, "BREAD", 2200)                           # Visa: on both sides
    # booked to card on the till, never charged by the terminal (e.g. typed in by hand as "card")
    sell(till, {"cashier": "anna", "lines": [{"sku": "CANDY", "price": "129.50"}], "manager": {"id": "bo", "pin": "9999"},
                "payments": [{"type": "card", "amount": "129.50", "brand": "Visa", "reference": "NOT-CHARGED"}]})
    # charged by the terminal (Mastercard), but the sale was never completed
    lost = payments.pay_by_card(till, client, 1500, "anna", "S-LOST")
    assert lost.approved and lost.brand == "Mastercard"

    result = reconcile_terminal(till, client, "bo")

    assert result["agreed"] is False and result["reconciliation_id"] == "R000002"
    rows = {r["brand"]: r for r in result["rows"]}
    assert set(rows) == {"Visa", "Mastercard"}                       # only this period: the Dankort sale was before
    assert rows["Visa"]["till"] == {"payments": 2, "payments_ore": 2200 + 12950, "refunds": 0, "refunds_ore": 0}
    assert rows["Visa"]["terminal"]["payments_ore"] == 2200
    assert rows["Visa"]["difference"]["payments_ore"] == -12950 and not rows["Visa"]["agrees"]
    assert rows["Mastercard"]["difference"] == {"payments": 1, "payments_ore": 1500, "refunds": 0, "refunds_ore": 0}
    first, second = reconciliations(till)
    assert second["since_nr"] > first["upto_nr"]
    assert second["differences"] == {"Visa": rows["Visa"]["difference"], "Mastercard": rows["Mastercard"]["difference"]}
    [(who,)] = till.conn.execute("SELECT cashier FROM journal WHERE kind = 'terminal_reconciliation' "
                                 "ORDER BY nr DESC LIMIT 1").fetchall()
    assert who == "bo"

    z = close_day(till, "0.00")

    info = z["terminal_reconciliation"]
    assert [r["reconciliation_id"] for r in info["reconciliations"]] == ["R000001", "R000002"]
    assert info["missing"] is False and info["reconciliations"][1]["agreed"] is False
    visa = next(r for r in info["reconciliations"][1]["rows"] if r["brand"] == "Visa")
    assert visa["difference"] == "-129.50"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_terminal_that_is_down_journals_nothing_and_the_z_says_so(till, tmp_path: Path) -> None:
    from appliance.services.devices import set_device
    set_device(till, "terminal", {"kind": "sim", "dir": str(tmp_path / "sim-terminal")}, "system")
    down = TerminalClient(f"http://127.0.0.1:{free_port()}/nexo", KEY, poi_id=POI, sale_id="TILL-1",
                          timeout=2, connect_timeout=2)
    sell(till, {"cashier": "anna", "lines": [{"sku": "BUTTER"}],
                "payments": [{"type": "card", "amount": "24.50", "brand": "Visa", "reference": "X"}]})
    before = journal_count(till)
    with pytest.raises(ReconciliationError) as caught:
        reconcile_terminal(till, down, "anna")
    assert caught.value.danish == NO_ANSWER == "Terminalen svarer ikke: afstemningen mangler"
    assert "did not answer" in str(caught.value)
    assert journal_count(till) == before
    z = close_day(till, "0.00")
    assert z["terminal_reconciliation"] == {"expected": True, "reconciliations": [], "missing": True}


class Refusing:
    """A terminal that answers the reconciliation with a Failure."""

    poi_id = "P1"

    def reconcile(self) -> ReconciliationResult:
        return ReconciliationResult(ok=False, reconciliation_id=None, totals={}, error_condition="Busy")

    def previous_reconciliation(self, reconciliation_id: str | int) -> ReconciliationResult:
        raise AssertionError("a refusal is not an answer lost: nothing is read again")


def test_a_refused_reconciliation_journals_nothing(till) -> None:
    before = journal_count(till)
    with pytest.raises(ReconciliationError, match="refused") as caught:
        reconcile_terminal(till, Refusing(), "anna")
    assert "Busy" in caught.value.danish and journal_count(till) == before


def test_card_sales_from_before_the_terminal_was_set_up_are_not_held_against_it(till, terminal, tmp_path) -> None:
    from appliance.services.devices import set_device
    _sim, client = terminal
    sell(till, {"cashier": "anna", "lines": [{"sku": "BREAD"}],    # the standalone terminal's days
                "payments": [{"type": "card", "amount": "22.00", "brand": "Dankort"}]})
    set_device(till, "terminal", {"kind": "sim", "dir": str(tmp_path / "sim-terminal")}, "system")
    card_sale(till, client, "BUTTER", 2450)
    result = reconcile_terminal(till, client, "anna")
    assert result["agreed"] is True and result["till"]["Dankort"]["payments_ore"] == 2450


def test_a_card_given_back_before_any_sale_agrees_in_counts_and_money(till, terminal) -> None:
    """Taken off the basket (or a refused signature): the terminal has a payment and a refund, the
    till no sale; the till counts the pair from its journal, so nothing is flagged."""
    _sim, client = terminal
    card_sale(till, client, "BUTTER", 2450)
    voided = payments.pay_by_card(till, client, 1800, "anna", "K2-1")
    assert payments.reverse(till, client, voided, "anna", "fjernet").approved
    result = reconcile_terminal(till, client, "bo")
    assert result["agreed"], result["rows"]
    brand = next(r for r in result["rows"] if r["brand"] == voided.brand)
    assert brand["till"]["refunds"] == brand["terminal"]["refunds"] == 1


def test_a_close_reconciles_only_when_it_can_go_through(till, terminal, tmp_path: Path) -> None:
    """A reconciliation starts the terminal's next period: one made for a close that then fails
    would leave the real close an empty one."""
    _sim, client = terminal
    card_sale(till, client, "BUTTER", 2450)
    assert reconcile_before_close(till, None, "anna", 0, 0) == (None, None)  # no terminal
    assert reconcile_before_close(till, client, "anna", 100, 200) == (None, None)  # more to the bank
    assert reconciliations(till) == []
    down = TerminalClient(f"http://127.0.0.1:{free_port()}/nexo", KEY, poi_id=POI, sale_id="TILL-1",
                          timeout=2, connect_timeout=2)
    rec, why_not = reconcile_before_close(till, down, "anna", 0, 0)
    assert rec is None and why_not is not None and why_not.danish == NO_ANSWER and reconciliations(till) == []
    rec, why_not = reconcile_before_close(till, client, "anna", 0, 0)
    assert why_not is None and rec is not None and rec["agreed"] is True and len(reconciliations(till)) == 1
    close_day(till, "0.00")
    # a second close the same day (a shift close) closes the period since the first, and the
    # terminal's period since its reconciliation: it reconciles again
    rec, why_not = reconcile_before_close(till, client, "anna", 0, 0)
    assert why_not is None and rec is not None and len(reconciliations(till)) == 2
