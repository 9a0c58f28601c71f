"""An offline re-implementation of UFST's SAF-T Cash Register DK check script, for the test suite.

The authority's script (public copy: github.com/Lenius/danish-saft-validator, described check by check in
/work/shared/notes/saft.md §2) needs the network and writes an xlsx; a test needs a list it can assert
on. This module makes the same five checks (naming, structure, certificate, signature, value) with the
same error codes and the same quirks, so a test predicts what the authority's tool will say about an
export. It is written from the spec, not from the exporter it checks.

Departures from the script, all deliberate:
- Certificate trust is decided offline: a certificate is trusted only if it is directly issued by (its
  signature verifies under) one of ``trust_roots``. The script downloads the issuer from the AIA URL and
  compares it with the two OCES3 CA certificates. No OCSP is done: an untrusted certificate gets one
  CERTIFICATE_OCSP_COMPLETE_ERROR (at its first certificateData element), as the script reports when
  the OCSP responder cannot be reached; a trusted one gets none. CERTIFICATE_NOT_TRUSTED_ISSUER is
  reported once per certificateData element, as the script does.
- Structure: every error of one lxml validation pass is reported. The script's repair loop (inserting
  dummy elements after SCHEMAV_ELEMENT_CONTENT and validating again) is not copied, and the later checks
  read the file as written, not the repaired tree.
- Encoding: besides bytes that are not UTF-8 (the script's XML_FILE_ENCODING_CORRUPT), an XML declaration
  naming another encoding is reported with the same code, since the file must be UTF-8.
- A file that is not well-formed gets XML_FILE_CORRUPT (the script silently escapes a bare '&').
- A time without an offset is read in Europe/Copenhagen (zoneinfo); the script switches CET/CEST by
  whole days (last Sunday of March to last Sunday of October, inclusive).
- Where the script would crash (a register with reports but no transactions, a missing element it reads
  unconditionally), this checker carries on: that register's window is empty, the value reads as None.

Script behaviours kept on purpose, though they may surprise:
- VALUE_DOES_NOT_CONTAIN_NR is filed under "structure" (the script logs it in its structure check);
  such an nr counts as 0 in the numbering check.
- NO_SIGNATURE means there are no cashtransactions, or the last one has no signature element at all.
- A code without a basic fails WRONG_PREDEFINED_BASIC_USED as well as NO_RELATION_TO_BASICS_FOUND.
- A tip is only the first transaction-level raise; X reports are checked too (window from the last Z).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

__all__ = ["NS", "TRUST_CODES", "Finding", "check_file", "problems", "summary"]

NS = "urn:StandardAuditFile-Taxation-CashRegister:DK"
XMLDSIG_URL = "http://www.w3.org/TR/xmldsig-core/xmldsig-core-schema.xsd"
SPEC_DIR = Path(__file__).resolve().parents[2] / "specs" / "saft-cash-register-dk"
XSD_PATH = SPEC_DIR / "Danish_SAF-T_Cash_Register_Schema_v_1.0.3.xsd"
TZ = ZoneInfo("Europe/Copenhagen")
TOLERANCE = 1e-3
# What a self-signed or test-CA certificate always gets offline; problems() leaves these out.
TRUST_CODES = frozenset({"CERTIFICATE_NOT_TRUSTED_ISSUER", "CERTIFICATE_OCSP_COMPLETE_ERROR"})

# Predefined transaction codes the script sums into a report's totalCashSaleAmnt.
REPORT_SUM_TYPES = frozenset({"11001", "11002", "11004", "11005", "11006", "11009", "11012", "11013",
                              "11015", "11016", "11017"})
# Transaction codes that need ctLine (and, on every line, qnt and artID) ...
CTLINE_TYPES = frozenset({"11001", "11002", "11003", "11004", "11006", "11008", "11009", "11012", "11013",
                          "11014", "11015", "11016", "11017", "11999"})
# ... and those that need at least one payment (the script's own list: 11005 in, 11013/11014 out).
PAYMENT_TYPES = frozenset({"11001", "11002", "11003", "11004", "11005", "11006", "11008", "11009", "11012",
                           "11015", "11016", "11017", "11999"})
EVENT_TRANSID_TYPES = frozenset({"13010", "13011", "13012", "13013", "13014", "13015", "13016", "13019",
                                 "13028"})
EVENT_REPORT_TYPES = frozenset({"13008", "13009"})
PAYMENT_REF_TYPES = frozenset({"12002", "12003", "12011"})
BASIC_TYPES_NEEDING_PREDEFINED = frozenset({"10", "11", "12", "13"})
TIP_CODE = "10001"
# The report window of a register starts here until its first Z (so every earlier report is skipped).
_NO_Z_YET = datetime(2000, 1, 1, tzinfo=TZ)


@dataclass(frozen=True)
class Finding:
    """One error, as the authority's report would list it."""

    check: str  # "naming" | "structure" | "certificate" | "signature" | "value"
    code: str  # the authority's technical error type, e.g. "SIGNATURE_BREAK"
    where: str  # "register 1, cashtransaction nr 17", "register 1, Z report reportID 2", "line 12: /a/b"
    message: str


