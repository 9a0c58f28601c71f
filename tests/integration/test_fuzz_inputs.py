"""A fuzz campaign over everything that comes in from outside: sale, return, cash and close-day
requests, settings, device specs, the catalog CSV and the secrets files. Each generated input is
either taken or refused with a clear one-line message of the till's own error types (never a bare
KeyError or TypeError, never a traceback), and a refused input leaves every table as it was (the
journal's length and last signature, the cash transactions, the receipts and all the small tables).

Most inputs go through the services in-process (fast); a smaller share goes through the real
`till` command, which must exit 0, or 1 (2 for argparse's own usage errors) with one line on stderr.
`pytest -s` shows the counts."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import sqlite3
import subprocess
import sys
import traceback
from collections import Counter
from collections.abc import Callable
from contextlib import closing as closed_after
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from appliance.dinero.tokens import LoginNeeded, TokenStore, redact
from appliance.domain.catalog import CatalogError
from appliance.domain.money import MoneyError
from appliance.domain.roles import PermissionDenied
from appliance.requests import RequestError
from appliance.requests.close import close_day_request
from appliance.services import closing
from appliance.services.cash import CashError, move_cash
from appliance.services.devices import DeviceError, set_device, set_label_layout
from appliance.services.selling import SaleError, refund, sell
from appliance.services.setup import SetupError, add_cashier, import_catalog, set_account
from appliance.services.till import AuthError, Till
from appliance.store.journal import verify

from ..conftest import CVR, Clock, make_till

# the till's own refusals; anything else that escapes is counted as a traceback
REFUSALS = (SaleError, AuthError, PermissionDenied, CashError, closing.CloseError, CatalogError, SetupError,
            DeviceError, LoginNeeded, RequestError, MoneyError)
# derandomize: the same inputs every run (a CI failure can be replayed), whatever order the suite runs in
SETTINGS = settings(deadline=None, database=None, phases=[Phase.explicit, Phase.generate], derandomize=True,
                    suppress_health_check=list(HealthCheck))


class Campaign:
    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.tracebacks: list[str] = []

    def run(self, kind: str, conn: sqlite3.Connection | None, action: Callable[[], Any]) -> Any:
        """One input: taken, or refused with one line and nothing written."""
        before = snapshot(conn) if conn is not None else None
        try:
            result = action()
        except REFUSALS as exc:
            message = str(exc)
            assert message and "\n" not in message, (kind, message)
            if conn is not None:
                assert snapshot(conn) == before, f"{kind}: refused ({message}) but something was written"
            self.counts[(kind, "refused")] += 1
            return None
        except Exception:
            self.tracebacks.append(f"{kind}: {traceback.format_exc()}")
            self.counts[(kind, "traceback")] += 1
            return None
        self.counts[(kind, "taken")] += 1
        return result

    def total(self, outcome: str | None = None) -> int:
        return sum(n for (_k, o), n in self.counts.items() if outcome in (None, o))


def snapshot(conn: sqlite3.Connection) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
        if name in ("journal", "cash_transactions"):
            out[name] = (conn.execute(f"SELECT COUNT(*) FROM {name}").fetchone(),
                         conn.execute(f"SELECT * FROM {name} ORDER BY 1 DESC LIMIT 1").fetchone())
        else:
            rows = sorted(map(repr, conn.execute(f"SELECT * FROM {name}")))
            out[name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return out


# --- strategies ----------------------------------------------------------------------------------

JUNK = st.sampled_from([None, True, False, 0, -1, 1.5, math.nan, math.inf, -math.inf, "", " ", "NaN", "inf",
                        "１２", "12,50", "1e9", [], {}, "x" * 300, "\x00", "٣", "12\n", {"a": 1}, [1, 2]])
MONEY = st.one_of(
    st.integers(0, 10**9).map(lambda o: f"{o // 100}.{o % 100:02d}"),
    st.integers(0, 10**9).map(lambda o: f"{o // 100},{o % 100:02d}"),
    st.integers(-10**12, 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet="0123456789.,-+ e１２٣", max_size=12),
    JUNK,
)
SMALL_MONEY = st.sampled_from(["1.00", "5,00", "12.95", "0.50", "100.00", "2500,00", "0.00", "-5.00"])
SKUS = ["MILK", "BUTTER", "BREAD", "PAPER", "UPC", "FREE"]
SKU = st.one_of(st.sampled_from([*SKUS, "NOPE", "", "MILK\n", "ＭＩＬＫ"]), st.text(max_size=10), JUNK)
BARCODE = st.one_of(st.sampled_from(["5701234567899", "4006381333931", "036000291452", "2135040003505",
                                     "2712341005003", "5701234567890", "５７０１２３４５６７８９９", "ABC-123"]),
                    st.text(max_size=20), JUNK)
QTY = st.one_of(st.integers(-5, 1200), JUNK, st.text(max_size=3))
DISCOUNT = st.one_of(st.fixed_dictionaries({"percent": st.one_of(st.integers(-5, 120), st.text(max_size=5),
                                                                  st.floats(), JUNK)}),
                     st.fixed_dictionaries({"amount": st.one_of(SMALL_MONEY, MONEY, st.integers(0, 5000))}),
                     st.dictionaries(st.text(max_size=8), JUNK, max_size=3), JUNK)
GOOD_LINE = st.fixed_dictionaries({"sku": st.sampled_from(SKUS)}, optional={"qty": st.integers(1, 5)})
FUZZY_LINE = st.fixed_dictionaries({}, optional={
    "sku": SKU, "barcode": BARCODE, "qty": QTY, "weight_g": QTY, "price": st.one_of(SMALL_MONEY, MONEY),
    "discount": DISCOUNT, "void": st.one_of(st.booleans(), JUNK), "line_no": QTY, "colour": JUNK})
LINES = st.one_of(st.lists(st.one_of(GOOD_LINE, FUZZY_LINE), min_size=1, max_size=4),
                  st.lists(GOOD_LINE, min_size=1, max_size=3), JUNK,
                  st.just([{"sku": "MILK"}] * 501))
PAYMENT = st.fixed_dictionaries({"type": st.one_of(st.sampled_from(["cash", "card", "mobilepay", "manual_card",
                                                                     "gift_voucher", "bitcoin"]), JUNK)},
                                optional={"amount": st.one_of(SMALL_MONEY, MONEY),
                                          "brand": st.one_of(st.text(max_size=40), JUNK),
                                          "reference": st.one_of(st.text(max_size=20), JUNK)})
PAYMENTS = st.one_of(st.just([{"type": "cash", "amount": "5000.00"}]),
                     st.just([{"type": "cash", "amount": "5000,00"}]),
                     st.lists(PAYMENT, min_size=0, max_size=3), JUNK)
MANAGER = st.one_of(st.just({"id": "bo", "pin": "9999"}), st.just({"pin": "9999"}),
                    st.fixed_dictionaries({"id": st.sampled_from(["bo", "nobody", 5]),
                                           "pin": st.sampled_from(["9999", "99", 9999, "９９９９", None])}),
                    JUNK)
PIN_JUNK = st.sampled_from(["12", 1234, "１２３４", "1234567", None, "12a4"])  # never a wrong-but-valid PIN
CASHIER = st.one_of(st.sampled_from(["anna", "bo", "nobody", "system"]), JUNK)
SALE = st.fixed_dictionaries(
    {"cashier": st.one_of(st.just("anna"), CASHIER), "lines": LINES, "payments": PAYMENTS},
    optional={"discount": DISCOUNT, "training": st.one_of(st.booleans(), JUNK),
              "print_receipt": st.one_of(st.booleans(), JUNK), "manager": MANAGER, "pin": PIN_JUNK,
              "extra": JUNK})
GOOD_SALE = st.fixed_dictionaries(
    {"cashier": st.just("anna"), "lines": st.lists(GOOD_LINE, min_size=1, max_size=3),
     "payments": st.sampled_from([[{"type": "cash", "amount": "5000.00"}], [{"type": "cash", "amount": "5000,00"}]])},
    optional={"training": st.booleans(), "print_receipt": st.booleans(),
              "discount": st.one_of(st.integers(1, 50).map(lambda p: {"percent": p}),
                                    st.integers(1, 100).map(lambda o: {"amount": o}))})
JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                       lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids,
                                                                                 max_size=3),
                       max_leaves=10)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory):
    till = make_till(tmp_path_factory.mktemp("fuzz") / "shop", Clock())
    yield till
    till.close()


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    return Campaign()


def _sales(till: Till, c: Campaign, n: int, receipts: list[int]) -> None:
    @settings(SETTINGS, max_examples=n)
    @given(st.one_of(GOOD_SALE, SALE))
    def one(request: Any) -> None:
        sold = c.run("sale", till.conn, lambda: sell(till, request))
        if sold is not None:
            receipts.append(sold["receipt_number"])
    one()


def _returns(till: Till, c: Campaign, n: int, receipts: list[int]) -> None:
    line = st.one_of(st.fixed_dictionaries({"line_no": st.integers(1, 2)}),
                     st.fixed_dictionaries({"line_no": st.one_of(st.integers(-1, 4), JUNK)},
                                           optional={"qty": QTY}),
                     st.fixed_dictionaries({"sku": SKU}, optional={"qty": QTY}), FUZZY_LINE)
    request = st.fixed_dictionaries(
        {"cashier": st.one_of(st.just("anna"), CASHIER), "lines": st.one_of(st.lists(line, max_size=3), JUNK)},
        optional={"payments": PAYMENTS, "manager": MANAGER, "pin": PIN_JUNK})
    good = st.fixed_dictionaries({"cashier": st.just("anna"), "lines": st.just([{"line_no": 1, "qty": 1}])})

    @settings(SETTINGS, max_examples=n)
    @given(st.one_of(st.sampled_from(receipts or [1]), st.integers(-3, 10_000), st.none()),
           st.one_of(good, good, request))
    def one(number: int | None, req: Any) -> None:
        c.run("return", till.conn, lambda: refund(till, number, req))
    one()


def _cash(till: Till, c: Campaign, n: int) -> None:
    @settings(SETTINGS, max_examples=n)
    @given(st.one_of(st.sampled_from(["float", "in", "out"]), JUNK), st.one_of(SMALL_MONEY, SMALL_MONEY, MONEY),
           st.one_of(st.just("veksel"), st.text(max_size=30), JUNK),
           st.one_of(st.sampled_from(["system", "anna"]), CASHIER), st.one_of(st.none(), st.none(), PIN_JUNK))
    def one(direction: Any, amount: Any, text: Any, cashier: Any, pin: Any) -> None:
        c.run("cash", till.conn, lambda: move_cash(till, direction, amount, text, cashier, pin))
    one()


def _close(till: Till, c: Campaign, n: int) -> None:
    text = st.one_of(SMALL_MONEY, st.text(alphabet="0123456789.,-１ ", max_size=10), st.none())
    denominations = st.one_of(st.none(), st.sampled_from(["500:2,200:1", "0.50:4", "500:２", "3:1", "500:-1"]),
                              st.text(alphabet="0123456789.,:- ", max_size=15))

    def close(counted: Any, bank: Any, denoms: Any) -> Any:
        plain = close_day_request(counted, bank, denoms).plain()
        return closing.close_amounts(plain["counted_cash"], plain["to_bank"], plain["denominations"])

    @settings(SETTINGS, max_examples=n)
    @given(text, text, denominations)
    def one(counted: Any, bank: Any, denoms: Any) -> None:
        c.run("close-day", till.conn, lambda: close(counted, bank, denoms))
    one()


def _settings(till: Till, c: Campaign, n: int) -> None:
    keys = st.one_of(st.sampled_from(["cash", "bank", "revenue:default", "revenue:Mejeri", "payment:card",
                                      "payment:card:Visa", "payment:bitcoin", "nonsense"]), st.text(max_size=12),
                     JUNK)
    numbers = st.one_of(st.integers(-5, 10**10), st.text(alphabet="0123456789５-", max_size=10), JUNK)

    @settings(SETTINGS, max_examples=n)
    @given(keys, numbers)
    def account(key: Any, number: Any) -> None:
        c.run("account", till.conn, lambda: set_account(till, key, number))
    account()

    @settings(SETTINGS, max_examples=max(10, n // 5))
    @given(st.one_of(st.sampled_from(["cleo", "system", "dan ny"]), JUNK), st.one_of(st.text(max_size=10), JUNK),
           st.one_of(st.sampled_from(["cashier", "manager", "boss"]), JUNK),
           st.one_of(st.sampled_from(["12", "１２３４", "1234\n", "12345678"]), JUNK))  # never a valid PIN: no scrypt
    def cashier(cid: Any, name: Any, role: Any, pin: Any) -> None:
        c.run("cashier", till.conn, lambda: add_cashier(till, cid, name, role, pin))
    cashier()


def _devices(till: Till, c: Campaign, n: int, base: Path) -> None:
    sim_dir = str(base / "sim")
    value = st.one_of(st.integers(-10, 1000), st.text(max_size=8), st.booleans(), st.floats(), JUNK,
                      st.just(sim_dir))
    spec = st.one_of(
        st.fixed_dictionaries({"kind": st.sampled_from(["sim", "printer_kick", "usb", "network", "zpl", "evdev",
                                                        "serial", "laser"])},
                              optional={"dir": st.one_of(st.just(sim_dir), value), "pin": value,
                                        "pulse_ms": value, "paper_mm": value, "host": value, "port": value,
                                        "status": value, "baudrate": value, "device": value, "colour": value}),
        st.dictionaries(st.text(max_size=6), value, max_size=4), JUNK)
    layout = st.one_of(st.fixed_dictionaries({}, optional={"width_mm": value, "height_mm": value, "dpi": value}),
                       JUNK)

    @settings(SETTINGS, max_examples=n)
    @given(st.one_of(st.sampled_from(["printer", "drawer", "scanner", "labels"]), JUNK, st.text(max_size=6)),
           spec, layout, st.booleans())
    @example("drawer", {"kind": "sim", "dir": sim_dir}, {}, False)  # one taken and one refused, always
    @example("drawer", {"kind": "laser"}, {}, False)
    def one(role: Any, s: Any, lay: Any, is_layout: bool) -> None:
        if is_layout:
            c.run("label layout", till.conn, lambda: set_label_layout(till, lay, "system"))
        else:
            c.run("device spec", till.conn, lambda: set_device(till, role, s, "system"))
    one()


def _catalog(till: Till, c: Campaign, n: int) -> None:
    cell = st.one_of(st.text(max_size=12), st.sampled_from(["", "25", "0", "12.95", "12,95", "１２.95", "２５",
                                                             "NaN", "1e3", "-1.00", "100000.01", "500 g", "1,5 l"]))
    good = st.tuples(st.from_regex(r"[A-Z][A-Z0-9]{0,7}", fullmatch=True), st.just(""),
                     st.sampled_from(["Mælk", "Brød", "Ost"]), SMALL_MONEY.filter(lambda m: not m.startswith("-")),
                     st.sampled_from(["25", "0"]), st.sampled_from(["Mejeri", "Brød"])).map(list)
    rows = st.lists(st.one_of(good, st.lists(cell, min_size=5, max_size=8)), max_size=6)
    header = st.one_of(st.just(["sku", "barcode", "name", "price", "vat_rate", "group"]),
                       st.just(["sku", "barcode", "name", "price", "vat_rate", "group", "content"]),
                       st.lists(st.text(max_size=6), max_size=7))

    def text_of(head: list[str], body: list[list[str]]) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(head)
        writer.writerows(body)
        return out.getvalue()

    @settings(SETTINGS, max_examples=n)
    @given(st.one_of(st.builds(text_of, header, rows), st.text(max_size=200),
                     st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
    def one(text: str) -> None:
        c.run("catalog csv", till.conn, lambda: import_catalog(till, text))
    one()


def _secrets(c: Campaign, n: int, base: Path) -> None:
    body = st.one_of(
        st.dictionaries(st.sampled_from(["kind", "org_id", "client_id", "client_secret", "api_key", "access_token",
                                         "refresh_token", "passphrase", "key_id", "key_version", "subscription_key",
                                         "expires_at", "weird key", "ü"]),
                        st.one_of(st.text(max_size=10), st.integers(-5, 10**13), st.floats(), st.booleans(),
                                  st.none(), st.sampled_from(["personal", "relay", "sim"]), JSONISH), max_size=6)
        .map(lambda d: json.dumps(d)),
        JSONISH.map(json.dumps), st.text(max_size=60), st.just('{"passphrase": NaN}'),
        st.just("[" * 5000)).map(str.encode) | st.binary(max_size=60)

    @settings(SETTINGS, max_examples=n)
    @given(st.sampled_from(["dinero", "mobilepay", "terminal"]), body)
    def one(name: str, raw: bytes) -> None:
        store = TokenStore(base, name)
        store.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        store.path.write_bytes(raw)
        record = c.run(f"secrets/{name}.json", None, store.load)
        if record is not None:
            assert isinstance(record, dict) and isinstance(redact(record), dict)
        assert store.path.read_bytes() == raw  # reading wrote nothing
    one()


def test_fuzz_campaign_in_process(shop: Till, campaign: Campaign, tmp_path: Path) -> None:
    receipts: list[int] = []
    _sales(shop, campaign, 450, receipts)
    _returns(shop, campaign, 120, receipts)
    _cash(shop, campaign, 120)
    _close(shop, campaign, 120)
    _settings(shop, campaign, 80)
    _devices(shop, campaign, 100, tmp_path)
    catalog_till = make_till(tmp_path / "catalog-shop", Clock())
    try:
        _catalog(catalog_till, campaign, 130)
        assert verify(catalog_till.conn, CVR).ok
    finally:
        catalog_till.close()
    _secrets(campaign, 130, tmp_path / "secrets-home")
    report(campaign, "in-process")
    assert campaign.tracebacks == [], distinct(campaign.tracebacks)
    assert campaign.total() >= 1000
    for kind in ("sale", "return", "cash", "close-day", "account", "device spec", "catalog csv"):
        assert campaign.counts[(kind, "taken")] > 0 and campaign.counts[(kind, "refused")] > 0, kind
    result = verify(shop.conn, CVR)  # what was taken is whole: the chain, signatures and indexes verify
    assert result.ok, result.problem


def distinct(tracebacks: list[str]) -> str:
    """Each different failure once: its kind, the last frame of the till's code and the error."""
    seen: dict[str, str] = {}
    for tb in tracebacks:
        lines = tb.strip().splitlines()
        frames = [ln.strip() for ln in lines if ln.strip().startswith('File "') and "/appliance/" in ln]
        seen.setdefault(f"{lines[0]} {frames[-1] if frames else ''} {lines[-1]}", tb)
    return "\n".join(seen) + "\n\nfirst in full:\n" + tracebacks[0]


