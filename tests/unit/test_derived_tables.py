"""Receipt numbers come from the signed journal, and the tables derived from it (receipts,
z_reports) are checked against it: an attacker with the database file who edits, deletes or adds a
row there is named by `journal verify`, and no receipt number is handed out twice."""

from __future__ import annotations

from appliance.services.closing import close_day
from appliance.services.selling import refund, sell
from appliance.store.journal import verify

from ..conftest import CVR


def _sell(till) -> dict:
    return sell(till, {"cashier": "anna", "lines": [{"sku": "MILK"}],
                       "payments": [{"type": "card", "amount": "12.95"}]})


def test_a_deleted_receipt_row_does_not_give_its_number_again(till) -> None:
    _sell(till)
    last = _sell(till)
    till.conn.execute("DELETE FROM receipts WHERE receipt_number = ?", (last["receipt_number"],))
    report = verify(till.conn, CVR)
    assert not report.ok and report.first_bad == last["journal_nr"]
    assert report.problem == f"receipt {last['receipt_number']} in the receipts table does not match " \
                             f"journal entry {last['journal_nr']}"
    assert _sell(till)["receipt_number"] == last["receipt_number"] + 1  # numbered from the journal


def test_an_edited_receipt_row_is_named(till) -> None:
    first = _sell(till)
    refund(till, first["receipt_number"], {"cashier": "anna", "lines": [{"sku": "MILK"}]})
    for change in ("total = 1", "training = 1", "kind = 'sale' WHERE kind = 'return' AND 1",
                   "original_receipt = NULL WHERE original_receipt IS NOT NULL AND 1"):
        conn = till.conn
        conn.execute("SAVEPOINT edit")
        conn.execute(f"UPDATE receipts SET {change}" if "WHERE" in change else
                     f"UPDATE receipts SET {change} WHERE receipt_number = {first['receipt_number']}")
        report = verify(conn, CVR)
        assert not report.ok and "in the receipts table does not match" in (report.problem or ""), change
        conn.execute("ROLLBACK TO edit")
        conn.execute("RELEASE edit")
    assert verify(till.conn, CVR).ok


def test_a_receipt_row_without_its_sale_is_named(till) -> None:
    sale = _sell(till)
    till.conn.execute("INSERT INTO receipts (receipt_number, journal_nr, kind, training, total) "
                      "VALUES (99, ?, 'sale', 0, 100)", (sale["journal_nr"] - 1,))
    report = verify(till.conn, CVR)
    assert not report.ok and report.problem == "receipt 99 in the receipts table has no sale or return in " \
                                               "the journal"


def test_an_edited_or_invented_z_row_is_named(till) -> None:
    _sell(till)
    z = close_day(till, "0.00")
    till.conn.execute("UPDATE z_reports SET business_date = '2020-01-01' WHERE z_number = ?", (z["z_number"],))
    report = verify(till.conn, CVR)
    assert not report.ok and report.problem and f"Z {z['z_number']} in z_reports does not match" in report.problem
    till.conn.execute("UPDATE z_reports SET business_date = ? WHERE z_number = ?",
                      (z["business_date"], z["z_number"]))
    assert verify(till.conn, CVR).ok
    till.conn.execute("INSERT INTO z_reports (z_number, journal_nr, business_date, period_start, period_end, "
                      "last_nr) VALUES (7, 1, '2026-11-20', 'x', 'y', 1)")
    report = verify(till.conn, CVR)
    assert not report.ok and "Z 7 in z_reports has no Z in the journal" in (report.problem or "")


def test_a_second_key_version_nobody_journalled_is_refused(till) -> None:
    from appliance.domain.signing import new_key, self_signed_certificate
    _sell(till)
    other = self_signed_certificate(new_key(), "Butik", CVR, "1")
    till.conn.execute("INSERT INTO key_versions (version, certificate, kind, installed) VALUES (2, ?, "
                      "'oces', 'x')", (other.decode(),))
    report = verify(till.conn, CVR)
    assert not report.ok and report.problem == ("key version 2's certificate was never pinned in the journal "
                                                "(a new key needs a journalled key rotation)")
