"""`till hw`, `till labels`, `till print`, `till receipt copy` and printing from the CLI, run as
subprocesses against simulated devices (and a fake network printer), as an installer would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from tests.fakes.network_printer import FakeNetworkPrinter

from .test_cli import ok, till

SALE = {"cashier": "anna", "lines": [{"barcode": "5701234567899"}],
        "payments": [{"type": "cash", "amount": "20.00"}]}


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    from tests.conftest import CATALOG
    data = tmp_path / "shop"
    ok(till(data, "init", "--shop-name", "Købmand Hansen", "--cvr", "12345678",
            "--address", "Hovedgaden 1, 4000 Roskilde"))
    csv = tmp_path / "catalog.csv"
    csv.write_text(CATALOG, encoding="utf-8")
    ok(till(data, "catalog", "import", str(csv)))
    ok(till(data, "cashier", "add", "anna", "--pin", "1234"))
    return data


def test_hw_sim_then_a_cash_sale_prints_and_opens_the_drawer(shop: Path) -> None:
    configured = ok(till(shop, "hw", "sim"))
    assert set(configured) == {"printer", "drawer", "scanner", "labels", "terminal"}
    listing = ok(till(shop, "hw", "list"))
    assert listing["configured"]["printer"]["kind"] == "sim"
    assert listing["printer_status"]["online"] is True and listing["print_queue"] == 0
    assert isinstance(listing["found"], list)
    sale = ok(till(shop, "sell", "--json-in", "-", stdin=json.dumps(SALE)))
    assert sale["print"]["printed"] == [1] and sale["drawer"]["result"] == "pulsed"
    printed = shop / "sim" / "printer"
    assert "Sødmælk 1 l" in (printed / "0001.txt").read_text(encoding="utf-8")
    codes = [r.text for r in zxingcpp.read_barcodes(Image.open(printed / "0001.png"))]
    assert codes == [f"R{sale['receipt_number']}"]
    assert len((shop / "sim" / "drawer" / "drawer.log").read_text().splitlines()) == 1


def test_hw_test_printer_drawer_labels_and_copies(shop: Path) -> None:
    ok(till(shop, "hw", "sim"))
    result = ok(till(shop, "hw", "test", "printer"))
    assert result["printed"] == [1]
    text = (shop / "sim" / "printer" / "0001.txt").read_text(encoding="utf-8")
    assert "TESTBON" in text and "Æ Ø Å æ ø å é" in text
    assert ok(till(shop, "hw", "test", "drawer"))["result"] == "pulsed"
    assert ok(till(shop, "hw", "test", "labels"))["printed"] == 1
    ok(till(shop, "sell", "--json-in", "-", stdin=json.dumps(SALE)))
    copy = ok(till(shop, "receipt", "copy", "1", "--cashier", "anna"))
    assert copy["printed"] == [3]
    assert "KOPI" in (shop / "sim" / "printer" / "0003.txt").read_text(encoding="utf-8")
    # as the README writes it: no --cashier, the shell's `system` asks for the copy
    assert ok(till(shop, "receipt", "copy", "1"))["printed"] == [4]
    assert "KOPI" in (shop / "sim" / "printer" / "0004.txt").read_text(encoding="utf-8")
    x = ok(till(shop, "report", "x", "--print"))
    assert x["print"]["printed"] == [5]
    z = ok(till(shop, "close-day", "--counted-cash", "12.95", "--print"))
    assert z["print"]["printed"] == [6]
    again = ok(till(shop, "reports", "show", "--print"))
    assert again["print"]["printed"] == [7]
    assert "Z" in (shop / "sim" / "printer" / "0007.txt").read_text(encoding="utf-8")


def test_labels_print_by_group_and_by_date(shop: Path) -> None:
    ok(till(shop, "hw", "sim"))
    result = ok(till(shop, "labels", "print", "--group", "Mejeri"))
    assert result["printed"] == 3 and result["skipped"] == []
    assert len(list((shop / "sim" / "labels").glob("*.png"))) == 3
    assert ok(till(shop, "labels", "print", "--changed-since", "2099-01-01"))["printed"] == 0
    bad = till(shop, "labels", "print", "--changed-since", "yesterday")
    assert bad.returncode == 1 and "date" in json.loads(bad.stdout)["error"]


def test_hw_set_refuses_a_bad_spec_and_keeps_the_old_one(shop: Path) -> None:
    ok(till(shop, "hw", "sim"))
    for spec in ('{"kind": "network"}', "not json", '{"kind": "usb", "vendor_id": "zz"}'):
        proc = till(shop, "hw", "set", "printer", spec)
        assert proc.returncode == 1 and json.loads(proc.stdout)["error"]
    assert ok(till(shop, "hw", "list"))["configured"]["printer"]["kind"] == "sim"
    assert ok(till(shop, "journal", "verify"))["ok"] is True


def test_a_missing_printer_never_blocks_the_sale_and_print_retry_catches_up(shop: Path) -> None:
    with FakeNetworkPrinter() as printer:
        spec = json.dumps({"kind": "network", "host": "127.0.0.1", "port": printer.port})
        ok(till(shop, "hw", "set", "printer", spec))
        printer.go_down()
        sale = ok(till(shop, "sell", "--json-in", "-", stdin=json.dumps(SALE)))
        assert sale["receipt_number"] == 1 and sale["print"]["pending"] == 1
        assert "Printeren svarer ikke" in sale["print"]["message"]
        assert ok(till(shop, "print", "status"))["pending"] == 1
        printer.come_back()
        assert ok(till(shop, "print", "retry"))["printed"] == [1]
        assert ok(till(shop, "print", "retry"))["printed"] == []
        assert len(printer.jobs()) == 1


def test_hw_test_scanner_reads_one_scan_from_the_sim_pipe(shop: Path) -> None:
    import os
    import subprocess
    import sys
    import time

    ok(till(shop, "hw", "sim"))
    cmd = [sys.executable, "-m", "appliance.cli", "--data", str(shop), "--json", "hw", "test", "scanner",
           "--timeout", "20"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    fifo = shop / "sim" / "scanner.fifo"
    deadline = time.monotonic() + 20
    while not fifo.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    fd = os.open(fifo, os.O_WRONLY)  # blocks until the till has the pipe open for reading
    os.write(fd, b"5701234567899\n")
    os.close(fd)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert json.loads(out) == {"code": "5701234567899", "source": "sim", "product": "Sødmælk 1 l",
                               "receipt_number": None, "message": None}


def test_logo_prints_at_the_top_of_receipts(shop: Path, tmp_path: Path) -> None:
    from PIL import ImageDraw

    ok(till(shop, "hw", "sim"))
    logo = tmp_path / "logo.png"
    img = Image.new("L", (300, 80), 255)
    ImageDraw.Draw(img).ellipse((10, 10, 290, 70), fill=0)
    img.save(logo)
    assert ok(till(shop, "hw", "logo", str(logo)))["width"] == 300
    bad = tmp_path / "logo.txt"
    bad.write_text("not a picture")
    assert till(shop, "hw", "logo", str(bad)).returncode == 1
    ok(till(shop, "sell", "--json-in", "-", stdin=json.dumps(SALE)))
    text = (shop / "sim" / "printer" / "0001.txt").read_text(encoding="utf-8")
    first = text.splitlines()[0].strip()  # raster width is padded to whole bytes: 300 -> 304 dots
    assert first in ("[image 300x80]", "[image 304x80]")
    ok(till(shop, "hw", "logo", "none"))
    ok(till(shop, "sell", "--json-in", "-", stdin=json.dumps(SALE)))
    assert "[image" not in (shop / "sim" / "printer" / "0002.txt").read_text(encoding="utf-8")


def test_terminal_key_is_stored_privately_and_never_echoed(shop: Path) -> None:
    import os
    import subprocess
    import sys
    secret = "terminal-shared-passphrase-42"
    proc = subprocess.run([sys.executable, "-m", "appliance.cli", "--data", str(shop), "--json", "hw",
                           "terminal-key"], input=secret + "\n", capture_output=True, text=True,
                          env={**os.environ, "TILLBOX_DATA": "", "TILLBOX_TERMINAL_PASSPHRASE": ""}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert secret not in proc.stdout + proc.stderr
    stored = shop / "secrets" / "terminal.json"
    assert stored.stat().st_mode & 0o777 == 0o600 and json.loads(stored.read_text())["passphrase"] == secret
    short = till(shop, "hw", "terminal-key", stdin="short\n")
    assert short.returncode == 1
