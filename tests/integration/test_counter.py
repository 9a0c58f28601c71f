"""The till with its devices: a completed cash sale prints its receipt and opens the drawer; a
printer that is missing or vanishes mid-receipt never holds up or loses a sale, and prints each
receipt whole exactly once when it is back; drawer openings and sensor times are journalled;
scans become basket lines; labels print for a product, a group, or changed prices."""

from __future__ import annotations

import json
import os
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from appliance.domain.basket import Basket
from appliance.services import cash, checkout
from appliance.services import devices as dev
from appliance.services.drawer import process_events
from appliance.services.labels import LabelError, plan_labels, print_labels
from appliance.services.printing import MSG_OFFLINE, PrintQueue, pending_jobs
from appliance.services.scanning import scan_into_basket
from appliance.services.setup import import_catalog
from appliance.store.journal import verify
from drivers.printer.escpos_read import parse_escpos
from tests.conftest import CATALOG, CVR, journal_count
from tests.fakes.network_printer import FakeNetworkPrinter

CASH_SALE = {"cashier": "anna", "lines": [{"barcode": "5701234567899", "qty": 2}, {"sku": "BREAD"}],
             "payments": [{"type": "cash", "amount": "100.00"}]}
CARD_SALE = {"cashier": "anna", "lines": [{"sku": "BUTTER"}],
             "payments": [{"type": "card", "amount": "24.50", "brand": "Dankort"}]}


def entries(till, kind: str) -> list[dict]:
    return [json.loads(p) for (p,) in till.conn.execute(
        "SELECT payload FROM journal WHERE kind = ? ORDER BY nr", (kind,))]


@pytest.fixture
def sim(till, tmp_path: Path):
    """Every role on its simulated twin."""
    for role, spec in dev.sim_specs(tmp_path / "sim").items():
        dev.set_device(till, role, spec, "system")
    devices = dev.open_devices(till)
    queue = PrintQueue(till, devices.printer)
    yield devices, queue, tmp_path / "sim"
    devices.close()


def decode_png(path: Path) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(path))]


def test_cash_sale_prints_its_receipt_and_opens_the_drawer(till, sim) -> None:
    devices, queue, base = sim
    sale = checkout.complete_sale(till, devices, queue, CASH_SALE)
    assert sale["print"] == {"pending": 0, "printed": [1], "ready": True, "message": None}
    text = (base / "printer" / "0001.txt").read_text(encoding="utf-8")
    assert "Købmand Hansen" in text and "Sødmælk 1 l" in text and "Bon nr. 1" in text
    assert "Retur" in text and "I ALT" in text
    assert f"R{sale['receipt_number']}" in decode_png(base / "printer" / "0001.png")
    # the drawer: one pulse logged, the opening journalled with its reason and the receipt
    assert len((base / "drawer" / "drawer.log").read_text().splitlines()) == 1
    assert entries(till, "drawer_open")[-1] == {"reason": "sale", "result": "pulsed",
                                                "ref": sale["receipt_number"]}
    assert sale["drawer"]["result"] == "pulsed"


def test_card_sale_prints_but_leaves_the_drawer_shut(till, sim) -> None:
    devices, queue, base = sim
    checkout.complete_sale(till, devices, queue, CARD_SALE)
    assert (base / "printer" / "0001.txt").exists()
    assert not (base / "drawer" / "drawer.log").exists()
    assert entries(till, "drawer_open") == []


def test_receipt_job_commits_with_the_sale(till, sim) -> None:
    """The job row is in the sale's transaction: a sale always has its receipt to print."""
    from appliance.services.selling import sell
    sale = sell(till, CARD_SALE)
    row = till.conn.execute("SELECT kind, ref, state FROM print_jobs").fetchall()
    assert row == [("receipt", sale["receipt_number"], "queued")]