def problems(findings: Iterable[Finding]) -> list[Finding]:
    """All findings except the certificate-trust ones that no self-signed certificate can avoid offline."""
    return [f for f in findings if f.code not in TRUST_CODES]


def summary(findings: Iterable[Finding]) -> str:
    """One line per finding, for assertion messages."""
    lines = [f"{f.check:<11} {f.code:<40} {f.where}: {f.message}" for f in findings]
    return "\n".join(lines) if lines else "(no findings)"


def check_file(path: str | Path, *, trust_roots: Sequence[bytes] = ()) -> list[Finding]:
    """Run all checks on one file, in the script's order, and return every finding."""
    path = Path(path)
    out: list[Finding] = _check_naming(path)
    tree, read_findings = _read(path)
    out += read_findings
    if tree is None:
        return out
    out += _check_structure(tree)
    doc = _Document(tree.getroot())
    roots = [cert for pem in trust_roots for cert in x509.load_pem_x509_certificates(pem)]
    out += _check_certificates(doc, roots)
    out += _check_signatures(doc)
    out += _check_values(doc)
    return list(dict.fromkeys(out))  # the script drops exact duplicates too


# --- naming (§2.1) -----------------------------------------------------------------------------------

def _check_naming(path: Path) -> list[Finding]:
    """`SAF-T Cash Register_<CVR>_<YYYYMMDDhhmmss>_<n>_<N>.xml`; the spaces may be underscores."""
    parts = path.stem.split("_")
    if len(parts) == 5:
        ok = _name_parts_ok(parts[0], parts[1], parts[2], parts[3:5])
    elif len(parts) == 7:
        ok = _name_parts_ok(" ".join(parts[0:3]), parts[3], parts[4], parts[5:7])
    else:
        ok = False
    if ok and path.suffix == ".xml":
        return []
    return [Finding("naming", "FILENAME", "file", f"{path.name!r} is not Name_ID_Date_FileNumber "
                    "(e.g. SAF-T Cash Register_99999999_20200515234556_1_5.xml)")]


def _name_parts_ok(name: str, cvr: str, stamp: str, numbers: list[str]) -> bool:
    return name == "SAF-T Cash Register" and _cvr_ok(cvr) and _stamp_ok(stamp) and _numbers_ok(numbers)


def _cvr_ok(cvr: str) -> bool:
    return len(cvr) == 8 and all(c.isdigit() for c in cvr)


def _stamp_ok(stamp: str) -> bool:
    """14 digits, year 1970-2049; like the script, a day is 1-31 whatever the month, minutes up to 60."""
    if len(stamp) != 14 or not all(c.isdigit() for c in stamp):
        return False
    try:
        y, mo, d, h, mi, s = (int(stamp[i:j]) for i, j in ((0, 4), (4, 6), (6, 8), (8, 10), (10, 12), (12, 14)))
    except ValueError:
        return False
    return 1970 <= y < 2050 and 0 < mo <= 12 and 0 < d <= 31 and 0 <= h < 24 and 0 <= mi <= 60 and 0 <= s <= 60


def _numbers_ok(numbers: list[str]) -> bool:
    """n and N each 1-9 (int() as the script does, so ' 1' and '01' pass); n <= N is not checked."""
    try:
        return all(0 < int(n) < 10 for n in numbers)
    except ValueError:
        return False


# --- reading and structure (§2.2) ----------------------------------------------------------------------

def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def _read(path: Path) -> tuple[etree._ElementTree | None, list[Finding]]:
    """Parse the file; not-UTF-8 is reported and read as cp1252 so the other checks still run."""
    data = path.read_bytes()
    out: list[Finding] = []
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as e:
        if _is_utf8(data):  # libxml2's wording differs between versions, so decide by decoding
            return None, [Finding("structure", "XML_FILE_CORRUPT", f"line {e.lineno}", str(e))]
        out.append(Finding("structure", "XML_FILE_ENCODING_CORRUPT", "file",
                           f"input is not proper UTF-8 ({e}); read as cp1252 for the other checks"))
        try:
            root = etree.fromstring(data.decode("cp1252", errors="replace").encode("utf-8"), _parser())
        except etree.XMLSyntaxError as e2:
            return None, [*out, Finding("structure", "XML_FILE_CORRUPT", f"line {e2.lineno}", str(e2))]
    tree = root.getroottree()
    declared = (tree.docinfo.encoding or "UTF-8").upper().replace("_", "-")
    if declared not in {"UTF-8", "UTF8"}:
        out.append(Finding("structure", "XML_FILE_ENCODING_CORRUPT", "file",
                           f"declared encoding {tree.docinfo.encoding!r}; the file must be UTF-8"))
    namespace = etree.QName(root).namespace
    if namespace != NS:
        out.append(Finding("structure", "SCHEMAV_CVC_ELT_1", f"line {root.sourceline}: /{etree.QName(root).localname}",
                           f"root namespace {namespace!r} is not {NS!r}; read as {NS!r} for the other checks"))
        for el in root.iter():
            if isinstance(el.tag, str) and etree.QName(el).namespace == namespace:
                el.tag = f"{{{NS}}}{etree.QName(el).localname}"
    return tree, out


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


