"""Card payments through the terminal simulator (the real nexo protocol with Adyen's local message
security): approved, declined, refunded, and a randomized fault campaign with dropped answers,
timeouts and till crashes at random points, after which the till's journal and the simulator's
ledger agree exactly: nothing charged twice, nothing approved and unrecorded."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from appliance.services import payment_journal, payments
from drivers.terminal.client import TerminalClient, TerminalError
from drivers.terminal.security import SharedKey
from drivers.terminal.simulator import TerminalSimulator

PASSPHRASE = "a passphrase only the till and terminal know"
KEY = SharedKey("tillbox-test-key", PASSPHRASE, 1)


@pytest.fixture
def terminal(tmp_path: Path):
    ledger = tmp_path / "ledger.jsonl"
    # the simulator's "timeout" step outlasts the client's timeout: the till sees no answer
    with TerminalSimulator(key=KEY, ledger=ledger, poi_id="V400m-324688179", timeout_s=0.5) as sim:
        yield sim, TerminalClient(sim.url, KEY, poi_id="V400m-324688179", sale_id="TILL-1", timeout=0.3)


def outcomes(till) -> dict[str, dict]:
    return {json.loads(p)["service_id"]: json.loads(p) for (p,) in till.conn.execute(
        "SELECT payload FROM journal WHERE kind = 'payment_outcome' ORDER BY nr")}


def ledger(sim) -> list[dict]:
    return [json.loads(line) for line in sim.ledger.read_text().splitlines() if line.strip()]


def test_approved_then_sold_and_refunded(till, terminal) -> None:
    from appliance.services.selling import sell
    sim, client = terminal
    outcome = payments.pay_by_card(till, client, 2450, "anna", "S1")
    assert outcome.approved and outcome.brand and outcome.poi_transaction_id
    sale = sell(till, {"cashier": "anna", "lines": [{"sku": "BUTTER"}], "payments": [outcome.payment()]})
    assert sale["payments"][0]["brand"] == outcome.brand
    assert sale["payments"][0]["reference"] == outcome.poi_transaction_id
    back = payments.refund_card(till, client, outcome.poi_transaction_id, 2450, "anna", "R1")
    assert back.approved
    kinds = [(e["type"], e["amount"]) for e in ledger(sim)]
    assert kinds == [("payment", 2450), ("refund", 2450)]
    assert payments.open_intents(till) == []


def test_declined_is_journalled_and_not_charged(till, terminal) -> None:
    sim, client = terminal
    sim.script(["decline"])
    outcome = payments.pay_by_card(till, client, 1000, "anna", "S2")
    assert outcome.state == "declined" and outcome.message == "Afvist"
    assert ledger(sim) == []
    assert outcomes(till)[outcome.service_id]["state"] == "declined"


def test_an_answer_lost_after_approval_is_found_by_status(till, terminal) -> None:
    sim, client = terminal
    sim.script(["drop_after"])
    outcome = payments.pay_by_card(till, client, 1295, "anna", "S3")
    assert outcome.approved  # TransactionStatus found the approval
    assert len(ledger(sim)) == 1 and ledger(sim)[0]["service_id"] == outcome.service_id


def test_a_crash_before_the_outcome_is_settled_at_start_up(till, terminal) -> None:
    _sim, client = terminal
    service_id = payments.new_service_id()
    payment_journal.record_intent(till, "anna", "payment", service_id, 5000, "S4")
    client.pay(service_id, "S4", 5000)  # the terminal approved; the till "crashed" before journalling it
    assert [i["service_id"] for i in payments.open_intents(till)] == [service_id]
    [settled] = payments.recover(till, client)
    assert settled.approved and settled.service_id == service_id
    assert payments.open_intents(till) == []


def test_randomized_fault_campaign_journal_and_ledger_agree(till, terminal) -> None:
    sim, client = terminal
    rng = random.Random(20261122)
    steps = ["approve"] * 5 + ["decline", "drop_before", "drop_after", "timeout", "busy"]
    crashes = 0
    for n in range(200):
        sim.script([rng.choice(steps)])
        amount = rng.randint(100, 500_000)
        if rng.random() < 0.1:  # the till dies between the intent and the outcome
            service_id = payments.new_service_id()
            payment_journal.record_intent(till, "anna", "payment", service_id, amount, f"S{n}")
            try:
                client.pay(service_id, f"S{n}", amount)
            except TerminalError:
                pass
            crashes += 1
            payments.recover(till, client, abort_in_progress=True)  # the next start
            continue
        outcome = payments.pay_by_card(till, client, amount, "anna", f"S{n}")
        if outcome.state == payments.UNKNOWN:  # the sale waits: abort what still runs, then settle
            payments.recover(till, client, abort_in_progress=True)
    for _ in range(5):  # a payment the terminal is still running is aborted, then settled
        payments.recover(till, client, abort_in_progress=True)
        if not payments.open_intents(till):
            break
    assert payments.open_intents(till) == []
    approved = {sid: o for sid, o in outcomes(till).items() if o["state"] == "approved"}
    charged = {e["service_id"]: e for e in ledger(sim) if e["type"] == "payment"}
    assert set(approved) == set(charged)  # nothing approved and unrecorded, nothing recorded unapproved
    assert all(approved[sid]["poi_transaction_id"] == charged[sid]["poi_transaction_id"] for sid in charged)
    assert len(charged) == len({e["poi_transaction_id"] for e in charged.values()})  # no double charge
    assert crashes > 5 and len(charged) > 50


def test_till_terminal_sim_serves_the_protocol(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    ledger_file = tmp_path / "ledger.jsonl"
    env = {**os.environ, "TILL_TERMINAL_PASSPHRASE": PASSPHRASE, "TILLBOX_DATA": ""}
    proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", "terminal-sim", "--port", "0", "--key-id",
                             KEY.identifier, "--key-version", "1", "--ledger", str(ledger_file),
                             "--poi-id", "V400m-1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        url = ""
        while "http" not in url:
            url = proc.stdout.readline()
            assert url or proc.poll() is None, proc.stderr.read()
        url = url[url.index("http"):].split()[0]
        client = TerminalClient(url, KEY, poi_id="V400m-1", sale_id="TILL-1", timeout=5)
        result = client.pay(payments.new_service_id(), "S1", 4200)
        assert result.approved and result.amount_ore == 4200
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=10)
    assert PASSPHRASE not in err
    [entry] = [json.loads(line) for line in ledger_file.read_text().splitlines() if line.strip()]
    assert entry["type"] == "payment" and entry["amount"] == 4200


def test_the_terminal_as_a_device_of_the_till(till) -> None:
    """`hw set terminal` with the simulator: its key is made and kept 0600, never in the settings."""
    from appliance.services import devices as dev
    spec = {"kind": "sim", "dir": str(till.data_dir / "sim" / "terminal")}
    dev.set_device(till, "terminal", spec, "system")
    secret_file = till.data_dir / "secrets" / "terminal.json"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    passphrase = json.loads(secret_file.read_text())["passphrase"]
    assert passphrase not in json.dumps(dev.device_settings(till))
    devices = dev.open_devices(till, ("terminal",))
    try:
        outcome = payments.pay_by_card(till, devices.terminal, 1995, "anna", "S9")
        assert outcome.approved and outcome.brand in ("Dankort", "Visa", "Mastercard")
    finally:
        devices.close()
    secret_file.unlink()  # a real terminal with no passphrase set is refused, clearly
    with pytest.raises(dev.DeviceError, match="passphrase"):
        dev.set_device(till, "terminal", {"kind": "nexo", "url": "https://10.0.0.9:8443/nexo", "poi_id": "P",
                                          "key_id": "K"}, "system")
