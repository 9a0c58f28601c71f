"""`saft_export.export` and `till saft export`: names, schema, splitting, refusals, failures on the
way to the stick, the journal entry an export leaves, certificates, the pre-upgrade data folder, and
the command line's contract.

Every failure must raise ExportError (English message, Danish `.danish` for the kiosk) and leave no
file behind that could pass for an export.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from lxml import etree

from appliance.domain.money import format_kroner
from appliance.domain.signing import key_pem, new_key
from appliance.services import cash, closing, selling
from appliance.services.saft_export import ExportError, export, file_name, parse_day
from appliance.services.setup import add_cashier, import_catalog, init_shop, set_account
from appliance.services.till import TZ, Till, open_till
from appliance.store.journal import entry as journal_entry
from appliance.store.journal import last_nr, verify
from tests.conftest import ACCOUNTS, CATALOG, CVR, Clock, make_till
from tests.saft.checker import NS, check_file, detached_signature_ok, problems, summary

NAME = re.compile(r"SAF-T Cash Register_(\d{8})_(\d{14})_([1-9])_([1-9])\.xml")
SPEC = Path(__file__).resolve().parents[2] / "specs" / "saft-cash-register-dk"
LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy-v3"
LEGACY_CVR = "87654321"
AFTER = datetime(2026, 11, 26, 10, 0, tzinfo=TZ)  # the exports' clock: after every history here
STAMP = "20261126100000"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ)


def sell(till: Till, sku: str = "MILK", tender: str = "cash", qty: int = 1) -> dict:
    price = {"MILK": 1295, "BREAD": 2200, "BUTTER": 2450, "PAPER": 3000}[sku] * qty
    pay = ({"type": "cash", "amount": "200.00"} if tender == "cash" else
           {"type": tender, "brand": "Dankort", "amount": f"{price // 100}.{price % 100:02d}"})
    return selling.sell(till, {"cashier": "anna", "lines": [{"sku": sku, "qty": qty}], "payments": [pay]})


def close(till: Till) -> dict:
    counted = format_kroner(closing.x_figures(till).cash_expected)
    return closing.close_day(till, counted, render_pdf=False, transfer=False)


# --- the shop the tests export ------------------------------------------------------------------------

@dataclass(frozen=True)
class Shop:
    data: Path
    zs: list[dict]


def week(data: Path) -> list[dict]:
    """Fri 20 Nov: a float, sales, a Z. Sat 21: sales, no Z. Sun 22: sales, a Z (for Sat and Sun), sales.
    Mon 23: a Z at 00:30 (for Sunday evening), sales, a shift Z at 14:00, sales. Tue 24: sales, a Z.
    Wed 25: sales (the day is open)."""
    clock = Clock(at(20, 9))
    till = make_till(data, clock)
    zs = []
    try:
        cash.move_cash(till, "float", "500.00", "", "anna")

        def sales(*skus: str) -> None:
            for i, sku in enumerate(skus):
                clock.advance(minutes=11)
                sell(till, sku, ("cash", "card")[i % 2])

        def z(when: datetime) -> None:
            clock.now = when
            zs.append(close(till))

        sales("MILK", "BREAD", "BUTTER")
        z(at(20, 18))
        clock.now = at(21, 9)
        sales("MILK", "PAPER", "MILK")
        clock.now = at(22, 9)
        out = selling.sell(till, {"cashier": "anna", "lines": [{"sku": "BREAD", "qty": 2}],
                                  "payments": [{"type": "cash", "amount": "50.00"}]})
        clock.advance(minutes=5)
        selling.refund(till, out["receipt_number"], {"cashier": "anna", "lines": [{"sku": "BREAD"}]})
        sales("BUTTER", "MILK")
        z(at(22, 17))
        clock.now = at(22, 19)
        sales("PAPER", "MILK")
        z(at(23, 0, 30))
        clock.now = at(23, 9)
        sales("BREAD", "MILK")
        z(at(23, 14))
        sales("BUTTER", "PAPER")
        clock.now = at(24, 9)
        sales("MILK", "MILK")
        z(at(24, 18))
        clock.now = at(25, 9)
        sales("BREAD", "BUTTER")
    finally:
        till.close()
    return zs


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    data = tmp_path_factory.mktemp("export") / "shop"
    return Shop(data, week(data))


@pytest.fixture
def shop(template: Shop, tmp_path: Path) -> Iterator[Till]:
    """A copy of the week's data folder, opened with the clock at AFTER."""
    data = tmp_path / "shop"
    shutil.copytree(template.data, data)
    with open_till(data, Clock(AFTER)) as till:
        yield till


