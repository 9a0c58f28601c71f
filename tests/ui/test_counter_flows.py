"""Flows across the counter: a parked sale resumed, a printer that is offline (the sale goes on and
the cashier is told), a crash in the middle of a basket (the next start comes back to it), and a
fresh box set up from the touchscreen (first manager, then the Dinero set-up)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.ui.conftest import query

CHILD_PRELUDE = """
import json, os, sys
from pathlib import Path
from appliance.ui.driver import prepare, Driver
prepare(offscreen=True, size=(800, 480))
from appliance.ui.app import TillApp
data = Path(sys.argv[1])
app = TillApp(data, kiosk=False)
d = Driver(app)
"""


def run_child(body: str, data: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD_PRELUDE + body, str(data)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "TILLBOX_DATA": ""})
    assert proc.returncode in (0, 9), proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def copy_shop(kiosk_data: Path, tmp_path: Path) -> Path:
    """A copy of the suite's demo shop whose simulated devices (and MobilePay) write into the copy,
    not into the shop the session's kiosk is printing to."""
    from appliance.ui.simulate import copy_demo_shop
    return copy_demo_shop(kiosk_data, tmp_path / "shop")


def codes(kiosk, n: int) -> list[str]:
    return [r[0] for r in query(kiosk, "SELECT code FROM barcodes WHERE code LIKE '570%' ORDER BY code LIMIT ?", n)]


def test_a_parked_sale_is_resumed_and_sold(kiosk) -> None:
    kiosk.login("anna", "1111")
    first, second = codes(kiosk, 2)
    kiosk.scan(first)
    kiosk.scan(second)
    before = query(kiosk, "SELECT COUNT(*) FROM parked")[0][0]
    kiosk.tap("park")
    assert kiosk.app.session.basket.lines == []
    assert "parkeret" in kiosk.app.message
    [(parked_id, basket)] = query(kiosk, "SELECT id, basket FROM parked ORDER BY id DESC LIMIT 1")
    assert query(kiosk, "SELECT COUNT(*) FROM parked")[0][0] == before + 1
    assert len(json.loads(basket)["lines"]) == 2
    kiosk.tap("resume")
    assert [ln.barcode for ln in kiosk.app.session.basket.lines] == [first, second]
    assert query(kiosk, "SELECT COUNT(*) FROM parked WHERE id = ?", parked_id)[0][0] == 0
    journal = [k for (k,) in query(kiosk, "SELECT kind FROM journal ORDER BY nr DESC LIMIT 2")]
    assert journal == ["resume", "park"]


def test_an_offline_printer_never_holds_the_sale(kiosk) -> None:
    state = kiosk.app.data_dir / "sim" / "printer" / "state.json"
    state.write_text(json.dumps({"online": False}))
    try:
        kiosk.login("anna", "1111")
        kiosk.scan(codes(kiosk, 1)[0])
        kiosk.tap("pay")
        kiosk.tap("quick-exact")
        kiosk.until(lambda: kiosk.app.manager.current == "sale", what="the sale to complete")
        [(number,)] = query(kiosk, "SELECT MAX(receipt_number) FROM receipts")
        [(state_now,)] = query(kiosk, "SELECT state FROM print_jobs WHERE ref = ? AND kind = 'receipt'", number)
        assert state_now == "queued"
        pq = kiosk.app.backend.print_queue
        kiosk.until(lambda: pq.last is not None and pq.last.pending, what="the queue to see the printer")
        kiosk.step(70)  # the status line refreshes each second
        kiosk.until(lambda: "Printeren" in kiosk.app.status_right, timeout=5, what="the printer message")
    finally:
        state.write_text(json.dumps({"online": True}))  # the printer is back
    pq.wake()
    kiosk.until(lambda: query(kiosk, "SELECT state FROM print_jobs WHERE ref = ? AND kind = 'receipt'",
                              number)[0][0] == "printed", what="the receipt to print when the printer is back")


def test_a_crash_mid_basket_comes_back_to_the_same_basket(tmp_path: Path, kiosk_data: Path) -> None:
    data = copy_shop(kiosk_data, tmp_path)
    crashed = run_child("""
d.login("anna", "1111")
codes = app.backend.run(lambda t: [r[0] for r in t.conn.execute(
    "SELECT code FROM barcodes WHERE code LIKE '570%' ORDER BY code LIMIT 3")])
for c in codes:
    d.scan(c)
d.settle()
print(json.dumps({"lines": [ln.barcode for ln in app.session.basket.lines]}), flush=True)
os._exit(9)  # a crash: no clean shutdown, nothing flushed by the app
""", data)
    assert len(crashed["lines"]) == 3
    back = run_child("""
d.settle()
print(json.dumps({"screen": app.manager.current, "cashier": app.session.cashier.id,
                  "lines": [ln.barcode for ln in app.session.basket.lines]}), flush=True)
d.close()
""", data)
    assert back == {"screen": "sale", "cashier": "anna", "lines": crashed["lines"]}


