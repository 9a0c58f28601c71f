"""Writing one SAF-T Cash Register DK file, streamed: lxml's incremental writer takes one event or
transaction at a time, so a year of a busy shop never sits in memory as a tree.

The element order is the XSD's (per register: all events, then all transactions). Every signed
field of a transaction is written from the text stored when it was signed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any

from lxml import etree

from ..domain.cash_transactions import DIFFERENCE_ARTICLE, TZ, saft_date_time
from ..domain.money import format_kroner, parse_kroner
from ..domain.tenders import PaymentType
from ..domain.vat import vat_in_gross
from ..store.cash_transactions import StoredTransaction
from ..store.saft_source import ArticleRow, EmployeeRow, EventRow
from . import codes

NS = codes.NAMESPACE
_Q = f"{{{NS}}}"
_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
CARD_TYPES = {PaymentType.CARD.value, PaymentType.MANUAL_CARD.value, PaymentType.MOBILEPAY.value}


def clean(text: object, limit: int) -> str:
    """Text as XML 1.0 can hold it, cut to the schema's length; never empty (minLength 1)."""
    s = _BAD_XML.sub("", str(text)).strip()[:limit]
    return s or "-"


def kr(ore: int) -> str:
    return format_kroner(ore)


@dataclass(frozen=True)
class Company:
    cvr: str
    name: str
    address: codes.Address
    software_version: str


@dataclass(frozen=True)
class Header:
    start: date
    end: date
    created: datetime


class Doc:
    """Small subtrees built in memory, one element of the file at a time."""

    def __init__(self, xf: Any):
        self.xf = xf

    @staticmethod
    def el(parent: etree._Element | None, tag: str, text: object = None) -> etree._Element:
        # Subtrees carry bare names: written inside the root's default namespace they are in it,
        # without a namespace declaration repeated on every event and transaction.
        e = etree.Element(tag) if parent is None else etree.SubElement(parent, tag)
        if text is not None:
            e.text = str(text)
        return e

    def write(self, e: etree._Element) -> None:
        self.xf.write(e)


def _address(a: codes.Address) -> etree._Element:
    el = Doc.el
    sa = el(None, "streetAddress")
    el(sa, "streetname", clean(a.street, 100))
    el(sa, "number", clean(a.number, 20))
    el(sa, "city", clean(a.city, 50))
    el(sa, "postalCode", clean(a.postal_code, 20))
    el(sa, "country", a.country)
    return sa


def _master(doc: Doc, company: Company, header: Header, employees: list[EmployeeRow],
            articles: list[ArticleRow], basics: list[codes.Basic]) -> None:
    el = Doc.el
    for tag, text in (("companyIdent", company.cvr), ("companyName", clean(company.name, 100)),
                      ("taxRegistrationCountry", "DK"), ("taxRegIdent", f"DK{company.cvr}")):
        doc.write(el(None, tag, text))
    doc.write(_address(company.address))
    vats = el(None, "vatCodeDetails")
    for rate, desc in ((25, "Moms 25 %"), (0, "Momsfri 0 %")):
        v = el(vats, "vatCodeDetail")
        el(v, "vatCode", str(rate))
        el(v, "dateOfEntry", "2024-01-01")
        el(v, "vatDesc", desc)
        el(v, "standardVatCode", str(rate))
    doc.write(vats)
    periods = el(None, "periods")
    p = el(periods, "period")
    el(p, "periodNumber", "1")
    el(p, "periodDesc", f"{header.start.isoformat()} - {header.end.isoformat()}")
    el(p, "startDatePeriod", header.start.isoformat())
    el(p, "startTimePeriod", "00:00:00")
    el(p, "endDatePeriod", header.end.isoformat())
    el(p, "endTimePeriod", "23:59:59")
    doc.write(periods)
    emps = el(None, "employees")
    for e in employees:
        x = el(emps, "employee")
        since = (e.since or header.created).astimezone(TZ)
        el(x, "empID", clean(e.emp_id, 36))
        el(x, "dateOfEntry", since.date().isoformat())
        el(x, "timeOfEntry", since.strftime("%H:%M:%S"))
        first, _, rest = e.name.strip().partition(" ")
        el(x, "firstName", clean(first, 50))
        el(x, "surName", clean(rest, 100))
        role = el(x, "employeeRole")
        el(role, "roleType", clean(e.role, 50))
    doc.write(emps)
    arts = el(None, "articles")
    for a in [*articles, ArticleRow(DIFFERENCE_ARTICLE, "Kassedifference", "", header.start.isoformat())]:
        x = el(arts, "article")
        el(x, "artID", clean(a.sku, 36))
        el(x, "dateOfEntry", a.since[:10])
        if a.group:
            el(x, "artGroupID", codes.group_basic_id(a.group))
        el(x, "artDesc", clean(a.name, 999))
    doc.write(arts)
    bas = el(None, "basics")
    for b in basics:
        x = el(bas, "basic")
        el(x, "basicType", b.basic_type)
        el(x, "basicID", b.basic_id)
        if b.predefined:
            el(x, "predefinedBasicID", b.predefined)
        el(x, "basicDesc", clean(b.desc, 999))
    doc.write(bas)