@pytest.fixture(scope="module")
def busy_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two days of 150 card sales and a Z each: over 500 entries and transactions, so the export's
    progress callback runs while the first file is being written."""
    data = tmp_path_factory.mktemp("busy") / "shop"
    clock = Clock(at(20, 9))
    till = make_till(data, clock)
    try:
        for day in (20, 21):
            clock.now = at(day, 9)
            for _ in range(150):
                clock.advance(seconds=90)
                sell(till, "MILK", "card")
            clock.now = at(day, 18)
            close(till)
    finally:
        till.close()
    return data


@pytest.fixture
def busy(busy_template: Path, tmp_path: Path) -> Iterator[Till]:
    data = tmp_path / "busy"
    shutil.copytree(busy_template, data)
    with open_till(data, Clock(AFTER)) as till:
        yield till


# --- reading what was written --------------------------------------------------------------------

def q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def parse(path: Path) -> etree._Element:
    return etree.parse(str(path)).getroot()


def numbers(path: Path) -> list[int]:
    return [int(t.findtext(q("nr"))) for t in parse(path).iter(q("cashtransaction"))]


def z_ids(path: Path) -> list[int]:
    return [int(r.findtext(q("reportID"))) for r in parse(path).iter(q("eventReport"))
            if r.findtext(q("reportType")) == "Z report"]


def clean(path: Path) -> None:
    findings = check_file(path)
    assert problems(findings) == [], f"{path.name}\n{summary(problems(findings))}"



def tx_range(till: Till, start: date, end: date) -> list[int]:
    """Cash transaction numbers made on the days [start, end], from the database."""
    return [n for (n,) in till.conn.execute(
        "SELECT nr FROM cash_transactions WHERE trans_date BETWEEN ? AND ? ORDER BY nr",
        (start.isoformat(), end.isoformat()))]


def zs_made(till: Till, start: date, end: date) -> list[int]:
    return [z for (z,) in till.conn.execute(
        "SELECT z.z_number FROM z_reports z JOIN journal j ON j.nr = z.journal_nr "
        "WHERE substr(j.ts, 1, 10) BETWEEN ? AND ? ORDER BY z.z_number",
        (start.isoformat(), end.isoformat()))]


def exports_journalled(till: Till) -> int:
    return till.conn.execute("SELECT COUNT(*) FROM journal WHERE kind = 'journal_export'").fetchone()[0]


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir()) if out.exists() else []


# --- names, schema, signatures --------------------------------------------------------------------

def test_files_are_named_as_the_authority_requires(shop: Till, tmp_path: Path) -> None:
    result = export(shop, date(2026, 11, 20), date(2026, 11, 25), tmp_path / "out")
    assert [p.name for p in result.files] == [f"SAF-T Cash Register_{CVR}_{STAMP}_1_1.xml"]
    m = NAME.fullmatch(result.files[0].name)
    assert m and m.groups() == (CVR, STAMP, "1", "1")
    assert result.signatures == [Path(f"{result.files[0]}.sig")]
    assert leftovers(tmp_path / "out") == [f"SAF-T Cash Register_{CVR}_{STAMP}.pem",
                                           f"SAF-T Cash Register_{CVR}_{STAMP}_1_1.xml",
                                           f"SAF-T Cash Register_{CVR}_{STAMP}_1_1.xml.sig"]
    assert file_name(CVR, datetime(2026, 7, 1, 23, 59, 58, tzinfo=dt.UTC), 2, 3) == (
        f"SAF-T Cash Register_{CVR}_20260702015958_2_3.xml")  # Danish local time in the name


class _LocalXmldsig(etree.Resolver):
    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:
        if system_url == "http://www.w3.org/TR/xmldsig-core/xmldsig-core-schema.xsd":
            return self.resolve_filename(str(SPEC / "xmldsig-core-schema.xsd"), context)
        return None


def test_each_file_is_valid_against_the_xsd(shop: Till, tmp_path: Path) -> None:
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_LocalXmldsig())
    schema = etree.XMLSchema(etree.parse(str(SPEC / "Danish_SAF-T_Cash_Register_Schema_v_1.0.3.xsd"), parser))
    result = export(shop, date(2026, 11, 20), date(2026, 11, 25), tmp_path / "out", part_target=1)
    assert len(result.files) > 1
    for f in result.files:
        doc = etree.parse(str(f))
        assert schema.validate(doc), f"{f.name}: {schema.error_log}"
        assert doc.docinfo.encoding.lower() == "utf-8"


def test_the_whole_week_passes_the_check_and_its_signature(shop: Till, tmp_path: Path,
                                                            template: Shop) -> None:
    result = export(shop, date(2026, 11, 20), date(2026, 11, 25), tmp_path / "out")
    (f,) = result.files
    clean(f)
    assert detached_signature_ok(f)
    total = shop.conn.execute("SELECT COUNT(*) FROM cash_transactions").fetchone()[0]
    assert numbers(f) == list(range(1, total + 1)) and result.transactions == total
    assert z_ids(f) == [z["z_number"] for z in template.zs] == [1, 2, 3, 4, 5]


# --- splitting --------------------------------------------------------------------------------------

def test_a_forced_split_gives_files_that_each_pass_numbered_on(shop: Till, tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    result = export(shop, date(2026, 11, 20), date(2026, 11, 25), tmp_path / "out", part_target=3,
                    progress=lambda done, work: calls.append((done, work)))
    n = len(result.files)
    assert 3 <= n <= 9
    assert [NAME.fullmatch(f.name).groups() for f in result.files] == [  # type: ignore[union-attr]
        (CVR, STAMP, str(i), str(n)) for i in range(1, n + 1)]
    assert len(list((tmp_path / "out").glob("*.pem"))) == 1
    for f in result.files:
        clean(f)
        assert detached_signature_ok(f)
    nrs = [nr for f in result.files for nr in numbers(f)]
    assert nrs == list(range(1, result.transactions + 1))
    # a new file starts only after a Z: each but the last ends with its Z (the highest event is the Z),
    # and the next file's transactions all come after it
    for f, following in zip(result.files, result.files[1:], strict=False):
        events = sorted(parse(f).iter(q("event")), key=lambda e: int(e.findtext(q("eventID"))))
        assert events[-1].findtext(q("eventType")) == "13009", f.name
        z_nr = int(events[-1].findtext(q("eventID")))
        first_tx = numbers(following)[0]
        assert shop.conn.execute("SELECT journal_nr FROM cash_transactions WHERE nr = ?",
                                 (first_tx,)).fetchone()[0] > z_nr
    assert sorted(z for f in result.files for z in z_ids(f)) == [1, 2, 3, 4, 5]
    assert calls[-1] == (calls[-1][1], calls[-1][1])  # progress ends at all the work done


@pytest.mark.parametrize("days", [9, 20])
def test_many_zs_still_make_at_most_nine_files(tmp_path: Path, days: int) -> None:
    """Nine Z periods of two sales split into nine files (_1_9 .. _9_9); twenty into fewer, larger ones."""
    clock = Clock(at(1, 9))
    with make_till(tmp_path / "shop", clock) as till:
        for day in range(1, days + 1):
            clock.now = at(day, 9)
            sell(till, "MILK", "card")
            clock.advance(minutes=5)
            sell(till, "BREAD", "card")
            clock.advance(hours=8)
            close(till)
    with open_till(tmp_path / "shop", Clock(AFTER)) as till:
        result = export(till, date(2026, 11, 1), date(2026, 11, days), tmp_path / "out", part_target=1)
    n = len(result.files)
    assert n == 9 if days == 9 else 2 <= n < 9
    assert [NAME.fullmatch(f.name).groups()[2:] for f in result.files] == [  # type: ignore[union-attr]
        (str(i), str(n)) for i in range(1, n + 1)]
    assert [nr for f in result.files for nr in numbers(f)] == list(range(1, 2 * days + 1))
    for f in result.files:
        clean(f)


# --- periods ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("start", "end"), [
    (date(2026, 11, 22), date(2026, 11, 23)),  # starts in the Z period begun Friday, ends before Tuesday's Z
    (date(2026, 11, 21), date(2026, 11, 22)),  # starts after a Z, ends before the Z at 00:30
    (date(2026, 11, 23), date(2026, 11, 25)),  # starts with the Z at 00:30, ends on the open day
])
def test_a_period_that_starts_and_ends_mid_way_passes(shop: Till, tmp_path: Path, start: date,
                                                      end: date) -> None:
    result = export(shop, start, end, tmp_path / "out")
    (f,) = result.files
    clean(f)
    assert detached_signature_ok(f)
    assert numbers(f) == tx_range(shop, start, end)
    assert z_ids(f) == zs_made(shop, start, end)
    header = parse(f).find(q("header"))
    assert header.findtext(q("startDate")) == start.isoformat()
    assert header.findtext(q("endDate")) == end.isoformat()


def test_the_export_is_journalled_with_its_files(shop: Till, tmp_path: Path) -> None:
    before = last_nr(shop.conn)
    result = export(shop, date(2026, 11, 20), date(2026, 11, 25), tmp_path / "out", part_target=3,
                    cashier_id="bo")
    e = journal_entry(shop.conn, last_nr(shop.conn))
    assert e is not None and e.nr == before + 1
    assert (e.kind, e.cashier, e.ts) == ("journal_export", "bo", AFTER)
    data = e.data()
    assert data["files"] == [f.name for f in result.files]
    assert (data["from"], data["to"]) == ("2026-11-20", "2026-11-25")
    assert data["transactions"] == result.transactions
    assert (data["first_entry"], data["last_entry"]) == (1, before)
    assert verify(shop.conn, CVR).ok
    # the next export of that day (closed now) shows the export as its event (13020)
    close(shop)
    again = export(shop, date(2026, 11, 26), date(2026, 11, 26), tmp_path / "again")
    exported = [ev for ev in parse(again.files[0]).iter(q("event")) if ev.findtext(q("eventType")) == "13020"]
    assert len(exported) == 1 and result.files[0].name in exported[0].findtext(q("eventText"))


# --- refusals: nothing is written -----------------------------------------------------------------

def refused(till: Till, start: date, end: date, out: Path, **kw: Any) -> ExportError:
    before = exports_journalled(till)
    with pytest.raises(ExportError) as caught:
        export(till, start, end, out, **kw)
    assert exports_journalled(till) == before
    err = caught.value
    assert err.danish and err.danish != str(err)
    return err


@pytest.mark.parametrize(("start", "end", "english", "danish"), [
    (date(2026, 11, 25), date(2026, 11, 20), "reversed", "Perioden er vendt om"),
    (date(2025, 1, 1), date(2025, 12, 31), "nothing was journalled", "Der er intet i journalen"),
    (date(2026, 11, 21), date(2026, 11, 21), "holds no Z report", "Perioden har ingen Z-rapport"),
    (date(2026, 11, 25), date(2026, 11, 25), "holds no Z report", "Perioden har ingen Z-rapport"),
])
def test_a_bad_period_is_refused(shop: Till, tmp_path: Path, start: date, end: date, english: str,
                                 danish: str) -> None:
    err = refused(shop, start, end, tmp_path / "out")
    assert english in str(err) and danish in err.danish
    assert not (tmp_path / "out").exists()


def test_a_date_that_is_no_date_is_refused_in_both_languages() -> None:
    with pytest.raises(ExportError) as caught:
        parse_day("2026-13-01", "--from")
    assert "YYYY-MM-DD" in str(caught.value) and "ÅÅÅÅ-MM-DD" in caught.value.danish


def test_a_missing_certificate_is_refused(shop: Till, tmp_path: Path) -> None:
    shop.conn.execute("DELETE FROM key_versions")  # the certificate row lost from the data file
    err = refused(shop, date(2026, 11, 20), date(2026, 11, 25), tmp_path / "out")
    assert "certificate of key version 1 is missing" in str(err) and "mangler" in err.danish
    assert not (tmp_path / "out").exists()


def short_lived_certificate(key: Any, valid_from: datetime, valid_until: datetime) -> bytes:
    from cryptography.hazmat.primitives import serialization
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "DK"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Købmand Hansen"),
                      x509.NameAttribute(NameOID.SERIAL_NUMBER, f"CVR:{CVR}"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "Tillbox 1 (short-lived test)")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(valid_from)
            .not_valid_after(valid_until).sign(key, hashes.SHA512()))
    return cert.public_bytes(serialization.Encoding.PEM)


def test_an_expired_certificate_is_refused_for_what_it_signed_after(tmp_path: Path) -> None:
    """A certificate valid 19-21 Nov: a Z on the 20th exports; the 23rd's sales were signed after it
    expired, so a period holding them is refused."""
    key = new_key()
    cert = short_lived_certificate(key, datetime(2026, 11, 19, tzinfo=dt.UTC),
                                   datetime(2026, 11, 21, 12, tzinfo=dt.UTC))
    clock = Clock(at(20, 9))
    with init_shop(tmp_path / "shop", "Købmand Hansen", CVR, "Hovedgaden 1, 4000 Roskilde", "1", clock,
                   certificate=cert, key=key_pem(key)) as till:
        add_cashier(till, "anna", "Anna", "cashier", "1234")
        for k, number in ACCOUNTS.items():
            set_account(till, k, number)
        import_catalog(till, CATALOG)
        for day in (20, 23):
            clock.now = at(day, 10)
            sell(till, "MILK")
            clock.now = at(day, 18)
            close(till)
        clock.now = AFTER
        err = refused(till, date(2026, 11, 20), date(2026, 11, 23), tmp_path / "out")
        assert "expired on 2026-11-21" in str(err) and "Certifikatet udløb 21-11-2026" in err.danish
        assert not (tmp_path / "out").exists()
        ok = export(till, date(2026, 11, 20), date(2026, 11, 20), tmp_path / "ok")
        clean(ok.files[0])
        assert detached_signature_ok(ok.files[0])
        assert x509.load_pem_x509_certificate(next((tmp_path / "ok").glob("*.pem")).read_bytes()) == (
            x509.load_pem_x509_certificate(cert))


# --- the stick: not writable, full, pulled out ------------------------------------------------------

_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


@contextlib.contextmanager
def file_modes_enforced() -> Iterator[None]:
    """Make a read-only folder read-only for this test even as root (CI runs as root): drop
    CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from this thread's effective set, and restore them after.
    Root then gets the owner's permissions, like any user. Nothing to do for another user."""
    if os.geteuid() != 0:
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "capset"):
        pytest.skip("no capget/capset in this C library")
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    caps = (_CapData * 2)()
    if libc.capget(ctypes.byref(header), caps) != 0:
        pytest.skip(f"capget failed: {os.strerror(ctypes.get_errno())}")
    saved = caps[0].effective
    caps[0].effective &= ~((1 << _CAP_DAC_OVERRIDE) | (1 << _CAP_DAC_READ_SEARCH))
    if libc.capset(ctypes.byref(header), caps) != 0:
        pytest.skip(f"capset failed: {os.strerror(ctypes.get_errno())}")
    try:
        yield
    finally:
        caps[0].effective = saved
        assert libc.capset(ctypes.byref(header), caps) == 0


