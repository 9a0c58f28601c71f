"""The payment defects, each tried through the terminal simulator's faults over real HTTP (the nexo
messages and message security, never a patched client):

1. a return paid back to two cards whose second refund is declined or times out is never left half
   done: a retry gives nothing back twice, or the cashier pays the rest another way and the return
   holds exactly what moved;
2. start-up recovery after a crash between a return's refund and the return settles the refund and
   writes the return, or leaves it for the cashier; it never sends a refund;
3. a reconciliation whose answer is lost is read again (PreviousReconciliation), so no false
   difference shows, that day or the next;
4. `till sell` with a card tender goes through an integrated terminal, never around it;
5. a referenced refund sends the original payment's TimeStamp with its TransactionID."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from appliance.services import payments
from appliance.services.checkout import complete_return
from appliance.services.devices import Devices
from appliance.services.reconciliation import LOST, ReconciliationError, reconcile_terminal
from appliance.services.selling import sell
from appliance.store.journal import verify
from drivers.terminal.client import TerminalClient
from drivers.terminal.messages import timestamp
from drivers.terminal.security import SharedKey
from drivers.terminal.simulator import TerminalSimulator
from tests.conftest import CVR, journal_count

PASSPHRASE = "a passphrase only the till and terminal know"
KEY = SharedKey("tillbox-test-key", PASSPHRASE, 1)
POI = "V400m-324688179"
ROOT = Path(__file__).resolve().parents[2]


class SimClock:
    """The simulator's clock, moved by hand (so the refund's own time differs from the payment's)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 20, 8, 0, 5, 250_000, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def terminal(tmp_path: Path):
    clock = SimClock()
    # a "timeout" step (0.5 s) outlasts the client's patience (0.3 s): the till sees no answer
    with TerminalSimulator(key=KEY, ledger=tmp_path / "ledger.jsonl", poi_id=POI, timeout_s=0.5,
                           now=clock) as sim:
        client = TerminalClient(sim.url, KEY, poi_id=POI, sale_id="TILL-1", timeout=0.3)
        sim.clock = clock  # type: ignore[attr-defined]
        yield sim, client
        client.close()


def ledger(sim: TerminalSimulator, kind: str) -> list[dict]:
    return [e for e in sim.entries() if e.get("type") == kind]


def two_card_sale(till, client) -> tuple[int, payments.CardOutcome, payments.CardOutcome]:
    """BUTTER (24.50) paid 10.00 on one card and 14.50 on another."""
    first = payments.pay_by_card(till, client, 1000, "anna", "S-1")
    second = payments.pay_by_card(till, client, 1450, "anna", "S-1")
    assert first.approved and second.approved and first.brand != second.brand
    sale = sell(till, {"cashier": "anna", "lines": [{"sku": "BUTTER"}],
                       "payments": [first.payment(), second.payment()]})
    return sale["receipt_number"], first, second


def returns_of(till, number: int) -> list[dict]:
    return [json.loads(p) for (p,) in till.conn.execute(
        "SELECT j.payload FROM receipts r JOIN journal j ON j.nr = r.journal_nr "
        "WHERE r.original_receipt = ? ORDER BY r.receipt_number", (number,))]


def refunds_by_original(sim: TerminalSimulator) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in ledger(sim, "refund"):
        out[e["original_poi_transaction_id"]] = out.get(e["original_poi_transaction_id"], 0) + e["amount"]
    return out


WHOLE = {"cashier": "anna", "lines": [{"line_no": 1}]}


# --- 1. a return to two cards, the second refund declined or unanswered ------------------------------

