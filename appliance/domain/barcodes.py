"""Barcode rules: GS1 check digits and Danish in-store (RCN) price and weight codes."""

from __future__ import annotations

import re
from dataclasses import dataclass

_FREE_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,47}$")
GTIN_LENGTHS = (8, 12, 13, 14)


class BarcodeError(ValueError):
    pass


def gtin_check_digit(body: str) -> int:
    """GS1 mod-10 over the digits before the check digit (weights 3,1,3,... from the right)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        total += int(ch) * (3 if i % 2 == 0 else 1)
    return (10 - total % 10) % 10


def is_gtin_shaped(code: str) -> bool:
    return code.isdigit() and len(code) in GTIN_LENGTHS


def validate_code(code: str) -> str:
    """A catalog or scanned code: GTIN-shaped codes must carry a right check digit; others are free."""
    code = code.strip()
    if not code:
        raise BarcodeError("empty barcode")
    if is_gtin_shaped(code):
        if gtin_check_digit(code[:-1]) != int(code[-1]):
            raise BarcodeError(
                f"wrong check digit in {code}: expected {gtin_check_digit(code[:-1])}"
            )
        return code
    if code.isdigit() and len(code) in (7, 11):
        raise BarcodeError(f"{code} looks like a GTIN without its check digit")
    if not _FREE_CODE.match(code):
        raise BarcodeError(f"barcode {code!r} has characters a scanner cannot send")
    return code


def normalise(code: str) -> str:
    """UPC-A and EAN-13 with a leading 0 are the same product: store and look up as EAN-13."""
    if code.isdigit() and len(code) == 12:
        return "0" + code
    return code


@dataclass(frozen=True)
class ScannedCode:
    """A validated scan: the code to look up, and the price or weight it carries, if any."""

    raw: str
    lookup: str
    price_ore: int | None = None
    weight_g: int | None = None


# GS1 Denmark restricted-circulation numbers (as in biip's RcnRegion.DENMARK):
# prefix -> (digits of product identity incl. prefix, kind)
_DK_RCN = {
    "21": (6, "price"), "22": (6, "price"), "23": (6, "price"), "24": (6, "price"),
    "26": (6, "weight"), "27": (7, "weight"), "28": (6, "weight"),
}


def zero_variable_part(code: str, ident_len: int) -> str:
    body = code[:ident_len] + "0" * (12 - ident_len)
    return body + str(gtin_check_digit(body))


def parse_scan(code: str) -> ScannedCode:
    """Validate a scanned code and split a Danish in-store code into lookup key and value."""
    code = normalise(validate_code(code))
    if len(code) == 13 and code[:2] in _DK_RCN:
        ident_len, kind = _DK_RCN[code[:2]]
        value = int(code[ident_len:12])
        lookup = zero_variable_part(code, ident_len)
        if kind == "price":
            return ScannedCode(code, lookup, price_ore=value)
        return ScannedCode(code, lookup, weight_g=value)
    return ScannedCode(code, code)


def make_price_code(prefix: str, plu: str, price_ore: int) -> str:
    """An in-store price code for our own labels: prefix (21-24) + 4-digit PLU + price in øre."""
    if prefix not in ("21", "22", "23", "24") or not (plu.isdigit() and len(plu) == 4):
        raise BarcodeError("price codes take a prefix 21-24 and a 4-digit PLU")
    if not 0 <= price_ore <= 999_999:
        raise BarcodeError("price too large for an in-store code")
    body = f"{prefix}{plu}{price_ore:06d}"
    return body + str(gtin_check_digit(body))


def rcn_kind(code: str) -> str | None:
    """'price' or 'weight' for a Danish in-store code (13 digits, prefix 21-24 or 26-28), else None."""
    if len(code) == 13 and code.isdigit() and code[:2] in _DK_RCN:
        return _DK_RCN[code[:2]][1]
    return None
