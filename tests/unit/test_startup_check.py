"""The start-up check walks the period since the last Z (journal and cash transactions) and the key
against the certificate; what lies before the last Z is the full `journal verify`'s."""

from __future__ import annotations

from appliance.services.closing import close_day
from appliance.services.selling import sell
from appliance.services.startup_check import check_on_start
from appliance.store.journal import verify

from ..conftest import CVR


def _sell(till) -> dict:
    return sell(till, {"cashier": "anna", "lines": [{"sku": "MILK"}],
                       "payments": [{"type": "card", "amount": "12.95"}]})


def test_a_cash_transaction_edited_since_the_last_z_stops_the_start(till, clock) -> None:
    first = _sell(till)
    close_day(till, "0.00")
    clock.advance(hours=1)
    second = _sell(till)
    assert check_on_start(till).ok
    conn = till.conn
    conn.execute("DROP TRIGGER cash_transactions_no_update")
    conn.execute("UPDATE cash_transactions SET amnt_in = '1.00' WHERE journal_nr = ?", (second["journal_nr"],))
    report = check_on_start(till)
    assert not report.ok and "does not match journal entry" in (report.problem or "")
    conn.execute("UPDATE cash_transactions SET amnt_in = '12.95' WHERE journal_nr = ?", (second["journal_nr"],))
    assert check_on_start(till).ok
    # before the last Z: the start stays quick and leaves it to the full verify, which names it
    conn.execute("UPDATE cash_transactions SET amnt_in = '1.00' WHERE journal_nr = ?", (first["journal_nr"],))
    assert check_on_start(till).ok
    assert not verify(conn, CVR).ok


def test_the_start_walks_only_the_period_since_the_last_z(till, clock) -> None:
    for _ in range(3):
        _sell(till)
    close_day(till, "0.00")
    clock.advance(hours=1)
    _sell(till)
    report = check_on_start(till)
    z_nr = till.conn.execute("SELECT MAX(journal_nr) FROM z_reports").fetchone()[0]
    last = till.conn.execute("SELECT MAX(nr) FROM journal").fetchone()[0]
    assert report.ok and report.entries == last - z_nr + 1 and report.transactions == 1
