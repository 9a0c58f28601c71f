"""The sale PIN and its lockout: 5 wrong PINs in a row lock a cashier for 5 minutes, at the kiosk's
login and at `till sell` alike (one count), with every miss and the lock journalled and no PIN or
hash anywhere in the journal or the log."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from appliance.domain.roles import LOCK_FOR, MAX_MISSES, PinLock
from appliance.services.till import TZ, AuthError, PinLocked
from appliance.store import settings

from ..conftest import journal_count

SALE = {"cashier": "anna", "lines": [{"sku": "MILK"}], "payments": [{"type": "card", "amount": "12.95"}]}


def kinds(till, kind: str) -> list[dict]:
    return [json.loads(p) for (p,) in till.conn.execute(
        "SELECT payload FROM journal WHERE kind = ? ORDER BY nr", (kind,))]


def test_the_rule_itself() -> None:
    now = datetime(2026, 11, 20, 9, 0, tzinfo=TZ)
    state = PinLock()
    for n in range(1, MAX_MISSES):
        state = state.after_miss(now)
        assert state.misses == n and not state.locked(now)
    state = state.after_miss(now)
    assert state.locked(now) and state.locked(now + LOCK_FOR - timedelta(seconds=1))
    assert not state.locked(now + LOCK_FOR)
    assert state.after_miss(now + LOCK_FOR) == PinLock(1)  # a lock that ran out starts the count over
    assert PinLock.from_json(state.to_json()) == state
    for junk in (None, [], {"misses": "5"}, {"misses": True}, {"locked_until": "noon"},
                 {"locked_until": "2026-11-20T09:00:00"}, {"misses": 99}):
        assert PinLock.from_json(junk) == PinLock(0, None) or not PinLock.from_json(junk).locked(now)


def test_five_wrong_pins_lock_the_cashier_for_five_minutes(till, clock, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    start = journal_count(till)
    for n in range(1, MAX_MISSES):
        with pytest.raises(AuthError, match="wrong PIN") as err:
            till.cashier("anna", "0000")
        assert not isinstance(err.value, PinLocked), n
        clock.advance(seconds=10)
    with pytest.raises(PinLocked, match="locked until 09:05"):
        till.cashier("anna", "0000")
    assert [m["in_a_row"] for m in kinds(till, "login_failed")] == [1, 2, 3, 4, 5]
    [lock] = kinds(till, "pin_locked")
    assert lock["misses"] == MAX_MISSES and lock["minutes"] == 5
    assert journal_count(till) == start + MAX_MISSES + 1
    # locked: even the right PIN is refused, and nothing more is journalled while it lasts
    clock.advance(minutes=4)
    with pytest.raises(PinLocked):
        till.cashier("anna", "1234")
    assert journal_count(till) == start + MAX_MISSES + 1
    # another cashier is not affected
    assert till.cashier("bo", "9999").id == "bo"
    clock.advance(minutes=1, seconds=1)
    assert till.cashier("anna", "1234").id == "anna"
    assert settings.get_meta(till.conn, "pin_lock.anna") is None  # a right PIN clears the count
    # neither the PINs nor the stored hash go into the journal or the log (distinctive PINs, so a
    # number that happens to be in a CVR or a time cannot pass for one)
    from appliance.services.setup import add_cashier
    add_cashier(till, "cleo", "Cleo", "cashier", "583917")
    for _ in range(MAX_MISSES):
        with pytest.raises(AuthError):
            till.cashier("cleo", "720461")
    clock.advance(minutes=6)
    till.cashier("cleo", "583917")
    pin_hash = settings.cashier(till.conn, "cleo")[1]  # type: ignore[index]
    journal_text = " ".join(p for (p,) in till.conn.execute("SELECT payload FROM journal"))
    meta_text = " ".join(v for (v,) in till.conn.execute("SELECT value FROM meta"))
    for secret in ("720461", "583917", pin_hash, pin_hash.split("$")[-1]):
        assert secret not in journal_text and secret not in caplog.text and secret not in meta_text


def test_a_right_pin_resets_the_count(till) -> None:
    for _ in range(MAX_MISSES - 1):
        with pytest.raises(AuthError):
            till.cashier("anna", "4321")
    till.cashier("anna", "1234")
    for _ in range(MAX_MISSES - 1):
        with pytest.raises(AuthError):
            till.cashier("anna", "4321")
    assert not kinds(till, "pin_locked")
    with pytest.raises(AuthError, match="unknown cashier"):
        till.cashier("nobody", "1234")


def test_the_lock_journal_kind_goes_into_saft_as_its_own_event() -> None:
    from appliance.domain.journal import KINDS
    from appliance.saft.codes import EVENTS, basics
    assert KINDS["pin_locked"] == "13999" and EVENTS["pin_locked"][1] == "13999"
    assert any(b.basic_id == "13999.pin_locked" for b in basics([]))


def _cli(data: Path, *args: str, stdin: str = "", pin: str | None = None,
         at: str = "09:30") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TILLBOX_PIN"}
    env.update({"TILLBOX_DATA": "", "TILLBOX_CLOCK": f"2026-11-20T{at}:00+01:00"})
    if pin is not None:
        env["TILLBOX_PIN"] = pin
    return subprocess.run([sys.executable, "-m", "appliance.cli", "--data", str(data), "--json", *args],
                          input=stdin, capture_output=True, text=True, env=env, timeout=120)


def test_the_shell_needs_the_pin_and_shares_the_kiosks_count(till) -> None:
    """4 misses at the kiosk's login and the 5th from `till sell` lock anna everywhere; `till sell`
    without any PIN is refused before anything is written."""
    data = till.data_dir
    till.close()
    body = json.dumps(SALE)
    no_pin = _cli(data, "sell", "--json-in", "-", stdin=body)
    assert no_pin.returncode == 1 and "needs the cashier's PIN" in no_pin.stderr
    assert "Traceback" not in no_pin.stderr
    ok = _cli(data, "sell", "--json-in", "-", stdin=json.dumps({**SALE, "pin": "1234"}))
    assert ok.returncode == 0, ok.stderr
    by_env = _cli(data, "sell", "--json-in", "-", stdin=body, pin="1234")
    assert by_env.returncode == 0, by_env.stderr
    assert _cli(data, "sell", "--json-in", "-", stdin=body, pin="12ab").returncode == 1
    from appliance.services.till import ManualClock, open_till
    kiosk_clock = ManualClock(datetime(2026, 11, 20, 9, 31, tzinfo=TZ))
    with open_till(data, kiosk_clock) as t:  # the kiosk's login pad (LoginScreen.login calls Till.cashier)
        for _ in range(MAX_MISSES - 1):
            with pytest.raises(AuthError):
                t.cashier("anna", "0000")
        receipts = t.conn.execute("SELECT COUNT(*) FROM receipts").fetchone()[0]
    fifth = _cli(data, "sell", "--json-in", "-", stdin=body, pin="0000", at="09:32")
    assert fifth.returncode == 1 and "locked until" in fifth.stderr
    right = _cli(data, "sell", "--json-in", "-", stdin=body, pin="1234", at="09:33")
    assert right.returncode == 1 and "locked until" in right.stderr
    # a manager approval in a request counts against the manager's own PIN in the same way
    wrong_manager = _cli(data, "sell", "--json-in", "-", pin="9999", at="09:34", stdin=json.dumps(
        {**SALE, "cashier": "bo", "manager": {"id": "bo", "pin": "1111"}}))
    assert wrong_manager.returncode == 1 and "wrong PIN for bo" in wrong_manager.stderr
    kiosk_clock.now = datetime(2026, 11, 20, 9, 35, tzinfo=TZ)
    with open_till(data, kiosk_clock) as t:
        assert t.conn.execute("SELECT COUNT(*) FROM receipts").fetchone()[0] == receipts
        assert len(kinds(t, "pin_locked")) == 1
        assert json.loads(settings.get_meta(t.conn, "pin_lock.bo") or "{}")["misses"] == 1
        with pytest.raises(PinLocked):
            t.cashier("anna", "1234")  # and the kiosk sees the lock the shell made
