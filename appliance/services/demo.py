"""`till demo`: a believable small shop, so `make run` and demos show real figures.

Days are simulated on a clock that starts `days` days back and never runs behind the journal.
A fresh demo shop gets the simulated twin of every device (under DATA/sim); the last day trades
through them, so its receipts, drawer pulses and Z print there (earlier days are history, traded
without devices so a long demo stays quick)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

from ..domain.barcodes import gtin_check_digit, zero_variable_part
from ..domain.money import format_kroner, parse_kroner
from ..store import catalog
from ..store.journal import last_nr
from .cash import move_cash, no_sale
from .checkout import complete_return, complete_sale
from .closing import close_day, x_figures, x_report, z_journal_nr
from .devices import Devices, open_devices, set_device, sim_specs
from .mobilepay_setup import set_mobilepay, sim_spec
from .printing import PrintQueue, queue_job
from .selling import SaleError
from .setup import add_cashier, import_catalog, init_shop, set_account
from .till import TZ, ManualClock, Till, open_till

GROUPS: dict[str, tuple[int, list[str]]] = {
    "Mejeri": (25, ["Sødmælk", "Letmælk", "Skummetmælk", "Kærnemælk", "Yoghurt naturel",
                    "Skyr", "Smør", "Fløde", "Creme fraiche", "Ost mellemlagret"]),
    "Brød": (25, ["Rugbrød", "Franskbrød", "Boller", "Knækbrød", "Toastbrød", "Grovboller",
                  "Kanelsnegl", "Wienerbrød"]),
    "Frugt og grønt": (25, ["Æbler", "Bananer", "Pærer", "Appelsiner", "Gulerødder", "Kartofler",
                            "Løg", "Agurk", "Tomater", "Salat"]),
    "Kolonial": (25, ["Havregryn", "Pasta", "Ris", "Mel", "Sukker", "Kaffe", "Te", "Marmelade",
                      "Rugbrødschips", "Leverpostej"]),
    "Drikkevarer": (25, ["Sodavand", "Danskvand", "Juice", "Øl", "Energidrik", "Kakaomælk",
                         "Saftevand", "Iste"]),
    "Slik": (25, ["Lakrids", "Chokolade", "Vingummi", "Flødeboller", "Pastiller", "Chips"]),
    "Tobak": (25, ["Cigaretter", "Snus", "Tændstikker", "Lighter"]),
    "Husholdning": (25, ["Opvaskemiddel", "Køkkenrulle", "Toiletpapir", "Sæbe", "Skraldeposer",
                         "Batterier"]),
    "Aviser": (0, ["Dagblad", "Ugeblad", "Lokalavis", "Søndagsavis"]),
}
SIZES = ["lille", "stor", "øko", "familie", "1 l", "500 g", "6-pak", "tilbud"]
CARD_BRANDS = ["Dankort", "Dankort", "Dankort", "Visa", "Mastercard"]
ACCOUNTS = {
    "revenue:default": 1000, "revenue:Aviser": 1010, "revenue:Tobak": 1020, "cash": 55040,
    "bank": 55000, "differences": 7380, "rounding": 7390, "payment:card": 55100,
    "payment:manual_card": 55100, "payment:mobilepay": 55110, "payment:gift_voucher": 2900,
}
OPENING_FLOAT = 150000  # 1,500.00 kr stays in the drawer overnight


def catalog_csv(rng: random.Random) -> str:
    rows = ["sku,barcode,name,price,vat_rate,group"]
    n = 0
    for group, (rate, names) in GROUPS.items():
        for name in names:
            for size in SIZES[: 4 + rng.randrange(5)]:
                n += 1
                body = f"570{n:09d}"
                price = rng.choice([395, 595, 895, 1295, 1995, 2495, 3495, 4995, 7995]) + \
                    rng.choice([0, 0, 0, 100, 400])
                rows.append(f"D{n:04d},{body}{gtin_check_digit(body)},{name} {size},"
                            f"{format_kroner(price)},{rate},{group}")
    # goods priced or weighed at the counter, sold with in-store codes (prefix 22 / 27)
    rows.append(f"W0001,{zero_variable_part('2200010000000', 6)},Pålæg fra disk,0.00,25,Kolonial")
    rows.append(f"W0002,{zero_variable_part('2700020000000', 7)},Slik i løs vægt,129.00,25,Slik")
    return "\n".join(rows) + "\n"


def _setup(data: Path, clock: ManualClock, rng: random.Random) -> Till:
    till = init_shop(data, "Købmand Demo", "87654321", "Torvet 3, 4000 Roskilde", "1", clock)
    add_cashier(till, "anna", "Anna", "cashier", "1111")
    add_cashier(till, "bo", "Bo", "manager", "2222")
    for key, number in ACCOUNTS.items():
        set_account(till, key, number)
    import_catalog(till, catalog_csv(rng))
    for role, spec in sim_specs(data / "sim").items():
        if role != "terminal":  # set up after the demo's days: their card sales never went through it
            set_device(till, role, spec, "system")
    return till


def _request(rng: random.Random, skus: list[str]) -> dict:
    lines: list[dict] = [{"sku": rng.choice(skus), "qty": rng.choice([1, 1, 1, 2, 3])}
                         for _ in range(rng.randint(1, 8))]
    if rng.random() < 0.08:
        lines.append({"barcode": _with_check("2200010" + f"{rng.randint(1500, 8900):05d}")})
    if rng.random() < 0.06:
        lines.append({"barcode": _with_check("2700020" + f"{rng.randint(100, 900):05d}")})
    if rng.random() < 0.05:
        lines[0]["discount"] = {"percent": rng.choice([10, 20, 50])}
    if rng.random() < 0.04:
        lines.append({"sku": rng.choice(skus), "void": True})
    req: dict = {"cashier": rng.choice(["anna", "anna", "bo"]), "lines": lines}
    if rng.random() < 0.03:
        req["discount"] = {"amount": "5.00"}
    return req


def _with_check(body: str) -> str:
    return body + str(gtin_check_digit(body))


def _pay(rng: random.Random, req: dict, till: Till) -> dict:
    """Price the basket through the real use case by trying the tender mix it will get."""
    from .selling import build_basket
    who = till.cashier(req["cashier"])
    basket, _ = build_basket(till, req, who)
    total = basket.total
    k = format_kroner
    pick = rng.random()
    if pick < 0.40:
        cash = ((total + 5000) // 5000 + rng.randint(0, 2)) * 5000 if rng.random() < 0.7 else \
            total + 50 - total % 50
        req["payments"] = [{"type": "cash", "amount": k(cash)}]
    elif pick < 0.80:
        req["payments"] = [{"type": "card", "amount": k(total), "brand": rng.choice(CARD_BRANDS)}]
    elif pick < 0.93:
        req["payments"] = [{"type": "mobilepay", "amount": k(total)}]
    elif pick < 0.96 and total > 2000:
        part = total // 2
        req["payments"] = [{"type": "gift_voucher", "amount": k(part)},
                           {"type": "cash", "amount": k(total - part + 100)}]
    else:
        req["payments"] = [{"type": "manual_card", "amount": k(total)}]
    return req


def trade_day(till: Till, clock: ManualClock, rng: random.Random, day_no: int,
              devices: Devices | None = None) -> dict:
    skus = [p.sku for p in catalog.all_products(till.conn) if not p.sku.startswith("W")]
    queue = PrintQueue(till, devices.printer) if devices is not None and devices.printer else None
    if day_no == 0:
        move_cash(till, "float", format_kroner(OPENING_FLOAT), "Startbeholdning", "bo", devices=devices)
    receipts: list[int] = []
    for i in range(rng.randint(90, 140)):
        clock.advance(seconds=rng.uniform(60, 360))
        req = _request(rng, skus)
        if rng.random() < 0.02:
            req["training"] = True
        try:
            sale = complete_sale(till, devices, queue, _pay(rng, req, till))
        except SaleError:
            continue
        if not sale["training"]:
            receipts.append(sale["receipt_number"])
        if i == 40:
            x_report(till, "bo")
        if i in (20, 70):
            no_sale(till, "anna", "byttepenge til kunde", devices=devices)
    for number in rng.sample(receipts, min(3, len(receipts))):
        clock.advance(seconds=120)
        try:
            complete_return(till, devices, queue, number,
                            {"cashier": "anna", "lines": [{"line_no": 1, "qty": 1}]})
        except SaleError:
            pass
    clock.advance(seconds=600)
    expected = x_figures(till).cash_expected
    to_bank_mid = (expected - OPENING_FLOAT) // 2 // 10000 * 10000
    if to_bank_mid > 0:
        move_cash(till, "out", format_kroner(to_bank_mid), "Udbetaling til bank, middag", "bo",
                  devices=devices)
    clock.advance(seconds=3600)
    expected = x_figures(till).cash_expected
    counted = expected + rng.choice([0, 0, 0, -50, 50, -1000, 200])
    to_bank = max(0, counted - OPENING_FLOAT)
    z = close_day(till, format_kroner(counted), format_kroner(to_bank), cashier_id="bo")
    if queue is not None:
        queue_job(till, "report", z_journal_nr(till, z["z_number"]))
        queue.pump()
    return z


def run_demo(data: Path, days: int, seed: int = 1, end_days_ago: int = 1) -> dict:
    """`days` closed days of trade ending `end_days_ago` days before today: yesterday by default, so
    today is open to sell and close, and a demo day (which may trade until late evening) never
    writes journal entries after the real time, which the till would then refuse to go behind."""
    if not 1 <= days <= 400:
        raise ValueError("--days must be between 1 and 400")
    if end_days_ago < 1:
        raise ValueError("a demo ends yesterday at the latest: its days would run past the real time")
    rng = random.Random(seed)
    today = datetime.now(TZ).replace(hour=8, minute=0, second=0, microsecond=0) - timedelta(days=end_days_ago)
    start = today - timedelta(days=days - 1)
    fresh = not (Path(data) / "till.db").exists()
    clock = ManualClock(start)
    if fresh:
        till = _setup(Path(data), clock, rng)
    else:
        till = open_till(Path(data), clock)
        last = till.conn.execute("SELECT ts FROM journal ORDER BY nr DESC LIMIT 1").fetchone()
        if last:
            after = datetime.fromisoformat(last[0]).astimezone(TZ)
            clock.now = max(start, (after + timedelta(days=1)).replace(hour=8, minute=0))
            if clock.now.date() + timedelta(days=days - 1) > today.date():
                till.close()
                raise ValueError(f"this shop's journal already runs to {after.date()}: {days} more demo "
                                 f"days would end after {today.date()}, past the real time")
    with till:
        last_z: dict = {}
        for day in range(days):
            clock.now = clock.now.replace(hour=8, minute=rng.randint(0, 30))
            devices = open_devices(till, ("printer", "drawer")) if day == days - 1 else None
            till.prints_receipts = devices is not None and devices.printer is not None
            try:
                last_z = trade_day(till, clock, rng, day if fresh else 1, devices)
            finally:
                if devices is not None:
                    devices.close()
            if fresh and day == days - 1:  # the terminal's reconciliation counts card sales from here on
                set_device(till, "terminal", sim_specs(Path(data) / "sim")["terminal"], "system")
                set_mobilepay(till, sim_spec(till), "system")
            clock.now = (clock.now + timedelta(days=1)).replace(hour=8, minute=0)
        return {"days": days, "journal_entries": last_nr(till.conn),
                "z_numbers": [r[0] for r in till.conn.execute(
                    "SELECT z_number FROM z_reports ORDER BY z_number")],
                "net_sales_last_day": last_z.get("net_sales"),
                "gross_total": format_kroner(parse_kroner(last_z.get("grand_total_sales", "0"))),
                "last_z": last_z}