class _LocalXmldsig(etree.Resolver):
    """The DK schema imports xmldsig from w3.org; there is no network, so serve the copy beside it."""

    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:
        if system_url == XMLDSIG_URL:
            return self.resolve_filename(str(SPEC_DIR / "xmldsig-core-schema.xsd"), context)
        return None


@lru_cache(maxsize=1)
def _schema() -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_LocalXmldsig())
    return etree.XMLSchema(etree.parse(str(XSD_PATH), parser))


def _check_structure(tree: etree._ElementTree) -> list[Finding]:
    """Each error of the XSD validation, code = lxml's error type name."""
    schema = _schema()
    if schema.validate(tree):
        return []
    return [Finding("structure", e.type_name, _xsd_error_where(tree, e), e.message) for e in schema.error_log]


def _xsd_error_where(tree: etree._ElementTree, error: Any) -> str:
    """The transaction/event/basic the error is in when there is one, else the path by element names."""
    found = tree.xpath(error.path) if error.path else []
    if not found or not isinstance(found[0], etree._Element):
        return f"line {error.line}: {error.path}"
    el = found[0]
    names = [etree.QName(a).localname for a in [*reversed(list(el.iterancestors())), el]]
    return f"{_owner_where(el, default='/' + '/'.join(names))}: {etree.QName(el).localname} (line {error.line})"


# --- the document, read the way the script reads it -----------------------------------------------------

def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _child(el: etree._Element | None, name: str) -> etree._Element | None:
    return None if el is None else el.find(_q(name))


def _text(el: etree._Element | None, name: str) -> str | None:
    found = _child(el, name)
    return None if found is None else found.text