def _rows(parent: etree._Element, container: str, row: str,
          items: Sequence[Sequence[tuple[str, object]]], empty: Sequence[tuple[str, object]]) -> None:
    box = Doc.el(parent, container)
    for item in items or [empty]:
        x = Doc.el(box, row)
        for tag, text in item:
            Doc.el(x, tag, text)


def event_report(parent: etree._Element, data: dict, company: Company, e: EventRow) -> None:
    """The eventReport of an X or Z, every mandatory child, from the report as journalled."""
    el = Doc.el
    day, time = saft_date_time(e.ts)
    counts = data.get("counts") or {}
    r = el(parent, "eventReport")
    el(r, "reportID", str(data.get("z_number") or f"X{e.nr}"))
    el(r, "reportType", "Z report" if data.get("kind") == "Z" else "X report")
    el(r, "companyIdent", company.cvr)
    el(r, "companyName", clean(company.name, 100))
    el(r, "reportDate", day)
    el(r, "reportTime", time)
    el(r, "registerID", clean(data.get("register_id") or "1", 100))
    tcs = el(r, "reportTotalCashSales")
    el(tcs, "totalCashSaleAmnt", data["gross_sales"])
    qty = counts.get("group_qty", {})
    _rows(r, "reportArtGroups", "reportArtGroup", [
        (("artGroupID", codes.group_basic_id(g["group"])), ("artGroupNum", qty.get(g["group"], 0)),
         ("artGroupAmnt", g["amount"])) for g in data.get("groups", [])],
        (("artGroupID", "-"), ("artGroupNum", 0), ("artGroupAmnt", "0.00")))
    pay_counts = counts.get("payments", {})
    _rows(r, "reportPayments", "reportPayment", [
        (("paymentType", codes.payment_basic_id(t)), ("paymentNum", pay_counts.get(t, 0)), ("paymentAmnt", a))
        for t, a in data.get("payments", {}).items()],
        (("paymentType", PaymentType.CASH.value), ("paymentNum", 0), ("paymentAmnt", "0.00")))
    _rows(r, "reportEmpPayments", "reportEmpPayment", [
        (("empID", clean(c["cashier"], 36)), ("paymentType", codes.payment_basic_id(c["type"])),
         ("paymentNum", c["count"]), ("paymentAmnt", c["amount"]))
        for c in counts.get("cashier_payments", [])],
        (("empID", "system"), ("paymentType", PaymentType.CASH.value), ("paymentNum", 0),
         ("paymentAmnt", "0.00")))
    _rows(r, "reportCashSalesVat", "reportCashSaleVat", [
        (("vatCode", rate), ("vatPerc", f"{int(rate)}.00"), ("cashSaleAmnt", v["net"]), ("vatAmnt", v["vat"]))
        for rate, v in data.get("vat", {}).items()],
        (("vatCode", "25"), ("vatPerc", "25.00"), ("cashSaleAmnt", "0.00"), ("vatAmnt", "0.00")))
    el(r, "reportOpeningChangeFloat", data["cash_float"])
    receipts = data.get("receipts", {})
    training = data.get("training", {})
    voids = data.get("voids", {})
    discounts = data.get("discounts", {})
    for tag, text in (
            ("reportReceiptNum", receipts.get("sales", 0) + receipts.get("returns", 0)),
            ("reportOpenCashBoxNum", data.get("no_sales", 0)),
            ("reportReceiptCopyNum", data.get("receipt_copies", 0)),
            ("reportReceiptCopyAmnt", counts.get("receipt_copies_amount", "0.00")),
            ("reportReceiptProformaNum", 0), ("reportReceiptProformaAmnt", "0.00"),
            ("reportReturnNum", receipts.get("returns", 0)), ("reportReturnAmnt", data["returns"]),
            ("reportDiscountNum", discounts.get("count", 0)),
            ("reportDiscountAmnt", discounts.get("amount", "0.00")),
            ("reportVoidTransNum", voids.get("receipts", 0)),
            ("reportVoidTransAmnt", counts.get("voided_receipts_amount", "0.00"))):
        el(r, tag, text)
    _rows(r, "reportCorrLines", "reportCorrLine", [
        (("corrLineType", "VOID_LINE"), ("corrLineNum", voids.get("lines", 0)),
         ("corrLineAmnt", counts.get("void_lines_amount", "0.00")))], ())
    _rows(r, "reportPriceInquiries", "reportPriceInquiry", [
        (("priceInquiryGroup", "ALL"), ("priceInquiryNum", 0), ("priceInquiryAmnt", "0.00"))], ())
    _rows(r, "reportOtherCorrs", "reportOtherCorr", [
        (("otherCorrType", "PRICE_OVERRIDE"), ("otherCorrNum", data.get("price_overrides", 0)),
         ("otherCorrAmnt", counts.get("price_overrides_amount", "0.00")))], ())
    for tag, text in (("reportReceiptDeliveryNum", 0), ("reportReceiptDeliveryAmnt", "0.00"),
                      ("reportTrainingNum", training.get("count", 0)),
                      ("reportTrainingAmnt", training.get("amount", "0.00"))):
        el(r, tag, text)
    pay_ins = [(("payInType", "CASH_IN"), ("payInNum", counts.get("cash_in", 0)),
                ("payInAmnt", data["cash_in"]))]
    _rows(r, "reportPayIns", "reportPayIn", pay_ins, ())
    outs = [(("payOutType", "CASH_OUT"), ("payOutNum", counts.get("cash_out", 0)),
             ("payOutAmnt", data["cash_out"]))]
    if parse_kroner(data.get("to_bank", "0.00")):
        outs.append((("payOutType", "TO_BANK"), ("payOutNum", 1), ("payOutAmnt", data["to_bank"])))
    _rows(r, "reportPayOuts", "reportPayOut", outs, ())
    el(r, "reportGrandTotalSales", data["grand_total_sales"])
    el(r, "reportGrandTotalReturn", data["grand_total_returns"])
    el(r, "reportGrandTotalSalesNet", data["grand_total_sales_net"])


