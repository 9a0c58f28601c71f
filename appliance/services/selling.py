"""Selling and returning: the use cases behind the till's main screen and `till sell`/`return`.
A sale's journal entries and receipt row are committed in one transaction."""

from __future__ import annotations

import json
from typing import Any

from ..domain.barcodes import BarcodeError, parse_scan
from ..domain.basket import Basket, BasketError, Discount
from ..domain.money import MoneyError, format_kroner, parse_kroner
from ..domain.returns import ReturnError, default_refund_tenders, return_lines, tender_types
from ..domain.roles import Cashier
from ..domain.sale import build_record, line_record
from ..domain.tenders import Payment, PaymentError, PaymentType, settle, settle_refund
from ..render.sale_json import sale_json
from ..requests import RequestError
from ..requests.sale import return_request, sale_request
from ..store import catalog
from ..store.db import transaction
from ..store.journal import entry as journal_entry
from ..store.journal import last_receipt_number
from .till import Till


class SaleError(ValueError):
    pass


def _receipt_number(till: Till) -> int:
    """One past the highest number the signed journal holds (not the receipts index, which a
    deleted row would make hand out a number twice)."""
    return last_receipt_number(till.conn) + 1


def resolve(till: Till, item: dict) -> tuple[Any, dict]:
    """A request line -> (product, add() keywords). Unknown codes are refused, not guessed."""
    if "barcode" in item:
        try:
            scan = parse_scan(str(item["barcode"]))
        except BarcodeError as exc:
            raise SaleError(str(exc)) from exc
        product = catalog.by_barcode(till.conn, scan.lookup)
        if product is None and scan.lookup != scan.raw:
            product = catalog.by_barcode(till.conn, scan.raw)
            scan = type(scan)(scan.raw, scan.raw)
        if product is None:
            raise SaleError(f"unknown barcode {scan.raw}")
        return product, {"price": scan.price_ore, "weight_g": scan.weight_g, "barcode": scan.raw}
    if "sku" in item:
        product = catalog.by_sku(till.conn, str(item["sku"]))
        if product is None:
            raise SaleError(f"unknown SKU {item['sku']}")
        return product, {}
    raise SaleError('each line needs "barcode" or "sku"')


def build_basket(till: Till, request: dict, who: Cashier) -> tuple[Basket, list[tuple]]:
    """The basket a request describes, and the actions to journal beside the sale."""
    lines = request.get("lines")
    if not isinstance(lines, list) or not lines:
        raise SaleError("a sale needs at least one line")
    basket = Basket()
    actions: list[tuple[str, str, dict]] = []
    try:
        for item in lines:
            if not isinstance(item, dict):
                raise SaleError("each line is an object")
            product, extra = resolve(till, item)
            if "weight_g" in item and extra.get("weight_g") is None:
                extra["weight_g"] = item["weight_g"]
            line = basket.add(product, item.get("qty", 1), **extra)
            if "price" in item:
                approver = till.manager(request.get("manager"), who, "a price override")
                price = parse_kroner(item["price"])
                line = basket.override_price(line.line_no, price, approver)
                actions.append(("price_override", approver.id, {
                    "line_no": line.line_no, "sku": line.sku, "from": line.override_from,
                    "to": price}))
            if "discount" in item:
                d = Discount.parse(item["discount"])
                line = basket.discount_line(line.line_no, d)
                actions.append(("discount", who.id, {
                    "line_no": line.line_no, "sku": line.sku, **d.to_dict(),
                    "amount_off": line.line_discount}))
            if item.get("void"):
                basket.void(line.line_no)
                actions.append(("void_line", who.id, {
                    "line_no": line.line_no, "sku": line.sku, "gross": line.gross}))
        if request.get("discount"):
            d = Discount.parse(request["discount"])
            basket.discount_basket(d)
            actions.append(("discount", who.id, {"basket": True, **d.to_dict()}))
    except (BasketError, MoneyError) as exc:
        raise SaleError(str(exc)) from exc
    if not basket.active:
        raise SaleError("every line is voided: nothing to sell")
    return basket, actions


