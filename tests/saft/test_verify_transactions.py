"""`journal verify` against an attacker who has the database file but not the signing key.

The attacker drops the append-only triggers (as anyone with the file can) and edits, deletes or
renumbers cash transactions, re-signing nothing. Each edit makes verify fail and name the first
transaction or journal entry that is wrong; a Z whose last transaction (its anchor) was cut off is
reported by that Z.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from appliance.domain.journal import ChainReport
from appliance.services import cash, closing, selling
from appliance.services.till import open_till
from appliance.store.journal import verify
from tests.conftest import CVR, Clock, make_till

TRIGGERS = ("cash_transactions_no_update", "cash_transactions_no_delete", "cash_transactions_gap_free",
            "journal_no_update", "journal_no_delete", "journal_gap_free")


@dataclass(frozen=True)
class Template:
    data: Path
    zs: list[dict]  # the Zs as close_day returned them (as printed and sent to Dinero)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """Two closed days (each: a float, sales, a return, a cash difference and cash to the bank at the
    Z) and an open third day with three sales after the last Z."""
    data = tmp_path_factory.mktemp("verify") / "shop"
    clock = Clock()
    till = make_till(data, clock)
    zs = []
    try:
        for day in range(3):
            cash.move_cash(till, "float", "300.00", "", "anna")
            for i in range(3):
                clock.advance(minutes=7)
                out = selling.sell(till, {"cashier": "anna", "lines": [{"sku": "MILK", "qty": i + 1}],
                                          "payments": [{"type": "cash", "amount": "100.00"}]})
            clock.advance(minutes=7)
            selling.refund(till, out["receipt_number"], {"cashier": "anna", "lines": [{"sku": "MILK"}]})
            if day < 2:
                clock.advance(hours=6)
                zs.append(closing.close_day(till, "350.00", "200.00", render_pdf=False, transfer=False))
                clock.next_day()
        assert verify(till.conn, CVR).ok
    finally:
        till.close()
    return Template(data, zs)


def copy_of(template: Template, tmp_path: Path) -> Path:
    data = tmp_path / "shop"
    shutil.copytree(template.data, data)
    return data


def tamper(data: Path, *statements: str) -> None:
    """What an attacker with the file does: drop the triggers, run the edits."""
    conn = sqlite3.connect(data / "till.db", isolation_level=None)
    try:
        for name in TRIGGERS:
            conn.execute(f"DROP TRIGGER {name}")
        for sql in statements:
            conn.execute(sql)
    finally:
        conn.close()


def verified(data: Path) -> ChainReport:
    with open_till(data, Clock()) as till:
        return verify(till.conn, CVR)


def rows(data: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(data / "till.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def journal_nr_of(data: Path, tx_nr: int) -> int:
    return rows(data, f"SELECT journal_nr FROM cash_transactions WHERE nr = {tx_nr}")[0][0]


def last_tx(data: Path) -> int:
    return rows(data, "SELECT MAX(nr) FROM cash_transactions")[0][0]


def middle_sale(data: Path) -> int:
    """A sale of the second day, between the two Zs."""
    sales = [nr for (nr,) in rows(data, "SELECT nr FROM cash_transactions WHERE trans_type = '11001' "
                                        "ORDER BY nr")]
    return sales[len(sales) // 2]


# --- edits ------------------------------------------------------------------------------------------

def test_the_untouched_copy_verifies(template: Template, tmp_path: Path) -> None:
    data = copy_of(template, tmp_path)
    report = verified(data)
    assert report.ok, report
    assert report.transactions == last_tx(data)


def test_an_edited_amount_is_named(template: Template, tmp_path: Path) -> None:
    data = copy_of(template, tmp_path)
    nr = middle_sale(data)
    tamper(data, f"UPDATE cash_transactions SET amnt_in = '1.00' WHERE nr = {nr}")
    report = verified(data)
    assert not report.ok
    assert report.first_bad == nr
    assert report.problem == f"cash transaction {nr} does not match journal entry {journal_nr_of(data, nr)}"


def test_an_amount_edited_with_its_signed_text_is_named(template: Template, tmp_path: Path) -> None:
    """The row made consistent with itself (amount and the stored signed string), the old signature kept."""
    data = copy_of(template, tmp_path)
    nr = middle_sale(data)
    (amount,) = rows(data, f"SELECT amnt_in FROM cash_transactions WHERE nr = {nr}")[0]
    tamper(data, f"UPDATE cash_transactions SET amnt_in = '1.00', "
                 f"signed_text = replace(signed_text, ';{amount};', ';1.00;') WHERE nr = {nr}")
    assert rows(data, f"SELECT signed_text LIKE '%;1.00;%' FROM cash_transactions WHERE nr = {nr}") == [(1,)]
    report = verified(data)
    assert (report.ok, report.first_bad) == (False, nr), report


def test_an_amount_edited_in_both_tables_is_named_by_the_journal(template: Template, tmp_path: Path) -> None:
    data = copy_of(template, tmp_path)
    nr = middle_sale(data)
    entry = journal_nr_of(data, nr)
    tamper(data, f"UPDATE cash_transactions SET amnt_in = '1.00' WHERE nr = {nr}",
           f"UPDATE journal SET amount_in = 100 WHERE nr = {entry}")
    report = verified(data)
    assert (report.ok, report.first_bad) == (False, entry), report
    assert report.problem == "content does not match its transID (edited)"


def test_a_signature_taken_from_another_transaction_is_named(template: Template, tmp_path: Path) -> None:
    data = copy_of(template, tmp_path)
    nr = middle_sale(data)
    tamper(data, f"UPDATE cash_transactions SET signature = (SELECT signature FROM cash_transactions "
                 f"WHERE nr = {nr + 1}) WHERE nr = {nr}")
    report = verified(data)
    assert (report.ok, report.first_bad) == (False, nr), report
    assert report.problem == f"cash transaction {nr}: signature does not verify (chain broken)"


# --- deletions --------------------------------------------------------------------------------------

def test_a_transaction_deleted_in_the_middle_is_named(template: Template, tmp_path: Path) -> None:
    data = copy_of(template, tmp_path)
    nr = middle_sale(data)
    tamper(data, f"DELETE FROM cash_transactions WHERE nr = {nr}")
    report = verified(data)
    assert (report.ok, report.first_bad) == (False, nr), report
    assert report.problem == f"cash transaction {nr} is missing or out of order (found {nr + 1})"


@pytest.mark.parametrize(("renumber", "problem"), [
    ("nr = nr - 1", "is out of its register's chain"),
    ("nr = nr - 1, chain_seq = chain_seq - 1", ": signature does not verify (chain broken)"),
])
def test_a_deletion_closed_up_by_renumbering_is_named(template: Template, tmp_path: Path, renumber: str,
                                                     problem: str) -> None:
    """The gap hidden by moving the later transactions down one number (and one place in the chain)."""
    data = copy_of(template, tmp_path)
    nr = middle_sale(data)
    tamper(data, f"DELETE FROM cash_transactions WHERE nr = {nr}",
           f"UPDATE cash_transactions SET {renumber} WHERE nr > {nr}")
    assert [n for (n,) in rows(data, "SELECT nr FROM cash_transactions ORDER BY nr")] == list(
        range(1, last_tx(data) + 1))
    report = verified(data)
    assert (report.ok, report.first_bad) == (False, nr), report
    assert report.problem == f"cash transaction {nr}{'' if problem.startswith(':') else ' '}{problem}"


def test_a_transaction_deleted_in_the_middle_of_both_tables_is_named(template: Template,
                                                                    tmp_path: Path) -> None:
    data = copy_of(template, tmp_path)
    nr = middle_sale(data)
    entry = journal_nr_of(data, nr)
    tamper(data, f"DELETE FROM cash_transactions WHERE nr = {nr}", f"DELETE FROM journal WHERE nr = {entry}")
    report = verified(data)
    assert (report.ok, report.first_bad) == (False, entry), report
    assert report.problem == f"entry {entry} is missing (found {entry + 1})"


def test_the_last_transaction_deleted_alone_is_counted(template: Template, tmp_path: Path) -> None:
    data = copy_of(template, tmp_path)
    last = last_tx(data)
    tamper(data, f"DELETE FROM cash_transactions WHERE nr = {last}")
    report = verified(data)
    assert not report.ok
    assert report.problem == f"{last} cash entries in the journal but {last - 1} cash transactions"


def test_the_end_of_both_tables_cut_off_is_named(template: Template, tmp_path: Path) -> None:
    """The open day's last two sales and the return after them cut from both tables."""
    data = copy_of(template, tmp_path)
    last = last_tx(data)
    cut_from = journal_nr_of(data, last - 2)
    (journal_end,) = rows(data, "SELECT MAX(nr) FROM journal")[0]
    tamper(data, f"DELETE FROM journal WHERE nr >= {cut_from}",
           f"DELETE FROM cash_transactions WHERE nr >= {last - 2}")
    report = verified(data)
    assert (report.ok, report.first_bad) == (False, cut_from), report
    assert report.problem == f"entries {cut_from}..{journal_end} are missing from the end"


