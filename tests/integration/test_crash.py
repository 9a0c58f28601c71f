"""Power-cut test: a till selling in a child process is SIGKILLed at random moments, over and over,
on the same data directory. Afterwards the journal verifies, receipt numbers are gap-free, and
every receipt the child reported done is in the database with its signed journal entry."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from appliance.services.closing import close_day
from appliance.services.selling import sell
from appliance.services.setup import add_cashier, import_catalog, init_shop
from appliance.services.till import open_till
from appliance.store.journal import entry, verify

SELLER = Path(__file__).with_name("crash_seller.py")
ROOT = Path(__file__).resolve().parents[2]
CVR = "87654321"
KILLS = 30
CATALOG = """sku,barcode,name,price,vat_rate,group
M1,,Mælk,12.95,25,Mejeri
M2,,Smør,24.50,25,Mejeri
K1,,Kaffe,49.99,25,Kolonial
K2,,Tyggegummi,0.25,25,Kolonial
A1,,Avis,25.00,0,Aviser
F1,,Frimærke,12.33,0,Frimærker
"""


def clock() -> datetime:
    return datetime.now(UTC)


class Child:
    """One run of crash_seller.py, its stdout read line by line on a thread."""

    def __init__(self, data: Path, seed: int, stderr_path: Path):
        env = {k: v for k, v in os.environ.items() if k != "TILLBOX_CLOCK"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
        self.stderr_path = stderr_path
        self._stderr = stderr_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, str(SELLER), str(data), str(seed)], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        self.lines: list[str] = []
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if line == "ready\n":
                self.ready.set()
        self.ready.set()  # end of output: died (or was killed) before or after getting ready

    def kill(self) -> int:
        os.kill(self.proc.pid, signal.SIGKILL)
        code = self.proc.wait(timeout=30)
        self._thread.join(timeout=30)
        self._stderr.close()
        return code

    def reported(self) -> dict[int, str]:
        """Receipts the child finished: only whole lines count, a torn last line does not."""
        done = {}
        for line in self.lines:
            if line.endswith("\n") and line != "ready\n":
                kind, number = line.split()
                done[int(number)] = kind
        return done

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def receipts_on_disk(data: Path) -> dict[int, str]:
    conn = sqlite3.connect(data / "till.db")
    try:
        return dict(conn.execute("SELECT receipt_number, kind FROM receipts"))
    finally:
        conn.close()


def test_sigkill_while_selling_loses_nothing_reported(tmp_path: Path):
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    data = tmp_path / "till"
    till = init_shop(data, "Crash Købmand", CVR, "Nedbrudsvej 1, 5000 Odense C", clock=clock)
    add_cashier(till, "anna", "Anna", "cashier", "1234")
    import_catalog(till, CATALOG)
    till.close()

    reported: dict[int, str] = {}
    killed_while_selling = 0
    for run in range(KILLS):
        child = Child(data, seed + run, tmp_path / f"stderr-{run}.txt")
        # Most runs are killed while selling; every fifth from its start, so opening the
        # database (WAL recovery, quick_check) gets killed too.
        if run % 5 != 4:
            assert child.ready.wait(timeout=60), f"seed {seed} run {run}: child never got ready"
        time.sleep(rng.uniform(0.05, 0.5))
        assert child.proc.poll() is None, (
            f"seed {seed} run {run}: child exited by itself ({child.proc.returncode}):\n"
            f"{child.stderr()}")
        code = child.kill()
        assert code == -signal.SIGKILL, f"seed {seed} run {run}: exit {code}\n{child.stderr()}"
        done = child.reported()
        if done:
            killed_while_selling += 1
        assert not set(done) & set(reported), f"seed {seed}: a receipt number was handed out twice"
        reported.update(done)
        on_disk = receipts_on_disk(data)
        lost = {n: k for n, k in reported.items() if on_disk.get(n) != k}
        assert not lost, f"seed {seed} run {run}: reported done but not on disk: {lost}"

    assert killed_while_selling >= KILLS // 2, f"seed {seed}: too few runs got to sell"

    with open_till(data, clock) as till:  # opening runs the integrity check
        conn = till.conn
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        report = verify(conn, CVR)
        assert report.ok, f"seed {seed}: {report}"

        rows = conn.execute(
            "SELECT receipt_number, journal_nr, kind, original_receipt, total FROM receipts "
            "ORDER BY receipt_number").fetchall()
        numbers = [r[0] for r in rows]
        assert numbers == list(range(1, len(rows) + 1)), f"seed {seed}: receipt numbers have gaps"
        assert set(reported) <= set(numbers)
        by_number = {r[0]: r for r in rows}
        for number, kind in reported.items():
            assert by_number[number][2] == kind
        for number, journal_nr, kind, original, total in rows:
            e = entry(conn, journal_nr)
            assert e is not None, f"receipt {number} has no journal entry"
            assert e.kind == kind
            record = e.data()
            assert record["receipt_number"] == number
            assert record["total"] == total == e.amount_in
            assert record.get("original_receipt") == original
        journalled = conn.execute(
            "SELECT COUNT(*) FROM journal WHERE kind IN ('sale', 'return')").fetchone()[0]
        assert journalled == len(rows), "a sale or return was journalled without its receipt row"

        # the till still works after all that: the next receipt and a Z over everything
        r = sell(till, {"cashier": "anna", "lines": [{"sku": "M1"}],
                        "payments": [{"type": "card", "amount": "12.95"}]})
        assert r["receipt_number"] == len(rows) + 1
        z = close_day(till, "0.00", render_pdf=False)
        sales = sum(t for _, _, k, _, t in rows if k == "sale") + 1295
        returns = -sum(t for _, _, k, _, t in rows if k == "return")
        assert z["receipts"] == {"sales": sum(1 for r in rows if r[2] == "sale") + 1,
                                 "returns": sum(1 for r in rows if r[2] == "return")}
        assert z["gross_sales"] == f"{sales // 100}.{sales % 100:02d}"
        assert z["returns"] == f"{returns // 100}.{returns % 100:02d}"
        assert verify(conn, CVR).ok