def parse_payments(request: dict) -> list[Payment]:
    payments = request.get("payments")
    if not isinstance(payments, list) or not payments:
        raise SaleError("a sale needs at least one payment")
    try:
        return [Payment.parse(p) for p in payments]
    except PaymentError as exc:
        raise SaleError(str(exc)) from exc


def _commit(till: Till, kind: str, who: Cashier, record: dict, actions: list[tuple],
            original: int | None = None, print_receipt: bool = True) -> tuple[int, int]:
    vat = sum(v["vat"] for v in record["vat"].values())
    with transaction(till.conn):
        for a_kind, a_who, payload in actions:
            till.journal.append(a_kind, a_who, payload)
        number = _receipt_number(till)
        record["receipt_number"] = number
        e = till.journal.append(kind, who.id, record, record["total"], record["total"] - vat)
        till.conn.execute(
            "INSERT INTO receipts (receipt_number, journal_nr, kind, original_receipt, training, "
            "total) VALUES (?, ?, ?, ?, ?, ?)",
            (number, e.nr, kind, original, int(record["training"]), record["total"]))
        if till.prints_receipts and print_receipt:  # the job commits with the sale, or neither does
            from .printing import enqueue
            enqueue(till.conn, "receipt", record["time"], number)
    return number, e.nr


def sell(till: Till, request: dict) -> dict:
    """Complete a sale from a request (the `till sell` JSON); nothing is written unless it is
    fully paid and valid. The request is checked whole against its schema first
    (`requests.sale`); the kiosk's comes with its logged-in cashier, and the shell's PIN was checked
    (with the lockout, `Till.cashier`) before it got here."""
    request = _checked(sale_request, request)
    who = till.cashier(request.get("cashier", ""), request.get("pin"))
    basket, actions = build_basket(till, request, who)
    tenders = parse_payments(request)
    priced = basket.priced()
    total = sum(p.total for p in priced)
    try:
        settlement = settle(total, tenders)
    except PaymentError as exc:
        raise SaleError(str(exc)) from exc
    voided = [{"line_no": ln.line_no, "sku": ln.sku, "name": ln.name, "qty": ln.qty,
               "gross": ln.gross} for ln in basket.lines if ln.voided]
    record = build_record(
        "sale", [line_record(p) for p in priced], settlement,
        training=bool(request.get("training")), voided=voided,
        discount=basket.discount.to_dict() if basket.discount else None)
    record["time"] = till.now().isoformat()
    # "print_receipt": false - the customer wants no receipt: the sale is journalled as always,
    # only its print job is not queued (a copy can still be printed later)
    _number, nr = _commit(till, "sale", who, record, actions,
                          print_receipt=request.get("print_receipt", True) is not False)
    return sale_json(record, who.id, nr)


def load_receipt(till: Till, number: int) -> tuple[dict, list[dict]]:
    """An original receipt's record and the records of the returns made against it."""
    row = till.conn.execute(
        "SELECT journal_nr FROM receipts WHERE receipt_number = ?", (number,)).fetchone()
    if row is None:
        raise SaleError(f"no receipt number {number}")
    original = journal_entry(till.conn, row[0])
    assert original is not None
    earlier = [journal_entry(till.conn, r[0]).data() for r in till.conn.execute(  # type: ignore[union-attr]
        "SELECT journal_nr FROM receipts WHERE original_receipt = ? ORDER BY receipt_number",
        (number,))]
    return original.data(), earlier


