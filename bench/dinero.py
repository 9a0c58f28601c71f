"""Benchmark 6: posting a Z to Dinero, and the uploader at rest.

(a) HTTP requests per Z after login, counted by the fake Dinero (target: at most 3 — the file,
the ledger item, and a status read only where an answer was lost); (b) the resident memory of
`till uploader run` while idle, read from /proc after it told systemd it is ready and has done a
pass (target: under 60 MB)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from appliance.dinero.personal import connect_personal
from appliance.dinero.tokens import TokenStore
from appliance.domain.money import format_kroner
from appliance.services import uploader as up
from appliance.services.closing import close_day, x_figures
from appliance.services.selling import sell
from appliance.services.setup import set_account
from tests.fakes.dinero import FakeDinero

from .common import Row, check, make_items, new_shop, run_alone, sale_request, say, scratch_dir

ORG = 1001
DAYS = 10
MAX_REQUESTS = 3
RSS_TARGET_MB = 60.0
ACCOUNTS = {"revenue:default": 1000, "cash": 55040, "bank": 55000, "differences": 7380, "rounding": 7390,
            "payment:card": 55000, "payment:mobilepay": 55000, "payment:manual_card": 55000,
            "payment:gift_voucher": 55000}


def _posting_requests(fake: FakeDinero, before: int) -> int:
    return sum(1 for _m, path, _s in fake.requests[before:] if "/oauth/" not in path)


def run() -> list[Row]:
    say(f"== dinero: requests per Z (target <= {MAX_REQUESTS}) and idle uploader memory "
        f"(target < {RSS_TARGET_MB:g} MB)")
    import random
    from datetime import datetime

    from appliance.services.till import TZ, ManualClock
    rows: list[Row] = []
    with scratch_dir("dinero-") as tmp, FakeDinero() as fake:
        fake.add_org(ORG, "Bench ApS", pro=True)
        fake.add_personal_client("bench", "bench-secret", "bench-key", ORG)
        clock = ManualClock(datetime(2026, 11, 2, 9, 0, tzinfo=TZ))
        items = make_items(200)
        till = new_shop(tmp / "till", items, clock)
        for key, number in ACCOUNTS.items():
            set_account(till, key, number)
        connect_personal(TokenStore(till.data_dir), f"{fake.url}/dineroapi/oauth/token", fake.url,
                         "bench", "bench-secret", "bench-key", org_id=ORG)
        rng = random.Random(3)
        uploader = up.Uploader(till, up.connector(till))
        uploader.run_once()  # nothing queued: logs in once, so what follows is "after login"
        counts, lost_counts = [], []
        for day in range(DAYS):
            for i in range(20):
                clock.advance(minutes=10)
                sell(till, sale_request(rng, items, 3, card=i % 2 == 0))
            clock.advance(hours=1)
            close_day(till, format_kroner(x_figures(till).cash_expected))
            if day % 2:  # every other day the item's answer is lost after Dinero stored it
                fake.drop_after_store_next(1, path_contains="ledgeritems")
            before = len(fake.requests)
            for _ in range(5):
                uploader.run_once()
                clock.advance(hours=1)
            (lost_counts if day % 2 else counts).append(_posting_requests(fake, before))
            clock.advance(hours=14)
        assert len(fake.ledger_items(ORG)) == DAYS
        say(f"  requests per Z, plain: {counts}")
        say(f"  requests per Z, the item's answer lost: {lost_counts} (file, item, then one status read "
            "finds it stored)")
        worst, worst_lost = max(counts), max(lost_counts)
        ok = worst <= MAX_REQUESTS and worst_lost <= MAX_REQUESTS
        say(f"  requests per Z: {worst} (with a lost answer {worst_lost})   target: <={MAX_REQUESTS} -> "
            f"{'OK' if ok else 'MISSED'}")
        rows.append(Row("dinero", "HTTP requests per Z after login", f"{worst}", f"<= {MAX_REQUESTS}", ok))
        rows.append(Row("dinero", "requests per Z, answer lost", f"{worst_lost}", f"<= {MAX_REQUESTS}",
                        worst_lost <= MAX_REQUESTS))
        till.close()
        rss = idle_rss_mb(tmp / "till")
        ok_rss = check("uploader idle RSS", rss, RSS_TARGET_MB, "MB")
        rows.append(Row("dinero", "uploader idle RSS", f"{rss:.1f} MB", f"< {RSS_TARGET_MB:g} MB", ok_rss))
    return rows


def idle_rss_mb(data: Path) -> float:
    sock_path = data.parent / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(sock_path))
    notify.settimeout(30)
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "TILLBOX_DATA": ""}
    proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", "--data", str(data), "uploader", "run"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not notify.recv(512).startswith(b"READY=1"):
            pass
        while not notify.recv(512).startswith(b"WATCHDOG=1"):  # one pass done
            pass
        time.sleep(2.0)
        status = Path(f"/proc/{proc.pid}/status").read_text()
        rss_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
        hwm_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
        say(f"  uploader pid {proc.pid}: VmRSS {rss_kb / 1024:.1f} MB, peak {hwm_kb / 1024:.1f} MB")
        return rss_kb / 1024
    finally:
        proc.terminate()
        proc.wait(10)
        notify.close()


if __name__ == "__main__":
    run_alone(run)