def test_no_receipt_sale_is_journalled_but_queues_no_print_job(till, sim) -> None:
    """"print_receipt": false - the customer declined the receipt: no job, the drawer still opens."""
    devices, queue, base = sim
    sale = checkout.complete_sale(till, devices, queue, {**CASH_SALE, "print_receipt": False})
    assert till.conn.execute("SELECT COUNT(*) FROM print_jobs").fetchone()[0] == 0
    assert till.conn.execute("SELECT COUNT(*) FROM receipts WHERE receipt_number = ?",
                             (sale["receipt_number"],)).fetchone()[0] == 1
    assert not (base / "printer" / "0001.txt").exists()
    assert sale["drawer"]["result"] == "pulsed"


def test_missing_printer_queues_and_prints_once_when_back(till, clock) -> None:
    with FakeNetworkPrinter() as printer:
        dev.set_device(till, "printer", {"kind": "network", "host": "127.0.0.1", "port": printer.port,
                                         "paper_mm": 80}, "system")
        devices = dev.open_devices(till)
        queue = PrintQueue(till, devices.printer)
        printer.go_down()
        first = checkout.complete_sale(till, devices, queue, CARD_SALE)
        second = checkout.complete_sale(till, devices, queue, CARD_SALE)
        assert first["print"]["ready"] is False and second["print"]["pending"] == 2
        assert second["print"]["message"] == MSG_OFFLINE
        assert printer.received == b""
        # the sales are safe whatever the printer does
        assert [r[0] for r in till.conn.execute("SELECT receipt_number FROM receipts")] == [1, 2]
        printer.come_back()
        state = queue.pump()
        assert state.ready and state.printed == (1, 2) and state.pending == 0
        jobs = printer.jobs()
        assert len(jobs) == 2
        assert [parse_escpos(j).barcodes for j in jobs] == [[("CODE128", "R1")], [("CODE128", "R2")]]
        assert queue.pump().printed == ()  # nothing twice
        assert len(printer.jobs()) == 2
        devices.close()


def test_printer_vanishing_mid_receipt_prints_it_whole_once(till) -> None:
    with FakeNetworkPrinter() as printer:
        dev.set_device(till, "printer", {"kind": "network", "host": "127.0.0.1", "port": printer.port,
                                         "paper_mm": 80}, "system")
        devices = dev.open_devices(till)
        queue = PrintQueue(till, devices.printer)
        printer.drop_after(60)
        sale = checkout.complete_sale(till, devices, queue, CASH_SALE)
        assert sale["print"]["ready"] is False and sale["print"]["pending"] == 1
        partial = printer.received
        assert 0 < len(partial) <= 60
        printer.drop_after(None)
        state = queue.pump()
        assert state.printed == (1,)
        whole = [j for j in printer.jobs() if parse_escpos(j).cuts]
        assert len(whole) == 1  # the fragment before the drop has no cut; the reprint is whole
        parsed = parse_escpos(whole[0])
        assert parsed.barcodes == [("CODE128", f"R{sale['receipt_number']}")]
        assert any("Sødmælk" in line.text for line in parsed.lines)
        assert queue.pump().printed == ()
        assert till.conn.execute("SELECT attempts, state FROM print_jobs").fetchone() == (2, "printed")
        devices.close()


def test_paper_out_holds_the_queue_with_a_danish_message(till) -> None:
    with FakeNetworkPrinter() as printer:
        dev.set_device(till, "printer", {"kind": "network", "host": "127.0.0.1", "port": printer.port,
                                         "paper_mm": 58}, "system")
        devices = dev.open_devices(till)
        queue = PrintQueue(till, devices.printer)
        printer.set_status(paper_out=True)
        sale = checkout.complete_sale(till, devices, queue, CARD_SALE)
        assert "papir" in sale["print"]["message"] and sale["print"]["pending"] == 1
        assert printer.jobs() == []
        printer.set_status(paper_out=False)
        assert queue.pump().printed == (1,)
        devices.close()


