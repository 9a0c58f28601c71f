"""The reports screen: Z reports with their Dinero states, one opened, a copy printed, sent again.

The demo's closed days were queued for Dinero when they closed (no uploader runs in the tests);
the test sets the states an uploader would have left (sent, failed, never queued) on the demo's
first two days, then drives the screen."""

from __future__ import annotations

from tests.ui.conftest import query


def set_transfer(kiosk, z: int, state: str | None, sent_at: str | None = None, error: str | None = None) -> None:
    """What the uploader would have left for Z `z` (None: never queued)."""
    def change(till) -> None:
        from appliance.store.db import transaction
        with transaction(till.conn):
            till.conn.execute("DELETE FROM dinero_transfers WHERE z_number = ?", (z,))
            if state is not None:
                till.conn.execute(
                    "INSERT INTO dinero_transfers (z_number, revision, action, ledger_id, created, state, "
                    "sent_at, last_error) VALUES (?, 1, 'post', ?, ?, ?, ?, ?)",
                    (z, f"test-{z}", "2026-01-01T00:00:00+01:00", state, sent_at, error))
    kiosk.app.backend.run(change)


def row_text(kiosk, z: int) -> str:
    return kiosk.key(f"report-{z}").text


def open_reports(kiosk):
    kiosk.login("bo", "2222")
    kiosk.tap("menu-toggle")
    kiosk.tap("menu-reports")
    assert kiosk.app.manager.current == "reports"
    return kiosk.app.screen("reports")


def test_the_list_shows_each_days_dinero_state_and_transfer_time(kiosk) -> None:
    [(z1,), (z2,)] = query(kiosk, "SELECT z_number FROM z_reports ORDER BY z_number LIMIT 2")
    set_transfer(kiosk, z1, None)
    set_transfer(kiosk, z2, "sent", sent_at="2026-11-21T15:22:10+01:00")
    screen = open_reports(kiosk)
    zs = [r[0] for r in query(kiosk, "SELECT z_number FROM z_reports ORDER BY z_number DESC")]
    assert [r["z_number"] for r in screen.reports] == zs  # the newest first
    assert "Ikke sendt" in row_text(kiosk, z1) and "Overført" not in row_text(kiosk, z1)
    assert [r["transferred_at"] for r in screen.reports if r["z_number"] == z1] == [None]
    assert "Overført 21-11-2026 15:22" in row_text(kiosk, z2)
    [(date, net)] = query(kiosk, "SELECT business_date, json_extract(j.payload, '$.net_sales') FROM z_reports z "
                                 "JOIN journal j ON j.nr = z.journal_nr WHERE z_number = ?", z2)
    from appliance.domain.money import format_dkk, parse_kroner
    y, m, d = date.split("-")
    assert f"Z {z2}" in row_text(kiosk, z2) and f"{d}-{m}-{y}" in row_text(kiosk, z2)
    assert format_dkk(parse_kroner(net)) in row_text(kiosk, z2)
    set_transfer(kiosk, z2, "failed", error="accounts not mapped: bank")
    kiosk.tap(f"report-{z2}")
    screen.refresh()
    kiosk.settle()
    assert "Fejlet: accounts not mapped: bank" in row_text(kiosk, z2)
    assert screen.state_text == "Dinero: Fejlet: accounts not mapped: bank" and screen.state_failed
    # the queued state (the newest Z, if the end-of-day test has not closed one, is still queued
    # from the demo): send Z1 again
    kiosk.tap(f"report-{z1}")
    kiosk.tap("report-send")
    assert "I kø" in row_text(kiosk, z1)


def test_open_a_report_print_a_copy_and_send_it_again(kiosk) -> None:
    [(z, nr)] = query(kiosk, "SELECT z_number, journal_nr FROM z_reports ORDER BY z_number LIMIT 1")
    set_transfer(kiosk, z, "failed", error="Dinero refused the item (HTTP 422)")
    screen = open_reports(kiosk)
    kiosk.tap(f"report-{z}")
    assert screen.selected == z and screen.title == f"Z-rapport {z}"
    shown = [w.text for w in reversed(screen.ids.figures.children)]
    [(net,)] = query(kiosk, "SELECT json_extract(payload, '$.net_sales') FROM journal WHERE nr = ?", nr)
    from appliance.domain.money import format_dkk, parse_kroner
    assert shown[shown.index("Nettoomsætning") + 1] == format_dkk(parse_kroner(net))
    # a printed copy: a report job for the Z's journal entry, printed on the sim printer
    folder = kiosk.app.data_dir / "sim" / "printer"
    before = set(folder.glob("*.txt"))
    jobs = query(kiosk, "SELECT COUNT(*) FROM print_jobs WHERE kind = 'report' AND ref = ?", nr)[0][0]
    kiosk.tap("report-print")
    assert query(kiosk, "SELECT COUNT(*) FROM print_jobs WHERE kind = 'report' AND ref = ?", nr)[0][0] == jobs + 1
    assert f"kopi af Z-rapport {z}" in kiosk.app.message
    kiosk.until(lambda: any(f"Z-rapport {z}" in p.read_text(encoding="utf-8")
                            for p in set(folder.glob("*.txt")) - before), what="the copy on the sim printer")
    # send again: the failed send is queued again, once
    kiosk.tap("report-send")
    assert f"Z-rapport {z} er sat i kø til Dinero" in kiosk.app.message
    assert query(kiosk, "SELECT state, attempts, last_error FROM dinero_transfers WHERE z_number = ?", z) == [
        ("queued", 0, None)]
    assert "I kø" in row_text(kiosk, z) and screen.state_text == "Dinero: I kø"
    kiosk.tap("report-send")
    assert kiosk.app.message_level == "error"
    assert kiosk.app.message == f"Z-rapport {z} står allerede i kø til Dinero."
    assert query(kiosk, "SELECT COUNT(*) FROM dinero_transfers WHERE z_number = ?", z)[0][0] == 1
    # a never-sent day gets its first transfer row
    set_transfer(kiosk, z, None)
    screen.refresh()
    kiosk.settle()
    assert "Ikke sendt" in row_text(kiosk, z)
    kiosk.tap("report-send")
    assert query(kiosk, "SELECT state, action, revision FROM dinero_transfers WHERE z_number = ?", z) == [
        ("queued", "post", 1)]
