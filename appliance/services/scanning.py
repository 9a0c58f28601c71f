"""A scan, delivered by any scanner driver, becomes a basket line (or opens a return, when it is
one of our own receipt barcodes). The core's barcode rules decide; nothing is guessed, and a code
that is not ours is refused with a Danish message for the cashier and an English log line."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from drivers.scanner.base import Scan

from ..domain.basket import Basket, BasketError, Line
from ..domain.catalog import Product
from ..render.receipt_text import receipt_number_from_scan
from .selling import SaleError, resolve
from .till import Till

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanOutcome:
    line: Line | None = None          # the line added
    receipt_number: int | None = None  # a receipt's barcode: the cashier wants a return
    message: str | None = None         # Danish, when the scan was refused


@dataclass(frozen=True)
class ScanLookup:
    """What a scan means, before anything is added (the kiosk adds on its own thread)."""
    product: Product | None = None
    extra: dict | None = None          # price / weight / barcode for Basket.add
    receipt_number: int | None = None
    message: str | None = None
    unknown: bool = False              # a well-formed code the catalog lacks (a manager may create it)


def lookup_scan(till: Till, scan: Scan | str) -> ScanLookup:
    code = scan.code if isinstance(scan, Scan) else scan
    receipt = receipt_number_from_scan(code)
    if receipt is not None:
        return ScanLookup(receipt_number=receipt)
    try:
        product, extra = resolve(till, {"barcode": code})
        return ScanLookup(product=product, extra=extra)
    except SaleError as exc:
        log.info("event=scan_refused code_len=%d error=%s", len(code), exc)
        return ScanLookup(message=_danish(str(exc), code), unknown=str(exc).startswith("unknown barcode"))


def scan_into_basket(till: Till, basket: Basket, scan: Scan | str) -> ScanOutcome:
    found = lookup_scan(till, scan)
    if found.product is None:
        return ScanOutcome(receipt_number=found.receipt_number, message=found.message)
    try:
        return ScanOutcome(line=basket.add(found.product, **(found.extra or {})))
    except BasketError as exc:
        code = scan.code if isinstance(scan, Scan) else scan
        log.info("event=scan_refused code_len=%d error=%s", len(code), exc)
        return ScanOutcome(message=_danish(str(exc), code))


def _danish(error: str, code: str) -> str:
    if error.startswith("unknown barcode"):
        return f"Ukendt stregkode {code}. Varen findes ikke i kartoteket."
    if "check digit" in error:
        return f"Stregkoden {code} er ugyldig (forkert kontrolciffer). Scan igen."
    return f"Stregkoden {code} kan ikke bruges: {error}"
