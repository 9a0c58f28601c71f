"""Shared fixtures: a till on a temp folder with a fixed catalog, cashiers and accounts, and a
clock the test moves by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

import drivers.printer.escpos_cache  # noqa: F401  (before any test imports escpos: no stray /tmp dirs)
from appliance.services.setup import add_cashier, import_catalog, init_shop, set_account
from appliance.services.till import TZ, ManualClock, Till

CVR = "12345678"
CATALOG = """sku,barcode,name,price,vat_rate,group
MILK,5701234567899,Sødmælk 1 l,12.95,25,Mejeri
BUTTER,5701234567905|4006381333931,Smør 250 g,24.50,25,Mejeri
BREAD,5701234567912,Rugbrød,22.00,25,Brød
PAPER,5701234567929,Dagblad,30.00,0,Aviser
CHEESE,2135040000005,Ost fra disk,0.00,25,Mejeri
CANDY,2712341000004,Slik i løs vægt,129.00,25,Slik
UPC,036000291452,Amerikansk cola,15.00,25,Drikkevarer
FREE,ABC-123,Pose,1.00,25,Diverse
"""
ACCOUNTS = {
    "revenue:default": 1000, "revenue:Aviser": 1010, "cash": 55040, "bank": 55000,
    "differences": 7380, "rounding": 7390, "payment:card": 55100, "payment:mobilepay": 55110,
    "payment:manual_card": 55100, "payment:gift_voucher": 2900,
}


class Clock(ManualClock):
    """The tests' clock: Europe/Copenhagen, starting on a fixed Friday morning."""

    def __init__(self, start: datetime | None = None):
        super().__init__(start or datetime(2026, 11, 20, 9, 0, tzinfo=TZ))

    def next_day(self) -> datetime:
        self.now = (self.now + timedelta(days=1)).replace(hour=9, minute=0)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_till(data: Path, clock: Clock) -> Till:
    till = init_shop(data, "Købmand Hansen", CVR, "Hovedgaden 1, 4000 Roskilde", "1", clock)
    add_cashier(till, "anna", "Anna", "cashier", "1234")
    add_cashier(till, "bo", "Bo", "manager", "9999")
    for key, number in ACCOUNTS.items():
        set_account(till, key, number)
    import_catalog(till, CATALOG)
    return till


@pytest.fixture
def till(tmp_path: Path, clock: Clock):
    t = make_till(tmp_path / "shop", clock)
    yield t
    t.close()


def journal_count(till: Till) -> int:
    return till.conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
