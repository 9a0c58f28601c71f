"""Closing the day with an integrated card terminal (the simulator as the shop's device): the screen
reconciles it before the Z and shows per brand till / terminal / difference, with a difference in plain
Danish; a terminal that does not answer does not stop the close, and the Z says no reconciliation was
made. Each runs on its own copy of the demo shop, its clock pinned to tomorrow (the suite's kiosk
closes today, reconciling the copied shop's terminal: only what happens after the copy is checked)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.ui.test_counter_flows import copy_shop, run_child

SETUP = """
import json
from appliance.domain.money import format_kroner
from appliance.services import payments
from appliance.services.selling import sell
d.login("bo", "2222")
terminal = app.backend.devices.terminal
assert terminal is not None, "the sim terminal should be a device"

def trade(t):
    sku, price = t.conn.execute(
        "SELECT p.sku, p.price FROM products p JOIN barcodes b ON b.sku = p.sku WHERE b.code LIKE '570%' "
        "ORDER BY b.code LIMIT 1").fetchone()
    paid = payments.pay_by_card(t, terminal, price, "bo", "S1")   # the simulator's first brand: Dankort
    assert paid.approved and paid.brand == "Dankort", paid
    sell(t, {"cashier": "bo", "lines": [{"sku": sku}], "payments": [paid.payment()]})
    # booked to Visa on the till, never charged by the terminal
    sell(t, {"cashier": "bo", "lines": [{"sku": sku}],
             "payments": [{"type": "card", "amount": format_kroner(price), "brand": "Visa", "reference": "NEVER"}]})
    return price

start = app.backend.run(lambda t: t.conn.execute("SELECT MAX(nr) FROM journal").fetchone()[0])
price = app.backend.run(trade)
"""

CLOSE = """
screen = app.screen("endofday")
d.tap("menu-toggle")
d.tap("menu-endofday")
d.settle()
d.tap("close-day")
d.tap("close-confirm")
d.until(lambda: screen.mode == "done", what="the day to close")
d.settle()
rows = [w.text for w in reversed(screen.ids.result_rows.children)]
colours = {w.text: list(w.color) for w in screen.ids.result_rows.children}
def journal(t):
    recs = [json.loads(p) for (p,) in t.conn.execute(
        "SELECT payload FROM journal WHERE kind = 'terminal_reconciliation' AND nr > ? ORDER BY nr", (start,))]
    [(z,)] = t.conn.execute("SELECT payload FROM journal WHERE kind = 'z_report' ORDER BY nr DESC LIMIT 1")
    return recs, json.loads(z)
recs, z = app.backend.run(journal)
print(json.dumps({"note": screen.terminal_note, "warn": screen.terminal_warn, "rows": rows, "colours": colours,
                  "message": app.message, "recs": recs, "z": z, "price": price}), flush=True)
d.close()
"""


@pytest.fixture
def shop(tmp_path: Path, kiosk_data: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    tomorrow = (datetime.now() + timedelta(days=1)).replace(hour=18, minute=0, second=0, microsecond=0)
    monkeypatch.setenv("TILLBOX_CLOCK", tomorrow.isoformat())
    from appliance.services.devices import set_device
    from appliance.services.till import open_till
    data = copy_shop(kiosk_data, tmp_path)
    with open_till(data) as till:
        set_device(till, "terminal", {"kind": "sim", "dir": str(data / "sim" / "terminal")}, "system")
    return data


def _dkk(ore: int) -> str:
    from appliance.domain.money import format_dkk
    return format_dkk(ore)


def test_closing_reconciles_the_terminal_and_shows_the_difference(shop: Path) -> None:
    out = run_child(SETUP + CLOSE, shop)
    price = out["price"]
    # the screen: per brand till / terminal, the Visa difference highlighted, in plain Danish
    assert out["note"] == f"Terminalen og kassen er ikke enige: Visa {_dkk(-price)}"
    assert out["warn"] is True and out["note"] in out["message"]
    rows = out["rows"]
    assert rows[rows.index("Kortterminal") + 1] == "kasse / terminal"
    assert rows[rows.index("Dankort") + 1] == f"{_dkk(price)} / {_dkk(price)}"
    assert rows[rows.index("Visa") + 1] == f"{_dkk(price)} / {_dkk(0)}"
    assert rows[rows.index("Visa: difference") + 1] == _dkk(-price)
    assert "Dankort: difference" not in rows
    assert out["colours"][_dkk(-price)][0] > 0.5          # the difference in red
    # the journal: one reconciliation, before the Z, and the Z holds it
    [rec] = out["recs"]
    assert rec["agreed"] is False and set(rec["differences"]) == {"Visa"}
    assert rec["terminal"] == {"Dankort": {"payments": 1, "payments_ore": price, "refunds": 0, "refunds_ore": 0}}
    assert rec["till"]["Visa"]["payments_ore"] == price
    info = out["z"]["terminal_reconciliation"]
    assert info["expected"] is True and info["missing"] is False
    [zrec] = info["reconciliations"]
    assert zrec["reconciliation_id"] == rec["reconciliation_id"] and zrec["agreed"] is False
    assert out["z"]["card_by_brand"]["Visa"] == out["z"]["card_by_brand"]["Dankort"]


def test_a_terminal_that_does_not_answer_does_not_stop_the_close(shop: Path) -> None:
    # the terminal goes away before closing: the till's client now finds nobody at its address (stopping
    # the simulator is not enough: it keeps answering on connections it already holds open)
    stop = """
import socket
from drivers.terminal.client import TerminalClient
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
sim_terminal = app.backend.devices.terminal
app.backend.devices.terminal = TerminalClient(f"http://127.0.0.1:{port}/nexo", sim_terminal.client.key,
                                              poi_id="SIM-1", sale_id="TILLBOX", timeout=2, connect_timeout=2)
sim_terminal.close()
"""
    out = run_child(SETUP + stop + CLOSE, shop)
    assert out["note"] == "Terminalen svarer ikke: afstemningen mangler" and out["warn"] is True
    assert out["recs"] == [] and "Kortterminal" not in out["rows"]
    assert out["z"]["terminal_reconciliation"] == {"expected": True, "reconciliations": [], "missing": True}
    assert "Dagen er afsluttet" in out["message"]
