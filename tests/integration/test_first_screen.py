"""Every kiosk screen works when it is the first one opened: each in a fresh process on its own
copy of the demo shop, the manager logs in and goes straight to it, and the screen's own tour runs
(`till kiosk --simulate --tour DIR --screen NAME`). A screen that leans on something another
screen loads (a .kv rule, a module) fails here, whatever order the rest of the suite runs in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.ui.simulate import copy_demo_shop, ensure_demo_shop

# Not imported from appliance.ui.app (that opens Kivy's window in this process).
SCREENS = ("sale", "payment", "returns", "cash", "endofday", "reports", "settings", "pairing")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_demo_shop(tmp_path_factory.mktemp("first-screen") / "demo")


@pytest.mark.parametrize("screen", SCREENS)
def test_the_screen_works_when_opened_first(screen: str, demo: Path, tmp_path: Path) -> None:
    data = copy_demo_shop(demo, tmp_path / "shop")
    out = tmp_path / "shots"
    proc = subprocess.run([sys.executable, "-m", "appliance.cli", "--data", str(data), "kiosk", "--simulate",
                           "--tour", str(out), "--screen", screen], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TILLBOX_DATA": "", "SDL_VIDEODRIVER": "offscreen"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    shots = sorted(p.name for p in out.glob("*.png"))
    assert [s for s in shots if s.startswith(f"{screen}-")], shots  # the screen itself was drawn
    assert set(shots) <= {"login-choose.png"} | {s for s in shots if s.startswith(f"{screen}-")}


def test_a_journal_that_fails_its_start_up_check_keeps_the_kiosk_shut(demo: Path, tmp_path: Path) -> None:
    import sqlite3
    data = copy_demo_shop(demo, tmp_path / "shop")
    conn = sqlite3.connect(data / "till.db")
    conn.execute("DROP TRIGGER journal_no_update")  # as an attacker with the file would
    conn.execute("UPDATE journal SET payload = replace(payload, '\"gross_sales\":\"', '\"gross_sales\":\"1') "
                 "WHERE nr = (SELECT MAX(nr) FROM journal WHERE kind = 'z_report')")
    conn.commit()
    before = conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
    conn.close()
    out = tmp_path / "shots"
    proc = subprocess.run([sys.executable, "-m", "appliance.cli", "--data", str(data), "kiosk", "--simulate",
                           "--tour", str(out)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TILLBOX_DATA": "", "SDL_VIDEODRIVER": "offscreen"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in out.glob("*.png")) == ["journalstop-open.png"]  # no login, no sale
    assert "event=journal_stop" in proc.stderr and "edited" in proc.stderr
    assert sqlite3.connect(data / "till.db").execute("SELECT COUNT(*) FROM journal").fetchone()[0] == before
