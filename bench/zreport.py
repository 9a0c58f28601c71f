"""Benchmark 2: closing a heavy day (2,000 receipts, 10,000 lines) must take under 200 ms, and a
year of earlier closed days in the database must not make it slower.

Two databases get the same heavy day of sales: (a) a till that holds only that day, (b) a till
with a year of trade before it, every day closed with a Z. Both are built through sell() and
close_day(), with a hand-moved clock, and with synchronous=OFF while building (durability of a
fixture does not matter; measurements reopen the till with its own FULL setting). A Z can be
taken once per day, so each timing closes a fresh copy of the built database."""

from __future__ import annotations

import importlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

from appliance.domain.money import format_kroner, parse_kroner
from appliance.services.closing import close_day, x_report
from appliance.services.selling import sell
from appliance.services.till import ManualClock, Till, open_till

from .common import (
    TZ,
    Item,
    Row,
    Stats,
    check,
    make_items,
    new_shop,
    now_ns,
    run_alone,
    sale_request,
    say,
    scratch_dir,
)

HEAVY_DAY = date(2025, 11, 14)
HEAVY_RECEIPTS = 2_000
HEAVY_LINES = 5
HISTORY_DAYS = int(os.environ.get("BENCH_HISTORY_DAYS", "365"))
HISTORY_RECEIPTS = int(os.environ.get("BENCH_HISTORY_RECEIPTS", "300"))
CATALOG_SIZE = 2_000
FLOAT = 100_000  # 1,000 kr stays in the drawer overnight; the rest goes to the bank
REPS = 5
COLD_REPS = 3
X_REPS = 5
TARGET_MS = 200.0
TARGET_HISTORY_RATIO = 1.2  # "no slower", with room for the noise of a few samples
OPEN, CLOSE = clock_time(8, 0), clock_time(20, 30)


@dataclass
class Built:
    """A built till directory and the cash its drawer should hold at the heavy day's close."""

    path: Path
    drawer: int
    seconds: float


def at(day: date, when: clock_time) -> datetime:
    return datetime.combine(day, when, TZ)


def trade(till: Till, clock: ManualClock, day: date, requests: Sequence[dict]) -> int:
    """Sell the requests spread over opening hours; returns the cash taken."""
    clock.now = at(day, OPEN)
    step = 12 * 3600 / len(requests)
    cash = 0
    for request in requests:
        clock.advance(seconds=step)
        reply = sell(till, request)
        cash += sum(parse_kroner(p["amount"]) for p in reply["payments"] if p["type"] == "cash")
    return cash


def count(drawer: int) -> tuple[str, str | None]:
    """Counted cash (exactly what is expected) and what goes to the bank."""
    to_bank = drawer - FLOAT if drawer > FLOAT else 0
    return format_kroner(drawer), format_kroner(to_bank) if to_bank else None


def day_requests(rng: random.Random, items: Sequence[Item], n: int, lines: int | None) -> list[dict]:
    return [sale_request(rng, items, lines or rng.randint(1, 5), card=rng.random() < 0.6)
            for _ in range(n)]


def trade_days(till: Till, clock: ManualClock, items: Sequence[Item], rng: random.Random, first: date,
               days: int, receipts: int, render_pdf: bool = True) -> int:
    """`days` days of `receipts` receipts from `first`, each closed with a Z in the evening (what is
    counted is what is expected; all over the float goes to the bank); the drawer left after them."""
    t0 = time.perf_counter()
    drawer = 0
    for d in range(days):
        day = first + timedelta(days=d)
        drawer += trade(till, clock, day, day_requests(rng, items, receipts, None))
        clock.now = at(day, CLOSE)
        counted, to_bank = count(drawer)
        close_day(till, counted, to_bank, render_pdf=render_pdf)
        drawer = parse_kroner(counted) - (parse_kroner(to_bank) if to_bank else 0)
        if (d + 1) % 73 == 0:
            say(f"    ... {d + 1}/{days} days closed, {time.perf_counter() - t0:.0f} s")
    return drawer


def build(path: Path, items: Sequence[Item], heavy: Sequence[dict], history_days: int) -> Built:
    t0 = time.perf_counter()
    first = HEAVY_DAY - timedelta(days=history_days)
    clock = ManualClock(at(first, clock_time(7, 0)))
    till = new_shop(path, items, clock)
    till.conn.execute("PRAGMA synchronous = OFF")  # building only; measured on a reopened till
    try:
        drawer = trade_days(till, clock, items, random.Random(11), first, history_days, HISTORY_RECEIPTS)
        drawer += trade(till, clock, HEAVY_DAY, heavy)
    finally:
        till.close()  # checkpoints the WAL into the file, so a file copy is the whole till
    return Built(path, drawer, time.perf_counter() - t0)


def describe(built: Built) -> str:
    till = open_till(built.path, ManualClock(at(HEAVY_DAY, CLOSE)))
    try:
        entries = till.conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
        receipts = till.conn.execute("SELECT COUNT(*) FROM receipts").fetchone()[0]
        zs = till.conn.execute("SELECT COUNT(*) FROM z_reports").fetchone()[0]
    finally:
        till.close()
    size = (built.path / "till.db").stat().st_size / 1e6
    return (f"{receipts} receipts, {entries} journal entries, {zs} Z reports, {size:.0f} MB, "
            f"built in {built.seconds:.1f} s")


def fresh_copy(built: Built, scratch: Path) -> Path:
    """A copy of the built till to close (a day closes only once)."""
    copy = scratch / "copy"
    shutil.copytree(built.path, copy)
    os.sync()  # the copy's dirty pages must not be flushed during the measured commit
    return copy