def _to_float(value: str | None) -> float:
    """float() of the text, 0 when there is none or it is not a number (the script's to_float)."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


def _line(el: etree._Element | None) -> str:
    return f"line {el.sourceline}" if el is not None else "no element"


@dataclass
class _Basic:
    type: str | None
    id: str | None
    desc: str | None
    predefined: str | None
    element: etree._Element


class _Basics:
    """basics/basic; a code is looked up by basicID, then by basicDesc (the script's fallback)."""

    def __init__(self, root: etree._Element) -> None:
        self.all: list[_Basic] = []
        for el in root.iter(_q("basic")):
            fields: dict[str, str | None] = {}
            for child in el:
                if isinstance(child.tag, str):
                    fields[etree.QName(child).localname] = child.text
            self.all.append(_Basic(fields.get("basicType"), fields.get("basicID"), fields.get("basicDesc"),
                                   fields.get("predefinedBasicID"), el))

    def find(self, code: str | None) -> _Basic | None:
        if not self.all or not code:
            return None
        for basic in self.all:
            if basic.id == code:
                return basic
        for basic in self.all:
            if basic.desc == code:
                return basic
        return None


@dataclass
class _Ref:
    """Something that names a basic: an event, transaction, raise, ctLine or payment."""

    kind: str  # "event" | "transaction" | "raise" | "line" | "payment"
    element: etree._Element
    code_element: etree._Element | None
    where: str
    basic: _Basic | None

    @property
    def code(self) -> str | None:
        return None if self.code_element is None else self.code_element.text

    @property
    def predefined(self) -> str | None:
        """predefinedBasicID of the basic; for events the script falls back to basicType."""
        if self.basic is None:
            return None
        if self.kind == "event":
            return self.basic.predefined or self.basic.type or None
        return self.basic.predefined or None


@dataclass
class _Line:
    ref: _Ref
    art_id: str | None
    qnt: str | None


@dataclass
class _Payment:
    ref: _Ref
    ref_id: str | None


@dataclass
class _Tx:
    ref: _Ref
    nr: str | None
    nr_value: float
    follows_previous: bool  # nr == previous nr in this cashregister + 1 (the per-register quirk)
    trans_id: str | None
    trans_date: str | None
    trans_time: str | None
    emp_id: str | None
    amount_in: str | None
    amount_ex: str | None
    signed_amount: float
    moment: datetime | None
    void: bool
    training: bool
    signature: etree._Element | None
    certificate: str | None
    raises: list[_Ref]
    lines: list[_Line]
    payments: list[_Payment]
    tip: float

    @property
    def where(self) -> str:
        return self.ref.where

    @property
    def counts_in_report(self) -> bool:
        return not self.void and not self.training and self.ref.predefined in REPORT_SUM_TYPES


@dataclass
class _Report:
    register: str | None
    where: str
    report_type: str | None
    moment: datetime | None
    start: datetime | None  # the previous Z of this cashregister (or _NO_Z_YET)
    skip: bool
    total: float
    grand_total: float
    previous_grand_total: float | None
    tips: float
    returns: float

    @property
    def grand_total_ok(self) -> bool:
        if self.previous_grand_total is None:
            return True
        return abs((self.grand_total - self.total) - self.previous_grand_total) <= TOLERANCE


@dataclass
class _Event:
    ref: _Ref
    trans_id: str | None
    report: etree._Element | None


@dataclass
class _Document:
    """Everything the checks read, collected once, in document order."""

    root: etree._Element
    company_ident: str | None = None
    company_ident_found: bool = False
    basics: _Basics = field(init=False)
    articles: set[str | None] = field(default_factory=set)
    transactions: dict[str | None, list[_Tx]] = field(default_factory=dict)
    events: list[_Event] = field(default_factory=list)
    reports: list[_Report] = field(default_factory=list)
    nr_findings: list[Finding] = field(default_factory=list)

    def __post_init__(self) -> None:
        root = self.root
        ident = root.find(f"{_q('company')}/{_q('companyIdent')}")
        self.company_ident_found = ident is not None
        self.company_ident = None if ident is None else ident.text
        self.basics = _Basics(root)
        self.articles = {_text(a, "artID") for a in root.iter(_q("article"))}
        for register in root.iter(_q("cashregister")):
            rid_el = register.find(f".//{_q('registerID')}")
            rid = None if rid_el is None else rid_el.text
            self._read_events(register, rid)
            self._read_reports(register, rid)
            self._read_transactions(register, rid)

    def _ref(self, kind: str, el: etree._Element, code_name: str, where: str) -> _Ref:
        code_el = _child(el, code_name)
        return _Ref(kind, el, code_el, where, self.basics.find(None if code_el is None else code_el.text))

    def _read_events(self, register: etree._Element, rid: str | None) -> None:
        for el in register.iter(_q("event")):
            ref = self._ref("event", el, "eventType", f"register {rid}, event {_text(el, 'eventID')}")
            self.events.append(_Event(ref, _text(el, "transID"), _child(el, "eventReport")))

    def _read_reports(self, register: etree._Element, rid: str | None) -> None:
        """The window of each report starts at the previous Z of this cashregister; X reports do not
        move it. Reports before the first Z, including the first Z itself, are skipped."""
        last_z: datetime | None = _NO_Z_YET
        last_grand_total: float | None = None
        for el in register.iter(_q("eventReport")):
            report_type = _child(el, "reportType")
            if report_type is None:
                continue
            kind = report_type.text
            grand_total = _to_float(_text(el, "reportGrandTotalSales"))
            report = _Report(
                register=rid,
                where=f"register {rid}, {kind or 'eventReport'} reportID {_text(el, 'reportID')}",
                report_type=kind, moment=_parse_datetime(_text(el, "reportDate"), _text(el, "reportTime")),
                start=last_z, skip=last_z == _NO_Z_YET,
                total=_to_float(_text(_child(el, "reportTotalCashSales"), "totalCashSaleAmnt")),
                grand_total=grand_total, previous_grand_total=last_grand_total,
                tips=_to_float(_text(_child(el, "reportTip"), "tipAmnt")),
                returns=_to_float(_text(el, "reportReturnAmnt")))
            self.reports.append(report)
            if kind == "Z report":
                last_z, last_grand_total = report.moment, grand_total

    def _read_transactions(self, register: etree._Element, rid: str | None) -> None:
        previous: float | None = None
        for el in register.iter(_q("cashtransaction")):
            nr = _text(el, "nr")
            where = f"register {rid}, cashtransaction nr {nr}"
            nr_value, nr_ok = _nr_value(nr)
            if not nr_ok:
                self.nr_findings.append(Finding("structure", "VALUE_DOES_NOT_CONTAIN_NR", where,
                                                f"nr {nr!r} does not contain a number ({_line(el)})"))
            follows = previous is None or nr_value == previous + 1
            previous = nr_value
            ref = self._ref("transaction", el, "transType", where)
            raises = [self._ref("raise", r, "raiseType", f"{where}, raise {i}")
                      for i, r in enumerate(el.findall(_q("raise")), 1)]
            lines = [_Line(self._ref("line", ln, "lineType", f"{where}, ctLine nr {_text(ln, 'nr')}"),
                           _text(ln, "artID"), _text(ln, "qnt"))
                     for ln in el.findall(_q("ctLine"))]
            payments = [_Payment(self._ref("payment", p, "paymentType", f"{where}, payment {i}"),
                                 _text(p, "paymentRefID"))
                        for i, p in enumerate(el.findall(_q("payment")), 1)]
            first_raise = _child(el, "raise")
            tip_basic = self.basics.find(_text(first_raise, "raiseType"))
            tip = _to_float(_text(first_raise, "raiseAmnt")) if tip_basic and tip_basic.predefined == TIP_CODE else 0
            sign = -1 if _text(el, "amntTp") == "D" else 1
            self.transactions.setdefault(rid, []).append(_Tx(
                ref=ref, nr=nr, nr_value=nr_value,
                follows_previous=follows, trans_id=_text(el, "transID"), trans_date=_text(el, "transDate"),
                trans_time=_text(el, "transTime"), emp_id=_text(el, "empID"),
                amount_in=_text(el, "transAmntIn"), amount_ex=_text(el, "transAmntEx"),
                signed_amount=abs(_to_float(_text(el, "transAmntIn"))) * sign,
                moment=_parse_datetime(_text(el, "transDate"), _text(el, "transTime")),
                void=_text(el, "voidTransaction") in {"true", "1"},
                training=_text(el, "trainingID") in {"true", "1"},
                signature=_child(el, "signature"), certificate=_text(el, "certificateData"),
                raises=raises, lines=lines, payments=payments, tip=tip))

    def all_transactions(self) -> list[_Tx]:
        return [tx for txs in self.transactions.values() for tx in txs]


def _nr_value(text: str | None) -> tuple[float, bool]:
    """A number from nr: float() of it, else its digits run together; a comma or no digit is an error."""
    try:
        return float(text), True  # type: ignore[arg-type]
    except (TypeError, ValueError):
        pass
    if text is None or "," in text:
        return 0.0, False
    digits = re.findall(r"\d+", text)
    return (float("".join(digits)), True) if digits else (0.0, False)


# --- dates and times --------------------------------------------------------------------------------

_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}:\d{2})?")
_TIME = re.compile(r"(\d{2}:\d{2}:\d{2})(Z|[+-]\d{2}:\d{2})?")