def test_a_fresh_box_is_set_up_from_the_touchscreen(tmp_path: Path) -> None:
    from appliance.services.setup import init_shop
    init_shop(tmp_path / "box", "Ny Butik", "12345678", "Gaden 1, 1000 København K").close()
    result = run_child("""
d.settle()
login = app.screen("login")
assert login.first_run, "a box without cashiers must offer the first-run set-up"
login.ids.manager_name.text = "Mette Hansen"
d.type_pin("2468")
d.tap("create-manager")
d.until(lambda: app.manager.current == "pairing", what="the Dinero set-up")
rows = app.backend.run(lambda t: t.conn.execute("SELECT id, role FROM cashiers").fetchall())
print(json.dumps({"screen": app.manager.current, "cashiers": rows,
                  "who": app.session.cashier.id}), flush=True)
d.close()
""", tmp_path / "box")
    assert result == {"screen": "pairing", "cashiers": [["mettehansen", "manager"]], "who": "mettehansen"}


def test_every_screen_fits_each_display_with_big_enough_targets(tmp_path: Path, kiosk_data: Path) -> None:
    """At 800x480 (the official 7" display), 1280x800 and 1920x1080: on every screen, each visible
    button is inside the window and at least 9 mm high (Kivy's mm at the display's density)."""
    data = copy_shop(kiosk_data, tmp_path)
    for width, height in ((800, 480), (1280, 800), (1920, 1080)):
        result = run_child(f"""
from kivy.metrics import mm
from kivy.core.window import Window
from appliance.ui.app import SCREENS
from tests.ui.targets import buttons, in_window
Window.size = ({width}, {height})
d.step(3)
d.login("bo", "2222")
bad = []
for name in SCREENS:
    app.show(name)
    d.settle()
    d.step(3)
    for w, scrolls, hidden in buttons(app.manager.current_screen):
        if hidden:
            continue
        inside = scrolls or in_window(w, Window)
        if w.height < mm(9) - 0.5 or not inside:
            bad.append([name, w.key, round(w.height), round(mm(9)), inside])
print(json.dumps({{"bad": bad, "size": list(Window.size)}}), flush=True)
d.close()
""", data)
        assert result["bad"] == [], (width, height, result["bad"][:30])


def test_a_card_sale_through_the_integrated_terminal(tmp_path: Path, kiosk_data: Path) -> None:
    """With a terminal set up (here the simulator, as a device), the card tender goes through nexo:
    the intent and the outcome are journalled, the sale carries the brand and the terminal's
    transaction id, and the simulator's ledger has the charge once."""
    from appliance.services.devices import set_device
    from appliance.services.till import open_till
    data = copy_shop(kiosk_data, tmp_path)
    with open_till(data) as till:
        set_device(till, "terminal", {"kind": "sim", "dir": str(data / "sim" / "terminal")}, "system")
    result = run_child("""
d.login("anna", "1111")
code = app.backend.run(lambda t: t.conn.execute(
    "SELECT code FROM barcodes WHERE code LIKE '570%' ORDER BY code LIMIT 1").fetchone()[0])
d.scan(code)
d.tap("pay")
d.tap("tender-card")
d.until(lambda: app.manager.current == "sale", what="the card sale to complete")
d.settle()
rows = app.backend.run(lambda t: t.conn.execute(
    "SELECT kind, payload FROM journal WHERE kind IN ('payment_intent', 'payment_outcome', 'sale') "
    "ORDER BY nr DESC LIMIT 3").fetchall())
print(json.dumps({"rows": [[k, json.loads(p)] for k, p in rows]}), flush=True)
d.close()
""", data)
    sale, outcome, intent = result["rows"]
    assert intent[0] == "payment_intent" and outcome[0] == "payment_outcome" and sale[0] == "sale"
    assert outcome[1]["state"] == "approved" and outcome[1]["service_id"] == intent[1]["service_id"]
    [card] = sale[1]["payments"]
    assert card["type"] == "card" and card["brand"] == outcome[1]["brand"]
    assert card["reference"] == outcome[1]["poi_transaction_id"]
    ledger_lines = (data / "sim" / "terminal" / "ledger.jsonl").read_text().splitlines()
    charged = [json.loads(line) for line in ledger_lines if '"payment"' in line]
    assert [c["poi_transaction_id"] for c in charged] == [card["reference"]]