def test_a_read_only_folder_is_refused(shop: Till, tmp_path: Path) -> None:
    out = tmp_path / "stick"
    out.mkdir()
    out.chmod(0o555)
    try:
        with file_modes_enforced():
            err = refused(shop, date(2026, 11, 20), date(2026, 11, 25), out)
    finally:
        out.chmod(0o755)
    assert "Permission denied" in str(err) and "Intet blev gemt" in err.danish
    assert leftovers(out) == []


@pytest.mark.parametrize("where", ["parent is a file", "folder is a file"])
def test_a_folder_that_cannot_be_made_is_refused(shop: Till, tmp_path: Path, where: str) -> None:
    blocker = tmp_path / "stick"
    blocker.write_text("not a folder")
    out = blocker / "exports" if where == "parent is a file" else blocker
    err = refused(shop, date(2026, 11, 20), date(2026, 11, 25), out)
    assert f"cannot write to {out}" in str(err) and "Der kan ikke skrives" in err.danish
    assert blocker.read_text() == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shop", "stick"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_full_stick_keeps_nothing_not_even_the_finished_first_file(busy: Till, tmp_path: Path) -> None:
    """The second of two files goes to /dev/full (its temporary name is a link there), so its writes
    fail with ENOSPC as on a full stick, after the first file was finished and renamed."""
    out = tmp_path / "stick"
    out.mkdir()
    name = file_name(CVR, AFTER, 2, 2)
    (out / f".{name}.part").symlink_to("/dev/full")
    err = refused(busy, date(2026, 11, 20), date(2026, 11, 21), out, part_target=100)
    assert "No space left on device" in str(err) and "nothing was kept" in str(err)
    assert "fuld" in err.danish and "Intet blev gemt" in err.danish
    assert leftovers(out) == []
    # and with room on the stick, the same export makes those two files
    result = export(busy, date(2026, 11, 20), date(2026, 11, 21), tmp_path / "roomy", part_target=100)
    assert [f.name for f in result.files] == [file_name(CVR, AFTER, 1, 2), name]