def test_a_declined_second_card_leaves_no_half_return_and_the_rest_goes_out_in_cash(till, terminal) -> None:
    sim, client = terminal
    number, first, _second = two_card_sale(till, client)
    devices = Devices(terminal=client)
    sim.script("approve", "decline")  # the first card takes its refund, the second refuses
    before = journal_count(till)

    with pytest.raises(payments.RefundIncomplete) as caught:
        complete_return(till, devices, None, number, dict(WHOLE))

    assert (caught.value.given, caught.value.rest) == (1000, 1450)
    assert "10,00 kr." in str(caught.value) and "afvist" in str(caught.value)
    assert returns_of(till, number) == []  # no return yet: the cashier decides the rest
    assert refunds_by_original(sim) == {first.poi_transaction_id: 1000}
    assert payments.unfinished_returns(till) == [{"receipt": number, "given": 1000, "open": False}]
    assert journal_count(till) > before  # the refund's intent and outcome, and the declined one

    back = complete_return(till, devices, None, number, dict(WHOLE), rest_tender="cash")

    assert [(p["type"], p["amount"], p.get("reference")) for p in back["payments"]] == [
        ("card", "-10.00", first.poi_transaction_id), ("cash", "-14.50", None)]
    [written] = returns_of(till, number)
    assert written["rest_after_declined_refund"] is True and written["total"] == -2450
    assert refunds_by_original(sim) == {first.poi_transaction_id: 1000}  # nothing more went to a card
    assert payments.unfinished_returns(till) == []
    # the journal matches what moved: the terminal's reconciliation agrees with the till
    result = reconcile_terminal(till, client, "anna")
    assert result["agreed"] is True, result["rows"]
    assert verify(till.conn, CVR).ok


def test_a_retry_after_a_declined_second_card_gives_nothing_back_twice(till, terminal) -> None:
    sim, client = terminal
    number, first, second = two_card_sale(till, client)
    devices = Devices(terminal=client)
    sim.script("approve", "decline")
    with pytest.raises(payments.RefundIncomplete):
        complete_return(till, devices, None, number, dict(WHOLE))

    back = complete_return(till, devices, None, number, dict(WHOLE))  # the second card takes it now

    assert sorted((p["reference"], p["amount"]) for p in back["payments"]) == sorted(
        [(first.poi_transaction_id, "-10.00"), (second.poi_transaction_id, "-14.50")])
    assert refunds_by_original(sim) == {first.poi_transaction_id: 1000, second.poi_transaction_id: 1450}
    assert len(ledger(sim, "refund")) == 2  # the first card was not refunded a second time
    assert payments.unfinished_returns(till) == []
    assert reconcile_terminal(till, client, "anna")["agreed"] is True


def test_an_unanswered_second_refund_is_settled_before_the_retry_never_sent_twice(till, terminal) -> None:
    sim, client = terminal
    number, _first, _second = two_card_sale(till, client)
    devices = Devices(terminal=client)
    sim.script("approve", "timeout")  # the second refund is still running when the till gives up

    with pytest.raises(payments.CardRefundFailed) as caught:
        complete_return(till, devices, None, number, dict(WHOLE))

    assert not isinstance(caught.value, payments.RefundIncomplete)  # unknown: no other tender offered
    assert "mangler" in str(caught.value) and returns_of(till, number) == []
    assert payments.unfinished_returns(till) == [{"receipt": number, "given": 1000, "open": True}]
    with pytest.raises(payments.CardRefundFailed):  # the cashier cannot pay it out another way yet
        complete_return(till, devices, None, number, dict(WHOLE), rest_tender="cash")
    deadline = time.monotonic() + 5
    while len(ledger(sim, "refund")) < 2 and time.monotonic() < deadline:  # the terminal approves late
        time.sleep(0.05)

    back = complete_return(till, devices, None, number, dict(WHOLE))

    assert len(ledger(sim, "refund")) == 2 and [r for r in sim.requests if r[0] == "Reversal"][2:] == []
    assert sorted(p["amount"] for p in back["payments"]) == ["-10.00", "-14.50"]
    assert payments.open_intents(till) == [] and payments.unfinished_returns(till) == []
    assert reconcile_terminal(till, client, "anna")["agreed"] is True