def test_background_queue_prints_without_holding_the_sale(till, tmp_path) -> None:
    spec = dev.sim_specs(tmp_path / "sim")["printer"]
    dev.set_device(till, "printer", spec, "system")
    devices = dev.open_devices(till)
    queue = PrintQueue(till, devices.printer, retry_s=0.05)
    queue.start()
    try:
        sale = checkout.complete_sale(till, devices, queue, CARD_SALE, background=True)
        assert "print" not in sale
        deadline = time.monotonic() + 10
        while pending_jobs(till.conn) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pending_jobs(till.conn) == 0
        assert (tmp_path / "sim" / "printer" / "0001.txt").exists()
    finally:
        queue.stop()
        devices.close()


def test_copy_and_reports_print(till, sim) -> None:
    from appliance.services.closing import close_day, x_report, z_journal_nr
    from appliance.services.printing import enqueue
    from appliance.services.selling import receipt_copy
    from appliance.store.db import transaction
    from appliance.store.journal import last_nr

    devices, queue, base = sim
    checkout.complete_sale(till, devices, queue, CARD_SALE)
    receipt_copy(till, 1, "anna")
    x_report(till, "anna")
    x_nr = last_nr(till.conn)
    z = close_day(till, "0.00", render_pdf=False)
    with transaction(till.conn):
        enqueue(till.conn, "copy", till.now().isoformat(), 1)
        enqueue(till.conn, "report", till.now().isoformat(), x_nr)
        enqueue(till.conn, "report", till.now().isoformat(), z_journal_nr(till, z["z_number"]))
    assert queue.pump().printed == (2, 3, 4)
    copy_text = (base / "printer" / "0002.txt").read_text(encoding="utf-8")
    assert "KOPI" in copy_text and "Bon nr. 1" in copy_text
    assert "X-RAPPORT" in (base / "printer" / "0003.txt").read_text(encoding="utf-8").upper()
    assert "Z-RAPPORT" in (base / "printer" / "0004.txt").read_text(encoding="utf-8").upper()


def test_no_sale_and_cash_movements_pulse_and_journal(till, sim) -> None:
    devices, _queue, base = sim
    result = cash.no_sale(till, "anna", "byttepenge", devices=devices)
    assert result["result"] == "pulsed"
    cash.move_cash(till, "float", "500.00", "Startbeholdning", "bo", devices=devices)
    reasons = [(e["reason"], e["result"]) for e in entries(till, "drawer_open")]
    assert reasons == [("no_sale", "pulsed"), ("cash_float", "pulsed")]
    assert len((base / "drawer" / "drawer.log").read_text().splitlines()) == 2


def test_a_drawer_that_fails_is_journalled_as_failed(till) -> None:
    from drivers.drawer.kick import KickDrawer
    from drivers.printer.base import PrinterUnavailable

    def dead_printer(_data: bytes) -> None:
        raise PrinterUnavailable("printer gone")

    devices = dev.Devices(drawer=KickDrawer(dead_printer, pin=2))
    result = cash.no_sale(till, "anna", devices=devices)
    assert result["result"] == "failed" and "Skuffen" in result["message"]
    assert entries(till, "drawer_open")[-1]["result"] == "failed"


def test_sensor_times_are_journalled_and_unexplained_openings_flagged(till, sim, clock) -> None:
    devices, _queue, _base = sim
    devices.start_watching()
    try:
        cash.no_sale(till, "anna", devices=devices)
        clock.advance(seconds=12)
        devices.drawer.shut()
        _wait_events(devices, 2)
        process_events(till, devices)
        closes = entries(till, "drawer_close")
        assert len(closes) == 1 and closes[0]["open_seconds"] >= 0
        assert "opened_at" in closes[0] and "closed_at" in closes[0]
        assert [e["reason"] for e in entries(till, "drawer_open")] == ["no_sale"]
    finally:
        devices.close()
    # an opening the till did not command
    from drivers.drawer.base import DrawerEvent
    clock.advance(minutes=5)
    devices.events.put(("drawer", DrawerEvent(True, till.now())))
    process_events(till, devices)
    assert entries(till, "drawer_open")[-1]["reason"] == "unexplained"


def _wait_events(devices, n: int) -> None:
    deadline = time.monotonic() + 10
    while devices.events.qsize() < n and time.monotonic() < deadline:
        time.sleep(0.02)


