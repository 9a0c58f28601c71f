"""The offline UFST checker: a valid file passes, and each of the authority's rules fires on a file
broken in exactly that way (and only that rule and its known companions)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from tests.saft import checker
from tests.saft.checker import NS, Finding, check_file, problems, summary
from tests.saft.minimal import (
    BASICS,
    CVR,
    Event,
    Line,
    Pay,
    Register,
    Report,
    Sale,
    make_pki,
    one_register,
    set_text,
    transaction,
    two_registers,
    write,
)


def codes(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}


def where(findings: list[Finding], code: str) -> list[str]:
    return [f.where for f in findings if f.code == code]


def check(tmp_path: Path, registers: list[Register] | None = None, **options: Any) -> list[Finding]:
    """Build, write and check; the findings a self-signed certificate cannot avoid are left out."""
    return problems(check_file(write(tmp_path, registers, **options)))


def sales(reg: list[Register], index: int = 0) -> list[Sale]:
    return reg[index].sales


def z_total(reg: list[Register], total: str, index: int = 0) -> None:
    """Set the closing Z's totalCashSaleAmnt and grand total (opening Z's grand total is 0)."""
    reg[index].reports[-1].total = total
    reg[index].reports[-1].grand_total = total


# --- the valid file ---------------------------------------------------------------------------------

def test_minimal_file_passes_all_but_trust(tmp_path: Path) -> None:
    findings = check_file(write(tmp_path))
    assert problems(findings) == [], summary(findings)
    # a self-signed leaf: untrusted at each of the three certificateData elements, one OCSP failure
    assert sorted(where(findings, "CERTIFICATE_NOT_TRUSTED_ISSUER")) == [
        f"register 1, cashtransaction nr {n}" for n in "123"]
    assert where(findings, "CERTIFICATE_OCSP_COMPLETE_ERROR") == ["register 1, cashtransaction nr 1"]


def test_leaf_from_a_trusted_ca_is_clean_even_for_certificates(tmp_path: Path) -> None:
    pki = make_pki(with_ca=True)
    assert pki.ca_pem is not None
    findings = check_file(write(tmp_path, pki=pki), trust_roots=[pki.ca_pem])
    assert findings == [], summary(findings)


def test_leaf_from_another_ca_is_not_trusted(tmp_path: Path) -> None:
    other = make_pki(with_ca=True, ca_label="other-ca")
    assert other.ca_pem is not None
    findings = check_file(write(tmp_path, pki=make_pki(with_ca=True)), trust_roots=[other.ca_pem])
    assert len(where(findings, "CERTIFICATE_NOT_TRUSTED_ISSUER")) == 3
    assert problems(findings) == [], summary(findings)


# --- naming ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    f"SAF-T Cash Register_{CVR}_20260115190000.xml",  # no _n_N (Saldi's form)
    "SAF-T Cash Register_1234567_20260115190000_1_1.xml",  # 7-digit CVR
    f"SAF-T Cash Register_{CVR}_20601015190000_1_1.xml",  # year 2060
    f"SAF-T Cash Register_{CVR}_20260115190000_1_10.xml",  # N = 10
    f"SAF-T Cash Register_{CVR}_20260115190000_1_1.txt",
    f"SAFT Cash Register_{CVR}_20260115190000_1_1.xml",
])
def test_bad_file_name(tmp_path: Path, name: str) -> None:
    findings = check(tmp_path, name=name)
    assert [(f.check, f.code) for f in findings] == [("naming", "FILENAME")], summary(findings)


@pytest.mark.parametrize("name", [
    f"SAF-T_Cash_Register_{CVR}_20260115190000_1_1.xml",  # underscores for spaces
    f"SAF-T Cash Register_{CVR}_20260115190000_2_1.xml",  # n > N is not checked
])
def test_accepted_file_names(tmp_path: Path, name: str) -> None:
    assert check(tmp_path, name=name) == []


# --- structure ------------------------------------------------------------------------------------------

def test_xsd_missing_element(tmp_path: Path) -> None:
    def drop_key_version(root: etree._Element) -> None:
        tx = transaction(root, "2")
        tx.remove(tx.find(f"{{{NS}}}keyVersion"))

    findings = check(tmp_path, edit=drop_key_version)
    assert [(f.check, f.code) for f in findings] == [("structure", "SCHEMAV_ELEMENT_CONTENT")], summary(findings)
    assert findings[0].where.startswith("register 1, cashtransaction nr 2: ") and "keyVersion" in findings[0].message


def test_xsd_bad_value(tmp_path: Path) -> None:
    findings = check(tmp_path, edit=lambda root: set_text(root, "curCode", "SEK"))
    assert codes(findings) == {"SCHEMAV_CVC_ENUMERATION_VALID"}, summary(findings)
    assert all(f.check == "structure" for f in findings)


def test_wrong_namespace_is_reported_and_read_anyway(tmp_path: Path) -> None:
    path = write(tmp_path)
    path.write_bytes(path.read_bytes().replace(NS.encode(), b"urn:StandardAuditFile-Taxation-CashRegister:NO"))
    findings = problems(check_file(path))
    assert [f.code for f in findings] == ["SCHEMAV_CVC_ELT_1"], summary(findings)


def test_file_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path)
    path.write_bytes(path.read_bytes().replace("ø".encode(), "ø".encode("latin-1")))
    findings = problems(check_file(path))
    assert [f.code for f in findings] == ["XML_FILE_ENCODING_CORRUPT"], summary(findings)


def test_file_declared_latin1(tmp_path: Path) -> None:
    path = write(tmp_path)
    text = path.read_bytes().decode().replace("encoding='UTF-8'", "encoding='ISO-8859-1'")
    path.write_bytes(text.encode("latin-1"))
    findings = problems(check_file(path))
    assert [f.code for f in findings] == ["XML_FILE_ENCODING_CORRUPT"], summary(findings)


def test_not_well_formed(tmp_path: Path) -> None:
    path = write(tmp_path)
    path.write_bytes(path.read_bytes().replace(b"</auditfile>", b""))
    assert codes(check_file(path)) == {"XML_FILE_CORRUPT"}


# --- certificate ----------------------------------------------------------------------------------------

def test_bare_der_certificate(tmp_path: Path) -> None:
    findings = check(tmp_path, cert_format="der")
    assert where(findings, "CERTIFICATE_COMPLETE_ERROR") == [f"register 1, cashtransaction nr {n}" for n in "123"]
    # the signature check cannot get a key either, so every later signature fails and the first is flagged
    assert where(findings, "CANNOT_GET_PUBLIC_KEY") == ["register 1, cashtransaction nr 2",
                                                        "register 1, cashtransaction nr 3"]
    assert where(findings, "SIGNATURE_NOT_VERIFIED") == ["register 1, cashtransaction nr 1"]
    assert {f.check for f in findings} == {"certificate", "signature"}, summary(findings)


def test_expired_certificate(tmp_path: Path) -> None:
    findings = check(tmp_path, pki=make_pki(not_before=date(2024, 1, 1), not_after=date(2026, 1, 14)))
    assert codes(findings) == {"CERTIFICATE_EXPIRED"}, summary(findings)
    assert len(findings) == 3


def test_certificate_not_valid_yet(tmp_path: Path) -> None:
    findings = check(tmp_path, pki=make_pki(not_before=date(2026, 1, 16), not_after=date(2030, 1, 1)))
    assert codes(findings) == {"CERTIFICATE_NOT_VALID_YET"}, summary(findings)


def test_no_transactions_means_no_certificate_and_no_signature(tmp_path: Path) -> None:
    regs = [Register("1", [Report("1", "08:00:00", "0.00", "0.00"), Report("2", "18:00:00", "0.00", "0.00")], [])]
    findings = check(tmp_path, regs)
    assert [f.code for f in findings] == ["NO_CERTIFICATE", "NO_SIGNATURE"], summary(findings)


# --- signature ------------------------------------------------------------------------------------------

def test_amount_edited_after_signing(tmp_path: Path) -> None:
    findings = check(tmp_path, edit=lambda root: set_text(transaction(root, "2"), "transAmntIn", "60.00"))
    assert where(findings, "SIGNATURE_NOT_VERIFIED") == ["register 1, cashtransaction nr 2"], summary(findings)
    assert where(findings, "EVENT_REPORT_TOTAL_CASH_SALES") == ["register 1, Z report reportID 2"]
    assert len(findings) == 2, summary(findings)


def test_first_signature_is_only_checked_through_the_next(tmp_path: Path) -> None:
    """An edit of the first transaction does not break any signature (the script's blind spot);
    only the Z total catches it."""
    findings = check(tmp_path, edit=lambda root: set_text(transaction(root, "1"), "transAmntIn", "126.00"))
    assert codes(findings) == {"EVENT_REPORT_TOTAL_CASH_SALES"}, summary(findings)


def test_chain_restart_is_a_signature_break(tmp_path: Path) -> None:
    regs = one_register()
    sales(regs)[1].signed_prev = "0"
    findings = check(tmp_path, regs)
    assert [(f.code, f.where) for f in findings] == [
        ("SIGNATURE_BREAK", "register 1, cashtransaction nr 2")], summary(findings)


def test_chain_restart_with_two_sales_also_flags_the_first(tmp_path: Path) -> None:
    regs = one_register()
    del sales(regs)[2]
    z_total(regs, "175.00")
    sales(regs)[1].signed_prev = "0"
    findings = check(tmp_path, regs)
    assert [(f.code, f.where) for f in findings] == [
        ("SIGNATURE_BREAK", "register 1, cashtransaction nr 2"),
        ("SIGNATURE_NOT_VERIFIED", "register 1, cashtransaction nr 1")], summary(findings)


def test_deleted_transaction_in_the_middle(tmp_path: Path) -> None:
    def delete_2(root: etree._Element) -> None:
        tx = transaction(root, "2")
        tx.getparent().remove(tx)

    findings = check(tmp_path, edit=delete_2)
    assert sorted(where(findings, "SIGNATURE_NOT_VERIFIED")) == ["register 1, cashtransaction nr 1",
                                                                 "register 1, cashtransaction nr 3"]
    assert where(findings, "NOT_CONTINOUS_NUMBERING") == ["register 1, cashtransaction nr 3"]
    assert where(findings, "EVENT_REPORT_TOTAL_CASH_SALES") == ["register 1, Z report reportID 2"]
    assert len(findings) == 4, summary(findings)


def test_swapped_transactions(tmp_path: Path) -> None:
    def swap_2_3(root: etree._Element) -> None:
        transaction(root, "2").addprevious(transaction(root, "3"))

    findings = check(tmp_path, edit=swap_2_3)
    # numbering (sorted) and totals are unchanged; only the chain notices
    assert codes(findings) == {"SIGNATURE_NOT_VERIFIED"}, summary(findings)
    assert sorted(where(findings, "SIGNATURE_NOT_VERIFIED")) == [
        f"register 1, cashtransaction nr {n}" for n in "123"]


def test_empty_signature_is_skipped_without_resetting_the_chain(tmp_path: Path) -> None:
    findings = check(tmp_path, edit=lambda root: set_text(transaction(root, "2"), "signature", ""))
    assert {f.check for f in findings if f.check != "signature"} == {"structure"}  # minLength 1
    # nr 3 is now checked against nr 1's signature, not against "0" (so no SIGNATURE_BREAK), fails, and
    # being the only later signature, takes the first one with it
    assert [(f.code, f.where) for f in findings if f.check == "signature"] == [
        ("SIGNATURE_NOT_VERIFIED", "register 1, cashtransaction nr 3"),
        ("SIGNATURE_NOT_VERIFIED", "register 1, cashtransaction nr 1")], summary(findings)


def test_garbage_signature(tmp_path: Path) -> None:
    findings = check(tmp_path, edit=lambda root: set_text(transaction(root, "3"), "signature", "AAAA"))
    assert [(f.code, f.where) for f in findings] == [
        ("SIGNATURE_NOT_VERIFIED", "register 1, cashtransaction nr 3")], summary(findings)


@pytest.mark.parametrize("scheme", ["pss", "pkcs1-prehash"])
def test_other_signature_variants_verify(tmp_path: Path, scheme: str) -> None:
    regs = one_register()
    for sale in sales(regs):
        sale.scheme = scheme
    assert check(tmp_path, regs) == []


def test_time_normalised_to_hh_mm_ss_verifies(tmp_path: Path) -> None:
    regs = one_register()
    sales(regs)[1].time, sales(regs)[1].signed_time = "11:00:00.250", "11:00:00"
    assert check(tmp_path, regs) == []


def test_chains_are_per_register(tmp_path: Path) -> None:
    """Each register's chain starts at "0", so register 2's first transaction is not checked against
    register 1's last signature; inside register 2 the chain runs on as usual."""
    assert check(tmp_path, two_registers()) == []
    regs = two_registers()
    sales(regs, 1)[1].signed_prev = "not the previous signature"
    findings = check(tmp_path, regs)
    assert sorted(where(findings, "SIGNATURE_NOT_VERIFIED")) == ["register 2, cashtransaction nr 2",
                                                                 "register 2, cashtransaction nr 4"]
    assert len(findings) == 2, summary(findings)


# --- value: numbering -----------------------------------------------------------------------------------

def test_nr_gap(tmp_path: Path) -> None:
    regs = one_register()
    sales(regs)[2].nr = "4"
    findings = check(tmp_path, regs)
    assert [(f.code, f.where) for f in findings] == [
        ("NOT_CONTINOUS_NUMBERING", "register 1, cashtransaction nr 4")], summary(findings)


def test_numbering_per_register_is_rejected(tmp_path: Path) -> None:
    findings = check(tmp_path, two_registers(("1", "2", "1", "2")))
    assert [(f.code, f.where) for f in findings] == [("CONTINOUS_NUMBERING_PR_CASH_REGISTER", "file")], summary(
        findings)


def test_numbering_per_cvr_across_two_registers_passes(tmp_path: Path) -> None:
    findings = check(tmp_path, two_registers(("1", "3", "2", "4")))
    assert findings == [], summary(findings)


def test_registers_selling_in_blocks_trip_the_per_register_rule(tmp_path: Path) -> None:
    """The script's quirk: 1-2 on one register, 3-4 on the other, is continuous per register too."""
    assert codes(check(tmp_path, two_registers(("1", "2", "3", "4")))) == {"CONTINOUS_NUMBERING_PR_CASH_REGISTER"}


def test_nr_digits_are_extracted_but_a_comma_is_an_error(tmp_path: Path) -> None:
    regs = one_register()
    for sale, nr in zip(sales(regs), ["K-1", "K-2", "K-3"], strict=True):
        sale.nr = nr
    assert check(tmp_path, regs) == []
    sales(regs)[1].nr = "2,0"  # read as 0: the numbers are 0, 1, 3
    findings = check(tmp_path, regs)
    assert [(f.check, f.code, f.where) for f in findings] == [
        ("structure", "VALUE_DOES_NOT_CONTAIN_NR", "register 1, cashtransaction nr 2,0"),
        ("value", "NOT_CONTINOUS_NUMBERING", "register 1, cashtransaction nr K-3")], summary(findings)


# --- value: reports -------------------------------------------------------------------------------------

def test_wrong_z_total(tmp_path: Path) -> None:
    regs = one_register()
    regs[0].reports[-1].total = "999.00"
    findings = check(tmp_path, regs)
    assert [(f.code, f.where) for f in findings] == [
        ("EVENT_REPORT_TOTAL_CASH_SALES", "register 1, Z report reportID 2"),
        ("EVENT_REPORT_GRAND_TOTAL_SALES", "register 1, Z report reportID 2")], summary(findings)


def test_wrong_grand_total(tmp_path: Path) -> None:
    regs = one_register()
    regs[0].reports[-1].grand_total = "206.00"
    findings = check(tmp_path, regs)
    assert [(f.code, f.where) for f in findings] == [
        ("EVENT_REPORT_GRAND_TOTAL_SALES", "register 1, Z report reportID 2")], summary(findings)


def test_grand_total_runs_on_from_z_to_z(tmp_path: Path) -> None:
    regs = one_register()
    regs[0].sales.append(Sale("4", "10.00", "09:00:00", date="2026-01-16"))
    regs[0].reports.append(Report("3", "18:00:00", "10.00", "215.00", date="2026-01-16"))
    assert check(tmp_path, regs) == []
    regs[0].reports[-1].grand_total = "10.00"  # restarted from 0
    assert codes(check(tmp_path, regs)) == {"EVENT_REPORT_GRAND_TOTAL_SALES"}


def test_first_report_and_reports_before_the_first_z_are_skipped(tmp_path: Path) -> None:
    regs = one_register()
    regs[0].reports[0].total = "5.00"  # opening Z: skipped whatever it says
    regs[0].reports.insert(0, Report("0", "07:00:00", "7.00", "7.00", report_type="X report"))
    assert check(tmp_path, regs) == []


def test_x_report_window_starts_at_the_previous_z(tmp_path: Path) -> None:
    regs = one_register()
    regs[0].reports.insert(1, Report("X1", "11:30:00", "175.00", "175.00", report_type="X report"))
    assert check(tmp_path, regs) == []
    regs[0].reports[1].total = "125.00"
    findings = check(tmp_path, regs)
    assert where(findings, "EVENT_REPORT_TOTAL_CASH_SALES") == ["register 1, X report reportID X1"]


def test_times_with_fractions_utc_and_offsets(tmp_path: Path) -> None:
    """10:00 local = 09:00Z; 11:00+01:00; 12:00:00.123 local; the closing Z at 17:00:00Z = 18:00 local."""
    regs = one_register()
    for sale, t in zip(sales(regs), ["09:00:00Z", "11:00:00+01:00", "12:00:00.123"], strict=True):
        sale.time = t
    regs[0].reports[-1].time = "17:00:00Z"
    assert check(tmp_path, regs) == []
    sales(regs)[2].time = "17:30:00Z"  # 18:30 local: after the Z
    findings = check(tmp_path, regs)
    assert codes(findings) == {"EVENT_REPORT_TOTAL_CASH_SALES"}, summary(findings)


def test_summer_time_is_read_as_cest(tmp_path: Path) -> None:
    """In July a local 18:00 is 16:00Z: a sale at 16:30Z falls after the Z."""
    regs = one_register()
    for item in [*regs[0].reports, *sales(regs)]:
        item.date = "2026-07-15"
    sales(regs)[2].time = "15:30:00Z"
    assert check(tmp_path, regs) == []
    sales(regs)[2].time = "16:30:00Z"
    assert codes(check(tmp_path, regs)) == {"EVENT_REPORT_TOTAL_CASH_SALES"}


def test_returns_debit_and_report_return_amount(tmp_path: Path) -> None:
    """amntTp D counts negative; |reportReturnAmnt| is added back."""
    regs = one_register()
    sales(regs)[2].amnt_tp = "D"
    regs[0].reports[-1].total = "175.00"  # 125 + 50 - 30 + |-30|
    regs[0].reports[-1].returns = "-30.00"
    regs[0].reports[-1].grand_total = "175.00"
    assert check(tmp_path, regs) == []


def test_tips(tmp_path: Path) -> None:
    regs = one_register()
    sales(regs)[0].raises = [("DRIKKEPENGE", "10.00")]
    findings = check(tmp_path, regs)
    assert [(f.code, f.where) for f in findings] == [
        ("EVENT_REPORT_TIPS", "register 1, Z report reportID 2")], summary(findings)
    regs[0].reports[-1].tips = "10.00"
    assert check(tmp_path, regs) == []


def test_void_transaction_is_exempt(tmp_path: Path) -> None:
    """A void sale needs no ctLine or payment and does not count in the Z."""
    regs = one_register()
    sales(regs).append(Sale("4", "99.00", "13:00:00", lines=[], payments=[], void=True))
    assert check(tmp_path, regs) == []


def test_training_transaction_is_excluded_from_totals(tmp_path: Path) -> None:
    regs = one_register()
    sales(regs).append(Sale("4", "99.00", "13:00:00", training=True))
    assert check(tmp_path, regs) == []
    z_total(regs, "304.00")  # counting it is wrong
    assert codes(check(tmp_path, regs)) == {"EVENT_REPORT_TOTAL_CASH_SALES"}


# --- value: master data and mandatory elements ----------------------------------------------------------

def test_unknown_trans_type(tmp_path: Path) -> None:
    regs = one_register()
    sales(regs)[2].trans_type = "UKENDT"
    z_total(regs, "175.00")  # no predefined type: not counted in the Z
    findings = check(tmp_path, regs)
    assert [(f.code, f.where) for f in findings] == [
        ("NO_RELATION_TO_BASICS_FOUND", "register 1, cashtransaction nr 3"),
        ("WRONG_PREDEFINED_BASIC_USED", "register 1, cashtransaction nr 3")], summary(findings)


def test_code_found_by_basic_desc(tmp_path: Path) -> None:
    regs = one_register()
    sales(regs)[2].trans_type = "Kontantsalg"  # the basicDesc of SALG
    assert check(tmp_path, regs) == []


def test_unknown_art_id(tmp_path: Path) -> None:
    regs = one_register()
    sales(regs)[0].lines = [Line("125.00", art_id="CHEESE")]
    findings = check(tmp_path, regs)
    assert [(f.code, f.where) for f in findings] == [
        ("NO_RELATION_TO_ARTICLES_FOUND", "register 1, cashtransaction nr 1, ctLine nr 1")], summary(findings)


def test_card_payment_without_reference(tmp_path: Path) -> None:
    regs = one_register()
    sales(regs)[1].payments = [Pay("50.00", "DANKORT")]
    findings = check(tmp_path, regs)
    assert [(f.code, f.where) for f in findings] == [
        ("ELEMENT_NOT_FOUND_WHEN_EXPECTED", "register 1, cashtransaction nr 2, payment 1")], summary(findings)
    assert "paymentRefID" in findings[0].message


def test_sale_without_ct_line(tmp_path: Path) -> None:
    regs = one_register()
    sales(regs)[0].lines = []
    findings = check(tmp_path, regs)
    assert [(f.code, f.where) for f in findings] == [
        ("ELEMENT_NOT_FOUND_WHEN_EXPECTED", "register 1, cashtransaction nr 1")], summary(findings)
    assert "ctLine" in findings[0].message


def test_sale_without_payment(tmp_path: Path) -> None:
    regs = one_register()
    sales(regs)[0].payments = []
    findings = check(tmp_path, regs)
    assert [f.message.split()[0] for f in findings] == ["payment"], summary(findings)


def test_ct_line_without_qnt_and_art_id(tmp_path: Path) -> None:
    regs = one_register()
    sales(regs)[0].lines = [Line("100.00"), Line("25.00", art_id=None, qnt=None)]
    findings = check(tmp_path, regs)
    assert sorted(f.message.split()[0] for f in findings) == ["artID", "qnt"], summary(findings)
    assert set(where(findings, "ELEMENT_NOT_FOUND_WHEN_EXPECTED")) == {"register 1, cashtransaction nr 1"}


def test_basic_without_predefined_code(tmp_path: Path) -> None:
    basics = [(t, i, None if i == "KONTANT" else p, d) for t, i, p, d in BASICS]
    findings = check(tmp_path, basics=basics)
    assert where(findings, "ELEMENT_NOT_FOUND_WHEN_EXPECTED") == ["basic KONTANT"], summary(findings)
    # and every cash payment now maps to no predefined code at all
    assert len(where(findings, "WRONG_PREDEFINED_BASIC_USED")) == 2


def test_wrong_code_family(tmp_path: Path) -> None:
    regs = one_register()
    sales(regs)[0].payments = [Pay("125.00", payment_type="SALG")]  # a transaction code as payment
    findings = check(tmp_path, regs)
    assert [(f.code, f.where) for f in findings] == [
        ("WRONG_PREDEFINED_BASIC_USED", "register 1, cashtransaction nr 1, payment 1")], summary(findings)


def test_event_needing_trans_id(tmp_path: Path) -> None:
    regs = one_register()
    regs[0].events = [Event("K1", "KVIT", "10:00:01", trans_id="T1-1"), Event("K2", "KVIT", "11:00:01")]
    findings = check(tmp_path, regs)
    assert [(f.code, f.where) for f in findings] == [
        ("ELEMENT_NOT_FOUND_WHEN_EXPECTED", "register 1, event K2")], summary(findings)


def test_z_event_without_report(tmp_path: Path) -> None:
    regs = one_register()
    regs[0].events = [Event("Z9", "ZRAP", "19:00:00")]
    findings = check(tmp_path, regs)
    assert [(f.code, f.where) for f in findings] == [
        ("ELEMENT_NOT_FOUND_WHEN_EXPECTED", "register 1, event Z9")], summary(findings)
    assert "eventReport" in findings[0].message


# --- helpers of the checker -----------------------------------------------------------------------------

@pytest.mark.parametrize(("day", "clock", "expected"), [
    ("2026-01-15", "10:00:00", "2026-01-15T09:00:00+00:00"),
    ("2026-07-15", "10:00:00", "2026-07-15T08:00:00+00:00"),
    ("2026-01-15", "10:00:00.1234567", "2026-01-15T09:00:00+00:00"),
    ("2026-01-15", "10:00:00Z", "2026-01-15T10:00:00+00:00"),
    ("2026-01-15", "10:00:00.5+02:00", "2026-01-15T08:00:00+00:00"),
    ("2026-01-15+01:00", "10:00:00", "2026-01-15T09:00:00+00:00"),
])
def test_datetime_reading(day: str, clock: str, expected: str) -> None:
    moment = checker._parse_datetime(day, clock)
    assert moment is not None and moment == datetime.fromisoformat(expected)


@pytest.mark.parametrize(("day", "clock"), [("2026-01-15", "10:00"), ("15-01-2026", "10:00:00"), ("2026-01-15", None)])
def test_unreadable_datetimes(day: str, clock: str | None) -> None:
    assert checker._parse_datetime(day, clock) is None


def test_unreadable_transaction_time_stops_the_report_check(tmp_path: Path) -> None:
    def short_time(root: etree._Element) -> None:
        set_text(transaction(root, "1"), "transTime", "10:00")  # not xsd:time either

    findings = check(tmp_path, edit=short_time)
    assert "EVENT_REPORT_COULD_NOT_RUN" in codes(findings), summary(findings)