def test_the_rest_goes_another_way_only_after_a_declined_refund(till, terminal) -> None:
    """No manager is asked for the rest in cash because the declined refund is journalled beside it;
    without one, a cashier cannot send a card sale's return to the drawer."""
    _sim, client = terminal
    number, _first, _second = two_card_sale(till, client)
    with pytest.raises(payments.CardRefundFailed, match="afvist"):
        complete_return(till, Devices(terminal=client), None, number, dict(WHOLE), rest_tender="cash")
    assert returns_of(till, number) == []


# --- 2. a crash between a return's refund and the return --------------------------------------------

class Crash(BaseException):
    """The till's process dying (SIGKILL, power cut) at that point: nothing after it runs."""


class DiesAroundRefund:
    """The terminal client, with the till dying just before or just after a refund request."""

    def __init__(self, client: TerminalClient, when: str) -> None:
        self.client, self.when = client, when

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def refund(self, *args: Any) -> Any:
        if self.when == "before":
            raise Crash
        self.client.refund(*args)
        raise Crash  # the terminal gave the money back; the till never journalled the answer


def card_sale(till, client, sku: str, amount: int, cash: int = 0) -> tuple[int, payments.CardOutcome]:
    paid = payments.pay_by_card(till, client, amount, "anna", f"S-{sku}")
    extra = [{"type": "cash", "amount": f"{cash // 100}.{cash % 100:02d}"}] if cash else []
    sale = sell(till, {"cashier": "anna", "lines": [{"sku": sku}], "payments": [paid.payment(), *extra]})
    return sale["receipt_number"], paid


def test_a_crash_after_the_terminal_refunded_is_finished_at_start_up(till, terminal) -> None:
    sim, client = terminal
    number, paid = card_sale(till, client, "BREAD", 2200)
    with pytest.raises(Crash):
        complete_return(till, Devices(terminal=DiesAroundRefund(client, "after")), None, number, dict(WHOLE))
    assert returns_of(till, number) == [] and len(payments.open_intents(till)) == 1
    reversals = sum(1 for r in sim.requests if r[0] == "Reversal")

    settled = payments.recover(till, client)  # the next start

    assert [o.state for o in settled] == ["approved"]
    [written] = returns_of(till, number)
    assert [(p["type"], p["amount"], p["reference"]) for p in written["payments"]] == [
        ("card", -2200, paid.poi_transaction_id)]
    assert written["receipt_number"] and payments.unfinished_returns(till) == []
    assert sum(1 for r in sim.requests if r[0] == "Reversal") == reversals  # recovery sent no refund
    assert payments.recover(till, client) == [] and len(returns_of(till, number)) == 1  # once only
    assert reconcile_terminal(till, client, "anna")["agreed"] is True


def test_a_crash_before_the_refund_was_sent_writes_nothing_and_sends_nothing(till, terminal) -> None:
    sim, client = terminal
    number, _paid = card_sale(till, client, "BREAD", 2200)
    with pytest.raises(Crash):
        complete_return(till, Devices(terminal=DiesAroundRefund(client, "before")), None, number, dict(WHOLE))

    [settled] = payments.recover(till, client)

    assert settled.state == "declined"  # the terminal never saw it: nothing was given back
    assert ledger(sim, "refund") == [] and not any(r[0] == "Reversal" for r in sim.requests)
    assert returns_of(till, number) == [] and payments.unfinished_returns(till) == []
    back = complete_return(till, Devices(terminal=client), None, number, dict(WHOLE))  # the cashier again
    assert [p["amount"] for p in back["payments"]] == ["-22.00"] and len(ledger(sim, "refund")) == 1


def test_a_crash_in_a_return_with_cash_is_left_for_the_cashier_and_not_given_twice(till, terminal) -> None:
    """Card and cash: the cash was never paid out, so recovery does not write a return saying it was;
    the cashier finishes it, and the card part is not refunded again."""
    sim, client = terminal
    number, paid = card_sale(till, client, "PAPER", 2000, cash=1000)
    with pytest.raises(Crash):
        complete_return(till, Devices(terminal=DiesAroundRefund(client, "after")), None, number, dict(WHOLE))

    payments.recover(till, client)

    assert returns_of(till, number) == []
    assert payments.unfinished_returns(till) == [{"receipt": number, "given": 2000, "open": False}]
    back = complete_return(till, Devices(terminal=client), None, number, dict(WHOLE))
    assert [(p["type"], p["amount"]) for p in back["payments"]] == [("card", "-20.00"), ("cash", "-10.00")]
    assert refunds_by_original(sim) == {paid.poi_transaction_id: 2000}
    assert payments.unfinished_returns(till) == []