def test_scans_from_the_sim_scanner_land_on_the_basket(till, sim) -> None:
    devices, _queue, base = sim
    devices.start_watching()
    try:
        fifo = base / "scanner.fifo"
        fd = os.open(fifo, os.O_WRONLY)
        os.write(fd, b"5701234567899\n2135040039753\n9999999999994\nR7\n")
        os.close(fd)
        basket = Basket()
        outcomes = []
        for _ in range(4):
            scan = dev.wait_scan(devices, 10)
            assert scan is not None
            outcomes.append(scan_into_basket(till, basket, scan))
    finally:
        devices.close()
    assert [ln.sku for ln in basket.lines] == ["MILK", "CHEESE"]
    assert basket.lines[1].unit_price == 3975  # the price from the in-store code
    assert outcomes[2].line is None and "Ukendt stregkode" in outcomes[2].message
    assert outcomes[3].receipt_number == 7


def test_bad_scans_write_nothing(till) -> None:
    before = journal_count(till)
    basket = Basket()
    for code in ("5701234567898", "", "abc\x00"):
        outcome = scan_into_basket(till, basket, code)
        assert outcome.line is None and outcome.message
    assert basket.lines == [] and journal_count(till) == before


def test_labels_for_a_product_a_group_and_changed_prices(till, sim, clock) -> None:
    devices, _queue, base = sim
    result = print_labels(till, devices, plan_labels(till, sku="MILK"))
    assert result == {"printed": 1, "skipped": [], "skus": ["MILK"]}
    png = sorted((base / "labels").glob("*.png"))
    assert len(png) == 1 and decode_png(png[0]) == ["5701234567899"]
    # a group: the product with only a free code (FREE) is named, not printed
    plan = plan_labels(till, group="Mejeri")
    assert sorted(lb.sku for lb in plan.labels) == ["BUTTER", "CHEESE", "MILK"]
    cheese = next(lb for lb in plan.labels if lb.sku == "CHEESE")
    assert cheese.ean13 == "2135040000005"  # price 0.00 in the catalog -> zero in the code
    assert plan_labels(till, sku="FREE").skipped == ["FREE"]
    # price changes after a later import
    clock.advance(days=3)
    import_catalog(till, CATALOG.replace("Smør 250 g,24.50", "Smør 250 g,26.95")
                   + "NEW,5701234567936,Ny vare,10.00,25,Kolonial\n")
    since = (clock.now - timedelta(hours=1)).date()
    changed = plan_labels(till, changed_since=since)
    assert sorted(lb.sku for lb in changed.labels) == ["BUTTER", "NEW"]
    assert next(lb for lb in changed.labels if lb.sku == "BUTTER").price == "26,95 kr"
    assert plan_labels(till, changed_since=date(2030, 1, 1)).labels == []
    with pytest.raises(LabelError):
        plan_labels(till, sku="NOPE")


def test_unit_prices_on_labels(till, sim) -> None:
    import_catalog(till, "sku,barcode,name,price,vat_rate,group,content\n"
                         "JAM,5701234567943,Jordbærsyltetøj,24.95,25,Kolonial,400 g\n"
                         "JUICE,5701234567950,Æblejuice,18.00,25,Drikkevarer,\"1,5 l\"\n"
                         "CANDY,2712341000004,Slik i løs vægt,129.00,25,Slik,\n")
    labels = {lb.sku: lb for lb in plan_labels(till, group="Kolonial").labels
              + plan_labels(till, group="Drikkevarer").labels + plan_labels(till, sku="CANDY").labels}
    assert labels["JAM"].unit_price == "Kilopris 62,38 kr/kg"
    assert labels["JUICE"].unit_price == "Literpris 12,00 kr/l"
    assert labels["CANDY"].price == "129,00 kr/kg" and labels["CANDY"].unit_price is None