def test_a_stick_pulled_out_during_the_export_keeps_nothing(busy: Till, tmp_path: Path) -> None:
    out = tmp_path / "stick"
    seen: list[list[str]] = []

    def pull(done: int, work: int) -> None:
        if out.exists():
            seen.append(leftovers(out))
            shutil.rmtree(out)

    err = refused(busy, date(2026, 11, 20), date(2026, 11, 21), out, progress=pull)
    assert seen and seen[0] == [f".{file_name(CVR, AFTER, 1, 1)}.part"]  # pulled while the file was written
    assert "nothing was kept" in str(err) and "taget ud" in err.danish
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["busy"]


def test_a_folder_turned_read_only_during_the_export_gives_export_error(busy: Till, tmp_path: Path) -> None:
    out = tmp_path / "stick"
    out.mkdir()

    def lock(done: int, work: int) -> None:
        out.chmod(0o555)

    try:
        with file_modes_enforced():
            err = refused(busy, date(2026, 11, 20), date(2026, 11, 21), out, progress=lock)
    finally:
        out.chmod(0o755)
    assert "Intet blev gemt" in err.danish
    # a .part that a read-only folder will not let go of cannot look like an export; nothing else is there
    assert [n for n in leftovers(out) if not (n.startswith(".") and n.endswith(".part"))] == []