def _event(e: EventRow, event_type: str, trans_id: str | None, text: str | None) -> etree._Element:
    el = Doc.el
    day, time = saft_date_time(e.ts)
    x = el(None, "event")
    el(x, "eventID", str(e.nr))
    el(x, "eventType", event_type)
    if trans_id:
        el(x, "transID", clean(trans_id, 36))
    el(x, "empID", clean(e.cashier, 36))
    el(x, "eventDate", day)
    el(x, "eventTime", time)
    if text:
        el(x, "eventText", clean(text, 9999))
    return x


def events(doc: Doc, rows: Iterable[EventRow], company: Company, copy_ids: Callable[[int], str | None],
           tick: Callable[[], None]) -> None:
    """Every journal entry as an event, except cash transactions (which bring an event of their own
    where the code list has one: a void, a return, cash to the bank, a training receipt)."""
    for e in rows:
        tick()
        if e.kind in codes.EVENTS:
            basic_id, _code, desc = codes.EVENTS[e.kind]
            trans_id, text = None, e.payload
            if e.kind in ("x_report", "z_report"):
                data = json.loads(e.payload)
                x = _event(e, basic_id, None, f"{desc} {data.get('z_number') or ''}".strip())
                event_report(x, data, company, e)
                doc.write(x)
                continue
            if e.kind == "receipt_copy":
                data = json.loads(e.payload)
                trans_id = copy_ids(int(data["receipt_number"])) or f"R{data['receipt_number']}"
            elif e.kind in ("park", "resume"):
                trans_id = f"P{json.loads(e.payload).get('parked_id')}"
            doc.write(_event(e, basic_id, trans_id, text))
        else:
            key = e.kind
            if key == "sale":
                if '"training":true' not in e.payload:
                    continue
                key = "training_sale"
            if key in codes.TRANSACTION_EVENTS:
                basic_id, _code, desc = codes.TRANSACTION_EVENTS[key]
                doc.write(_event(e, basic_id, e.trans_id, desc))