def test_device_settings_are_checked_and_journalled(till) -> None:
    with pytest.raises(dev.DeviceError):
        dev.set_device(till, "printer", {"kind": "usb"}, "system")
    with pytest.raises(dev.DeviceError):
        dev.set_device(till, "drawer", {"kind": "gpio", "chip": "pinctrl-rp1", "line": 17, "pulse_ms": 900},
                       "system")
    with pytest.raises(dev.DeviceError):
        dev.set_device(till, "toaster", {"kind": "sim"}, "system")
    assert dev.device_settings(till)["printer"] is None
    dev.set_device(till, "drawer", {"kind": "printer_kick", "pin": 5, "pulse_ms": 150}, "system")
    changes = entries(till, "settings_change")
    assert changes[-1] == {"key": "device.drawer", "value": {"kind": "printer_kick", "pin": 5,
                                                               "pulse_ms": 150}}
    assert verify(till.conn, CVR).ok


def test_a_gpio_drawer_without_its_chip_is_refused_or_left_out(till) -> None:
    spec = {"kind": "gpio", "chip": "pinctrl-rp1", "line": 17}
    with pytest.raises(dev.DeviceError, match="pinctrl-rp1"):
        dev.set_device(till, "drawer", spec, "system")  # no /dev/gpiochip here
    # a setting made on the Pi, read on a machine without the chip (e.g. a copied data folder)
    from appliance.store.settings import set_meta
    set_meta(till.conn, "device.drawer", json.dumps(spec))
    devices = dev.open_devices(till)
    assert devices.drawer is None  # no /dev/gpiochip here: logged, and the till still sells
    assert checkout.complete_sale(till, devices, None, CASH_SALE)["receipt_number"] == 1


def test_printer_kick_drawer_opens_through_the_network_printer(till) -> None:
    with FakeNetworkPrinter() as printer:
        dev.set_device(till, "printer", {"kind": "network", "host": "127.0.0.1", "port": printer.port},
                       "system")
        dev.set_device(till, "drawer", {"kind": "printer_kick", "pin": 2, "pulse_ms": 120}, "system")
        devices = dev.open_devices(till)
        queue = PrintQueue(till, devices.printer)
        sale = checkout.complete_sale(till, devices, queue, CASH_SALE)
        assert sale["drawer"]["result"] == "pulsed" and sale["print"]["printed"] == [1]
        assert parse_escpos(printer.received).kicks == [(2, 120, 120)]  # ESC p 0 60 60 (2 ms units)
        printer.set_status(drawer_open=True)
        assert devices.drawer.is_open() is True
        devices.close()



def test_a_job_that_can_never_print_does_not_block_the_queue(till, sim, caplog) -> None:
    from appliance.services.printing import enqueue
    from appliance.store.db import transaction

    devices, queue, base = sim
    with transaction(till.conn):
        enqueue(till.conn, "receipt", till.now().isoformat(), 999)  # no such receipt
    checkout.complete_sale(till, devices, queue, CARD_SALE)
    assert till.conn.execute("SELECT state FROM print_jobs ORDER BY id").fetchall() == [
        ("failed",), ("printed",)]
    assert (base / "printer" / "0001.txt").exists()
    assert "print_job_unrenderable" in caplog.text


def test_a_printer_that_never_answers_status_prints_when_set_up_so(till) -> None:
    with FakeNetworkPrinter() as printer:
        printer.set_status(answer=False)  # a clone that ignores DLE EOT
        spec = {"kind": "network", "host": "127.0.0.1", "port": printer.port}
        dev.set_device(till, "printer", spec, "system")
        devices = dev.open_devices(till)
        devices.printer.status_timeout = 0.2
        held = checkout.complete_sale(till, devices, PrintQueue(till, devices.printer), CARD_SALE)
        assert held["print"]["printed"] == [] and held["print"]["message"] == MSG_OFFLINE
        devices.close()
        dev.set_device(till, "printer", {**spec, "status": False}, "system")
        devices = dev.open_devices(till)
        state = PrintQueue(till, devices.printer).pump()
        assert state.printed == (1,) and len(printer.wait_jobs(1)) == 1
        printer.go_down()  # and when it is really gone, the queue still holds
        checkout.complete_sale(till, devices, PrintQueue(till, devices.printer), CARD_SALE)
        assert pending_jobs(till.conn) == 1
        devices.close()