def z_on_copy(built: Built, scratch: Path, render_pdf: bool) -> tuple[int, dict]:
    """Close the heavy day on a fresh copy in this process and time close_day alone."""
    copy = fresh_copy(built, scratch)
    till = open_till(copy, ManualClock(at(HEAVY_DAY, CLOSE)))
    try:
        counted, to_bank = count(built.drawer)
        t0 = now_ns()
        data = close_day(till, counted, to_bank, render_pdf=render_pdf)
        ns = now_ns() - t0
    finally:
        till.close()
        shutil.rmtree(copy)
    return ns, data


def z_cold(built: Built, scratch: Path) -> int:
    """close_day with PDF in a fresh interpreter (bench.coldz), as `till close-day` runs it."""
    copy = fresh_copy(built, scratch)
    counted, to_bank = count(built.drawer)
    args = {"data": str(copy), "when": at(HEAVY_DAY, CLOSE).isoformat(), "counted": counted,
            "to_bank": to_bank, "pdf": True}
    try:
        done = subprocess.run([sys.executable, "-m", "bench.coldz", json.dumps(args)], check=True,
                              capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    finally:
        shutil.rmtree(copy)
    return int(done.stdout.strip())


def x_timings(built: Built) -> list[int]:
    till = open_till(built.path, ManualClock(at(HEAVY_DAY, clock_time(20, 0))))
    try:
        out = []
        for _ in range(X_REPS):
            t0 = now_ns()
            x_report(till)
            out.append(now_ns() - t0)
        return out
    finally:
        till.close()


def run() -> list[Row]:
    say(f"== zreport: Z of a heavy day ({HEAVY_RECEIPTS} receipts x {HEAVY_LINES} lines), "
        f"alone and after {HISTORY_DAYS} closed days")
    say(f"  targets: <{TARGET_MS:g} ms; no slower with history: <= {TARGET_HISTORY_RATIO:g}x (noise)")
    items = make_items(CATALOG_SIZE)
    heavy = day_requests(random.Random(5), items, HEAVY_RECEIPTS, HEAVY_LINES)
    with scratch_dir("zreport-") as tmp:
        say(f"  building (a) heavy day only in {tmp}")
        alone = build(tmp / "alone", items, heavy, 0)
        say(f"    (a) {describe(alone)}")
        say(f"  building (b) {HISTORY_DAYS} days x {HISTORY_RECEIPTS} receipts (1-5 lines each, card 60 % /"
            " cash 40 %), a Z every evening, then the same heavy day")
        year = build(tmp / "year", items, heavy, HISTORY_DAYS)
        say(f"    (b) {describe(year)}")

        # warm figures are for a long-running till process: the renderer is already imported
        importlib.import_module("appliance.render.z_pdf")
        times: dict[tuple[str, bool], list[int]] = {}
        report: dict = {}
        for rep in range(REPS):  # interleaved so that disk noise hits both databases alike
            for pdf in ((False, True) if rep % 2 == 0 else (True, False)):
                for name, built in (("a", alone), ("b", year)):
                    ns, report = z_on_copy(built, tmp, pdf)
                    times.setdefault((name, pdf), []).append(ns)
        say(f"  heavy-day Z covers: {report['receipts']['sales']} sales, cash difference "
            f"{report['cash_difference']}, net sales {report['net_sales']} kr")
        cold: dict[str, list[int]] = {}
        for _ in range(COLD_REPS):
            for name, built in (("a", alone), ("b", year)):
                cold.setdefault(name, []).append(z_cold(built, tmp))
        stats = {k: Stats.of(v) for k, v in times.items()}
        x_a, x_b = Stats.of(x_timings(alone)), Stats.of(x_timings(year))

    labels = {"a": "heavy day only", "b": f"+ {HISTORY_DAYS} earlier days"}
    rows: list[Row] = []
    for pdf in (False, True):
        mode = "with PDF" if pdf else "no PDF"  # in this process, renderer already imported
        for name in ("a", "b"):
            st = stats[(name, pdf)]
            say(st.line(f"close_day, {mode}, ({name}) {labels[name]}"))
            ok = check(f"Z ({name}) {mode}", st.median_ms, TARGET_MS, "ms")
            rows.append(Row("zreport", f"Z {mode}, ({name}) {labels[name]}", f"{st.median_ms:.1f} ms",
                            f"< {TARGET_MS:g} ms", ok))
        ratio = stats[("b", pdf)].median_ns / stats[("a", pdf)].median_ns
        ok = check(f"Z {mode}: (b) / (a)", ratio, TARGET_HISTORY_RATIO, "x")
        rows.append(Row("zreport", f"Z {mode}, history / alone", f"{ratio:.2f}x",
                        f"<= {TARGET_HISTORY_RATIO:g}x", ok))
    say("  in a fresh process (`till close-day`: close_day's lazy import of the PDF renderer is timed):")
    for name in ("a", "b"):
        st = Stats.of(cold[name])
        say(st.line(f"close_day+PDF, fresh process, ({name}) {labels[name]}"))
        ok = check(f"Z ({name}) with PDF, fresh process", st.median_ms, TARGET_MS, "ms")
        rows.append(Row("zreport", f"Z with PDF, fresh process, ({name})", f"{st.median_ms:.1f} ms",
                        f"< {TARGET_MS:g} ms", ok))
    say(x_a.line(f"x_report, (a) {labels['a']}"))
    say(x_b.line(f"x_report, (b) {labels['b']}"))
    say(f"  X (b) / (a): {x_b.median_ns / x_a.median_ns:.2f}x")
    rows += [Row("zreport", f"X, (a) {labels['a']}", f"{x_a.median_ms:.1f} ms"),
             Row("zreport", f"X, (b) {labels['b']}", f"{x_b.median_ms:.1f} ms")]
    return rows


if __name__ == "__main__":
    run_alone(run)
