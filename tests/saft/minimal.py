"""A small builder of DK SAF-T Cash Register files for the checker's own tests.

The checker must be shown to pass a valid file and to fail each kind of broken one, without the
exporter under test; so this builds the XML directly: throw-away RSA-2048 keys and certificates, one
or more registers, Z/X reports, sales with ctLine and payment, signed as saft.md §2.4 says
(PKCS#1 v1.5 + SHA-512 over `prev;nr;transID;...;companyIdent`, prev "0" first, per register).
Broken variants come from the dataclass options (what is signed, which certificate) or from ``edit``,
a hook that changes the tree after signing.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from .checker import NS

CVR = "12345678"
DAY = "2026-01-15"
FILE_NAME = f"SAF-T Cash Register_{CVR}_20260115190000_1_1.xml"

# (basicType, basicID, predefinedBasicID, basicDesc): own IDs, so every code goes through basics.
BASICS: list[tuple[str, str, str | None, str]] = [
    ("11", "SALG", "11001", "Kontantsalg"),
    ("12", "KONTANT", "12001", "Kontant"),
    ("12", "DANKORT", "12002", "Dankort"),
    ("13", "XRAP", "13008", "X-rapport"),
    ("13", "ZRAP", "13009", "Z-rapport"),
    ("13", "KVIT", "13012", "Salgskvittering"),
    ("10", "DRIKKEPENGE", "10001", "Drikkepenge"),
    ("05", "VARE", None, "Varelinje"),
]
ARTICLES: dict[str, str] = {"MILK": "Sødmælk 1 l", "BREAD": "Rugbrød"}


@dataclass
class Line:
    """A ctLine; amount incl. VAT, same amntTp as its transaction."""

    amount: str
    art_id: str | None = "MILK"
    qnt: str | None = "1"
    line_type: str = "VARE"


@dataclass
class Pay:
    amount: str
    payment_type: str = "KONTANT"
    ref_id: str | None = None


@dataclass
class Sale:
    """A cashtransaction. `lines`/`payments` None means one MILK line / one cash payment for it all."""

    nr: str
    amount: str
    time: str
    trans_type: str = "SALG"
    date: str = DAY
    amnt_tp: str = "C"
    lines: list[Line] | None = None
    payments: list[Pay] | None = None
    raises: list[tuple[str, str]] = field(default_factory=list)  # (raiseType, raiseAmnt)
    void: bool = False
    training: bool = False
    signed_prev: str | None = None  # sign over this prev instead of the chain's ("0": a restart)
    signed_time: str | None = None  # sign over this transTime text instead of the written one
    scheme: str = "pkcs1"  # "pkcs1" | "pss" | "pkcs1-prehash" (SHA-512 of the message, signed again)
    trans_id: str | None = None

    @property
    def amount_ex(self) -> str:
        return str((Decimal(self.amount) / Decimal("1.25")).quantize(Decimal("0.01")))


@dataclass
class Report:
    """A Z or X report, inside its own event (ZRAP/XRAP)."""

    report_id: str
    time: str
    total: str
    grand_total: str
    report_type: str = "Z report"
    date: str = DAY
    tips: str | None = None
    returns: str = "0.00"


@dataclass
class Event:
    """A plain event (no report), e.g. KVIT = 13012 which needs a transID."""

    event_id: str
    event_type: str
    time: str
    trans_id: str | None = None
    date: str = DAY


@dataclass
class Register:
    register_id: str
    reports: list[Report]
    sales: list[Sale]
    events: list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class Pki:
    """A signing key, its certificate as PEM text, and the CA that issued it (None: self-signed)."""

    key: rsa.RSAPrivateKey
    cert_pem: str
    ca_pem: bytes | None


def one_register() -> list[Register]:
    """An opening Z, three sales (125 cash, 50 Dankort with paymentRefID, 30 cash), a closing Z."""
    return [Register("1", [Report("1", "08:00:00", "0.00", "0.00"), Report("2", "18:00:00", "205.00", "205.00")],
                     [Sale("1", "125.00", "10:00:00"),
                      Sale("2", "50.00", "11:00:00", payments=[Pay("50.00", "DANKORT", "4711")]),
                      Sale("3", "30.00", "12:00:00")])]


def two_registers(numbers: tuple[str, str, str, str] = ("1", "3", "2", "4")) -> list[Register]:
    """Two registers selling in turn; `numbers` are register 1's two nrs, then register 2's."""
    a1, a2, b1, b2 = numbers
    return [
        Register("1", [Report("1", "08:00:00", "0.00", "0.00"), Report("2", "18:00:00", "120.00", "120.00")],
                 [Sale(a1, "100.00", "10:00:00"), Sale(a2, "20.00", "12:00:00")]),
        Register("2", [Report("3", "08:00:00", "0.00", "0.00"), Report("4", "18:00:00", "70.00", "70.00")],
                 [Sale(b1, "30.00", "11:00:00"), Sale(b2, "40.00", "13:00:00")]),
    ]


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.COUNTRY_NAME, "DK")])


@lru_cache
def _rsa_key(label: str) -> rsa.RSAPrivateKey:
    """One throw-away key per label, kept for the session: key generation is the slow part."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@lru_cache
