"""Benchmark 5: from a scanner's key events to the product found and on the basket, with a
100,000-product catalog (target: median under 5 ms).

Each sample feeds a real keyboard-wedge event burst (key down/up, EV_MSC and EV_SYN, as a USB
scanner sends them) for one code through the wedge decoder, then the till's scan rules
(services.scanning: check digit, Danish in-store codes, primary-key probe) and Basket.add."""

from __future__ import annotations

import os
import queue
import random
import threading
from types import SimpleNamespace

from evdev import ecodes

from appliance.domain.barcodes import make_price_code
from appliance.domain.basket import Basket
from appliance.services.scanning import scan_into_basket
from appliance.services.setup import import_catalog, init_shop
from appliance.services.till import Till
from drivers.scanner.base import Scan
from drivers.scanner.evdev_scanner import EvdevScanner
from drivers.scanner.keymap import char_for
from drivers.scanner.wedge import WedgeDecoder

from .common import Row, Stats, catalog_csv, check, make_items, now_ns, run_alone, say, scratch_dir

PRODUCTS = 100_000
PRICE_CODES = 2_000
SCANS = 3_000
WARMUP = 300
TARGET_MS = 5.0
BASKET_SIZE = 40  # a new basket after this many lines, as at a real counter


def key_events(code: str, layout: str = "us", t0: float = 0.0) -> list[tuple[int, int, int, float]]:
    """The events a wedge scanner sends for `code` + Enter, 2 ms apart."""
    inverse: dict[str, tuple[int, bool]] = {}
    for key in range(1, 128):
        for shift in (False, True):
            ch = char_for(key, shift, False, layout)
            if ch and ch not in inverse:
                inverse[ch] = (key, shift)
    out: list[tuple[int, int, int, float]] = []
    t = t0
    for ch in [*code, "\n"]:
        key, shift = (ecodes.KEY_ENTER, False) if ch == "\n" else inverse[ch]
        if shift:
            out.append((ecodes.EV_KEY, ecodes.KEY_LEFTSHIFT, 1, t))
        for value in (1, 0):
            out += [(ecodes.EV_MSC, ecodes.MSC_SCAN, 0x70000 + key, t),
                    (ecodes.EV_KEY, key, value, t), (ecodes.EV_SYN, 0, 0, t)]
            t += 0.001
        if shift:
            out.append((ecodes.EV_KEY, ecodes.KEY_LEFTSHIFT, 0, t))
        t += 0.001
    return out


def run() -> list[Row]:
    say(f"== scan: key events -> product on the basket, {PRODUCTS:,}-product catalog "
        f"(target: median <{TARGET_MS:g} ms)")
    with scratch_dir("scan-") as tmp:
        items = make_items(PRODUCTS, price_codes=PRICE_CODES)
        till = init_shop(tmp / "till", "Bench Købmand", "12345678", "Benchvej 1, 8000 Aarhus C")
        try:
            import_catalog(till, catalog_csv(items))
            rng = random.Random(5)
            codes = []
            for _ in range(WARMUP + SCANS):
                it = rng.choice(items)
                codes.append(make_price_code(it.barcode[:2], it.barcode[2:6], rng.randint(100, 99_999))
                             if it.price_code else it.barcode)
            bursts = [key_events(c) for c in codes]
            decoder = WedgeDecoder("us")
            basket = Basket()
            samples: list[int] = []
            added = 0
            for i, burst in enumerate(bursts):
                if len(basket.lines) >= BASKET_SIZE:
                    basket = Basket()
                t0 = now_ns()
                code = None
                for ev in burst:
                    code = decoder.feed(*ev) or code
                assert code is not None, "the decoder lost a scan"
                outcome = scan_into_basket(till, basket, Scan(code, "bench", 0.0))
                elapsed = now_ns() - t0
                if outcome.line is None:
                    raise AssertionError(f"scan of {code} not added: {outcome.message}")
                added += 1
                if i >= WARMUP:
                    samples.append(elapsed)
            st = Stats.of(samples)
            say(f"  bursts of {len(bursts[0])} events per EAN-13 (key down/up, MSC, SYN); "
                f"{PRICE_CODES} products carry in-store price codes")
            say(st.line("in one thread: events -> decoder -> resolve -> basket.add"))
            ok = check("median scan to basket", st.median_ms, TARGET_MS, "ms")
            threaded = Stats.of(through_thread(till, bursts))
            say(threaded.line("via EvdevScanner thread + event queue -> basket.add"))
            ok_t = check("median scan to basket, through the scanner thread", threaded.median_ms,
                         TARGET_MS, "ms")
        finally:
            till.close()
    return [Row("scan", "scan -> basket median", f"{st.median_ms:.3f} ms", f"< {TARGET_MS:g} ms", ok),
            Row("scan", "scan -> basket p90", f"{st.p90_ns / 1e6:.3f} ms"),
            Row("scan", "via scanner thread + queue, median", f"{threaded.median_ms:.3f} ms",
                f"< {TARGET_MS:g} ms", ok_t)]


class ReplayDevice:
    """An input device whose events arrive through a real pipe, as the kernel's would: the reader
    thread wakes on poll() exactly as on /dev/input/eventN."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        self.pending: list[tuple[int, int, int, float]] = []
        self.lock = threading.Lock()

    def fileno(self) -> int:
        return self.r

    def grab(self) -> None:
        pass

    def push(self, burst: list[tuple[int, int, int, float]]) -> None:
        with self.lock:
            self.pending.extend(burst)
        os.write(self.w, b"x")

    def read(self) -> list[SimpleNamespace]:
        os.read(self.r, 4096)
        with self.lock:
            events, self.pending = self.pending, []
        return [SimpleNamespace(type=t, code=c, value=v, timestamp=lambda ts=ts: ts)
                for t, c, v, ts in events]

    def close(self) -> None:
        os.close(self.r)
        os.close(self.w)


def through_thread(till: Till, bursts: list[list[tuple[int, int, int, float]]]) -> list[int]:
    """From the moment a burst is readable on the device to its line on the basket, through the
    real EvdevScanner thread and the till's event queue (as Devices.start_watching wires it)."""
    device = ReplayDevice()
    events: queue.Queue[tuple[str, Scan]] = queue.Queue()
    scanner = EvdevScanner("/dev/input/by-id/bench-event-kbd", opener=lambda _p: device,
                           exists=lambda _p: True)
    scanner.start(lambda scan: events.put(("scan", scan)))
    samples: list[int] = []
    basket = Basket()
    try:
        for i, burst in enumerate(bursts):
            if len(basket.lines) >= BASKET_SIZE:
                basket = Basket()
            shifted = [(t, c, v, ts + i) for t, c, v, ts in burst]  # each scan a second after the last
            t0 = now_ns()
            device.push(shifted)
            _kind, scan = events.get(timeout=5)
            outcome = scan_into_basket(till, basket, scan)
            elapsed = now_ns() - t0
            if outcome.line is None:
                raise AssertionError(f"scan {scan.code} not added: {outcome.message}")
            if i >= WARMUP:
                samples.append(elapsed)
    finally:
        scanner.stop()
    return samples


if __name__ == "__main__":
    run_alone(run)
