"""An exported SAF-T file edited after the export is caught: by the authority's checks (the offline
checker's findings), by the detached `.sig` beside the file no longer verifying, or by both.

SAF-T's own signature covers only a transaction's head (nr, transID, type, date, time, employee,
amounts, register, CVR), chained per register, and the check script does not verify the first
signature of a chain on its own. Lines, payments, events and reports are covered by the value checks
where those add up, and otherwise only by the file's detached signature (RSA PKCS#1 v1.5 SHA-512 over
the file bytes, the till's certificate in the `.pem`). Each case below says which of the two fires.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from appliance.services import cash, closing, selling
from appliance.services.saft_export import export
from appliance.services.till import Till
from tests.conftest import Clock, make_till
from tests.saft.checker import NS, check_file, detached_signature_ok, problems, summary

Root = etree._Element


@dataclass(frozen=True)
class Exported:
    xml: Path
    sig: Path
    pem: Path


def _sell(till: Till, lines: list[dict], payments: list[dict]) -> dict:
    return selling.sell(till, {"cashier": "anna", "lines": lines, "payments": payments})


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """Three closed days and an open fourth (its sales come after the last Z), in one file; each day
    sells, copies a receipt, takes a return, makes an X report, sells once more."""
    base = tmp_path_factory.mktemp("tamper")
    clock = Clock()
    till = make_till(base / "shop", clock)
    try:
        cash.move_cash(till, "float", "500.00", "", "anna")
        for day in range(4):
            clock.advance(minutes=10)
            first = _sell(till, [{"sku": "MILK", "qty": 2}, {"sku": "BREAD"}],
                          [{"type": "cash", "amount": "100.00"}])
            clock.advance(minutes=10)
            _sell(till, [{"sku": "BUTTER", "discount": {"percent": 10}}, {"sku": "PAPER"}],
                  [{"type": "card", "brand": "Dankort", "reference": f"T{day}", "amount": "52.05"}])
            clock.advance(minutes=10)
            _sell(till, [{"sku": "UPC", "qty": 3}], [{"type": "mobilepay", "amount": "45.00"}])
            clock.advance(minutes=10)
            selling.receipt_copy(till, first["receipt_number"], "anna")
            clock.advance(minutes=10)
            selling.refund(till, first["receipt_number"], {"cashier": "anna", "lines": [{"sku": "BREAD"}]})
            clock.advance(minutes=10)
            closing.x_report(till)
            clock.advance(minutes=10)
            _sell(till, [{"sku": "FREE", "qty": 2}], [{"type": "cash", "amount": "10.00"}])
            if day < 3:
                clock.advance(hours=8)
                closing.close_day(till, "600.00", "100.00", render_pdf=False, transfer=False)
                clock.next_day()
        result = export(till, date(2026, 11, 20), date(2026, 11, 23), base / "out")
    finally:
        till.close()
    assert len(result.files) == 1
    xml = result.files[0]
    (pem,) = xml.parent.glob("*.pem")
    return Exported(xml, Path(f"{xml}.sig"), pem)


# --- editing a file -----------------------------------------------------------------------------

def q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def transactions(root: Root) -> list[Root]:
    return root.findall(f".//{q('cashtransaction')}")


def events(root: Root) -> list[Root]:
    return root.findall(f".//{q('event')}")


def sales(root: Root) -> list[Root]:
    return [t for t in transactions(root) if t.findtext(q("transType")) == "11001"]


def z_events(root: Root) -> list[Root]:
    return [e for e in events(root) if e.findtext(q("eventType")) == "13009"]


def set_text(el: Root, tag: str, text: str) -> None:
    child = el.find(q(tag))
    assert child is not None, tag
    assert child.text != text
    child.text = text


def remove(el: Root) -> None:
    el.getparent().remove(el)


def swap(a: Root, b: Root) -> None:
    """Exchange two siblings' places."""
    parent = a.getparent()
    assert parent is b.getparent()
    ia, ib = parent.index(a), parent.index(b)
    parent.remove(a)
    parent.insert(ib - 1 if ia < ib else ib, a)
    parent.remove(b)
    parent.insert(ia, b)


def serialise(root: Root) -> bytes:
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="utf-8")