def test_a_z_whose_anchor_was_cut_off_is_reported(template: Template, tmp_path: Path) -> None:
    """Everything from the second Z's last transaction on cut from both tables, and the journal's
    AUTOINCREMENT counter set back so the journal looks whole; the Z stays in z_reports (and on paper)."""
    data = copy_of(template, tmp_path)
    z = template.zs[-1]
    anchor = z["last_transaction"]["nr"]
    assert rows(data, f"SELECT last_tx_nr FROM z_reports WHERE z_number = {z['z_number']}") == [(anchor,)]
    cut_from = journal_nr_of(data, anchor)
    tamper(data, f"DELETE FROM journal WHERE nr >= {cut_from}",
           f"DELETE FROM cash_transactions WHERE nr >= {anchor}",
           f"UPDATE sqlite_sequence SET seq = {cut_from - 1} WHERE name = 'journal'")
    report = verified(data)
    assert not report.ok
    assert f"Z {z['z_number']}" in (report.problem or ""), report


def test_journal_verify_exits_3_naming_the_transaction(template: Template, tmp_path: Path) -> None:
    data = copy_of(template, tmp_path)
    nr = middle_sale(data)
    tamper(data, f"UPDATE cash_transactions SET amnt_in = '1.00' WHERE nr = {nr}")
    env = {**os.environ, "TILLBOX_DATA": "", "TILLBOX_CLOCK": "2026-11-23T09:00:00+01:00"}
    proc = subprocess.run([sys.executable, "-m", "appliance.cli", "--data", str(data), "--json", "journal",
                           "verify"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 3, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["ok"], out["first_bad"]) == (False, nr)
    assert f"cash transaction {nr} does not match" in proc.stderr