def _line(parent: etree._Element, i: int, ln: dict, line_type: str, emp: str, tp: str) -> None:
    el = Doc.el
    total = abs(ln["total"])
    vat = abs(vat_in_gross(ln["total"], ln["vat_rate"]))
    x = el(parent, "ctLine")
    el(x, "nr", str(i))
    el(x, "lineID", str(ln.get("line_no", i)))
    el(x, "lineType", line_type)
    el(x, "artGroupID", codes.group_basic_id(ln.get("group", "")))
    el(x, "artID", clean(ln["sku"], 36))
    weight = ln.get("weight_g")
    el(x, "qnt", f"{weight / 1000:.3f}" if weight else str(ln.get("qty", 1)))
    el(x, "lineAmntIn", kr(total))
    el(x, "lineAmntEx", kr(total - vat))
    el(x, "amntTp", tp)
    el(x, "ppu", kr(abs(ln.get("unit_price", 0))))
    el(x, "empID", clean(emp, 36))
    el(x, "cashTransLineDescr", clean(ln.get("name", ln["sku"]), 9999))
    v = el(x, "vat")
    el(v, "vatCode", str(ln["vat_rate"]))
    el(v, "vatPerc", f"{ln['vat_rate']}.00")
    el(v, "vatAmnt", kr(vat))
    el(v, "vatAmntTp", tp)
    el(v, "vatBasAmnt", kr(total - vat))
    for dsc_type, key in ((codes.DISCOUNT_LINE, "line_discount"), (codes.DISCOUNT_BASKET, "basket_discount")):
        if ln.get(key):
            d = el(x, "discount")
            el(d, "dscTp", dsc_type)
            el(d, "dscAmnt", kr(abs(ln[key])))