def write_copy(exported: Exported, dest: Path, data: bytes | None = None) -> Path:
    """The export's three files in dest, under their own names, with the XML replaced by data."""
    dest.mkdir()
    xml = dest / exported.xml.name
    xml.write_bytes(exported.xml.read_bytes() if data is None else data)
    shutil.copy(exported.sig, dest / exported.sig.name)
    shutil.copy(exported.pem, dest / exported.pem.name)
    return xml



def codes(xml: Path) -> set[str]:
    return {f.code for f in problems(check_file(xml))}


# --- the cases ------------------------------------------------------------------------------------

def amount_of_a_sale(root: Root) -> None:
    """transAmntIn of a sale in a checked Z period: the SAF-T chain signs it, and the Z adds it up."""
    set_text(sales(root)[4], "transAmntIn", "1.00")


def amount_of_the_first_transaction(root: Root) -> None:
    """The float (11007) that starts the chain: the script never verifies a chain's first signature,
    and a float is not part of a Z's sales, so only the detached signature shows this one."""
    tx = transactions(root)[0]
    assert tx.findtext(q("transType")) == "11007"
    set_text(tx, "transAmntIn", "5000.00")


def line_article_to_another(root: Root) -> None:
    """A ctLine's artID to another article in the file: nothing in SAF-T signs a line."""
    set_text(sales(root)[4].find(q("ctLine")), "artID", "CANDY")


def line_article_unknown(root: Root) -> None:
    set_text(sales(root)[4].find(q("ctLine")), "artID", "NOSUCHARTICLE")


def line_amount(root: Root) -> None:
    set_text(sales(root)[4].find(q("ctLine")), "lineAmntIn", "1.00")


def delete_middle_transaction(root: Root) -> None:
    remove(sales(root)[4])


def delete_last_transaction(root: Root) -> None:
    """The last sale, on the open day after the last Z and X: no report counts it yet, and no later
    signature chains on from it."""
    last = transactions(root)[-1]
    assert last.findtext(q("transType")) == "11001"
    remove(last)


def swap_two_transactions(root: Root) -> None:
    a = sales(root)[4]
    swap(a, a.getnext())


def event_type(root: Root) -> None:
    """A receipt copy (13014) made to look like a price change (13021, a code in the file's basics)."""
    copy = next(e for e in events(root) if e.findtext(q("eventType")) == "13014")
    set_text(copy, "eventType", "13021")


def event_time(root: Root) -> None:
    copy = next(e for e in events(root) if e.findtext(q("eventType")) == "13014")
    set_text(copy, "eventTime", "23:59:59.000000+01:00")


def delete_event(root: Root) -> None:
    remove(next(e for e in events(root) if e.findtext(q("eventType")) == "13014"))


def delete_z_event(root: Root) -> None:
    """The middle Z: the next Z's period now seems to start a day earlier."""
    remove(z_events(root)[1])


def reorder_events(root: Root) -> None:
    copy = next(e for e in events(root) if e.findtext(q("eventType")) == "13014")
    swap(copy, copy.getnext())


def z_total(root: Root) -> None:
    """totalCashSaleAmnt of the second Z (the first is not value-checked by the script)."""
    report = z_events(root)[1].find(q("eventReport"))
    set_text(report.find(q("reportTotalCashSales")), "totalCashSaleAmnt", "1.00")


def z_grand_total(root: Root) -> None:
    set_text(z_events(root)[1].find(q("eventReport")), "reportGrandTotalSales", "99999.00")


def first_z_grand_total(root: Root) -> None:
    """The first Z is not checked itself, but the next Z's grand total no longer follows from it."""
    set_text(z_events(root)[0].find(q("eventReport")), "reportGrandTotalSales", "99999.00")


