"""`python -m bench` (`make bench`): every benchmark in order, then one summary table. Misses are
printed, never turned into a failing exit status."""

from __future__ import annotations

import time

from . import dinero, kiosk, lookup, payments, receipt_bytes, saft, sale, scan, zreport
from .common import Row, print_summary, say


def main() -> None:
    t0 = time.perf_counter()
    rows: list[Row] = []
    for bench in (sale, zreport, saft, lookup, scan, receipt_bytes, dinero, payments, kiosk):
        rows += bench.run()
        say()
    print_summary(rows, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