def _parse_date(text: str) -> date | None:
    """xsd:date, with or without 'Z' or an offset (which, like the script, is ignored)."""
    m = _DATE.fullmatch(text)
    try:
        return date.fromisoformat(m.group(1)) if m else None
    except ValueError:
        return None


def _parse_time(text: str) -> time | None:
    """xsd:time; fractions of a second are dropped; 'Z' and offsets kept, none means local (naive)."""
    m = _TIME.fullmatch(re.sub(r"\.\d+", "", text))
    if not m:
        return None
    try:
        clock = datetime.strptime(m.group(1), "%H:%M:%S").time()
    except ValueError:
        return None
    zone = m.group(2)
    if zone == "Z":
        return clock.replace(tzinfo=UTC)
    if zone:
        return datetime.fromisoformat(f"2000-01-01T{m.group(1)}{zone}").timetz()
    return clock


def _parse_datetime(date_text: str | None, time_text: str | None) -> datetime | None:
    """An aware moment, or None when either part is missing or unreadable."""
    if not date_text or not time_text:
        return None
    day, clock = _parse_date(date_text), _parse_time(time_text)
    if day is None or clock is None:
        return None
    return datetime.combine(day, clock.replace(tzinfo=clock.tzinfo or TZ))


# --- certificate (§2.3) ------------------------------------------------------------------------------

def _load_certificate(text: str | None) -> x509.Certificate:
    """Strip every line and join them, as the script does: only PEM with its header lines survives."""
    if text is None:
        raise ValueError("no certificateData text")
    return x509.load_pem_x509_certificate("".join(x.strip() for x in text.split("\n")).encode("utf-8"))


def _issued_by_root(cert: x509.Certificate, roots: Sequence[x509.Certificate]) -> bool:
    for root in roots:
        try:
            cert.verify_directly_issued_by(root)
            return True
        except (ValueError, TypeError, InvalidSignature):
            continue
    return False


def _check_certificates(doc: _Document, roots: Sequence[x509.Certificate]) -> list[Finding]:
    elements = list(doc.root.iter(_q("certificateData")))
    if not elements:
        return [Finding("certificate", "NO_CERTIFICATE", "file", "no certificateData in the file")]
    out: list[Finding] = []
    parsed: list[tuple[etree._Element, str, x509.Certificate]] = []
    for el in elements:
        where = _owner_where(el)
        try:
            parsed.append((el, where, _load_certificate(el.text)))
        except Exception as e:  # the script catches everything here too
            out.append(Finding("certificate", "CERTIFICATE_COMPLETE_ERROR", where,
                               f"certificateData is not a PEM certificate ({_line(el)}): {e}"))
    trusted: dict[x509.Certificate, bool] = {}
    for _el, where, cert in parsed:
        if cert not in trusted:
            trusted[cert] = _issued_by_root(cert, roots)
            if not trusted[cert]:
                out.append(Finding("certificate", "CERTIFICATE_OCSP_COMPLETE_ERROR", where,
                                   f"no OCSP offline for untrusted certificate {cert.subject.rfc4514_string()}"))
    for el, where, cert in parsed:
        parent = el.getparent()
        date_text = _text(parent, "transDate")
        trans_date = _parse_date(date_text) if date_text else None
        if trans_date is None:
            out.append(Finding("certificate", "CERTIFICATE_COULD_NOT_RUN", where,
                               f"transDate {date_text!r} unreadable ({_line(el)})"))
            continue
        if not trusted[cert]:
            out.append(Finding("certificate", "CERTIFICATE_NOT_TRUSTED_ISSUER", where,
                               f"{cert.issuer.rfc4514_string()} is not a trusted issuer ({_line(el)})"))
        if trans_date > cert.not_valid_after_utc.date():
            out.append(Finding("certificate", "CERTIFICATE_EXPIRED", where,
                               f"transDate {trans_date} after notAfter {cert.not_valid_after_utc:%Y-%m-%d}"))
        if trans_date < cert.not_valid_before_utc.date():
            out.append(Finding("certificate", "CERTIFICATE_NOT_VALID_YET", where,
                               f"transDate {trans_date} before notBefore {cert.not_valid_before_utc:%Y-%m-%d}"))
    return out