SIGNATURE = {"SIGNATURE_NOT_VERIFIED"}
Z_TOTAL = {"EVENT_REPORT_TOTAL_CASH_SALES"}
GRAND = {"EVENT_REPORT_GRAND_TOTAL_SALES"}
# case -> what the checker reports besides the trust codes; the detached signature breaks in every case
CASES: dict[str, tuple[Callable[[Root], None], set[str]]] = {
    "amount of a sale": (amount_of_a_sale, SIGNATURE | Z_TOTAL),
    "amount of the chain's first transaction": (amount_of_the_first_transaction, set()),
    "ctLine artID to another article": (line_article_to_another, set()),
    "ctLine artID to no article": (line_article_unknown, {"NO_RELATION_TO_ARTICLES_FOUND"}),
    "ctLine lineAmntIn": (line_amount, set()),
    "delete a transaction in the middle": (delete_middle_transaction,
                                           {"NOT_CONTINOUS_NUMBERING"} | SIGNATURE | Z_TOTAL),
    "delete the last transaction": (delete_last_transaction, set()),
    "swap two transactions": (swap_two_transactions, SIGNATURE),
    "event eventType": (event_type, set()),
    "event eventTime": (event_time, set()),
    "delete an event": (delete_event, set()),
    "delete a Z event": (delete_z_event, Z_TOTAL | GRAND),
    "reorder two events": (reorder_events, set()),
    "Z totalCashSaleAmnt": (z_total, Z_TOTAL | GRAND),
    "Z reportGrandTotalSales": (z_grand_total, GRAND),
    "first Z's reportGrandTotalSales": (first_z_grand_total, GRAND),
}


def test_the_untouched_export_passes_both(exported: Exported, tmp_path: Path) -> None:
    xml = write_copy(exported, tmp_path / "good")
    findings = check_file(xml)
    assert problems(findings) == [], summary(findings)
    assert detached_signature_ok(xml, exported.pem)


def test_reading_and_writing_back_changes_no_byte(exported: Exported) -> None:
    """So every failure below comes from the edit alone, not from lxml writing the file differently."""
    data = exported.xml.read_bytes()
    assert serialise(etree.fromstring(data)) == data


@pytest.mark.parametrize("case", sorted(CASES))
def test_tampering_is_reported(exported: Exported, tmp_path: Path, case: str) -> None:
    edit, expected = CASES[case]
    root = etree.fromstring(exported.xml.read_bytes())
    edit(root)
    xml = write_copy(exported, tmp_path / "edited", serialise(root))
    found = codes(xml)
    assert found == expected, summary(problems(check_file(xml)))
    assert not detached_signature_ok(xml, exported.pem), "the detached signature still verifies"
    assert found or not detached_signature_ok(xml, exported.pem)  # at least one of the two fires, always


def test_swapping_two_transactions_names_them_and_the_next(exported: Exported, tmp_path: Path) -> None:
    """p, a, b, c written as p, b, a, c: b no longer follows a, a no longer follows p, c no longer b."""
    root = etree.fromstring(exported.xml.read_bytes())
    a = sales(root)[4]
    b = a.getnext()
    nrs = [a.findtext(q("nr")), b.findtext(q("nr")), b.getnext().findtext(q("nr"))]
    swap_two_transactions(root)
    xml = write_copy(exported, tmp_path / "edited", serialise(root))
    where = {f.where for f in problems(check_file(xml))}
    assert where == {f"register 1, cashtransaction nr {nr}" for nr in nrs}


# --- openssl, as the authority or an auditor would check the detached signature ----------------------

@pytest.fixture
def public_key(exported: Exported, tmp_path: Path) -> Path:
    cert = x509.load_pem_x509_certificate(exported.pem.read_bytes())
    path = tmp_path / "public.pem"
    path.write_bytes(cert.public_key().public_bytes(serialization.Encoding.PEM,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def openssl_verify(public_key: Path, xml: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", "dgst", "-sha512", "-verify", str(public_key), "-signature",
                           f"{xml}.sig", str(xml)], capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not on PATH")
def test_openssl_verifies_the_good_file_and_rejects_an_edited_one(exported: Exported, public_key: Path,
                                                                    tmp_path: Path) -> None:
    good = write_copy(exported, tmp_path / "good")
    proc = openssl_verify(public_key, good)
    assert proc.returncode == 0 and "Verified OK" in proc.stdout, proc.stdout + proc.stderr
    root = etree.fromstring(exported.xml.read_bytes())
    line_amount(root)  # one a SAF-T checker cannot see
    bad = write_copy(exported, tmp_path / "bad", serialise(root))
    proc = openssl_verify(public_key, bad)
    assert proc.returncode == 1 and "Verification failure" in proc.stdout, proc.stdout + proc.stderr
