"""The attack campaign: an attacker with write access to the data folder (but not to Dinero) tries
each way of rewriting the record the issue names, and each is caught with its exact message and
exit code 3, by `till journal verify` on the box or by `--against-dinero` from outside it.

One shop trades three days; each Z goes to FakeDinero (127.0.0.1, checked against the OpenAPI
document) with its PDF, which carries the Z's anchor. A copy of the data folder is kept after the
first day (the "older copy"). A fourth day is left open: what happened after the last Z that
reached Dinero cannot be vouched for from outside, and the campaign says so (README)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from appliance.domain.cash_transactions import CASH_KINDS
from appliance.domain.journal import canonical_json, content_id, signature_string
from appliance.domain.signing import (
    Signer,
    certificate_fingerprint,
    key_pem,
    new_key,
    self_signed_certificate,
)
from appliance.services import uploader as up
from appliance.services.closing import close_day, x_figures
from appliance.services.selling import sell
from appliance.store import cash_transactions
from appliance.store.journal import entries
from appliance.store.keys import key_path
from tests.conftest import CVR, Clock, make_till
from tests.fakes.dinero import FakeDinero
from tests.integration.test_uploader import API_KEY, CLIENT_ID, CLIENT_SECRET, ORG, connect

TRIGGERS = ("cash_transactions_no_update", "cash_transactions_no_delete", "cash_transactions_gap_free",
            "journal_no_update", "journal_no_delete", "journal_gap_free")
SALES = [
    {"cashier": "anna", "lines": [{"sku": "MILK", "qty": 3}, {"sku": "PAPER"}],
     "payments": [{"type": "cash", "amount": "100.00"}]},
    {"cashier": "anna", "lines": [{"sku": "BUTTER"}],
     "payments": [{"type": "card", "amount": "24.50", "brand": "Dankort"}]},
]
COUNTS: dict[str, int] = {"variants": 0, "caught_on_the_box": 0, "caught_against_dinero": 0, "missed": 0}


@dataclass(frozen=True)
class Shop:
    data: Path      # three days closed and in Dinero, a fourth open
    older: Path     # the same shop's folder as it was after the first day
    zs: list[dict]


def _trade(till, clock, n: int = 1) -> None:
    for _ in range(n):
        for s in SALES:
            clock.advance(minutes=5)
            sell(till, s)


def _close(till, clock) -> dict:
    from appliance.domain.money import format_kroner
    clock.advance(hours=8)
    z = close_day(till, format_kroner(x_figures(till).cash_expected))
    up.Uploader(till, up.connector(till)).run_once()
    clock.next_day()
    return z


@pytest.fixture(scope="module")
def dinero():
    with FakeDinero() as fake:
        fake.add_org(ORG, "Købmand Hansen ApS", pro=True)
        fake.add_personal_client(CLIENT_ID, CLIENT_SECRET, API_KEY, ORG)
        yield fake


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, dinero: FakeDinero) -> Shop:
    root = tmp_path_factory.mktemp("attack")
    clock = Clock()
    till = make_till(root / "shop", clock)
    connect(till, dinero)
    zs = []
    try:
        for day in range(3):
            _trade(till, clock, 2)
            zs.append(_close(till, clock))
            if day == 0:
                till.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                shutil.copytree(root / "shop", root / "older")
        _trade(till, clock, 1)  # the open day: after the newest anchor
        states = {r[0] for r in till.conn.execute("SELECT state FROM dinero_transfers")}
        assert states == {"sent"}, states
    finally:
        till.close()
    assert len(dinero.files(ORG)) == 3
    return Shop(root / "shop", root / "older", zs)


def _copy(src: Path, tmp_path: Path) -> Path:
    data = tmp_path / "shop"
    shutil.copytree(src, data)
    return data


def _till(data: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TILLBOX_DATA": ""}
    return subprocess.run([sys.executable, "-m", "appliance.cli", "--data", str(data), *args],
                          capture_output=True, text=True, env=env, timeout=120)


def _db(data: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(data / "till.db", isolation_level=None)
    for name in TRIGGERS:
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    return conn


def _z_entry(conn: sqlite3.Connection, z: int) -> int:
    return conn.execute("SELECT journal_nr FROM z_reports WHERE z_number = ?", (z,)).fetchone()[0]


def _outcome(data: Path) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    return _till(data, "journal", "verify"), _till(data, "journal", "verify", "--against-dinero")


def _tally(local: subprocess.CompletedProcess, outside: subprocess.CompletedProcess) -> None:
    COUNTS["variants"] += 1
    if local.returncode == 3:
        COUNTS["caught_on_the_box"] += 1
    elif outside.returncode == 3:
        COUNTS["caught_against_dinero"] += 1
    else:
        COUNTS["missed"] += 1


def _last_line(proc: subprocess.CompletedProcess) -> str:
    return proc.stderr.strip().splitlines()[-1]


# --- the attacks -------------------------------------------------------------------------------------

def test_the_untouched_shop_verifies_on_the_box_and_against_dinero(shop: Shop, tmp_path: Path) -> None:
    data = _copy(shop.data, tmp_path)
    local, outside = _outcome(data)
    assert local.returncode == 0, local.stderr
    assert outside.returncode == 0, outside.stderr
    assert "Dinero: 3 Z anchors agree with this journal (newest Z 3" in outside.stdout


def test_a_cut_off_end_with_the_sequence_set_back(shop: Shop, tmp_path: Path) -> None:
    """Day three cut off the journal, its cash transactions, Z row and receipts, the sequences set
    back: the box's own check has nothing left to see; Dinero's Z 3 has."""
    data = _copy(shop.data, tmp_path)
    conn = _db(data)
    cut = _z_entry(conn, 2)
    last_tx = conn.execute("SELECT MAX(nr) FROM cash_transactions WHERE journal_nr <= ?", (cut,)).fetchone()[0]
    z3 = _z_entry(conn, 3)
    for sql in ("DELETE FROM receipts WHERE journal_nr > ?", "DELETE FROM z_reports WHERE journal_nr > ?",
                "DELETE FROM cash_transactions WHERE journal_nr > ?", "DELETE FROM journal WHERE nr > ?"):
        conn.execute(sql, (cut,))
    conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'journal'", (cut,))
    conn.close()
    local, outside = _outcome(data)
    _tally(local, outside)
    assert local.returncode == 0, local.stderr  # the cut is invisible on the box
    assert outside.returncode == 3
    tx3 = json.loads(_z_payload(shop.data, 3))["last_transaction"]["nr"]
    assert _last_line(outside) == (
        f"till: error: journal broken: Dinero holds Z 3 (journal entry {z3}, cash transaction {tx3}), but "
        f"this journal ends at entry {cut}: entries were cut off its end")
    assert last_tx < tx3


def _z_payload(data: Path, z: int) -> str:
    conn = sqlite3.connect(data / "till.db")
    try:
        return conn.execute("SELECT payload FROM journal WHERE nr = (SELECT journal_nr FROM z_reports "
                            "WHERE z_number = ?)", (z,)).fetchone()[0]
    finally:
        conn.close()


def test_a_restored_older_copy(shop: Shop, tmp_path: Path) -> None:
    data = _copy(shop.older, tmp_path)
    conn = sqlite3.connect(data / "till.db")
    end = conn.execute("SELECT MAX(nr) FROM journal").fetchone()[0]
    conn.close()
    local, outside = _outcome(data)
    _tally(local, outside)
    assert local.returncode == 0, local.stderr
    assert outside.returncode == 3
    z3 = _z_entry(sqlite3.connect(shop.data / "till.db"), 3)
    assert _last_line(outside) == (
        f"till: error: journal broken: Dinero holds Z 3 (journal entry {z3}), which this till.db never sent "
        f"and does not hold (it ends at entry {end}): an older copy of till.db was restored")


def _resign(data: Path, rewrite_pin: bool, own_key: bool = False) -> str:
    """Every entry and cash transaction signed again with a key of the attacker's own, its
    certificate written into key_versions (and, done properly, into the init entry's pin and each
    Z's payload): returns the new certificate's fingerprint. With `own_key`, the till's own key
    (it lies in the data folder) signs a history with the first sale's cashier changed."""
    if own_key:
        signer = Signer.from_pem(key_path(data, 1).read_bytes(), 1)
        conn = sqlite3.connect(data / "till.db")
        cert = conn.execute("SELECT certificate FROM key_versions WHERE version = 1").fetchone()[0].encode()
        conn.close()
    else:
        key = new_key()
        cert = self_signed_certificate(key, "Købmand Hansen", CVR, "1")
        signer = Signer(key, 1)
    fingerprint = certificate_fingerprint(cert)
    edited = False
    conn = _db(data)
    conn.execute("BEGIN")
    conn.execute("DELETE FROM cash_transactions")
    prev = "0"
    for e in list(entries(conn)):
        payload = e.data()
        if e.kind == "init" and rewrite_pin:
            payload["certificate_sha256"] = fingerprint
        if e.kind == "z_report":
            payload["certificate_sha256"] = fingerprint
            head = cash_transactions.last(conn, e.register_id)
            if head is not None:
                payload["last_transaction"]["signature"] = head.signature
        new = replace(e, payload=canonical_json(payload))
        if own_key and e.kind == "sale" and not edited:
            new, edited = replace(new, cashier="bo"), True
        new = replace(new, trans_id=content_id(new))
        new = replace(new, signature=signer.sign(signature_string(prev, new, CVR)))
        conn.execute("UPDATE journal SET cashier = ?, payload = ?, trans_id = ?, signature = ? WHERE nr = ?",
                     (new.cashier, new.payload, new.trans_id, new.signature, e.nr))
        if e.kind in CASH_KINDS:
            cash_transactions.append(conn, new, signer, CVR)
        prev = new.signature
    conn.execute("UPDATE key_versions SET certificate = ? WHERE version = 1", (cert.decode(),))
    conn.execute("COMMIT")
    conn.close()
    if not own_key:
        key_path(data, 1).write_bytes(key_pem(key))
    return fingerprint


def test_a_history_re_signed_with_a_new_key_and_certificate(shop: Shop, tmp_path: Path) -> None:
    data = _copy(shop.data, tmp_path)
    original = json.loads(_z_payload(shop.data, 3))["certificate_sha256"]
    fingerprint = _resign(data, rewrite_pin=True)
    local, outside = _outcome(data)
    _tally(local, outside)
    assert local.returncode == 0, local.stderr  # a whole, consistent, re-signed record
    assert outside.returncode == 3
    assert _last_line(outside) == (
        f"till: error: journal broken: Z 3 in Dinero was signed under certificate {original[:16]}…, this "
        f"journal's under {fingerprint[:16]}…: the history was re-signed with another key")


def test_a_history_rewritten_and_re_signed_with_the_tills_own_key(shop: Shop, tmp_path: Path) -> None:
    data = _copy(shop.data, tmp_path)
    _resign(data, rewrite_pin=True, own_key=True)
    local, outside = _outcome(data)
    _tally(local, outside)
    assert local.returncode == 0, local.stderr
    assert outside.returncode == 3
    z3 = _z_entry(sqlite3.connect(data / "till.db"), 3)
    assert _last_line(outside) == (
        f"till: error: journal broken: journal entry {z3} (Z 3) is not the one Dinero holds: the journal up to "
        "it was rewritten and signed again")


def test_a_re_signed_history_that_left_the_pin_is_caught_on_the_box(shop: Shop, tmp_path: Path) -> None:
    data = _copy(shop.data, tmp_path)
    _resign(data, rewrite_pin=False)
    local, outside = _outcome(data)
    _tally(local, outside)
    assert local.returncode == 3
    assert _last_line(local) == ("till: error: journal broken at entry 1: the certificate of key version 1 "
                                 "is not the one pinned in the journal at entry 1")


@pytest.mark.parametrize("table", ["receipts", "z_reports"])
def test_an_edited_derived_table(shop: Shop, tmp_path: Path, table: str) -> None:
    data = _copy(shop.data, tmp_path)
    conn = _db(data)
    if table == "receipts":
        nr, number = conn.execute("SELECT journal_nr, receipt_number FROM receipts ORDER BY receipt_number "
                                  "LIMIT 1 OFFSET 3").fetchone()
        conn.execute("UPDATE receipts SET total = '0.01' WHERE receipt_number = ?", (number,))
        expected = f"till: error: journal broken at entry {nr}: receipt {number} in the receipts table does " \
                   f"not match journal entry {nr}"
    else:
        nr = _z_entry(conn, 2)
        conn.execute("UPDATE z_reports SET business_date = '2020-01-01' WHERE z_number = 2")
        expected = f"till: error: journal broken at entry {nr}: Z 2 in z_reports does not match journal entry {nr}"
    conn.close()
    local, outside = _outcome(data)
    _tally(local, outside)
    assert local.returncode == 3
    assert _last_line(local) == expected
    assert outside.returncode == 3  # the local check runs first


def test_without_a_dinero_login_the_check_refuses_in_one_line(shop: Shop, tmp_path: Path) -> None:
    data = _copy(shop.data, tmp_path)
    from appliance.dinero.tokens import TokenStore
    TokenStore(data).path.unlink()
    proc = _till(data, "journal", "verify", "--against-dinero")
    assert proc.returncode == 1
    assert _last_line(proc) == ("till: error: the till is not connected to Dinero (till dinero connect ...)")


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    if COUNTS["variants"]:
        print(f"\nattack campaign: {COUNTS['variants']} variants, {COUNTS['caught_on_the_box']} caught on the "
              f"box, {COUNTS['caught_against_dinero']} caught against Dinero, {COUNTS['missed']} missed")
        assert COUNTS["missed"] == 0