def report(c: Campaign, title: str) -> None:
    kinds = sorted({k for k, _o in c.counts})
    print(f"\nfuzz campaign ({title}): {c.total()} inputs, {c.total('taken')} taken, {c.total('refused')} refused, "
          f"{c.total('traceback')} tracebacks")
    for kind in kinds:
        print(f"  {kind:22} taken {c.counts[(kind, 'taken')]:4}  refused {c.counts[(kind, 'refused')]:4}  "
              f"tracebacks {c.counts[(kind, 'traceback')]}")


# --- through the real command ----------------------------------------------------------------------

def _till(data: Path, *args: str, stdin: str = "", pin: str | None = "1234") -> subprocess.CompletedProcess:
    env = {**os.environ, "TILLBOX_DATA": "", "TILLBOX_CLOCK": "2026-11-21T10:00:00+01:00"}
    env.pop("TILLBOX_PIN", None)
    if pin is not None:
        env["TILLBOX_PIN"] = pin
    return subprocess.run([sys.executable, "-m", "appliance.cli", "--data", str(data), *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=60)


def _meta_but_pin_locks(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute("SELECT key, value FROM meta WHERE key NOT LIKE 'pin_lock.%' ORDER BY key").fetchall()


def _only_the_miss(conn: sqlite3.Connection, before: dict[str, Any], after: dict[str, Any],
                   meta_before: list[tuple]) -> bool:
    """A wrong PIN is refused and still leaves its trace on purpose: the miss (and a lock) in the
    journal and the count in meta. Nothing else may change."""
    if {k for k in after if after[k] != before[k]} - {"journal", "meta"}:
        return False
    added = conn.execute("SELECT DISTINCT kind FROM journal WHERE nr > ?", (before["journal"][0][0],)).fetchall()
    return {k for (k,) in added} <= {"login_failed", "pin_locked"} and _meta_but_pin_locks(conn) == meta_before


def test_fuzz_campaign_through_the_command(tmp_path: Path) -> None:
    """The same kinds of input through `till`: exit 0, or 1 with one line on stderr (2 for argparse's
    usage errors), never a traceback, and nothing written by a refusal."""
    till = make_till(tmp_path / "shop", Clock())
    data = till.data_dir
    till.close()
    counts: Counter[str] = Counter()
    problems: list[str] = []
    sale_text = st.one_of(SALE.map(lambda r: json.dumps(r, allow_nan=True)),
                          st.sampled_from(['{"cashier": "anna", "lines": [{"sku": "MILK"}], "payments": '
                                           '[{"type": "cash", "amount": NaN}]}', "{not json", "[]", "[" * 3000,
                                           '{"cashier": "anna", "training": "no", "lines": [{"sku": "MILK"}], '
                                           '"payments": [{"type": "cash", "amount": "50,00"}]}']),
                          st.text(max_size=40))
    command = st.one_of(
        sale_text.map(lambda s: (("sell", "--json-in", "-"), s)),
        st.one_of(SMALL_MONEY, st.text(alphabet="0123456789.,-１e", min_size=1, max_size=8))
        .map(lambda a: (("cash", "in", "--amount", a, "--text", "fuzz"), "")),
        st.one_of(SMALL_MONEY, st.text(alphabet="0123456789.,-１", min_size=1, max_size=8))
        .map(lambda a: (("close-day", "--counted-cash", a, "--to-bank", "5000.00"), "")),
        st.one_of(st.just('{"kind": "printer_kick", "pin": 2, "pulse_ms": 200}'),
                  st.just('{"kind": "printer_kick", "pulse_ms": "200"}'), st.just('{"kind": "sim", "delay_s": NaN}'),
                  JSONISH.map(json.dumps)).map(lambda s: (("hw", "set", "drawer", s), "")),
    )

    def check(args: tuple[str, ...], stdin: str) -> None:
        with closed_after(sqlite3.connect(data / "till.db")) as conn, conn:
            before, meta_before = snapshot(conn), _meta_but_pin_locks(conn)
        proc = _till(data, *args, stdin=stdin)
        if "Traceback" in proc.stderr or proc.returncode not in (0, 1, 2):
            problems.append(f"{args} {stdin[:80]!r}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
            counts["traceback"] += 1
            return
        if proc.returncode == 0:
            counts["taken"] += 1
            return
        lines = proc.stderr.strip().splitlines()
        error_lines = [ln for ln in lines if "error:" in ln]
        if len(error_lines) != 1 or (proc.returncode == 1 and len(lines) != 1):
            problems.append(f"{args}: not one line: {proc.stderr!r}")
        with closed_after(sqlite3.connect(data / "till.db")) as conn, conn:
            after = snapshot(conn)
            if after != before and not _only_the_miss(conn, before, after, meta_before):
                problems.append(f"{args} {stdin[:80]!r}: refused ({proc.stderr.strip()}) but wrote")
        counts["refused"] += 1

    @settings(SETTINGS, max_examples=40)
    @given(command)
    def one(cmd: tuple[tuple[str, ...], str]) -> None:
        check(*cmd)
    one()
    # the catalog file itself, as bytes the CSV reader may not even decode
    for i, raw in enumerate((b"\xff\xfe\x00garbage", b"sku,barcode,name,price,vat_rate,group\nA,,N,\xef\xbc\x91,25,G\n",
                             b"sku,barcode,name,price,vat_rate,group\n\"" + b"x" * 200_000)):
        path = tmp_path / f"catalog-{i}.csv"
        path.write_bytes(raw)
        check(("catalog", "import", str(path)), "")
    print(f"\nfuzz campaign (till command): {sum(counts.values())} inputs, {counts['taken']} taken, "
          f"{counts['refused']} refused, {counts['traceback']} tracebacks")
    assert problems == [], problems[0]
    assert counts["traceback"] == 0 and counts["refused"] > 0 and sum(counts.values()) >= 40
