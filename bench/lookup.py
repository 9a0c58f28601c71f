"""Benchmark 3: a barcode lookup in a 100,000-product catalog must take under 1 ms (median).

Times the store's primary-key probe (catalog.by_barcode) and the whole scan path a till line
takes (selling.resolve: check digit, Danish in-store code split, probe), for EAN-13 codes and
in-store price labels (prefix 21-24), plus unknown codes, which are refused after the probes."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence

from appliance.domain.barcodes import make_price_code
from appliance.services.selling import SaleError, resolve
from appliance.services.setup import import_catalog, init_shop
from appliance.store.catalog import by_barcode

from .common import Row, Stats, catalog_csv, check, ean13, make_items, now_ns, run_alone, say, scratch_dir

PRODUCTS = 100_000
PRICE_CODES = 2_000  # of the products, sold by in-store price labels
LOOKUPS = 5_000
WARMUP = 500
TARGET_MS = 1.0


def timings(fn: Callable[[str], object], codes: Sequence[str]) -> list[int]:
    out = []
    for code in codes:
        t0 = now_ns()
        fn(code)
        out.append(now_ns() - t0)
    return out


def refused(fn: Callable[[str], object]) -> Callable[[str], object]:
    """An unknown code raises SaleError: time the refusal, and insist that it happens."""
    def call(code: str) -> object:
        try:
            fn(code)
        except SaleError:
            return None
        raise AssertionError(f"{code} should be unknown")
    return call


def run() -> list[Row]:
    say(f"== lookup: barcode lookup in a {PRODUCTS:,}-product catalog (target: median <{TARGET_MS:g} ms)")
    rows: list[Row] = []
    with scratch_dir("lookup-") as tmp:
        items = make_items(PRODUCTS, price_codes=PRICE_CODES)
        text = catalog_csv(items)
        till = init_shop(tmp / "till", "Bench Købmand", "12345678", "Benchvej 1, 8000 Aarhus C")
        try:
            t0 = time.perf_counter()
            result = import_catalog(till, text)
            say(f"  import_catalog: {result['added']} products ({PRICE_CODES} with in-store price codes) "
                f"in {time.perf_counter() - t0:.1f} s")
            rng = random.Random(3)
            plain = [it.barcode for it in items if not it.price_code]
            labels = [it.barcode for it in items if it.price_code]
            eans = [rng.choice(plain) for _ in range(WARMUP + LOOKUPS)]
            priced = [make_price_code(c[:2], c[2:6], rng.randrange(100, 100_000))
                      for c in (rng.choice(labels) for _ in range(LOOKUPS))]
            unknown = [ean13(PRODUCTS + rng.randrange(10**8)) for _ in range(LOOKUPS // 5)]
            timings(lambda c: by_barcode(till.conn, c), eans[:WARMUP])
            cases: list[tuple[str, str, list[int], bool]] = [
                ("by_barcode", "catalog.by_barcode(conn, ean13)",
                 timings(lambda c: by_barcode(till.conn, c), eans[WARMUP:]), True),
                ("resolve EAN-13", "selling.resolve(till, {barcode: ean13})",
                 timings(lambda c: resolve(till, {"barcode": c}), eans[WARMUP:]), True),
                ("resolve price label", "selling.resolve, in-store price code 21-24",
                 timings(lambda c: resolve(till, {"barcode": c}), priced), True),
                ("resolve unknown", "selling.resolve, unknown EAN-13 (refused)",
                 timings(refused(lambda c: resolve(till, {"barcode": c})), unknown), False),
            ]
        finally:
            till.close()
    for metric, label, samples, has_target in cases:
        st = Stats.of(samples)
        say(st.line(label))
        ok = check(f"{metric} median", st.median_ms, TARGET_MS, "ms") if has_target else None
        rows.append(Row("lookup", f"{metric} median (p90)", f"{st.median_ms:.3f} ms ({st.p90_ns / 1e6:.3f})",
                        f"< {TARGET_MS:g} ms" if has_target else "", ok))
    return rows


if __name__ == "__main__":
    run_alone(run)