def refund(till: Till, receipt_number: int | None, request: dict, after_failed_refund: bool = False) -> dict:
    """A return against a receipt (to its original tenders unless a manager says otherwise),
    or, with no receipt, a free return that a manager approves. `after_failed_refund`: the tenders
    are what went back to cards/MobilePay plus the rest in the tender the cashier chose after a
    declined refund (payments.give_back_first); the declined refund is journalled, no manager needed."""
    request = _checked(return_request, request)
    who = till.cashier(request.get("cashier", ""), request.get("pin"))
    wanted = request.get("lines")
    if not isinstance(wanted, list) or not wanted:
        raise SaleError("a return needs at least one line")
    if receipt_number is None:
        approver = till.manager(request.get("manager"), who, "a return without receipt")
        basket, _ = build_basket(till, {"lines": wanted}, who)
        lines = [line_record(p, sign=-1) for p in basket.priced()]
        original: dict | None = None
        earlier: list[dict] = []
    else:
        original, earlier = load_receipt(till, receipt_number)
        if original.get("training"):
            raise SaleError("a training receipt cannot be returned")
        try:
            lines = return_lines(original, earlier, wanted)
        except (ReturnError, BasketError) as exc:
            raise SaleError(str(exc)) from exc
        approver = None
    amount = -sum(ln["total"] for ln in lines)
    if request.get("payments"):
        tenders = parse_payments(request)
        if original is not None and not after_failed_refund and not tender_types(tenders) <= tender_types(
                original["payments"]):
            approver = till.manager(request.get("manager"), who, "a refund to another tender")
        non_cash = [p for p in tenders if p.type is not PaymentType.CASH]
        if len(non_cash) == len(tenders) and sum(p.amount for p in non_cash) != amount:
            raise SaleError(f"the refund tenders do not add up to {format_kroner(amount)}")
    elif original is not None:
        non_cash = default_refund_tenders(original, earlier, amount)
    else:
        non_cash = []
    tenders = [p for p in non_cash if p.type is not PaymentType.CASH]
    try:
        settlement = settle_refund(amount, tenders)
    except PaymentError as exc:
        raise SaleError(str(exc)) from exc
    record = build_record("return", lines, settlement, original_receipt=receipt_number)
    record["time"] = till.now().isoformat()
    if approver is not None:
        record["approved_by"] = approver.id
    if after_failed_refund:
        record["rest_after_declined_refund"] = True
    _number, nr = _commit(till, "return", who, record, [], receipt_number)
    return sale_json(record, who.id, nr)


def _checked(schema: Any, request: object) -> dict:
    """The request as its schema reads it; a refusal is a SaleError like every other."""
    try:
        return schema(request)
    except RequestError as exc:
        raise SaleError(str(exc)) from exc


def park(till: Till, request: dict) -> int:
    who = till.cashier(request.get("cashier", ""), request.get("pin"))
    basket, _ = build_basket(till, request, who)
    with transaction(till.conn):
        cur = till.conn.execute(
            "INSERT INTO parked (cashier, parked_at, basket) VALUES (?, ?, ?)",
            (who.id, till.now().isoformat(), json.dumps(basket.to_dict())))
        parked_id = int(cur.lastrowid or 0)
        till.journal.append("park", who.id, {"parked_id": parked_id, "total": basket.total,
                                             "lines": len(basket.active)})
    return parked_id


def resume(till: Till, parked_id: int, cashier_id: str) -> Basket:
    who = till.cashier(cashier_id)
    with transaction(till.conn):
        row = till.conn.execute("SELECT basket FROM parked WHERE id = ?", (parked_id,)).fetchone()
        if row is None:
            raise SaleError(f"no parked sale {parked_id}")
        till.conn.execute("DELETE FROM parked WHERE id = ?", (parked_id,))
        basket = Basket.from_dict(json.loads(row[0]))
        till.journal.append("resume", who.id, {"parked_id": parked_id, "total": basket.total})
    return basket


def void_receipt(till: Till, basket: Basket, cashier_id: str) -> None:
    """A basket abandoned before payment: journalled with what it held."""
    who = till.cashier(cashier_id)
    with transaction(till.conn):
        till.journal.append("void_receipt", who.id, {
            "total": basket.total, "lines": [line_record(p) for p in basket.priced()]})


def receipt_copy(till: Till, number: int, cashier_id: str) -> dict:
    """A copy of a receipt, journalled under the cashier (or `system` from the shell)."""
    who = till.acting(cashier_id)
    original, _ = load_receipt(till, number)
    with transaction(till.conn):
        till.journal.append("receipt_copy", who, {"receipt_number": number,
                                                     "total": original["total"]})
    return original
