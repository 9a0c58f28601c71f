"""A new signing key is a journalled rotation signed with the old key; any other change of the
certificate is refused by `journal verify`, whatever key_versions says."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from appliance.domain.journal import content_id, signature_string
from appliance.domain.signing import (
    Signer,
    certificate_fingerprint,
    key_pem,
    new_key,
    self_signed_certificate,
)
from appliance.services.closing import close_day
from appliance.services.key_rotation import rotate_key
from appliance.services.saft_export import export
from appliance.services.selling import sell
from appliance.services.setup import SetupError
from appliance.services.till import open_till
from appliance.store.db import transaction
from appliance.store.journal import entries, verify
from appliance.store.keys import key_path
from tests.conftest import CVR
from tests.saft.checker import check_file, problems, summary

SALE = {"cashier": "anna", "lines": [{"sku": "MILK"}], "payments": [{"type": "cash", "amount": "20.00"}]}


def _untriggered(conn: sqlite3.Connection) -> sqlite3.Connection:
    for name in ("journal_no_update", "journal_no_delete", "journal_gap_free"):
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    return conn


def test_a_rotation_is_signed_with_the_old_key_and_later_entries_with_the_new(till, tmp_path: Path) -> None:
    sell(till, SALE)
    done = rotate_key(till)
    sell(till, SALE)
    rows = list(entries(till.conn))
    rotation = next(e for e in rows if e.kind == "key_rotation")
    assert rotation.nr == done["journal_nr"] and rotation.key_version == 1
    assert rotation.data()["key_version"] == 2
    pem = till.conn.execute("SELECT certificate FROM key_versions WHERE version = 2").fetchone()[0]
    assert rotation.data()["certificate_sha256"] == certificate_fingerprint(pem.encode())
    assert rows[-1].kind == "sale" and rows[-1].key_version == 2
    assert key_path(till.data_dir, 2).stat().st_mode & 0o777 == 0o600
    report = verify(till.conn, CVR)
    assert report.ok, report
    # the till opens again on the new key; the SAF-T export carries both certificates and passes
    till.close()
    with open_till(till.data_dir, till.clock) as again:
        assert again.journal.signer.key_version == 2
        sell(again, SALE)
        again.clock.advance(hours=1)
        close_day(again, "60.00", render_pdf=False, transfer=False)
        assert verify(again.conn, CVR).ok
        day = again.now().date()
        result = export(again, date(day.year, day.month, day.day), day, tmp_path / "out")
        for path in result.files:
            found = problems(check_file(path))
            assert found == [], summary(found)


def test_a_certificate_swapped_in_key_versions_is_refused(till) -> None:
    sell(till, SALE)
    other = new_key()
    cert = self_signed_certificate(other, "Købmand Hansen", CVR, "1").decode()
    till.conn.execute("DROP TRIGGER IF EXISTS key_versions_no_update")
    till.conn.execute("UPDATE key_versions SET certificate = ? WHERE version = 1", (cert,))
    report = verify(till.conn, CVR)
    assert (report.ok, report.first_bad, report.problem) == (False, 1, "signature does not verify (chain broken)")


def _attacker_key_version(till) -> tuple:
    """An attacker's key and certificate written into key_versions as the next version."""
    attacker = new_key()
    cert = self_signed_certificate(attacker, "Købmand Hansen", CVR, "1")
    till.conn.execute("INSERT INTO key_versions (certificate, kind, installed) VALUES (?, 'self-signed', '')",
                      (cert.decode(),))
    return attacker, cert


def test_a_key_version_without_a_rotation_is_refused(till) -> None:
    """An attacker's key added as version 2, and a sale signed with it, chained on properly."""
    sell(till, SALE)
    attacker, _cert = _attacker_key_version(till)
    key_path(till.data_dir, 2).write_bytes(key_pem(attacker))
    till.close()
    with open_till(till.data_dir, till.clock) as forged:
        assert forged.journal.signer.key_version == 2
        sell(forged, SALE)
        report = verify(forged.conn, CVR)
    assert not report.ok
    assert report.problem == ("key version 2's certificate was never pinned in the journal "
                              "(a new key needs a journalled key rotation)")


def test_a_rotation_signed_with_the_new_key_is_refused(till) -> None:
    """The attacker writes the rotation entry themselves, but can only sign it with their own key."""
    sell(till, SALE)
    attacker, cert = _attacker_key_version(till)
    signer = Signer(attacker, 2)
    till.journal.signer = signer
    with transaction(till.conn):
        e = till.journal.append("key_rotation", "system", {
            "key_version": 2, "previous_key_version": 1, "certificate": "self-signed",
            "certificate_sha256": certificate_fingerprint(cert)})
    report = verify(till.conn, CVR)
    assert not report.ok
    assert report.first_bad == e.nr
    assert report.problem == (f"the key rotation at entry {e.nr} was not signed with the key it replaces "
                              "(key version 1)")


def test_an_entry_signed_with_a_new_key_before_its_rotation_is_refused(till) -> None:
    """A sale re-signed under key 2 and moved before the rotation (the chain re-signed to match)."""
    sell(till, SALE)
    rotate_key(till)
    conn = _untriggered(till.conn)
    key2 = Signer.from_pem(key_path(till.data_dir, 2).read_bytes(), 2)
    rows = list(entries(conn))
    prev = "0"
    for e in rows:  # re-sign the whole chain, the sale (before the rotation) with key 2
        version = 2 if e.kind == "sale" else e.key_version
        signer = key2 if version == 2 else Signer.from_pem(key_path(till.data_dir, 1).read_bytes(), 1)
        e2 = replace(e, key_version=version)
        e2 = replace(e2, trans_id=content_id(e2))
        sig = signer.sign(signature_string(prev, e2, CVR))
        conn.execute("UPDATE journal SET key_version = ?, trans_id = ?, signature = ? WHERE nr = ?",
                     (version, e2.trans_id, sig, e.nr))
        prev = sig
    report = verify(conn, CVR)
    assert not report.ok
    sale_nr = next(e.nr for e in rows if e.kind == "sale")
    rotation_nr = next(e.nr for e in rows if e.kind == "key_rotation")
    assert (report.first_bad, report.problem) == (
        sale_nr, f"entry {sale_nr} is signed with key version 2 before its rotation at entry {rotation_nr}"), report


def test_a_key_file_left_by_a_crashed_rotation_is_replaced(till) -> None:
    key_path(till.data_dir, 2).write_bytes(b"half-written")
    rotate_key(till)
    sell(till, SALE)
    assert verify(till.conn, CVR).ok


def test_an_oces_pair_that_does_not_belong_together_is_refused(till) -> None:
    a, b = new_key(), new_key()
    with pytest.raises(SetupError, match="does not belong"):
        rotate_key(till, certificate=self_signed_certificate(a, "x", CVR, "1"), key=key_pem(b))
    assert till.conn.execute("SELECT COUNT(*) FROM key_versions").fetchone()[0] == 1
    assert not key_path(till.data_dir, 2).exists()


def test_the_cli_rotates_and_verify_passes(tmp_path: Path) -> None:
    data = tmp_path / "shop"
    env_args = [sys.executable, "-m", "appliance.cli", "--data", str(data)]

    def till(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*env_args, *args], capture_output=True, text=True, timeout=60)

    assert till("init", "--shop-name", "Købmand Hansen", "--cvr", CVR, "--address", "Gaden 1").returncode == 0
    out = till("--json", "certificate", "rotate")
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert (body["key_version"], body["rotated_from"]) == (2, 1)
    verified = till("journal", "verify")
    assert verified.returncode == 0, verified.stderr
