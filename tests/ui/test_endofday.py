"""End of day by touches: counting by denomination with a difference, the close (the ONLY test in
the UI suite that closes the demo shop's today), the Z printed and shown, a second close refused,
and the X report. Closing without the Dinero transfer is checked on a till of its own."""

from __future__ import annotations

import json

from tests.ui.conftest import query


def open_endofday(kiosk) -> object:
    kiosk.login("bo", "2222")
    kiosk.tap("menu-toggle")
    kiosk.tap("menu-endofday")
    assert kiosk.app.manager.current == "endofday"
    return kiosk.app.screen("endofday")


def printed_texts(kiosk) -> dict[str, str]:
    folder = kiosk.app.data_dir / "sim" / "printer"
    return {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.txt")} if folder.exists() else {}


def test_counting_shows_totals_expected_and_difference_live(kiosk) -> None:
    from appliance.services.closing import x_figures
    screen = open_endofday(kiosk)
    screen.reset()
    kiosk.settle()
    report = kiosk.app.backend.run(x_figures)
    expected, day_float = report.cash_expected, report.cash_float
    kiosk.tap("denom-50000-plus")
    kiosk.tap("denom-50000-plus")
    kiosk.tap("denom-50000-minus")
    kiosk.tap("denom-50000-plus")          # 2 x 500
    kiosk.tap("denom-50-plus")             # 1 x 0,50
    kiosk.tap("denom-2000")                # 20 kr.: typed on the pad
    kiosk.tap("pad-1")
    kiosk.tap("pad-2")                     # 12 x 20
    counted = 2 * 50000 + 50 + 12 * 2000
    assert screen.counted == counted
    assert screen.rows[2000].count == 12 and screen.rows[2000].subtotal == "240,00"
    assert screen.notes_text == "Sedler: 1.000,00 kr." and screen.coins_text == "Mønter: 240,50 kr."
    assert screen.expected == expected
    assert screen.difference == counted - expected
    assert screen.ids.difference.value == ("+" if counted > expected else "") + _dkk(counted - expected)
    assert screen.to_bank == max(0, counted - day_float)   # follows the count
    kiosk.tap("to-bank")
    for _i in range(9):
        kiosk.tap("pad-back")
    kiosk.tap("pad-5")
    kiosk.tap("pad-0")
    assert screen.to_bank == 5000 and screen.to_bank_typed
    assert screen.next_float_text == _dkk(counted - 5000)
    kiosk.tap("denom-100000-plus")         # typed by hand: the to-bank amount stays put
    assert screen.to_bank == 5000
    screen.reset()
    assert screen.counted == 0 and not screen.to_bank_typed


def _dkk(ore: int) -> str:
    from appliance.domain.money import format_dkk
    return format_dkk(ore)


def test_x_report_prints_and_resets_nothing(kiosk) -> None:
    open_endofday(kiosk)
    before = query(kiosk, "SELECT COUNT(*) FROM journal WHERE kind = 'x_report'")[0][0]
    zs = query(kiosk, "SELECT COUNT(*) FROM z_reports")[0][0]
    printed = set(printed_texts(kiosk))
    kiosk.tap("x-report")
    screen = kiosk.app.screen("endofday")
    assert screen.mode == "x" and "X-rapport" in screen.result_title
    assert query(kiosk, "SELECT COUNT(*) FROM journal WHERE kind = 'x_report'")[0][0] == before + 1
    assert query(kiosk, "SELECT COUNT(*) FROM z_reports")[0][0] == zs
    [(nr,)] = query(kiosk, "SELECT MAX(nr) FROM journal WHERE kind = 'x_report'")
    assert query(kiosk, "SELECT kind FROM print_jobs WHERE ref = ? AND kind = 'report'", nr)
    kiosk.app.backend.print_queue.wake()
    kiosk.until(lambda: any("X-rapport" in t for n, t in printed_texts(kiosk).items() if n not in printed),
                what="the X report on the sim printer")
    kiosk.tap("x-close")
    assert screen.mode == "count"


def test_end_of_day_with_a_difference_then_a_shift_close(kiosk) -> None:
    """The one close of the UI suite's today."""
    from appliance.services.closing import x_figures
    screen = open_endofday(kiosk)
    screen.reset()
    kiosk.settle()
    expected = kiosk.app.backend.run(lambda t: x_figures(t).cash_expected)
    day_float = kiosk.app.backend.run(lambda t: x_figures(t).cash_float)
    printed = set(printed_texts(kiosk))
    # count what is expected, in 1000s, 500s ... then 20 kr. short on purpose
    rest, counts = expected, {}
    from appliance.domain.reports import DENOMINATIONS
    for v in DENOMINATIONS:
        counts[v], rest = divmod(rest, v)
    assert rest == 0
    counts[2000] = counts.get(2000, 0)
    short = 2000 if counts[2000] else -2000
    counts[2000] -= 1 if short > 0 else -1
    for v, n in counts.items():
        if n:
            kiosk.tap(f"denom-{v}")
            for d in str(n):
                kiosk.tap(f"pad-{d}")
    counted = expected - short
    assert screen.counted == counted and screen.difference == -short
    assert screen.transfer  # "Overfør til Dinero" ticked by default
    to_bank = max(0, counted - day_float)
    assert screen.to_bank == to_bank
    diffs = query(kiosk, "SELECT COALESCE(MAX(nr), 0) FROM journal WHERE kind = 'cash_difference'")[0][0]
    zs = query(kiosk, "SELECT COUNT(*) FROM z_reports")[0][0]
    kiosk.tap("close-day")
    assert screen.confirming and query(kiosk, "SELECT COUNT(*) FROM z_reports")[0][0] == zs  # asks first
    kiosk.tap("close-confirm")
    assert screen.mode == "done", kiosk.app.message
    [(z, nr, _day)] = query(kiosk, "SELECT z_number, journal_nr, business_date FROM z_reports "
                                  "ORDER BY z_number DESC LIMIT 1")
    assert f"Z-rapport {z}" in screen.result_title and f"Z-rapport {z}" in kiosk.app.message
    # the journal: the difference, the Z with the count by denomination
    [(dnr, payload, amount)] = query(kiosk, "SELECT nr, payload, amount_in FROM journal "
                                            "WHERE kind = 'cash_difference' AND nr > ?", diffs)
    assert amount == -short and json.loads(payload)["z_number"] == z
    assert json.loads(payload)["counted"] == counted and json.loads(payload)["expected"] == expected
    [(zpayload,)] = query(kiosk, "SELECT payload FROM journal WHERE nr = ?", nr)
    zdata = json.loads(zpayload)
    from appliance.domain.money import format_kroner, parse_kroner
    assert parse_kroner(zdata["cash_counted"]) == counted and parse_kroner(zdata["to_bank"]) == to_bank
    assert {parse_kroner(k): n for k, n in zdata["denominations"].items()} == {v: n for v, n in counts.items() if n}
    assert zdata["cash_difference"] == format_kroner(-short)
    # Dinero: queued with the close
    assert query(kiosk, "SELECT state, action FROM dinero_transfers WHERE z_number = ?", z) == [("queued", "post")]
    # the screen: the difference (and the Dinero state) in the Z summary
    shown = [w.text for w in reversed(screen.ids.result_rows.children)]
    assert "Difference" in shown and shown[shown.index("Difference") + 1] == _dkk(-short)
    assert shown[shown.index("Dinero") + 1] == "I kø"
    # the Z printed on the sim printer
    kiosk.until(lambda: any(f"Z-rapport {z}" in t for n, t in printed_texts(kiosk).items() if n not in printed),
                what="the Z on the sim printer")
    assert query(kiosk, "SELECT state FROM print_jobs WHERE kind = 'report' AND ref = ?", nr) == [("printed",)]
    # a second close the same day is a shift close: it closes the (empty) period since the first
    kiosk.tap("back")
    kiosk.tap("menu-toggle")
    kiosk.tap("menu-endofday")
    assert screen.mode == "count" and screen.counted == 0
    assert f"Z-rapport {z}" in screen.closed_note
    carried = kiosk.app.backend.run(lambda t: x_figures(t).cash_expected)
    rest = carried
    for v in DENOMINATIONS:
        n, rest = divmod(rest, v)
        if n:
            kiosk.tap(f"denom-{v}")
            for d in str(n):
                kiosk.tap(f"pad-{d}")
    kiosk.tap("close-day")
    kiosk.tap("close-confirm")
    kiosk.until(lambda: screen.mode == "done", what="the second Z")
    second = query(kiosk, "SELECT MAX(z_number) FROM z_reports")[0][0]
    assert second == z + 1 and f"Z-rapport {second}" in screen.result_title
    today = kiosk.app.backend.run(lambda t: t.now().date().isoformat())
    assert query(kiosk, "SELECT business_date, period_start FROM z_reports WHERE z_number = ?", second) == [
        (today, query(kiosk, "SELECT period_end FROM z_reports WHERE z_number = ?", z)[0][0])]
    assert dnr < nr


def test_closing_without_the_transfer_queues_nothing_and_keeps_the_setting(till) -> None:
    """Unticking "Overfør til Dinero" is for that close only (on a till of its own: the kiosk's
    today is closed once, by the test above)."""
    from appliance.services.cash import move_cash
    from appliance.services.uploader import auto_transfer
    from appliance.store.settings import get_meta
    from appliance.store.transfers import AUTO_TRANSFER_KEY
    from appliance.ui.screens.endofday import do_close
    move_cash(till, "float", "500.00", "Startbeholdning", "bo")
    result = do_close(till, {50000: 1}, 0, "bo", False, None)
    z = result["report"]["z_number"]
    assert result["transfer"] == "not_sent" and result["job"] > 0
    assert till.conn.execute("SELECT COUNT(*) FROM dinero_transfers").fetchone()[0] == 0
    assert auto_transfer(till) and get_meta(till.conn, AUTO_TRANSFER_KEY) is None
    assert till.conn.execute("SELECT kind, state FROM print_jobs WHERE id = ?",
                             (result["job"],)).fetchone() == ("report", "queued")
    from appliance.services.closing import list_reports
    assert [(r["z_number"], r["state"], r["transferred_at"]) for r in list_reports(till)] == [(z, "not_sent", None)]
