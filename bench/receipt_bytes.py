"""Benchmark: a 30-line Danish receipt Document to ESC/POS bytes must take under 20 ms (median).

Times render_escpos on three printers: python-escpos's default profile at 48 columns, an Epson
TM-T88V (80 mm paper, 512-dot head: 42 columns) and a 58 mm POS-5890, which has no hardware
barcodes, so its receipt-number barcode goes through python-escpos's software renderer (a raster
image). The first call of each profile is reported apart (cold: the profile copy and code page
table are built then cached), as is the import of python-escpos (its capability database)."""

from __future__ import annotations

import importlib
import sys
import time

from drivers.printer.document import Barcode, Document, Feed, Text

from .common import Row, Stats, check, make_items, new_shop, now_ns, run_alone, sale_request, say, scratch_dir

RUNS = 300
WARMUP = 20
TARGET_MS = 20.0
PRINTERS = (("default", 48), ("TM-T88V", 42), ("POS-5890", 32))
GOODS = ("Sødmælk 1 l", "Smør 250 g", "Rugbrød", "Æbler, økologiske", "Rødgrød med fløde", "Kaffe 400 g",
         "Havregryn", "Blåbær 125 g", "Kyllingebryst", "Øl, 6 stk.")


def two_columns(left: str, right: str, columns: int) -> str:
    room = columns - len(right) - 1
    return f"{left[:room]:<{room}} {right}"


def kroner(ore: int) -> str:
    return f"{ore // 100:,}".replace(",", ".") + f",{ore % 100:02d}"


def danish_receipt(columns: int, lines: int = 30) -> Document:
    """Shop header, `lines` sale lines, totals, VAT, tenders, receipt-number barcode, cut, kick."""
    half = columns // 2
    blocks: list[Text | Barcode | Feed] = [
        Text("Købmand Ærø"[:half], align="center", bold=True, large=True),
        Text("Østergade 5, 5970 Ærøskøbing"[:columns], align="center"),
        Text("CVR 12345678 - tlf. 62 52 10 00"[:columns], align="center"),
        Text("20-11-2026 09:41  Kasse 1  Åse"[:columns], align="center"),
        Feed(1),
    ]
    total = 0
    for i in range(lines):
        price = 995 + 1_337 * i % 9_000
        qty = 1 + i % 3
        total += price * qty
        name = GOODS[i % len(GOODS)]
        label = name if qty == 1 else f"{name} {qty} x {kroner(price)}"
        blocks.append(Text(two_columns(label, kroner(price * qty), columns)))
    vat = total // 5  # 25 % VAT is a fifth of the price including VAT
    cash = (total // 10_000 + 1) * 10_000
    blocks += [
        Text("-" * columns),
        Text(two_columns("I ALT DKK", kroner(total), columns), bold=True),
        Text(two_columns("Heraf moms 25%", kroner(vat), columns)),
        Text(two_columns("Kontant", kroner(cash), columns)),
        Text(two_columns("Retur", kroner(cash - total), columns)),
        Feed(1),
        Text("Bon nr. 4711", align="center"),
        Barcode("R4711"),
        Text("Tak for besøget - på gensyn!"[:columns], align="center"),
    ]
    return Document(tuple(blocks), cut=True, kick_drawer=2)


def run() -> list[Row]:
    say(f"== receipt_bytes: 30-line Danish receipt -> ESC/POS bytes (target: median <{TARGET_MS:g} ms)")
    rows: list[Row] = []
    if "escpos.printer" in sys.modules:
        say("  import python-escpos: already imported")
    else:
        importlib.import_module("drivers.printer.escpos_cache")  # where escpos caches its database
        t0 = time.perf_counter()
        importlib.import_module("escpos.printer")
        importing = (time.perf_counter() - t0) * 1000
        say(f"  import python-escpos (capability database): {importing:.1f} ms, once per process")
        rows.append(Row("receipt_bytes", "import python-escpos (once)", f"{importing:.1f} ms"))
    from drivers.printer.escpos_out import render_escpos

    for profile, columns in PRINTERS:
        doc = danish_receipt(columns)
        t0 = now_ns()
        size = len(render_escpos(doc, profile, columns))
        cold_ms = (now_ns() - t0) / 1e6
        for _ in range(WARMUP):
            render_escpos(doc, profile, columns)
        samples = []
        for _ in range(RUNS):
            t0 = now_ns()
            render_escpos(doc, profile, columns)
            samples.append(now_ns() - t0)
        st = Stats.of(samples)
        label = f"{profile} ({columns} col, {size:,} bytes)"
        say(f"  {label}: first call (cold) {cold_ms:.3f} ms")
        say(st.line(f"render_escpos, {label}"))
        ok = check(f"{profile} median", st.median_ms, TARGET_MS, "ms")
        rows.append(Row("receipt_bytes", f"{profile} median (p90)",
                        f"{st.median_ms:.3f} ms ({st.p90_ns / 1e6:.3f})", f"< {TARGET_MS:g} ms", ok))
        rows.append(Row("receipt_bytes", f"{profile} first call", f"{cold_ms:.3f} ms"))
    rows += till_path()
    return rows


def till_path() -> list[Row]:
    """The till's own path for a real 30-line cash sale: sale JSON -> Document -> bytes (what the
    print queue does for each receipt), on an 80 mm TM-T88V."""
    import random

    from appliance.render.receipt_text import render_receipt_doc
    from appliance.services.selling import sell
    from appliance.store.settings import shop
    from drivers.printer.escpos_out import render_escpos

    with scratch_dir("receipt-") as tmp:
        items = make_items(500)
        till = new_shop(tmp / "till", items)
        try:
            sale = sell(till, sale_request(random.Random(11), items, 30, card=False))
            shop_info = shop(till.conn)
        finally:
            till.close()
    samples = []
    for i in range(WARMUP + RUNS):
        t0 = now_ns()
        data = render_escpos(render_receipt_doc(sale, shop_info, 42), "TM-T88V", 42)
        if i >= WARMUP:
            samples.append(now_ns() - t0)
    st = Stats.of(samples)
    say(st.line(f"till: sale JSON -> Document -> bytes (30 lines, {len(data):,} B)"))
    ok = check("till path median", st.median_ms, TARGET_MS, "ms")
    return [Row("receipt_bytes", "till: sale -> Document -> bytes median",
                f"{st.median_ms:.3f} ms", f"< {TARGET_MS:g} ms", ok)]


if __name__ == "__main__":
    run_alone(run)
