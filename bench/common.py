"""Shared benchmark helpers: timing statistics, scratch directories on the repo's own disk (fsync
cost depends on the disk), a hand-moved clock, and synthetic catalogs and sale requests."""

from __future__ import annotations

import math
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from appliance.domain.barcodes import gtin_check_digit, make_price_code
from appliance.domain.money import format_kroner
from appliance.services.setup import add_cashier, import_catalog, init_shop
from appliance.services.till import ManualClock, Till

TZ = ZoneInfo("Europe/Copenhagen")
OUT = Path(__file__).resolve().parent / "out"
CATALOG_HEADER = "sku,barcode,name,price,vat_rate,group"
GROUPS = ("Kolonial", "Frugt & grønt", "Mejeri", "Brød", "Kød", "Drikkevarer", "Slik",
          "Husholdning", "Frost", "Aviser")
now_ns = time.perf_counter_ns


def say(text: str = "") -> None:
    """Print at once: `make bench` pipes stdout, and the long builds should show progress."""
    print(text, flush=True)


# --- statistics -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Stats:
    count: int
    median_ns: float
    p90_ns: float
    max_ns: float

    @classmethod
    def of(cls, samples_ns: Sequence[int]) -> Stats:
        s = sorted(samples_ns)
        if not s:
            raise ValueError("no samples")
        p90 = s[max(0, math.ceil(0.9 * len(s)) - 1)]  # nearest rank
        return cls(len(s), float(statistics.median(s)), float(p90), float(s[-1]))

    @property
    def median_ms(self) -> float:
        return self.median_ns / 1e6

    def line(self, label: str) -> str:
        return (f"  {label:<56} n={self.count:<6d} median {self.median_ns / 1e6:8.3f} ms   "
                f"p90 {self.p90_ns / 1e6:8.3f} ms   max {self.max_ns / 1e6:8.3f} ms")


@dataclass(frozen=True)
class Row:
    """One line of the summary table; ok is None for figures that have no target."""

    bench: str
    metric: str
    figure: str
    target: str = ""
    ok: bool | None = None


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("OK" if ok else "MISSED")


def check(label: str, value: float, limit: float, unit: str) -> bool:
    """Print a figure against its target ("ms": below limit; "x": a ratio at most limit).
    A miss is reported, never raised."""
    if unit == "x":
        shown, target, ok = f"{value:.2f}x", f"<={limit:g}x", value <= limit
    else:
        shown, target, ok = f"{value:.3f} {unit}", f"<{limit:g} {unit}", value < limit
    say(f"  {label}: {shown}   target: {target} -> {verdict(ok)}")
    return ok


def run_alone(run: Callable[[], Sequence[Row]]) -> None:
    """`python -m bench.X`: one benchmark, timed, with its summary table."""
    t0 = time.perf_counter()
    print_summary(run(), time.perf_counter() - t0)


def print_summary(rows: Sequence[Row], elapsed_s: float) -> None:
    widths = [max(len(h), *(len(c) for c in col)) for h, col in zip(
        ("benchmark", "metric", "figure", "target", "result"),
        zip(*[(r.bench, r.metric, r.figure, r.target, verdict(r.ok)) for r in rows], strict=True),
        strict=True)]
    say()
    say("Summary")
    header = ("benchmark", "metric", "figure", "target", "result")
    say("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    say("  ".join("-" * w for w in widths))
    for r in rows:
        cells = (r.bench, r.metric, r.figure, r.target, verdict(r.ok))
        say("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    say(f"\nwall time: {elapsed_s:.1f} s")


# --- scratch space and clock ------------------------------------------------------------------

@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A temp dir under bench/out/ (the repo's disk, not tmpfs), removed afterwards."""
    OUT.mkdir(exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=OUT))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        try:
            OUT.rmdir()  # only if empty: other runs may share it
        except OSError:
            pass


# --- catalog and requests ---------------------------------------------------------------------

@dataclass(frozen=True)
class Item:
    sku: str
    barcode: str
    price: int  # øre
    vat_rate: int
    group: str
    price_code: bool = False  # a Danish in-store price code (21-24), variable part zeroed


def ean13(n: int) -> str:
    """A distinct, valid Danish (57...) EAN-13 for each n < 10**10, scattered over the key space."""
    body = f"57{(n * 7919 + 1_234_567) % 10**10:010d}"
    return body + str(gtin_check_digit(body))


def make_items(n: int, *, price_codes: int = 0, seed: int = 1) -> list[Item]:
    """n products; the last `price_codes` of them are sold by in-store price labels."""
    rng = random.Random(seed)
    items = []
    for i in range(n):
        group = GROUPS[i % len(GROUPS)]
        vat = 0 if group == "Aviser" else 25
        price = rng.randrange(200, 50_000)
        j = i - (n - price_codes)
        if j >= 0:
            code = make_price_code(("21", "22", "23", "24")[j % 4], f"{j // 4:04d}", 0)
            items.append(Item(f"PC{j:05d}", code, price, vat, group, price_code=True))
        else:
            items.append(Item(f"P{i:06d}", ean13(i), price, vat, group))
    return items


def catalog_csv(items: Sequence[Item]) -> str:
    rows = [CATALOG_HEADER]
    rows += [f"{it.sku},{it.barcode},Vare {it.sku},{format_kroner(it.price)},{it.vat_rate},{it.group}"
             for it in items]
    return "\n".join(rows) + "\n"


def sale_request(rng: random.Random, items: Sequence[Item], n_lines: int, *, card: bool,
                 cashier: str = "anna") -> dict:
    """A sale request as the till screen sends it: lines by barcode and by SKU, paid by card to
    the øre or in cash with an over-tender (change given)."""
    lines, total = [], 0
    for k in range(n_lines):
        it = rng.choice(items)
        qty = rng.choice((1, 1, 1, 2, 3))
        lines.append({"barcode": it.barcode, "qty": qty} if k % 2 == 0 else {"sku": it.sku, "qty": qty})
        total += it.price * qty
    if card:
        payment = {"type": "card", "amount": format_kroner(total)}
    else:
        payment = {"type": "cash", "amount": format_kroner((total // 10_000 + 1) * 10_000)}
    return {"cashier": cashier, "lines": lines, "payments": [payment]}


def new_shop(data: Path, items: Sequence[Item], clock: ManualClock | None = None) -> Till:
    """A till as a shop has it after set-up: key, catalog, one cashier."""
    till = init_shop(data, "Bench Købmand", "12345678", "Benchvej 1, 8000 Aarhus C", clock=clock)
    import_catalog(till, catalog_csv(items))
    add_cashier(till, "anna", "Anna", "cashier", "1234")
    return till