def test_a_killed_process_between_refund_and_return_is_recovered(till, terminal, tmp_path: Path) -> None:
    """The same with a real process: a child till refunds through the simulator and is SIGKILLed (it
    kills itself, os._exit, the moment the terminal answered); this process then starts up."""
    sim, client = terminal
    number, paid = card_sale(till, client, "MILK", 1295)
    data, at = till.data_dir, till.now()
    till.close()
    child = f"""
import os, sys
from appliance.services.checkout import complete_return
from appliance.services.devices import Devices
from appliance.services.till import open_till, ManualClock
from datetime import datetime, timedelta
from drivers.terminal.client import TerminalClient
from drivers.terminal.security import SharedKey
from tests.conftest import Clock
till = open_till({str(data)!r}, Clock(datetime.fromisoformat({at.isoformat()!r}) + timedelta(minutes=1)))
client = TerminalClient({sim.url!r}, SharedKey({KEY.identifier!r}, {PASSPHRASE!r}, 1), poi_id={POI!r},
                        sale_id="TILL-1", timeout=5)
class Dies:
    def __getattr__(self, name):
        return getattr(client, name)
    def refund(self, *args):
        client.refund(*args)
        os._exit(9)
complete_return(till, Devices(terminal=Dies()), None, {number}, {{"cashier": "anna", "lines": [{{"line_no": 1}}]}})
"""
    proc = subprocess.run([sys.executable, "-c", child], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 9, proc.stderr
    from appliance.services.till import open_till
    from tests.conftest import Clock
    again = open_till(data, Clock(at + timedelta(minutes=5)))
    try:
        payments.recover(again, client)
        [written] = returns_of(again, number)
        assert [(p["amount"], p["reference"]) for p in written["payments"]] == [(-1295, paid.poi_transaction_id)]
        assert refunds_by_original(sim) == {paid.poi_transaction_id: 1295}
    finally:
        again.close()


# --- 3. a lost reconciliation answer ----------------------------------------------------------------

def test_a_lost_reconciliation_answer_is_read_again_and_no_false_difference_shows(till, terminal) -> None:
    sim, client = terminal
    card_sale(till, client, "BUTTER", 2450)
    assert reconcile_terminal(till, client, "anna")["reconciliation_id"] == "R000001"
    card_sale(till, client, "BREAD", 2200)
    card_sale(till, client, "MILK", 1295)
    sim.lose_reconciliation_answers = 1  # type: ignore[attr-defined]

    result = reconcile_terminal(till, client, "anna")

    assert result["agreed"] is True and result["answer_reread"] is True, result["rows"]
    assert result["reconciliation_id"] == "R000002"
    assert sum(1 for e in ledger(sim, "reconciliation")) == 2  # the re-read closed no other period
    card_sale(till, client, "PAPER", 3000)
    following = reconcile_terminal(till, client, "anna")  # the next day: only its own sale on both sides
    assert following["agreed"] is True and following["reconciliation_id"] == "R000003"
    assert sum(t["payments_ore"] for t in following["terminal"].values()) == 3000


def test_a_lost_first_reconciliation_cannot_be_named_and_journals_nothing(till, terminal) -> None:
    sim, client = terminal
    card_sale(till, client, "BUTTER", 2450)
    sim.lose_reconciliation_answers = 1  # type: ignore[attr-defined]
    before = journal_count(till)
    with pytest.raises(ReconciliationError) as caught:
        reconcile_terminal(till, client, "anna")
    assert caught.value.danish == LOST and journal_count(till) == before


# --- 5. a referenced refund names the original payment's time ---------------------------------------

def test_a_refund_sends_the_original_payments_timestamp(till, terminal) -> None:
    sim, client = terminal
    number, paid = card_sale(till, client, "BREAD", 2200)
    [charged] = ledger(sim, "payment")
    assert paid.poi_timestamp == charged["poi_timestamp"]
    sim.clock.now += timedelta(hours=3)  # type: ignore[attr-defined]  # the refund comes later

    complete_return(till, Devices(terminal=client), None, number, dict(WHOLE))

    [refunded] = ledger(sim, "refund")
    sent = refunded["response"]["body"]["OriginalPOITransaction"]["POITransactionID"]
    assert sent == {"TransactionID": paid.poi_transaction_id, "TimeStamp": charged["poi_timestamp"]}
    assert refunded["poi_timestamp"] != charged["poi_timestamp"]


def test_an_older_outcome_without_the_timestamp_falls_back_to_when_it_was_journalled(till) -> None:
    from appliance.store.db import transaction
    with transaction(till.conn):
        e = till.journal.append("payment_outcome", "anna", {  # as journals before this change hold it
            "service_id": "OLD1", "state": "approved", "brand": "Visa", "poi_transaction_id": "OLD.1",
            "amount": 500})
    assert payments.original_time(till, "OLD.1") == timestamp(e.ts)
    assert payments.original_time(till, "NEVER.SEEN") is None


# --- 4. `till sell` with a card tender ----------------------------------------------------------------

def cli(data: Path, *args: str, stdin: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TILLBOX_PIN": "1234"}
    env.pop("TILLBOX_CLOCK", None)
    return subprocess.run([sys.executable, "-m", "appliance.cli", "--data", str(data), "--json", *args],
                          input=stdin, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    from appliance.services.till import TZ
    from tests.conftest import Clock, make_till
    till = make_till(tmp_path / "shop", Clock(datetime.now(TZ) - timedelta(minutes=10)))
    till.close()
    return tmp_path / "shop"


def sales(data: Path) -> list[dict]:
    import sqlite3
    with closing(sqlite3.connect(data / "till.db")) as conn, conn:
        return [json.loads(p) for (p,) in conn.execute("SELECT payload FROM journal WHERE kind = 'sale'")]


CARD_SALE = json.dumps({"cashier": "anna", "lines": [{"sku": "BREAD"}],
                        "payments": [{"type": "card", "amount": "22.00"}]})


def with_sim_terminal(data: Path, script: list[str] | None = None) -> Path:
    from appliance.services.devices import set_device
    from appliance.services.till import TZ, open_till
    from tests.conftest import Clock
    folder = data.parent / "sim-terminal"
    till = open_till(data, Clock(datetime.now(TZ) - timedelta(minutes=5)))
    try:
        set_device(till, "terminal", {"kind": "sim", "dir": str(folder)}, "system")
    finally:
        till.close()
    if script:
        (folder / "script.json").write_text(json.dumps(script))
    return folder / "ledger.jsonl"


def test_cli_card_sale_goes_through_the_integrated_terminal(shop: Path) -> None:
    ledger_file = with_sim_terminal(shop)
    proc = cli(shop, "sell", "--json-in", "-", stdin=CARD_SALE)
    assert proc.returncode == 0, proc.stderr
    [card] = json.loads(proc.stdout)["payments"]
    [charged] = [json.loads(line) for line in ledger_file.read_text().splitlines() if line.strip()]
    assert charged["type"] == "payment" and charged["amount"] == 2200
    assert card["reference"] == charged["poi_transaction_id"] and card["brand"] == charged["brand"]
    [sale] = sales(shop)
    assert sale["payments"][0]["reference"] == charged["poi_transaction_id"]


def test_cli_card_sale_declined_by_the_terminal_is_not_recorded(shop: Path) -> None:
    ledger_file = with_sim_terminal(shop, ["decline"])
    proc = cli(shop, "sell", "--json-in", "-", stdin=CARD_SALE)
    assert proc.returncode == 1 and "declined" in proc.stderr and "nothing was sold" in proc.stderr
    assert sales(shop) == [] and ledger_file.read_text().strip() == ""
    # a made-up reference is not taken as paid either
    forged = json.dumps({"cashier": "anna", "lines": [{"sku": "BREAD"}],
                         "payments": [{"type": "card", "amount": "22.00", "reference": "SIM00000001.x"}]})
    proc = cli(shop, "sell", "--json-in", "-", stdin=forged)
    assert proc.returncode == 1 and "not an approved terminal payment" in proc.stderr and sales(shop) == []


def test_cli_sale_that_cannot_complete_gives_the_card_back(shop: Path) -> None:
    ledger_file = with_sim_terminal(shop)
    short = json.dumps({"cashier": "anna", "lines": [{"sku": "BREAD"}, {"sku": "MILK"}],
                        "payments": [{"type": "card", "amount": "22.00"}]})  # 12.95 short: refused first
    proc = cli(shop, "sell", "--json-in", "-", stdin=short)
    assert proc.returncode == 1 and sales(shop) == []
    assert ledger_file.read_text().strip() == ""  # refused before the card was charged


def test_cli_without_an_integrated_terminal_records_card_and_manual_card_as_given(shop: Path) -> None:
    proc = cli(shop, "sell", "--json-in", "-", stdin=CARD_SALE)
    assert proc.returncode == 0, proc.stderr
    manual = json.dumps({"cashier": "anna", "lines": [{"sku": "MILK"}],
                         "payments": [{"type": "manual_card", "amount": "12.95"}]})
    assert cli(shop, "sell", "--json-in", "-", stdin=manual).returncode == 0
    assert [s["payments"][0]["type"] for s in sales(shop)] == ["card", "manual_card"]


def test_cli_manual_card_beside_an_integrated_terminal_does_not_touch_it(shop: Path) -> None:
    ledger_file = with_sim_terminal(shop)
    manual = json.dumps({"cashier": "anna", "lines": [{"sku": "MILK"}],
                         "payments": [{"type": "manual_card", "amount": "12.95"}]})
    proc = cli(shop, "sell", "--json-in", "-", stdin=manual)
    assert proc.returncode == 0, proc.stderr
    assert ledger_file.read_text().strip() == "" and len(sales(shop)) == 1


def test_cli_return_goes_back_to_the_card_through_the_terminal(shop: Path) -> None:
    ledger_file = with_sim_terminal(shop)
    sold = json.loads(cli(shop, "sell", "--json-in", "-", stdin=CARD_SALE).stdout)
    back = json.dumps({"cashier": "anna", "lines": [{"sku": "BREAD"}]})
    proc = cli(shop, "return", "--receipt", str(sold["receipt_number"]), "--json-in", "-", stdin=back)
    assert proc.returncode == 0, proc.stderr
    moved = [json.loads(line) for line in ledger_file.read_text().splitlines() if line.strip()]
    assert [m["type"] for m in moved] == ["payment", "refund"]
    assert moved[1]["amount"] == 2200
    [paid] = json.loads(proc.stdout)["payments"]
    assert paid["type"] == "card" and paid["amount"] == "-22.00"


def test_cli_return_naming_a_card_refund_by_hand_is_refused_beside_a_terminal(shop: Path) -> None:
    ledger_file = with_sim_terminal(shop)
    sold = json.loads(cli(shop, "sell", "--json-in", "-", stdin=CARD_SALE).stdout)
    by_hand = json.dumps({"cashier": "anna", "lines": [{"sku": "BREAD"}],
                          "payments": [{"type": "card", "amount": "22.00"}]})
    proc = cli(shop, "return", "--receipt", str(sold["receipt_number"]), "--json-in", "-", stdin=by_hand)
    assert proc.returncode == 1
    assert "card refund goes back through it" in proc.stderr
    assert [json.loads(line)["type"] for line in ledger_file.read_text().splitlines() if line.strip()] == ["payment"]