def test_a_folder_turned_read_only_during_the_second_file_leaves_nothing_that_looks_finished(
        busy: Till, tmp_path: Path) -> None:
    """Every file is renamed to its final name only when all are whole: a stick that goes read-only
    while the second file is written keeps no first file that looks finished."""
    out = tmp_path / "stick"
    out.mkdir()

    first_done: list[bool] = []

    def lock(done: int, work: int) -> None:
        first_done.append((out / f".{file_name(CVR, AFTER, 1, 2)}.sig.part").exists())
        out.chmod(0o555)

    try:
        with file_modes_enforced(), pytest.raises(ExportError):
            export(busy, date(2026, 11, 20), date(2026, 11, 21), out, progress=lock, part_target=100)
    finally:
        out.chmod(0o755)
    assert first_done[0], "the folder was to turn read-only while the second file was written"
    assert exports_journalled(busy) == 0
    assert [n for n in leftovers(out) if not (n.startswith(".") and n.endswith(".part"))] == []


# --- the data folder from before cash transactions ------------------------------------------------

@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    data = tmp_path / "legacy"
    shutil.copytree(LEGACY, data)
    (data / "keys").chmod(0o700)
    return data


def test_the_legacy_folder_migrates_verifies_and_exports(legacy: Path, tmp_path: Path) -> None:
    conn = sqlite3.connect(legacy / "till.db")
    cash_kinds = ("'sale', 'return', 'void_receipt', 'cash_float', 'cash_difference', 'cash_to_bank', "
                  "'cash_out', 'cash_in'")
    (entries,) = conn.execute(f"SELECT COUNT(*) FROM journal WHERE kind IN ({cash_kinds})").fetchone()
    first, last = conn.execute("SELECT substr(MIN(ts), 1, 10), substr(MAX(ts), 1, 10) "
                               "FROM journal").fetchone()
    conn.close()
    clock = Clock(datetime(2026, 12, 8, 9, 0, tzinfo=TZ))
    with open_till(legacy, clock) as till:
        assert till.conn.execute("SELECT COUNT(*), SUM(backfilled) FROM cash_transactions").fetchone() == (
            entries, entries)
        assert till.conn.execute("SELECT value FROM meta WHERE key = 'saft.backfill_upto'").fetchone() is None
        report = verify(till.conn, LEGACY_CVR)
        assert report.ok and report.transactions == entries, report
        result = export(till, date.fromisoformat(first), date.fromisoformat(last), tmp_path / "out")
        for f in result.files:
            assert f.name.startswith(f"SAF-T Cash Register_{LEGACY_CVR}_20261208090000_")
            clean(f)
            assert detached_signature_ok(f)
        assert [nr for f in result.files for nr in numbers(f)] == list(range(1, entries + 1))
        # after the upgrade: the next sale is signed when it is made, numbered on
        clock.advance(minutes=5)
        (cashier,) = till.conn.execute("SELECT id FROM cashiers ORDER BY id LIMIT 1").fetchone()
        (sku,) = till.conn.execute("SELECT sku FROM products ORDER BY sku LIMIT 1").fetchone()
        selling.sell(till, {"cashier": cashier, "lines": [{"sku": sku}],
                            "payments": [{"type": "cash", "amount": "500.00"}]})
        newest = till.conn.execute("SELECT nr, backfilled FROM cash_transactions ORDER BY nr DESC LIMIT 1")
        assert newest.fetchone() == (entries + 1, 0)
    with open_till(legacy, clock) as till:  # opened again: nothing is back-filled twice
        assert till.conn.execute("SELECT COUNT(*), SUM(backfilled) FROM cash_transactions").fetchone() == (
            entries + 1, entries)
        clock.advance(minutes=5)
        close(till)
        assert verify(till.conn, LEGACY_CVR).ok
        again = export(till, date.fromisoformat(first), date(2026, 12, 8), tmp_path / "again")
        for f in again.files:
            clean(f)


