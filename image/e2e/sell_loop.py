"""Guest side of the image's power-cut test, run by probe.py with the app's venv as the service user.

`sell_loop.py DATA loop` opens the till once and sells until it is killed, printing "ready" and
then "sold <receipt number>" after each sale has returned (committed with its signed journal
entry), flushed at once: a receipt printed here is one the till has reported done, so it must
still be there after the power cut. One process rather than `till sell` per sale, so the plug is
pulled while sales are being written, not while Python starts.

`sell_loop.py DATA state` prints what survived as JSON: the receipts and whether their numbers
are gap-free."""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime
from pathlib import Path

from appliance.services.selling import sell
from appliance.services.till import open_till


def clock() -> datetime:
    return datetime.now(UTC)


def kroner(ore: int) -> str:
    return f"{ore // 100}.{ore % 100:02d}"


def loop(data: Path) -> int:
    till = open_till(data, clock)
    rng = random.Random(7)
    products = list(till.conn.execute("SELECT sku, price FROM products ORDER BY sku"))
    print("ready", flush=True)
    while True:
        chosen = [rng.choice(products) for _ in range(rng.randint(1, 3))]
        total = sum(price for _sku, price in chosen)
        kind = rng.choice(("cash", "card"))
        paid = total + (100 + rng.randint(0, 5000) if kind == "cash" else 0)  # cash: 0.50 rounding, change
        receipt = sell(till, {"cashier": "anna", "lines": [{"sku": sku} for sku, _price in chosen],
                              "payments": [{"type": kind, "amount": kroner(paid)}]})
        print(f"sold {receipt['receipt_number']}", flush=True)


def state(data: Path) -> int:
    till = open_till(data, clock)
    numbers = [n for (n,) in till.conn.execute("SELECT receipt_number FROM receipts ORDER BY receipt_number")]
    print(json.dumps({"count": len(numbers), "max": max(numbers, default=0),
                      "gap_free": numbers == list(range(1, len(numbers) + 1))}))
    return 0


def main(argv: list[str]) -> int:
    data, mode = Path(argv[1]), argv[2]
    return loop(data) if mode == "loop" else state(data)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
