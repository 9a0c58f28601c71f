"""Child process of test_crash.py: sells (and now and then takes a return) in a loop on an
initialised till until it is killed.

Usage: crash_seller.py DATA_DIR SEED

Prints "ready" once the till is open, then "<kind> <receipt number>" after each sell()/refund()
has returned, flushed at once: a printed receipt is one the till has reported done.
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime
from pathlib import Path

from appliance.services.selling import SaleError, refund, sell
from appliance.services.till import open_till
from appliance.store import catalog


def clock() -> datetime:
    return datetime.now(UTC)


def kr(ore: int) -> str:
    return f"{ore // 100}.{ore % 100:02d}"


def sale_request(till, rng: random.Random, skus: list[str]) -> dict:
    lines = [{"sku": rng.choice(skus), "qty": rng.randint(1, 5)} for _ in range(rng.randint(1, 4))]
    total = 0
    for ln in lines:
        product = catalog.by_sku(till.conn, ln["sku"])
        assert product is not None
        total += product.price * ln["qty"]
    how = rng.choice(("cash", "card", "split", "mobilepay"))
    if how == "cash" or total == 0:
        payments = [{"type": "cash", "amount": kr(total + rng.randint(0, 50_000) + 50)}]
    elif how == "split":
        part = rng.randint(0, total)
        payments = [{"type": "card", "amount": kr(part)}] if part else []
        payments.append({"type": "cash", "amount": kr(total - part + 50)})
    else:
        payments = [{"type": how, "amount": kr(total)}]
    return {"cashier": "anna", "lines": lines, "payments": payments}


def main(argv: list[str]) -> int:
    data, seed = Path(argv[1]), int(argv[2])
    rng = random.Random(seed)
    till = open_till(data, clock)
    skus = [r[0] for r in till.conn.execute("SELECT sku FROM products ORDER BY sku")]
    print("ready", flush=True)
    while True:
        if rng.random() < 0.2:
            row = till.conn.execute(
                "SELECT receipt_number FROM receipts WHERE kind = 'sale' "
                "ORDER BY random() LIMIT 1").fetchone()
            if row is None:
                continue
            try:
                r = refund(till, row[0], {"cashier": "anna", "lines": [{"line_no": 1, "qty": 1}]})
            except SaleError:  # that line has been returned already
                continue
        else:
            r = sell(till, sale_request(till, rng, skus))
        sys.stdout.write(f"{r['kind']} {r['receipt_number']}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
