"""The `till` command as other tools use it: exact names, JSON output, exit codes, bad input."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from ..conftest import ACCOUNTS, CATALOG

KEYS = ("period_start", "period_end", "gross_sales", "returns", "vat", "payments", "cash_float",
        "cash_expected", "cash_counted", "cash_difference", "rounding_total", "cash_in", "cash_out",
        "grand_total_sales", "grand_total_returns", "posting_plan")


def till(data: Path, *args: str, stdin: str | None = None, json_out: bool = True,
         clock: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TILLBOX_DATA": ""}
    if args[:1] in (("sell",), ("return",)):  # from the shell these need the cashier's PIN (anna's)
        env.setdefault("TILLBOX_PIN", "1234")
    if clock:
        env["TILLBOX_CLOCK"] = clock
    cmd = [sys.executable, "-m", "appliance.cli", "--data", str(data), *(["--json"] if json_out else []), *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, timeout=120)


def ok(proc: subprocess.CompletedProcess) -> object:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_shop(tmp_path_factory.mktemp("cli") / "shop")


def make_shop(data: Path) -> Path:
    """A shop set up through the CLI only: catalogue, accounts, a cashier and a manager."""
    ok(till(data, "init", "--shop-name", "Købmand Hansen", "--cvr", "12345678",
            "--address", "Hovedgaden 1, 4000 Roskilde", "--register-id", "K1"))
    csv = data.parent / "catalog.csv"
    csv.write_text(CATALOG, encoding="utf-8")
    assert ok(till(data, "catalog", "import", str(csv)))["added"] == 8
    for key, number in ACCOUNTS.items():
        ok(till(data, "accounts", "set", key, str(number)))
    ok(till(data, "cashier", "add", "anna", "--name", "Anna", "--pin", "1234"))
    ok(till(data, "cashier", "add", "bo", "--name", "Bo", "--role", "manager", "--pin", "9999"))
    return data


def test_init_twice_refused(shop: Path) -> None:
    proc = till(shop, "init", "--shop-name", "X", "--cvr", "12345678", "--address", "Y")
    assert proc.returncode != 0 and "already" in proc.stderr


def test_catalog_list_and_accounts_show(shop: Path) -> None:
    products = ok(till(shop, "catalog", "list"))
    assert {p["sku"] for p in products} >= {"MILK", "PAPER"}
    milk = next(p for p in products if p["sku"] == "MILK")
    assert milk["price"] == "12.95" and milk["vat_rate"] == 25
    assert ok(till(shop, "accounts", "show"))["payment:card"] == 55100


def test_broken_csv_imports_nothing_and_names_the_line(shop: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(CATALOG.replace("Rugbrød,22.00", "Rugbrød,22.001"), encoding="utf-8")
    bad_new = tmp_path / "bad2.csv"
    bad_new.write_text("sku,barcode,name,price,vat_rate,group\nNEW1,,Ny vare,5.00,25,G\nNEW2,,Ny,x,25,G\n")
    before = len(ok(till(shop, "catalog", "list")))
    for path, line in ((bad, "line 4"), (bad_new, "line 3")):
        proc = till(shop, "catalog", "import", str(path))
        assert proc.returncode == 1 and line in proc.stderr
    assert len(ok(till(shop, "catalog", "list"))) == before


def test_invalid_account_refused(shop: Path) -> None:
    for key, number in (("cash", "abc"), ("cash", "-5"), ("nonsense", "1000"), ("payment:bitcoin", "1")):
        proc = till(shop, "accounts", "set", key, number)
        assert proc.returncode == 1, (key, number)
        assert json.loads(proc.stdout)["error"]


def test_sell_return_and_close_day(tmp_path: Path, shop: Path) -> None:
    data = tmp_path / "day"
    ok(till(data, "init", "--shop-name", "Butik", "--cvr", "87654321", "--address", "Vej 1"))
    csv = tmp_path / "c.csv"
    csv.write_text(CATALOG, encoding="utf-8")
    ok(till(data, "catalog", "import", str(csv)))
    for key, number in ACCOUNTS.items():
        ok(till(data, "accounts", "set", key, str(number)))
    ok(till(data, "cashier", "add", "anna", "--pin", "1234"))
    ok(till(data, "cash", "float", "--amount", "500.00", "--text", "Start"))
    sale = ok(till(data, "sell", "--json-in", "-", stdin=json.dumps({
        "cashier": "anna", "lines": [{"barcode": "5701234567899", "qty": 1}, {"sku": "BREAD", "qty": 2}],
        "discount": {"percent": 10},
        "payments": [{"type": "cash", "amount": "100.00"}, {"type": "card", "amount": "20.00"}]})))
    for key in ("receipt_number", "lines", "vat", "total", "rounding", "change", "payments"):
        assert key in sale
    assert sale["total"] == "51.25"  # 56.95 less 10 % (5.695 -> 5.70)
    assert sale["rounding"] == "0.25" and sale["change"] == "68.50"  # 31.25 cash due -> 31.50
    assert sale["payments"] == [{"type": "card", "amount": "20.00"}, {"type": "cash", "amount": "31.50"}]
    req = tmp_path / "ret.json"
    req.write_text(json.dumps({"cashier": "anna", "lines": [{"sku": "BREAD", "qty": 1}]}))
    ret = ok(till(data, "return", "--receipt", str(sale["receipt_number"]), "--json-in", str(req)))
    assert ret["total"] == "-19.80" and ret["original_receipt"] == 1
    assert ret["payments"] == [{"type": "card", "amount": "-19.80"}]  # back to the card first
    too_many = till(data, "return", "--receipt", "1", "--json-in", "-",
                    stdin=json.dumps({"cashier": "anna", "lines": [{"sku": "BREAD", "qty": 5}]}))
    assert too_many.returncode == 1 and "left" in too_many.stderr
    ok(till(data, "cash", "in", "--amount", "100.00", "--text", "Veksel"))
    ok(till(data, "cash", "out", "--amount", "50.00", "--text", "Til bank"))
    x = ok(till(data, "report", "x"))
    for key in KEYS:
        assert key in x, key
    z = ok(till(data, "close-day", "--counted-cash", "581.00", "--to-bank", "400.00"))
    for key in ("z_number", *KEYS):
        assert key in z, key
    assert z["z_number"] == 1 and z["cash_expected"] == "581.50" and z["cash_difference"] == "-0.50"
    assert z["cash_float"] == "500.00" and z["cash_in"] == "100.00" and z["cash_out"] == "50.00"
    assert z["gross_sales"] == "51.25" and z["returns"] == "19.80"
    assert isinstance(z["posting_plan"], list) and z["posting_plan"][0]["amount"] == "-31.45"
    again = ok(till(data, "close-day", "--counted-cash", "181.00"))  # a shift close: the period since
    assert again["z_number"] == 2 and again["gross_sales"] == "0.00" and again["cash_difference"] == "0.00"
    listing = ok(till(data, "reports", "list"))
    assert listing[0]["z_number"] == 1 and listing[0]["transferred_at"] is None
    pdf = tmp_path / "z.pdf"
    shown = ok(till(data, "reports", "show", "--last", "--pdf", str(pdf)))
    assert shown == again and pdf.read_bytes().startswith(b"%PDF")
    assert ok(till(data, "journal", "verify"))["ok"] is True


@pytest.mark.parametrize("body,needle", [
    ({"cashier": "anna", "lines": [{"barcode": "5709999999993"}], "payments": [{"type": "cash", "amount": "9"}]},
     "unknown barcode"),
    ({"cashier": "anna", "lines": [{"barcode": "5701234567890"}], "payments": [{"type": "cash", "amount": "9"}]},
     "check digit"),
    ({"cashier": "anna", "lines": [{"sku": "MILK", "qty": 0}], "payments": [{"type": "cash", "amount": "9"}]},
     "quantity"),
    ({"cashier": "anna", "lines": [{"sku": "MILK", "qty": 5000}], "payments": [{"type": "cash", "amount": "9"}]},
     "quantity"),
    ({"cashier": "anna", "lines": [{"sku": "MILK"}], "payments": [{"type": "cash", "amount": "5.00"}]},
     "underpaid"),
    ({"cashier": "anna", "lines": [{"sku": "MILK"}], "payments": [{"type": "cash", "amount": "12.999"}]},
     "two decimals"),
    ({"cashier": "anna", "pin": "0000", "lines": [{"sku": "MILK"}], "payments": [{"type": "card", "amount": "12.95"}]},
     "wrong PIN"),
])
def test_bad_sales_exit_non_zero_and_write_no_sale(shop: Path, body: dict, needle: str) -> None:
    before = _receipts(shop)
    proc = till(shop, "sell", "--json-in", "-", stdin=json.dumps(body))
    assert proc.returncode == 1 and needle in proc.stderr
    assert needle in json.loads(proc.stdout)["error"]
    assert _receipts(shop) == before


def test_a_payment_type_switched_off_is_refused(shop: Path) -> None:
    """Settings switch a tender off for the kiosk; `till sell` holds to it too and writes nothing."""
    from appliance.services.payment_types import set_enabled_types
    from appliance.services.till import open_till

    def set_types(types: list[str]) -> None:
        with open_till(shop) as t:
            set_enabled_types(t, types, "bo")
    set_types(["cash", "card"])
    try:
        before = _receipts(shop)
        body = {"cashier": "anna", "lines": [{"sku": "MILK"}],
                "payments": [{"type": "mobilepay", "amount": "12.95"}]}
        proc = till(shop, "sell", "--json-in", "-", stdin=json.dumps(body))
        assert proc.returncode == 1 and "switched off in Settings: mobilepay" in proc.stderr
        assert _receipts(shop) == before
        body["payments"] = [{"type": "card", "amount": "12.95"}]
        assert ok(till(shop, "sell", "--json-in", "-", stdin=json.dumps(body)))["total"] == "12.95"
    finally:
        set_types(["cash", "card", "mobilepay", "manual_card", "gift_voucher"])


def test_close_day_reconciles_the_card_terminal_first(tmp_path: Path) -> None:
    """As at the kiosk: the terminal's totals go into the Z. A card tender from the shell is charged
    on the integrated (simulated) terminal, never only recorded, so the Z agrees with it."""
    data = make_shop(tmp_path / "shop")
    spec = json.dumps({"kind": "sim", "dir": str(tmp_path / "sim-terminal")})
    ok(till(data, "hw", "set", "terminal", spec))
    body = {"cashier": "anna", "lines": [{"sku": "MILK"}],
            "payments": [{"type": "card", "amount": "12.95", "brand": "Visa"}]}
    sold = ok(till(data, "sell", "--json-in", "-", stdin=json.dumps(body)))
    # more to the bank than counted: refused before the terminal is asked, so nothing is journalled
    refused = till(data, "close-day", "--counted-cash", "10.00", "--to-bank", "20.00")
    assert refused.returncode == 1 and "more to the bank" in refused.stderr
    with closing(sqlite3.connect(data / "till.db")) as conn, conn:
        assert conn.execute("SELECT COUNT(*) FROM journal WHERE kind = 'terminal_reconciliation'").fetchone()[0] == 0
    z = ok(till(data, "close-day", "--counted-cash", "0.00"))
    rec = z["terminal_reconciliation"]
    assert rec["expected"] is True and rec["missing"] is False and len(rec["reconciliations"]) == 1
    [row] = rec["reconciliations"][0]["rows"]
    assert row["brand"] == sold["payments"][0]["brand"] and row["agrees"] is True


def test_garbage_json_input(shop: Path) -> None:
    proc = till(shop, "sell", "--json-in", "-", stdin="{not json")
    assert proc.returncode == 1 and "cannot read JSON" in proc.stderr


def _receipts(data: Path) -> int:
    with closing(sqlite3.connect(data / "till.db")) as conn, conn:
        return conn.execute("SELECT COUNT(*) FROM receipts").fetchone()[0]


def test_missing_and_corrupt_database(tmp_path: Path) -> None:
    proc = till(tmp_path / "none", "report", "x")
    assert proc.returncode == 1 and "till init" in proc.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "till.db").write_bytes(os.urandom(8192))
    proc = till(bad, "report", "x")
    assert proc.returncode == 1 and "corrupt" in proc.stderr


def test_journal_verify_fails_on_tampering(tmp_path: Path, shop: Path) -> None:
    import shutil
    copy = tmp_path / "tampered"
    shutil.copytree(shop, copy)
    with closing(sqlite3.connect(copy / "till.db")) as conn, conn:
        conn.execute("DROP TRIGGER journal_no_update")
        conn.execute("UPDATE journal SET payload = replace(payload, 'Hovedgaden', 'Bivejen') WHERE nr = 1")
    proc = till(copy, "journal", "verify")
    assert proc.returncode == 3
    out = json.loads(proc.stdout)
    assert out["ok"] is False and out["first_bad"] == 1
    human = till(copy, "journal", "verify", json_out=False)
    assert human.returncode == 3 and "entry 1" in human.stderr


def test_demo_fills_a_believable_shop(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    result = ok(till(data, "demo", "--days", "2"))
    assert result["z_numbers"] == [1, 2]
    products = ok(till(data, "catalog", "list"))
    assert len(products) >= 300 and len({p["group"] for p in products}) >= 8
    z = ok(till(data, "reports", "show", "--z", "2"))
    assert {"cash", "card", "mobilepay", "manual_card", "gift_voucher"} <= set(z["payments"]) or \
        {"cash", "card", "mobilepay"} <= set(z["payments"])
    assert z["returns"] != "0.00" and z["to_bank"] != "0.00"
    z1 = ok(till(data, "reports", "show", "--z", "1"))
    from appliance.domain.money import parse_kroner as p
    assert p(z["grand_total_sales"]) == p(z1["grand_total_sales"]) + p(z["gross_sales"])
    assert ok(till(data, "journal", "verify"))["ok"] is True


def test_the_demo_never_writes_past_the_real_time(tmp_path: Path) -> None:
    """Its days end yesterday whatever the hour, so the shell can go on using the shop at once;
    a second run that would run into today or later is refused and writes nothing."""
    from datetime import datetime

    from appliance.services.till import TZ
    data = tmp_path / "demo"
    ok(till(data, "demo", "--days", "1"))
    with closing(sqlite3.connect(data / "till.db")) as conn:
        last = datetime.fromisoformat(conn.execute("SELECT MAX(ts) FROM journal").fetchone()[0])
        count = conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
    assert last.astimezone(TZ).date() < datetime.now(TZ).date()
    again = till(data, "demo", "--days", "1")
    assert again.returncode == 1 and "past the real time" in again.stderr
    with closing(sqlite3.connect(data / "till.db")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0] == count
    ok(till(data, "cash", "in", "--amount", "10.00", "--text", "efter demo"))  # not behind the journal


def test_a_clock_behind_the_journal_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    data = make_shop(tmp_path / "shop")
    sale = json.dumps({"cashier": "anna", "lines": [{"sku": "MILK"}],
                       "payments": [{"type": "card", "amount": "12.95"}]})
    ok(till(data, "sell", "--json-in", "-", stdin=sale))
    before = ok(till(data, "journal", "verify"))["entries"]
    behind = "2020-01-01T12:00:00+01:00"
    for args in (("sell", "--json-in", "-"), ("close-day", "--counted-cash", "0.00"), ("report", "x"),
                 ("cash", "float", "--amount", "100.00")):
        proc = till(data, *args, stdin=sale, clock=behind)
        assert proc.returncode == 1 and "behind the journal's last entry" in proc.stderr, args
    # reading needs no clock: verify and the report list still answer
    assert ok(till(data, "journal", "verify", clock=behind))["entries"] == before
    assert ok(till(data, "reports", "list", clock=behind)) == []


def test_a_journal_that_fails_its_start_up_check_gets_nothing_on_top(tmp_path: Path) -> None:
    import sqlite3
    data = make_shop(tmp_path / "shop")
    sale = json.dumps({"cashier": "anna", "lines": [{"sku": "MILK"}],
                       "payments": [{"type": "card", "amount": "12.95"}]})
    ok(till(data, "sell", "--json-in", "-", stdin=sale))
    conn = sqlite3.connect(data / "till.db")
    conn.execute("DROP TRIGGER journal_no_update")
    conn.execute("UPDATE journal SET payload = replace(payload, '1295', '95') WHERE kind = 'sale'")
    conn.commit()
    conn.close()
    before = sqlite3.connect(data / "till.db").execute("SELECT COUNT(*) FROM journal").fetchone()[0]
    for args in (("sell", "--json-in", "-"), ("close-day", "--counted-cash", "0.00"),
                 ("saft", "export", "--from", "2020-01-01", "--to", "2030-01-01")):
        proc = till(data, *args, stdin=sale)
        assert proc.returncode == 3 and "edited" in proc.stderr, (args, proc.stderr)
    assert sqlite3.connect(data / "till.db").execute("SELECT COUNT(*) FROM journal").fetchone()[0] == before
    assert till(data, "journal", "verify").returncode == 3
    assert ok(till(data, "reports", "list")) == []  # reading still answers


def test_a_key_that_does_not_belong_to_the_certificate_stops_the_till(tmp_path: Path) -> None:
    from appliance.domain.signing import key_pem, new_key
    data = make_shop(tmp_path / "shop")
    key = data / "keys" / "journal-v1.key"
    key.chmod(0o600)
    key.write_bytes(key_pem(new_key()))
    sale = json.dumps({"cashier": "anna", "lines": [{"sku": "MILK"}],
                       "payments": [{"type": "card", "amount": "12.95"}]})
    proc = till(data, "sell", "--json-in", "-", stdin=sale)
    assert proc.returncode == 3 and "does not belong to the certificate" in proc.stderr
