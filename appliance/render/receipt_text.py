"""A sale or return receipt, from the sale JSON the till hands out: as a printable Document (for
the receipt printer) and as plain text (the same document read as text).

The amount column adds up: each line shows its price before discount and the discount below it,
so the customer can follow the sum to I ALT. The receipt number is also a CODE128 barcode
(`R<number>`), so a return starts with one scan."""

from __future__ import annotations

from collections.abc import Mapping

from drivers.printer.document import Barcode, Block, Document, Logo, Text

from .formatting import center, check_width, dk_datetime, dkk, kr, ore, payment_name, row, wrap

RECEIPT_BARCODE_PREFIX = "R"


def receipt_barcode(number: int) -> str:
    return f"{RECEIPT_BARCODE_PREFIX}{number}"


def receipt_number_from_scan(code: str) -> int | None:
    """`R123` (the barcode on our receipts) -> 123; anything else -> None."""
    if code[:1] in (RECEIPT_BARCODE_PREFIX, RECEIPT_BARCODE_PREFIX.lower()) and code[1:].isdigit():
        return int(code[1:])
    return None


def _weight(grams: int) -> str:
    return f"{grams // 1000},{grams % 1000:03d} kg"


def _line(ln: Mapping, width: int) -> list[str]:
    total, discount = ore(ln.get("total")), ore(ln.get("discount") or "0.00")
    out = row(str(ln.get("name", "")), dkk(total + discount), width)
    qty = ln.get("qty", 1)
    if ln.get("weight_g") is not None:
        out += row(f"{_weight(int(ln['weight_g']))} x {kr(ln.get('unit_price'))}", "", width, 2)
    elif qty != 1:
        out += row(f"{qty} x {kr(ln.get('unit_price'))}", "", width, 2)
    if discount:
        out += row("Rabat", dkk(-discount), width, 2)
    return out


def _tender(p: Mapping) -> str:
    name = payment_name(str(p.get("type", "")))
    brand = p.get("brand")
    if not brand:
        return name
    return f"{name[:-1]}, {brand})" if name.endswith(")") else f"{name} ({brand})"


def _payments(sale: Mapping, width: int) -> list[str]:
    """Cash shows what was handed over (taken plus change), so Retur follows from it."""
    payments = list(sale.get("payments") or [])
    change = ore(sale.get("change") or "0.00")
    last_cash = max((i for i, p in enumerate(payments) if p.get("type") == "cash"), default=None)
    out: list[str] = []
    for i, p in enumerate(payments):
        amount = ore(p.get("amount")) + (change if i == last_cash else 0)
        out += row(_tender(p), dkk(amount), width)
    if change:
        out += row("Retur", dkk(change), width)
    return out


def _vat(sale: Mapping, width: int) -> list[str]:
    out: list[str] = []
    for rate, v in sorted((sale.get("vat") or {}).items(), key=lambda kv: -int(kv[0])):
        if int(rate):
            out += row(f"Heraf moms {rate} %:", kr(v.get("vat")), width)
        elif ore(v.get("gross")):
            out += row("Heraf momsfrit:", kr(v.get("gross")), width)
    return out


def render_receipt_doc(sale: dict, shop: dict, width: int = 42, copy: bool = False,
                       logo: bytes | None = None, kick_drawer: int | None = None) -> Document:
    """The customer's receipt; `copy` marks a reprint. No line is wider than `width`; the COPY and
    TRAINING marks print in large letters (half as many columns)."""
    check_width(width)
    markers = (["*** KOPI ***"] if copy else []) + (["*** TRÆNING ***"] if sale.get("training") else [])
    marks: list[Block] = [Text(line.strip(), "center", bold=True, large=True)
                          for m in markers for line in center(m, width // 2)]
    blocks: list[Block] = [*marks]
    if logo:
        blocks.append(Logo(logo))
    if sale.get("training"):
        blocks += _centred("Ikke en gyldig kvittering", width)
    if shop.get("shop_name"):
        blocks += _centred(str(shop["shop_name"]), width, bold=True)
    for text in (shop.get("address"), f"CVR: {shop['cvr']}" if shop.get("cvr") else None):
        if text:
            blocks += _centred(str(text), width)
    lines = ["=" * width]
    lines += row(dk_datetime(sale.get("time")), f"Bon nr. {sale.get('receipt_number')}", width)
    blocks += _plain(lines)
    is_return = sale.get("kind") == "return"
    if is_return:
        blocks += _centred("RETUR", width, bold=True)
        if sale.get("original_receipt") is not None:
            blocks += _plain(wrap(f"Retur af bon nr. {sale['original_receipt']}", width))
    lines = ["-" * width]
    for ln in sale.get("lines") or []:
        lines += _line(ln, width)
    total, rounding = ore(sale.get("total")), ore(sale.get("rounding") or "0.00")
    lines.append("-" * width)
    blocks += _plain(lines)
    blocks += [Text(t, bold=True) for t in row("I ALT", dkk(total), width)]
    lines = []
    if rounding:
        lines += row("Øreafrunding", dkk(rounding), width)
        lines += row("Udbetales" if is_return else "At betale", dkk(total + rounding), width)
    lines += ["", *_payments(sale, width), "", *_vat(sale, width), "-" * width]
    lines += wrap(f"Ekspedient: {sale.get('cashier', '')}", width)
    register = shop.get("register_id")
    lines += row(f"Kasse: {register}" if register else "", f"Journal nr. {sale.get('journal_nr', '')}", width)
    blocks += _plain(lines)
    if sale.get("receipt_number") is not None:
        blocks.append(Barcode(receipt_barcode(int(sale["receipt_number"]))))
    if marks:
        blocks += [Text(""), *marks]
    return Document(tuple(blocks), cut=True, kick_drawer=kick_drawer,  # type: ignore[arg-type]
                    meta={"kind": str(sale.get("kind", "sale")),
                          "receipt_number": str(sale.get("receipt_number", ""))})


def _plain(lines: list[str]) -> list[Block]:
    return [Text(t) for t in lines]


def _centred(text: str, width: int, bold: bool = False) -> list[Block]:
    return [Text(line.strip(), "center", bold=bold) for line in center(text, width)]


def render_receipt_text(sale: dict, shop: dict, width: int = 42, copy: bool = False) -> str:
    """The receipt as plain text, exactly as the document reads on paper."""
    return "\n".join(render_receipt_doc(sale, shop, width, copy).lines(width)) + "\n"