def _owner_where(el: etree._Element, default: str | None = None) -> str:
    """The transaction, event or basic an element is in (or is), named like the other findings."""
    kinds = (_q("cashtransaction"), _q("event"), _q("basic"))
    owner = el if el.tag in kinds else next(el.iterancestors(*kinds), None)
    if owner is None:
        return default if default is not None else _line(el)
    if owner.tag == _q("basic"):
        return f"basic {_text(owner, 'basicID')}"
    register = next(owner.iterancestors(_q("cashregister")), None)
    rid_el = None if register is None else register.find(f".//{_q('registerID')}")
    rid = None if rid_el is None else rid_el.text
    if owner.tag == _q("event"):
        return f"register {rid}, event {_text(owner, 'eventID')}"
    return f"register {rid}, cashtransaction nr {_text(owner, 'nr')}"


# --- signature (§2.4) --------------------------------------------------------------------------------

def _pkcs1() -> padding.AsymmetricPadding:
    return padding.PKCS1v15()


def _pss_digest() -> padding.AsymmetricPadding:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=padding.PSS.DIGEST_LENGTH)


def _pss_max() -> padding.AsymmetricPadding:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=padding.PSS.MAX_LENGTH)


_PADDINGS: tuple[Callable[[], padding.AsymmetricPadding], ...] = (_pkcs1, _pss_digest, _pss_max)


def _signed_string(prev: str, tx: _Tx, register_id: str | None, company_ident: str | None) -> str:
    """prev;nr;transID;transType;transDate;transTime;empID;transAmntIn;transAmntEx;registerID;companyIdent
    from the texts as written (a missing one reads "None", as in the script's f-string)."""
    return (f"{prev};{tx.nr};{tx.trans_id};{tx.ref.code};{tx.trans_date};{tx.trans_time};{tx.emp_id};"
            f"{tx.amount_in};{tx.amount_ex};{register_id};{company_ident}")


def _signed_string_hhmmss(prev: str, tx: _Tx, register_id: str | None, company_ident: str | None) -> str:
    """The same with transDate as YYYY-MM-DD and transTime as HH:MM:SS (the script's second try).
    Like the script, a missing transDate/transTime raises here (-> SIGNATURE_COMPLETE_ERROR)."""
    if tx.trans_date is None or tx.trans_time is None:
        raise TypeError("transDate/transTime missing")
    day = _parse_date(tx.trans_date)
    clock = _parse_time(tx.trans_time)
    if clock is None:
        return _signed_string(prev, tx, register_id, company_ident)
    return (f"{prev};{tx.nr};{tx.trans_id};{tx.ref.code};{day};{clock:%H:%M:%S};{tx.emp_id};"
            f"{tx.amount_in};{tx.amount_ex};{register_id};{company_ident}")


def _verifies(key: Any, signature: bytes, prev: str, tx: _Tx, register_id: str | None,
              company_ident: str | None) -> bool:
    """PKCS#1 v1.5, PSS (salt = digest), PSS (max salt), each over the message and over SHA-512 of it;
    then all again with the normalised time. Errors other than a bad signature propagate."""
    for build in (_signed_string, _signed_string_hhmmss):
        message = build(prev, tx, register_id, company_ident).encode("utf-8")
        for pad in _PADDINGS:
            for data in (message, hashlib.sha512(message).digest()):
                try:
                    key.verify(signature, data, pad(), hashes.SHA512())
                    return True
                except InvalidSignature:
                    continue
    return False


