"""The rules under the SAF-T export: cash transactions numbered per CVR and signed over exactly the
text that the file will hold, a journal whose times strictly increase, the upgrade's one-time
back-fill, the Z's anchor on paper and in its PDF, the certificate's expiry warning, and where the
kiosk may write an export."""

from __future__ import annotations

import base64
import datetime as dt
import shutil
from itertools import pairwise
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from appliance.domain.signing import key_pem, new_key
from appliance.render.report_text import render_report_text
from appliance.saft.codes import parse_address
from appliance.services.cash import move_cash, no_sale
from appliance.services.certificate import certificate_info
from appliance.services.closing import close_day, get_report
from appliance.services.export_targets import removable_mounts, targets
from appliance.services.saft_export import split_points
from appliance.services.selling import refund, sell
from appliance.services.setup import init_shop
from appliance.services.till import open_till
from appliance.store import cash_transactions as ct
from appliance.store import settings
from appliance.store.journal import entries, verify

from ..conftest import CVR, Clock

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "legacy-v3"


def _cash(till, amount: str = "13.00") -> dict:
    return sell(till, {"cashier": "anna", "lines": [{"sku": "MILK"}],
                       "payments": [{"type": "cash", "amount": amount}]})


def test_cash_transactions_are_signed_over_the_stored_text(till) -> None:
    _cash(till)
    refund(till, 1, {"cashier": "anna", "lines": [{"sku": "MILK"}]})
    rows = list(ct.transactions(till.conn))
    assert [r.tx.trans_type for r in rows] == ["11001", "11006"]
    sale, ret = rows
    assert (sale.tx.amnt_in, sale.tx.amnt_ex, sale.tx.amnt_tp) == ("12.95", "10.36", "C")
    assert (ret.tx.amnt_in, ret.tx.amnt_tp) == ("12.95", "D")  # a return: the amount out, debit
    cert = x509.load_pem_x509_certificate(
        till.conn.execute("SELECT certificate FROM key_versions").fetchone()[0].encode())
    prev = "0"
    for r in rows:
        assert r.signed_text == ";".join([prev, r.tx.nr, r.tx.trans_id, r.tx.trans_type, r.tx.trans_date,
                                          r.tx.trans_time, r.tx.emp_id, r.tx.amnt_in, r.tx.amnt_ex,
                                          r.tx.register_id, CVR])
        cert.public_key().verify(base64.b64decode(r.signature), r.signed_text.encode(),  # type: ignore[call-arg,union-attr]
                                 padding.PKCS1v15(), hashes.SHA512())  # type: ignore[arg-type]
        prev = r.signature
    # the journal entry's own transID (a hash of everything it holds) is the transaction's transID
    by_nr = {e.nr: e for e in entries(till.conn)}
    assert all(by_nr[r.journal_nr].trans_id == r.tx.trans_id for r in rows)


def test_only_cash_transactions_take_a_number(till, clock) -> None:
    before = ct.next_nr(till.conn)
    no_sale(till, "anna", "veksle")  # an event: no number
    move_cash(till, "float", "500.00", "Startbeholdning", "anna")
    _cash(till)
    close_day(till, "513.00")
    numbers = [int(r.tx.nr) for r in ct.transactions(till.conn)]
    assert numbers == list(range(1, len(numbers) + 1)) and numbers[0] == before
    kinds = [e.kind for e in entries(till.conn) if e.nr in {r.journal_nr for r in ct.transactions(till.conn)}]
    assert kinds == ["cash_float", "sale"]


def test_journal_time_strictly_increases_under_a_stopped_clock(till) -> None:
    for _ in range(3):
        _cash(till)
    times = [e.ts for e in entries(till.conn)]
    assert all(b > a for a, b in pairwise(times))
    assert len({r.tx.trans_time for r in ct.transactions(till.conn)}) == 3


def test_the_z_records_prints_and_carries_its_last_transaction(till, clock) -> None:
    _cash(till, "13.00")
    z = close_day(till, "13.00")
    last = ct.last(till.conn, "1")
    assert last is not None and z["last_transaction"] == {
        "nr": int(last.tx.nr), "signature": last.signature, "register_id": "1"}
    text = render_report_text(z, settings.shop(till.conn))
    assert f"nr. {last.tx.nr}" in text and last.signature[:24] in text
    from pypdf import PdfReader
    _data, pdf = get_report(till, z["z_number"])
    tmp = Path(till.data_dir) / "z.pdf"
    tmp.write_bytes(pdf)
    reader = PdfReader(str(tmp))
    assert last.signature in (reader.metadata or {}).get("/Keywords", "")
    assert "Sidste transaktion" in reader.pages[0].extract_text()
    assert till.conn.execute("SELECT last_tx_nr FROM z_reports WHERE z_number = 1").fetchone() == (1,)


def test_a_z_before_any_cash_transaction_has_no_anchor(till) -> None:
    z = close_day(till, "0.00")
    assert z["last_transaction"] is None and "Sidste transaktion" not in render_report_text(
        z, settings.shop(till.conn))


