"""`till kiosk --simulate`: a demo shop on simulated devices, so the kiosk runs anywhere."""

from __future__ import annotations

import json
from pathlib import Path


def ensure_demo_shop(data: Path) -> Path:
    """A demo shop with two closed days (ending yesterday), sim devices and favourites."""
    from ..services.demo import run_demo
    from ..services.till import open_till
    from ..store.db import transaction
    from ..store.settings import get_meta, set_meta
    if not (data / "till.db").exists():
        run_demo(data, 2, end_days_ago=1)
    with open_till(data) as till:
        if not get_meta(till.conn, "kiosk.favourites"):
            skus = [r[0] for r in till.conn.execute(
                "SELECT sku FROM products WHERE sku NOT LIKE 'W%' ORDER BY sku LIMIT 12")]
            with transaction(till.conn):
                set_meta(till.conn, "kiosk.favourites", json.dumps(skus))
    return data