def _check_signatures(doc: _Document) -> list[Finding]:
    """One chain per registerID, prev "0" at its start; the first signature is checked only indirectly."""
    out: list[Finding] = []
    keys: dict[str | None, Any] = {}
    last_signature_element: etree._Element | None = None
    for register_id, txs in doc.transactions.items():
        prev = "0"
        signatures = errors = 0
        first: _Tx | None = None
        for tx in txs:
            last_signature_element = tx.signature
            if tx.signature is None or tx.signature.text is None:
                continue  # skipped, the chain goes on from the previous signature
            text = "".join(tx.signature.text.split("\n")).strip()
            try:
                if prev == "0":
                    first = tx
                else:
                    raw = base64.b64decode(text)
                    signatures += 1
                    try:
                        if tx.certificate not in keys:
                            keys[tx.certificate] = _load_certificate(tx.certificate).public_key()
                        key = keys[tx.certificate]
                    except Exception as e:  # any unreadable certificate counts
                        out.append(Finding("signature", "CANNOT_GET_PUBLIC_KEY", tx.where,
                                           f"no public key from certificateData: {e}"))
                        errors += 1
                        continue  # prev is left as it was, as in the script
                    if not doc.company_ident_found:
                        raise ValueError("no auditfile/company/companyIdent")
                    if not _verifies(key, raw, prev, tx, register_id, doc.company_ident):
                        errors += 1
                        if _verifies(key, raw, "0", tx, register_id, doc.company_ident):
                            out.append(Finding("signature", "SIGNATURE_BREAK", tx.where,
                                               "signed with prev \"0\": the chain was restarted here"))
                        else:
                            out.append(Finding("signature", "SIGNATURE_NOT_VERIFIED", tx.where,
                                               f"signature does not verify ({_line(tx.signature)})"))
                prev = text
            except Exception as e:  # the script reports any failure so
                out.append(Finding("signature", "SIGNATURE_COMPLETE_ERROR", tx.where, f"cannot check: {e}"))
                errors += 1
        if errors and signatures == errors and first is not None:
            out.append(Finding("signature", "SIGNATURE_NOT_VERIFIED", first.where,
                               "first signature of the chain: every later signature in this register fails"))
    if last_signature_element is None:
        out.append(Finding("signature", "NO_SIGNATURE", "file", "no signature in the file"))
    return out


# --- value tests (§2.5) ------------------------------------------------------------------------------

def _check_values(doc: _Document) -> list[Finding]:
    out: list[Finding] = []
    for kind in ("Z report", "X report"):
        out += _check_reports(doc, [r for r in doc.reports if r.report_type == kind])
    out += doc.nr_findings
    out += _check_numbering(doc)
    out += _check_relations(doc)
    out += _check_mandatory(doc)
    out += _check_code_families(doc)
    return out


def _check_reports(doc: _Document, reports: list[_Report]) -> list[Finding]:
    out: list[Finding] = []
    for report in reports:
        if report.skip:
            continue
        txs = doc.transactions.get(report.register, [])
        try:
            window = [tx for tx in txs if report.start < tx.moment <= report.moment]  # type: ignore[operator]
        except TypeError:
            out.append(Finding("value", "EVENT_REPORT_COULD_NOT_RUN", report.where,
                               "a report or transaction date/time cannot be read"))
            continue
        counted = [tx for tx in window if tx.counts_in_report]
        total = sum(tx.signed_amount for tx in counted) + abs(report.returns)
        tips = sum(tx.tip for tx in counted)
        if abs(total - report.total) > TOLERANCE:
            out.append(Finding("value", "EVENT_REPORT_TOTAL_CASH_SALES", report.where,
                               f"totalCashSaleAmnt {report.total:.2f}, transactions give {total:.2f} "
                               f"({len(counted)} counted since {report.start})"))
        if abs(tips - report.tips) > TOLERANCE:
            out.append(Finding("value", "EVENT_REPORT_TIPS", report.where,
                               f"tipAmnt {report.tips:.2f}, tips in the transactions {tips:.2f}"))
        if not report.grand_total_ok:
            out.append(Finding("value", "EVENT_REPORT_GRAND_TOTAL_SALES", report.where,
                               f"reportGrandTotalSales {report.grand_total:.2f} - totalCashSaleAmnt "
                               f"{report.total:.2f} != previous Z's {report.previous_grand_total:.2f}"))
    return out


def _check_numbering(doc: _Document) -> list[Finding]:
    """nr continuous per CVR across registers; continuity inside every register (>1) is rejected."""
    if len(doc.transactions) > 1 and all(tx.follows_previous for tx in doc.all_transactions()):
        return [Finding("value", "CONTINOUS_NUMBERING_PR_CASH_REGISTER", "file",
                        "There is continous numbering pr cashRegister. It has to be continous numbering pr "
                        "CVR number.")]
    unique: dict[float, _Tx] = {}
    for tx in doc.all_transactions():
        unique.setdefault(tx.nr_value, tx)
    ordered = sorted(unique.values(), key=lambda tx: tx.nr_value)
    out: list[Finding] = []
    for before, tx in pairwise(ordered):
        if abs(tx.nr_value - (before.nr_value + 1)) > TOLERANCE:
            out.append(Finding("value", "NOT_CONTINOUS_NUMBERING", tx.where,
                               f"nr {tx.nr} follows nr {before.nr}"))
    return out