# --- the command line -------------------------------------------------------------------------------

def till_cli(data: Path, *args: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "till"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "appliance.cli"]
    env = {**os.environ, "TILLBOX_DATA": "", "TILLBOX_CLOCK": AFTER.isoformat()}
    return subprocess.run([*cmd, "--data", str(data), *args], capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.fixture
def shop_folder(template: Shop, tmp_path: Path) -> Path:
    data = tmp_path / "shop"
    shutil.copytree(template.data, data)
    return data


def test_cli_prints_the_paths(shop_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = till_cli(shop_folder, "saft", "export", "--from", "2026-11-20", "--to", "2026-11-25",
                    "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [str(out / f"SAF-T Cash Register_{CVR}_{STAMP}_1_1.xml")]
    clean(out / f"SAF-T Cash Register_{CVR}_{STAMP}_1_1.xml")


def test_cli_json_and_the_default_folder(shop_folder: Path) -> None:
    proc = till_cli(shop_folder, "--json", "saft", "export", "--from", "2026-11-20", "--to", "2026-11-25")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    xml = shop_folder / "exports" / f"SAF-T Cash Register_{CVR}_{STAMP}_1_1.xml"
    assert out["files"] == [str(xml)] and out["signatures"] == [f"{xml}.sig"]
    assert out["transactions"] == len(numbers(xml)) and out["entries"] > out["transactions"]
    assert detached_signature_ok(xml)
    verified = till_cli(shop_folder, "--json", "journal", "verify")
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"] is True


@pytest.mark.parametrize(("args", "message"), [
    (("--from", "2026-11-25", "--to", "2026-11-20"), "the period is reversed"),
    (("--from", "2026-11-21", "--to", "2026-11-21"), "holds no Z report"),
    (("--from", "20-11-2026", "--to", "2026-11-25"), "--from must be a date as YYYY-MM-DD"),
    (("--from", "2026-11-20", "--to", "2026-11-25", "--out", "{file}/exports"), "cannot write to"),
])
def test_cli_bad_input_exits_1(shop_folder: Path, tmp_path: Path, args: tuple[str, ...],
                               message: str) -> None:
    (tmp_path / "a-file").write_text("x")
    args = tuple(a.replace("{file}", str(tmp_path / "a-file")) for a in args)
    proc = till_cli(shop_folder, "saft", "export", *args)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith("till: error: ") and message in proc.stderr, proc.stderr
    as_json = till_cli(shop_folder, "--json", "saft", "export", *args)
    assert as_json.returncode == 1 and message in json.loads(as_json.stdout)["error"]
    assert not (shop_folder / "exports").exists()


def test_cli_certificate_show(shop_folder: Path) -> None:
    proc = till_cli(shop_folder, "certificate", "show")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("self-signed certificate (key version 1): ")
    info = json.loads(till_cli(shop_folder, "--json", "certificate", "show").stdout)
    assert (info["kind"], info["state"], info["key_version"]) == ("self-signed", "ok", 1)
