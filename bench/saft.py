"""Benchmark: a year of a busy shop (365 closed days x 300 receipts, about 110,000 cash
transactions) exported as SAF-T Cash Register DK in under 30 s, with peak memory under 100 MB; on
the same year, the start-up check (key and chain since the last Z) and a full journal verify.

The year is built through sell() and close_day() with a hand-moved clock (as bench.zreport builds
its history). The export runs in a fresh interpreter (bench.saftrun), as `till saft export` does, so
its peak resident memory is the process's own (ru_maxrss); beside it the same process's floor: the
interpreter with the till opened and the export's modules imported, exporting nothing."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from datetime import date, timedelta
from datetime import time as clock_time
from pathlib import Path

from appliance.services.till import ManualClock

from .common import Row, check, make_items, new_shop, run_alone, say, scratch_dir
from .zreport import at, trade_days

DAYS = int(os.environ.get("BENCH_SAFT_DAYS", "365"))
RECEIPTS = int(os.environ.get("BENCH_SAFT_RECEIPTS", "300"))
FIRST = date(2025, 1, 1)
TARGET_S = 30.0
TARGET_MB = 100.0


def build(path: Path) -> float:
    t0 = time.perf_counter()
    items = make_items(2_000)
    clock = ManualClock(at(FIRST, clock_time(7, 0)))
    till = new_shop(path, items, clock)
    till.conn.execute("PRAGMA synchronous = OFF")  # building only; the export reopens the till
    try:
        trade_days(till, clock, items, random.Random(3), FIRST, DAYS, RECEIPTS, render_pdf=False)
    finally:
        till.close()
    return time.perf_counter() - t0


def child(data: Path, out: Path, mode: str) -> dict:
    args = {"data": str(data), "out": str(out), "from": FIRST.isoformat(),
            "to": (FIRST + timedelta(days=DAYS - 1)).isoformat(), "mode": mode}
    done = subprocess.run([sys.executable, "-m", "bench.saftrun", json.dumps(args)], check=True,
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    return json.loads(done.stdout)


def run() -> list[Row]:
    say(f"== saft: SAF-T export of {DAYS} closed days x {RECEIPTS} receipts")
    say(f"  targets: <{TARGET_S:g} s, peak memory <{TARGET_MB:g} MB")
    with scratch_dir("saft-") as tmp:
        built_s = build(tmp / "year")
        say(f"  built in {built_s:.0f} s")
        floor = child(tmp / "year", tmp / "floor", "floor")
        result = child(tmp / "year", tmp / "out", "export")
        size = sum(Path(f).stat().st_size for f in result["files"]) / 1e6
        say(f"  {result['transactions']} cash transactions, {result['entries']} journal entries -> "
            f"{len(result['files'])} files, {size:.0f} MB")
        per_tx = result["seconds"] / max(1, result["transactions"]) * 1e6
        say(f"  export: {result['seconds']:.1f} s ({per_tx:.0f} µs a transaction); "
            f"peak memory {result['maxrss_mb']:.0f} MB, of which the floor (interpreter, till "
            f"open, modules imported) is {floor['maxrss_mb']:.0f} MB")
        ok_s = check("export time", result["seconds"], TARGET_S, "s")
        ok_mb = check("peak memory", result["maxrss_mb"], TARGET_MB, "MB")
        startup = child(tmp / "year", tmp / "startup", "startup")
        full = child(tmp / "year", tmp / "verify", "verify")
        say(f"  start-up check (key, chain since the last Z): {startup['seconds'] * 1000:.0f} ms over "
            f"{startup['entries']} entries; full journal verify: {full['seconds']:.1f} s over "
            f"{full['entries']} entries and {full['transactions']} cash transactions (ok={full['ok']})")
    return [Row("saft", f"export {result['transactions']} tx", f"{result['seconds']:.1f} s",
                f"<{TARGET_S:g} s", ok_s),
            Row("saft", "export peak RSS", f"{result['maxrss_mb']:.0f} MB", f"<{TARGET_MB:g} MB", ok_mb),
            Row("saft", "floor RSS (no export)", f"{floor['maxrss_mb']:.0f} MB"),
            Row("saft", "start-up check", f"{startup['seconds'] * 1000:.0f} ms"),
            Row("saft", "full journal verify", f"{full['seconds']:.1f} s")]


if __name__ == "__main__":
    run_alone(run)