def _refs(doc: _Document, *, lines: bool) -> list[_Ref]:
    """Events, transactions, their raises, (lines,) and payments: the things that name a basic."""
    refs = [e.ref for e in doc.events]
    txs = doc.all_transactions()
    refs += [tx.ref for tx in txs]
    refs += [r for tx in txs for r in tx.raises]
    if lines:
        refs += [ln.ref for tx in txs for ln in tx.lines]
    refs += [p.ref for tx in txs for p in tx.payments]
    return refs


def _check_relations(doc: _Document) -> list[Finding]:
    out = [Finding("value", "NO_RELATION_TO_BASICS_FOUND", ref.where,
                   f"{ref.kind} code {ref.code!r} is neither a basicID nor a basicDesc ({_line(ref.code_element)})")
           for ref in _refs(doc, lines=True) if ref.basic is None]
    out += [Finding("value", "NO_RELATION_TO_ARTICLES_FOUND", ln.ref.where, f"artID {ln.art_id!r} not in articles")
            for tx in doc.all_transactions() for ln in tx.lines if ln.art_id and ln.art_id not in doc.articles]
    return out


def _missing(ref: _Ref, element: str) -> Finding:
    return Finding("value", "ELEMENT_NOT_FOUND_WHEN_EXPECTED", ref.where,
                   f"{element} is mandatory for {ref.kind} {ref.code!r} (predefined {ref.predefined})")


def _check_mandatory(doc: _Document) -> list[Finding]:
    """The "mandatory if available" rules; void transactions are exempt."""
    out: list[Finding] = []
    out += [_missing(e.ref, "eventReport") for e in doc.events
            if e.ref.predefined in EVENT_REPORT_TYPES and e.report is None]
    out += [_missing(e.ref, "transID") for e in doc.events
            if e.ref.predefined in EVENT_TRANSID_TYPES and e.trans_id is None]
    txs = doc.all_transactions()
    out += [_missing(p.ref, "paymentRefID") for tx in txs for p in tx.payments
            if p.ref.predefined in PAYMENT_REF_TYPES and p.ref_id is None]
    live = [tx for tx in txs if not tx.void]
    out += [_missing(tx.ref, "qnt") for tx in live
            if tx.ref.predefined in CTLINE_TYPES and any(ln.qnt is None for ln in tx.lines)]
    out += [_missing(tx.ref, "artID") for tx in live
            if tx.ref.predefined in CTLINE_TYPES and any(ln.art_id is None for ln in tx.lines)]
    out += [_missing(tx.ref, "payment") for tx in live if tx.ref.predefined in PAYMENT_TYPES and not tx.payments]
    out += [_missing(tx.ref, "ctLine") for tx in live if tx.ref.predefined in CTLINE_TYPES and not tx.lines]
    out += [Finding("value", "ELEMENT_NOT_FOUND_WHEN_EXPECTED", f"basic {b.id}",
                    f"predefinedBasicID is mandatory for basicType {b.type} ({_line(b.element)})")
            for b in doc.basics.all if b.type in BASIC_TYPES_NEEDING_PREDEFINED and b.predefined is None]
    return out


_FAMILIES: dict[str, tuple[str, ...]] = {"event": ("06", "13", "14"), "transaction": ("11",), "raise": ("10",),
                                         "payment": ("12",)}


def _family_ok(ref: _Ref) -> bool:
    code = ref.predefined
    if ref.basic is None or code is None:
        return False
    return code[:2] in _FAMILIES[ref.kind] or (ref.kind == "event" and code.startswith("6"))


def _check_code_families(doc: _Document) -> list[Finding]:
    """An event must map to 06/13/14 (or 6...), a transaction to 11, a raise to 10, a payment to 12;
    like the script, a code with no basic (or no predefinedBasicID) fails this too."""
    return [Finding("value", "WRONG_PREDEFINED_BASIC_USED", ref.where,
                    f"{ref.kind} code {ref.code!r} maps to {ref.predefined!r}, expected "
                    f"{'/'.join(_FAMILIES[ref.kind])}xxx")
            for ref in _refs(doc, lines=False) if not _family_ok(ref)]


def detached_signature_ok(xml: str | Path, pem: str | Path | None = None) -> bool:
    """Tillbox's own addition beside each file (not the authority's check): `<file>.sig`, RSA PKCS#1
    v1.5 SHA-512 over the file's bytes, verified with the certificate in the `.pem` beside it."""
    xml = Path(xml)
    if pem is None:
        (pem,) = xml.parent.glob("*.pem")
    key = x509.load_pem_x509_certificate(Path(pem).read_bytes()).public_key()
    try:
        key.verify(Path(f"{xml}.sig").read_bytes(), xml.read_bytes(),  # type: ignore[call-arg,union-attr]
                   padding.PKCS1v15(), hashes.SHA512())  # type: ignore[arg-type]
    except (InvalidSignature, ValueError, OSError):
        return False
    return True