def transaction(st: StoredTransaction, kind: str, payload: str, certificate: str) -> etree._Element:
    """One cashtransaction: the signed fields as stored, then lines, VAT, rounding and payments."""
    el = Doc.el
    tx = st.tx
    data = json.loads(payload)
    x = el(None, "cashtransaction")
    for tag, text in (("nr", tx.nr), ("transID", tx.trans_id), ("transType", tx.trans_type),
                      ("transAmntIn", tx.amnt_in), ("transAmntEx", tx.amnt_ex), ("amntTp", tx.amnt_tp),
                      ("empID", tx.emp_id), ("transDate", tx.trans_date), ("transTime", tx.trans_time)):
        el(x, tag, text)
    if data.get("receipt_number") is not None:
        el(x, "invoiceID", str(data["receipt_number"]))
    if data.get("original_receipt") is not None:
        el(x, "refID", f"Retur af bon nr. {data['original_receipt']}")
    text = data.get("text") or data.get("reason")
    if text:
        el(x, "desc", clean(text, 9999))
    payments: list[dict] = []
    if kind in ("sale", "return", "void_receipt"):
        line_type = codes.LINE_RETURN if kind == "return" else codes.LINE_SALE
        for i, ln in enumerate(data.get("lines", ()), 1):
            _line(x, i, ln, line_type, tx.emp_id, tx.amnt_tp)
        for rate, v in data.get("vat", {}).items():
            vx = el(x, "vat")
            el(vx, "vatCode", rate)
            el(vx, "vatPerc", f"{int(rate)}.00")
            el(vx, "vatAmnt", kr(abs(v["vat"])))
            el(vx, "vatAmntTp", tx.amnt_tp)
            el(vx, "vatBasAmnt", kr(abs(v["net"])))
        if data.get("rounding"):
            rx = el(x, "rounding")
            el(rx, "roundingAmnt", kr(data["rounding"]))
        payments = data.get("payments", [])
        if not payments and not tx.void:  # a sale or return of 0.00: the check wants a payment all the same
            payments = [{"type": PaymentType.CASH.value, "amount": 0}]
    elif kind == "cash_difference":
        diff = data.get("difference", 0)
        _line(x, 1, {"sku": DIFFERENCE_ARTICLE, "name": "Kassedifference", "group": "", "vat_rate": 0,
                     "total": diff, "qty": 1, "unit_price": diff},
              codes.LINE_DIFFERENCE, tx.emp_id, tx.amnt_tp)
        payments = [{"type": PaymentType.CASH.value, "amount": diff}]
    else:  # float, cash in/out, to the bank: cash moved in or out of the drawer
        amount = parse_kroner(tx.amnt_in)
        payments = [{"type": PaymentType.CASH.value, "amount": amount if tx.amnt_tp == "C" else -amount}]
    for p in payments:
        px = el(x, "payment")
        el(px, "paymentType", codes.payment_basic_id(p["type"]))
        el(px, "paidAmnt", kr(p["amount"]))
        el(px, "empID", tx.emp_id)
        el(px, "curCode", "DKK")
        if p["type"] in CARD_TYPES:
            ref = p.get("reference") or p.get("brand") or f"bon {data.get('receipt_number', tx.nr)}"
            el(px, "paymentRefID", clean(ref, 999))
    el(x, "signature", st.signature)
    el(x, "keyVersion", str(st.key_version))
    el(x, "certificateData", certificate)
    el(x, "voidTransaction", "true" if tx.void else "false")
    el(x, "trainingID", "true" if tx.training else "false")
    return x


@dataclass
class Part:
    """One file's content: the registers it holds with their event and transaction streams."""

    registers: list[tuple[str, Callable[[], Iterator[EventRow]],
                          Callable[[], Iterator[tuple[StoredTransaction, str, str]]]]]


def write_file(out: IO[bytes], company: Company, header: Header, employees: list[EmployeeRow],
               articles: list[ArticleRow], basics: list[codes.Basic], part: Part, shop_name: str,
               certificates: dict[int, str], copy_ids: Callable[[int], str | None],
               tick: Callable[[], None]) -> None:
    el = Doc.el
    created = header.created.astimezone(TZ)
    with etree.xmlfile(out, encoding="utf-8") as xf:
        xf.write_declaration()
        with xf.element(_Q + "auditfile", nsmap={None: NS}):
            doc = Doc(xf)
            h = el(None, "header")
            for tag, text in (("fiscalYear", f"{header.start.year}" if header.start.year == header.end.year
                               else f"{header.start.year}-{header.end.year}"),
                              ("startDate", header.start.isoformat()), ("endDate", header.end.isoformat()),
                              ("curCode", "DKK"), ("dateCreated", created.date().isoformat()),
                              ("timeCreated", created.strftime("%H:%M:%S")), ("softwareDesc", "Tillbox"),
                              ("softwareVersion", clean(company.software_version, 20)),
                              ("softwareCompanyName", "Tillbox"),
                              ("auditfileVersion", codes.AUDITFILE_VERSION)):
                el(h, tag, text)
            doc.write(h)
            with xf.element(_Q + "company"):
                _master(doc, company, header, employees, articles, basics)
                with xf.element(_Q + "location"):
                    doc.write(el(None, "name", clean(shop_name, 100)))
                    doc.write(_address(company.address))
                    for register_id, event_rows, tx_rows in part.registers:
                        with xf.element(_Q + "cashregister"):
                            doc.write(el(None, "registerID", clean(register_id, 100)))
                            doc.write(el(None, "regDesc", f"Tillbox kasse {register_id}"))
                            events(doc, event_rows(), company, copy_ids, tick)
                            for st, kind, payload in tx_rows():
                                tick()
                                doc.write(transaction(st, kind, payload, certificates[st.key_version]))