def make_pki(*, with_ca: bool = False, not_before: date = date(2025, 1, 1),
             not_after: date = date(2030, 1, 1), ca_label: str = "ca") -> Pki:
    """A self-signed leaf, or a leaf issued by a throw-away CA (whose PEM goes in trust_roots)."""
    key = _rsa_key("leaf")
    start = datetime.combine(not_before, time(), UTC)
    end = datetime.combine(not_after, time(), UTC)
    builder = (x509.CertificateBuilder().subject_name(_name("Tillbox test till")).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end))
    if not with_ca:
        cert = builder.issuer_name(_name("Tillbox test till")).sign(key, hashes.SHA256())
        return Pki(key, cert.public_bytes(serialization.Encoding.PEM).decode(), None)
    ca_key = _rsa_key(ca_label)
    ca = (x509.CertificateBuilder().subject_name(_name(f"Tillbox test {ca_label}"))
          .issuer_name(_name(f"Tillbox test {ca_label}")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
          .not_valid_after(datetime(2040, 1, 1, tzinfo=UTC))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    cert = builder.issuer_name(ca.subject).sign(ca_key, hashes.SHA256())
    return Pki(key, cert.public_bytes(serialization.Encoding.PEM).decode(),
               ca.public_bytes(serialization.Encoding.PEM))


class _Tree:
    """Appends namespaced children: `t.add(parent, "name", "text")`; `fields` skips None (optional)."""

    @staticmethod
    def add(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
        el = etree.SubElement(parent, f"{{{NS}}}{name}")
        if text is not None:
            el.text = text
        return el

    @classmethod
    def fields(cls, parent: etree._Element, *pairs: tuple[str, str | None]) -> None:
        for name, text in pairs:
            if text is not None:
                cls.add(parent, name, text)


def _address(t: _Tree, parent: etree._Element) -> None:
    a = t.add(parent, "streetAddress")
    t.fields(a, ("streetname", "Hovedgaden"), ("number", "1"), ("city", "Roskilde"), ("postalCode", "4000"),
             ("country", "DK"))


def _sign(pki: Pki, sale: Sale, message: str) -> str:
    data = message.encode("utf-8")
    if sale.scheme == "pss":
        pad = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=padding.PSS.DIGEST_LENGTH)
        return base64.b64encode(pki.key.sign(data, pad, hashes.SHA512())).decode()
    if sale.scheme == "pkcs1-prehash":
        # sign SHA-512(message) as the message, i.e. SHA-512 applied twice (the script's 2nd variant)
        digest = hashlib.sha512(data).digest()
        return base64.b64encode(pki.key.sign(digest, padding.PKCS1v15(), hashes.SHA512())).decode()
    return base64.b64encode(pki.key.sign(data, padding.PKCS1v15(), hashes.SHA512())).decode()


def _report(t: _Tree, register: etree._Element, reg: Register, report: Report, company_ident: str) -> None:
    kind = "ZRAP" if report.report_type == "Z report" else "XRAP"
    ev = t.add(register, "event")
    t.fields(ev, ("eventID", f"R{reg.register_id}-{report.report_id}"), ("eventType", kind), ("empID", "anna"),
             ("eventDate", report.date), ("eventTime", report.time))
    r = t.add(ev, "eventReport")
    t.fields(r, ("reportID", report.report_id), ("reportType", report.report_type), ("companyIdent", company_ident),
             ("companyName", "Købmand Hansen"), ("reportDate", report.date), ("reportTime", report.time),
             ("registerID", reg.register_id))
    t.add(t.add(r, "reportTotalCashSales"), "totalCashSaleAmnt", report.total)
    g = t.add(t.add(r, "reportArtGroups"), "reportArtGroup")
    t.fields(g, ("artGroupID", "04003"), ("artGroupNum", "0"), ("artGroupAmnt", report.total))
    p = t.add(t.add(r, "reportPayments"), "reportPayment")
    t.fields(p, ("paymentType", "KONTANT"), ("paymentNum", "0"), ("paymentAmnt", report.total))
    p = t.add(t.add(r, "reportEmpPayments"), "reportEmpPayment")
    t.fields(p, ("empID", "anna"), ("paymentType", "KONTANT"), ("paymentNum", "0"), ("paymentAmnt", report.total))
    if report.tips is not None:
        t.fields(t.add(r, "reportTip"), ("tipNum", "1"), ("tipAmnt", report.tips))
    v = t.add(t.add(r, "reportCashSalesVat"), "reportCashSaleVat")
    t.fields(v, ("vatCode", "1"), ("vatPerc", "25"), ("cashSaleAmnt", report.total), ("vatAmnt", "0.00"))
    t.fields(r, ("reportOpeningChangeFloat", "0.00"), ("reportReceiptNum", "0"), ("reportOpenCashBoxNum", "0"),
             ("reportReceiptCopyNum", "0"), ("reportReceiptCopyAmnt", "0.00"), ("reportReceiptProformaNum", "0"),
             ("reportReceiptProformaAmnt", "0.00"), ("reportReturnNum", "0"), ("reportReturnAmnt", report.returns),
             ("reportDiscountNum", "0"), ("reportDiscountAmnt", "0.00"), ("reportVoidTransNum", "0"),
             ("reportVoidTransAmnt", "0.00"))
    t.fields(t.add(t.add(r, "reportCorrLines"), "reportCorrLine"), ("corrLineType", "VARE"), ("corrLineNum", "0"),
             ("corrLineAmnt", "0.00"))
    t.fields(t.add(t.add(r, "reportPriceInquiries"), "reportPriceInquiry"), ("priceInquiryGroup", "04003"),
             ("priceInquiryNum", "0"), ("priceInquiryAmnt", "0.00"))
    t.fields(t.add(t.add(r, "reportOtherCorrs"), "reportOtherCorr"), ("otherCorrType", "none"),
             ("otherCorrNum", "0"), ("otherCorrAmnt", "0.00"))
    t.fields(r, ("reportReceiptDeliveryNum", "0"), ("reportReceiptDeliveryAmnt", "0.00"), ("reportTrainingNum", "0"),
             ("reportTrainingAmnt", "0.00"), ("reportGrandTotalSales", report.grand_total),
             ("reportGrandTotalReturn", "0.00"), ("reportGrandTotalSalesNet", report.grand_total))


def _transaction(t: _Tree, register: etree._Element, reg: Register, sale: Sale, prev: str, pki: Pki,
                 company_ident: str, cert_format: str) -> str:
    """Write one cashtransaction and return its signature (the next one's prev)."""
    tx = t.add(register, "cashtransaction")
    trans_id = sale.trans_id or f"T{reg.register_id}-{sale.nr}"
    t.fields(tx, ("nr", sale.nr), ("transID", trans_id), ("transType", sale.trans_type),
             ("transAmntIn", sale.amount), ("transAmntEx", sale.amount_ex), ("amntTp", sale.amnt_tp),
             ("empID", "anna"), ("transDate", sale.date), ("transTime", sale.time))
    lines = [Line(sale.amount)] if sale.lines is None else sale.lines
    for i, line in enumerate(lines, 1):
        ln = t.add(tx, "ctLine")
        ex = str((Decimal(line.amount) / Decimal("1.25")).quantize(Decimal("0.01")))
        t.fields(ln, ("nr", str(i)), ("lineID", f"{trans_id}-{i}"), ("lineType", line.line_type),
                 ("artID", line.art_id), ("qnt", line.qnt), ("lineAmntIn", line.amount), ("lineAmntEx", ex),
                 ("amntTp", sale.amnt_tp))
    for raise_type, amount in sale.raises:
        t.fields(t.add(tx, "raise"), ("raiseType", raise_type), ("raiseAmnt", amount))
    for pay in [Pay(sale.amount)] if sale.payments is None else sale.payments:
        t.fields(t.add(tx, "payment"), ("paymentType", pay.payment_type), ("paidAmnt", pay.amount),
                 ("empID", "anna"), ("paymentRefID", pay.ref_id))
    message = ";".join([sale.signed_prev if sale.signed_prev is not None else prev, sale.nr, trans_id,
                        sale.trans_type, sale.date, sale.signed_time or sale.time, "anna", sale.amount,
                        sale.amount_ex, reg.register_id, company_ident])
    signature = _sign(pki, sale, message)
    if cert_format == "pem":
        cert_text = pki.cert_pem
    else:  # bare base64 DER, no BEGIN/END lines
        cert_text = "".join(pki.cert_pem.strip().splitlines()[1:-1])
    t.fields(tx, ("signature", signature), ("keyVersion", "1"), ("certificateData", cert_text),
             ("voidTransaction", "true" if sale.void else "false"),
             ("trainingID", "true" if sale.training else "false"))
    return signature


def build(registers: list[Register] | None = None, *, pki: Pki | None = None, company_ident: str = CVR,
          cert_format: str = "pem", basics: list[tuple[str, str, str | None, str]] | None = None) -> etree._Element:
    """The auditfile element: header, company with master data and one location holding the registers."""
    registers = one_register() if registers is None else registers
    pki = pki or make_pki()
    t = _Tree()
    root = etree.Element(f"{{{NS}}}auditfile", nsmap={None: NS})
    h = t.add(root, "header")
    t.fields(h, ("fiscalYear", "2026"), ("startDate", "2026-01-01"), ("endDate", "2026-12-31"), ("curCode", "DKK"),
             ("dateCreated", DAY), ("timeCreated", "19:00:00"), ("softwareDesc", "Tillbox test builder"),
             ("softwareVersion", "0.1"), ("softwareCompanyName", "Tillbox"), ("auditfileVersion", "1.0.3"))
    c = t.add(root, "company")
    t.fields(c, ("companyIdent", company_ident), ("companyName", "Købmand Hansen"), ("taxRegistrationCountry", "DK"))
    _address(t, c)
    t.fields(t.add(t.add(c, "vatCodeDetails"), "vatCodeDetail"), ("vatCode", "1"), ("dateOfEntry", "2025-01-01"),
             ("vatDesc", "Moms 25 %"), ("standardVatCode", "1"))
    t.fields(t.add(t.add(c, "periods"), "period"), ("startDatePeriod", "2026-01-01"), ("startTimePeriod", "00:00:00"),
             ("endDatePeriod", "2026-12-31"), ("endTimePeriod", "23:59:59"))
    t.fields(t.add(t.add(c, "employees"), "employee"), ("empID", "anna"), ("dateOfEntry", "2025-01-01"),
             ("timeOfEntry", "08:00:00"), ("firstName", "Anna"), ("surName", "Hansen"))
    arts = t.add(c, "articles")
    for art_id, desc in ARTICLES.items():
        t.fields(t.add(arts, "article"), ("artID", art_id), ("dateOfEntry", "2025-01-01"), ("artGroupID", "04003"),
                 ("artDesc", desc))
    bs = t.add(c, "basics")
    for basic_type, basic_id, predefined, desc in BASICS if basics is None else basics:
        t.fields(t.add(bs, "basic"), ("basicType", basic_type), ("basicID", basic_id),
                 ("predefinedBasicID", predefined), ("basicDesc", desc))
    loc = t.add(c, "location")
    t.add(loc, "name", "Butikken")
    _address(t, loc)
    for reg in registers:
        register = t.add(loc, "cashregister")
        t.fields(register, ("registerID", reg.register_id), ("regDesc", f"Kasse {reg.register_id}"))
        items: list[tuple[str, str, int, Report | Event]] = [(r.date, r.time, 0, r) for r in reg.reports]
        items += [(e.date, e.time, 1, e) for e in reg.events]
        for _d, _t, _k, item in sorted(items, key=lambda i: (i[0], i[1], i[2])):
            if isinstance(item, Report):
                _report(t, register, reg, item, company_ident)
            else:
                ev = t.add(register, "event")
                t.fields(ev, ("eventID", item.event_id), ("eventType", item.event_type), ("transID", item.trans_id),
                         ("empID", "anna"), ("eventDate", item.date), ("eventTime", item.time))
        prev = "0"
        for sale in reg.sales:
            prev = _transaction(t, register, reg, sale, prev, pki, company_ident, cert_format)
    return root


def write(directory: Path, registers: list[Register] | None = None, *, name: str = FILE_NAME,
          edit: Callable[[etree._Element], None] | None = None, pki: Pki | None = None,
          company_ident: str = CVR, cert_format: str = "pem",
          basics: list[tuple[str, str, str | None, str]] | None = None) -> Path:
    """Build (see `build`), apply `edit` to the signed tree, write it as UTF-8 to directory/name."""
    root = build(registers, pki=pki, company_ident=company_ident, cert_format=cert_format, basics=basics)
    if edit is not None:
        edit(root)
    path = directory / name
    path.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
    return path


def transaction(root: etree._Element, nr: str, register_id: str | None = None) -> etree._Element:
    """The cashtransaction with this nr (in this register), for `edit` hooks."""
    for register in root.iter(f"{{{NS}}}cashregister"):
        if register_id is not None and register.findtext(f"{{{NS}}}registerID") != register_id:
            continue
        for tx in register.iter(f"{{{NS}}}cashtransaction"):
            if tx.findtext(f"{{{NS}}}nr") == nr:
                return tx
    raise KeyError(nr)


def set_text(parent: etree._Element, name: str, text: str) -> None:
    """Overwrite the text of the first child `name` (anywhere below parent)."""
    el = parent.find(f".//{{{NS}}}{name}")
    if el is None:
        raise KeyError(name)
    el.text = text
