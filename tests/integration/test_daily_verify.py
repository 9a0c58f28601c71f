"""The daily full verify: a kiosk that stays open for weeks still walks the whole journal once a day
(in a child process), and a journal that fails stops selling at once, the journal itself refusing
any further entry."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from appliance.domain.journal import ChainReport
from appliance.services.daily_verify import DailyVerify
from appliance.ui.simulate import copy_demo_shop, ensure_demo_shop


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_demo_shop(tmp_path_factory.mktemp("daily") / "demo")


def _tamper_before_the_last_z(data: Path) -> int:
    """An edit the start-up check cannot see (it walks from the last Z on): a sale of the first day."""
    conn = sqlite3.connect(data / "till.db")
    conn.execute("DROP TRIGGER journal_no_update")
    nr = conn.execute("SELECT MIN(nr) FROM journal WHERE kind = 'sale'").fetchone()[0]
    conn.execute("UPDATE journal SET cashier = 'mallory' WHERE nr = ?", (nr,))
    conn.commit()
    conn.close()
    return nr


def _wait(check: DailyVerify) -> ChainReport:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        report = check.poll()
        if report is not None:
            return report
        time.sleep(0.05)
    raise TimeoutError("the full verify did not end")


class Now:
    def __init__(self) -> None:
        self.at = datetime(2026, 12, 7, 9, 0).astimezone()

    def __call__(self) -> datetime:
        return self.at


def test_it_is_due_once_a_day_and_passes_on_a_sound_journal(demo: Path, tmp_path: Path) -> None:
    data = copy_demo_shop(demo, tmp_path / "shop")
    now = Now()
    check = DailyVerify(data, now, None)
    assert check.due()
    check.start()
    assert check.running and not check.due()
    report = _wait(check)
    assert report.ok and report.entries > 100
    assert check.last_ok == now.at and not check.due()
    now.at += timedelta(hours=23, minutes=59)
    assert not check.due()
    now.at += timedelta(minutes=1)
    assert check.due()


def test_it_finds_an_edit_the_start_up_check_cannot(demo: Path, tmp_path: Path) -> None:
    data = copy_demo_shop(demo, tmp_path / "shop")
    nr = _tamper_before_the_last_z(data)
    check = DailyVerify(data, Now(), None)
    check.start()
    report = _wait(check)
    assert (report.ok, report.first_bad) == (False, nr)
    assert report.problem == "content does not match its transID (edited)"
    assert check.due()  # a failed check is not an OK one


KIOSK = r"""
import sys
from pathlib import Path
from appliance.ui.driver import prepare
prepare(offscreen=True)
from appliance.ui.app import TillApp
from appliance.ui.driver import Driver
from appliance.store.journal import JournalStopped
app = TillApp(Path(sys.argv[1]), kiosk=False)
d = Driver(app)
assert app.opened and app.stopped is None, "the start-up check should pass"
count = lambda: app.backend.run(lambda t: t.conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0])
before = count()
app.daily_verify_tick()  # due: no full verify has passed on this folder yet
d.until(lambda: app.stopped is not None or (app.daily_verify_tick() and False), timeout=120,
        what="the daily verify to stop the till")
assert app.manager.current == "journalstop", app.manager.current
print("DETAIL", app.stopped.detail)
from appliance.services.cash import move_cash
try:
    app.backend.run(lambda t: move_cash(t, "in", "100.00", "", "system"))
except JournalStopped as exc:
    print("REFUSED", exc)
assert count() == before
d.close()
"""


def test_a_kiosk_that_fails_its_daily_verify_stops_selling(demo: Path, tmp_path: Path) -> None:
    data = copy_demo_shop(demo, tmp_path / "shop")
    nr = _tamper_before_the_last_z(data)
    proc = subprocess.run([sys.executable, "-c", KIOSK, str(data)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TILLBOX_DATA": "", "SDL_VIDEODRIVER": "offscreen"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"DETAIL Fejl i journalpost {nr}: content does not match its transID (edited)" in proc.stdout
    assert "REFUSED the journal failed its check (content does not match its transID (edited)): nothing more is written" \
        in proc.stdout