def test_the_upgrade_back_fills_once_and_only_what_came_before_it(tmp_path) -> None:
    data = tmp_path / "legacy"
    shutil.copytree(FIXTURE, data)
    (data / "keys").chmod(0o700)
    till = open_till(data)
    try:
        rows = list(ct.transactions(till.conn))
        cash_entries = till.conn.execute(
            "SELECT COUNT(*) FROM journal WHERE kind IN ('sale', 'return', 'cash_float', 'cash_out', "
            "'cash_in', 'cash_difference', 'cash_to_bank', 'void_receipt')").fetchone()[0]
        assert len(rows) == cash_entries > 100 and all(r.backfilled for r in rows)
        assert settings.get_meta(till.conn, ct.BACKFILL_KEY) is None
        assert verify(till.conn, "87654321").ok
    finally:
        till.close()
    again = open_till(data)  # a second open signs nothing more
    try:
        assert len(list(ct.transactions(again.conn))) == len(rows)
    finally:
        again.close()


def test_a_transaction_deleted_after_the_upgrade_is_reported_not_signed_again(tmp_path) -> None:
    data = tmp_path / "legacy"
    shutil.copytree(FIXTURE, data)
    (data / "keys").chmod(0o700)
    till = open_till(data)  # the back-fill
    try:
        conn = till.conn
        conn.execute("DROP TRIGGER cash_transactions_no_delete")
        conn.execute("DELETE FROM cash_transactions WHERE nr = (SELECT MAX(nr) FROM cash_transactions)")
        left = conn.execute("SELECT COUNT(*) FROM cash_transactions").fetchone()[0]
    finally:
        till.close()
    till = open_till(data)  # the marker is gone: nothing is back-filled again
    try:
        assert till.conn.execute("SELECT COUNT(*) FROM cash_transactions").fetchone()[0] == left
        report = verify(till.conn, "87654321")
        assert not report.ok and "cash transactions" in (report.problem or "")
    finally:
        till.close()


def _short_lived(clock: Clock, days: int) -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID
    key = new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Kort certifikat")])
    now = clock.now.astimezone(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=days)).sign(key, hashes.SHA512()))
    return cert.public_bytes(serialization.Encoding.PEM), key_pem(key)


@pytest.mark.parametrize("days,state", [(400, "ok"), (20, "expiring"), (-0, "expiring")])
def test_the_certificate_warns_thirty_days_before_it_runs_out(tmp_path, days: int, state: str) -> None:
    clock = Clock()
    cert, key = _short_lived(clock, days)
    till = init_shop(tmp_path / "s", "Butik", CVR, "Vej 1, 4000 Roskilde", "1", clock, cert, key)
    try:
        info = certificate_info(till)
        assert info["kind"] == "oces" and info["state"] == state
        assert (info["warning_da"] is None) == (state == "ok")
        clock.advance(days=days + 2)
        later = certificate_info(till)
        assert later["state"] == "expired" and "udløb" in later["warning_da"]
    finally:
        till.close()


def test_addresses_split_as_saft_needs_them() -> None:
    a = parse_address("Hovedgaden 1, 4000 Roskilde")
    assert (a.street, a.number, a.postal_code, a.city) == ("Hovedgaden", "1", "4000", "Roskilde")
    b = parse_address("Store Kongensgade 12B, 1264 København K")
    assert (b.street, b.number, b.postal_code, b.city) == ("Store Kongensgade", "12B", "1264", "København K")
    c = parse_address("Vej 1")  # nothing to split: the whole text is the street, the rest "-"
    assert (c.street, c.postal_code, c.city) == ("Vej 1", "-", "-")


def test_files_split_only_after_a_z_and_never_into_more_than_nine() -> None:
    z_ends = [(n * 100, n * 1000) for n in range(1, 101)]  # 100 days, 1,000 transactions each
    assert split_points(z_ends, 100_000, target=25_000) == [2500, 5000, 7500]
    assert len(split_points(z_ends, 100_000, target=1)) == 8  # 9 files at most
    assert split_points(z_ends[:3], 3000) == []


def test_export_targets_are_writable_sticks_and_the_data_partition(tmp_path) -> None:
    media = tmp_path / "media"
    stick, ro, other = media / "tillbox" / "MY STICK", media / "tillbox" / "RO", tmp_path / "elsewhere"
    for p in (stick, ro, other):
        p.mkdir(parents=True)
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/sda1 {str(stick).replace(' ', chr(92) + '040')} vfat rw,relatime 0 0\n"
                      f"/dev/sdb1 {ro} vfat ro,relatime 0 0\n"
                      f"/dev/sdc1 {other} ext4 rw 0 0\n/dev/root / ext4 rw 0 0\n")
    assert removable_mounts((media,), mounts) == [stick]
    found = targets(tmp_path / "data", (media,), mounts)
    assert [(t.kind, t.label) for t in found] == [("usb", "MY STICK"), ("data", "exports")]
    assert found[0].path == stick / "tillbox-saft" and found[0].free > 0
    assert removable_mounts((media,), tmp_path / "no-such-file") == []


def test_init_refuses_a_certificate_that_has_run_out(tmp_path) -> None:
    from appliance.services.setup import SetupError
    clock = Clock()
    cert, key = _short_lived(clock, 5)
    clock.advance(days=10)
    with pytest.raises(SetupError, match="expired"):
        init_shop(tmp_path / "s", "Butik", CVR, "Vej 1, 4000 Roskilde", "1", clock, cert, key)
    assert not (tmp_path / "s" / "keys").exists()  # nothing written for a refused set-up
