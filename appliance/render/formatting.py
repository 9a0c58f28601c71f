"""Helpers shared by the renderers: Danish amounts, dates and counts, and fixed-width rows.

Amounts arrive as kroner strings ("123.50"); they go through the domain's money module so a
renderer never does arithmetic on floats or invents its own number format."""

from __future__ import annotations

import textwrap
from datetime import datetime

from ..domain.money import format_dkk, parse_kroner

# Payment types in the order a Danish shop lists them, with their names on paper.
PAYMENT_NAMES = {
    "cash": "Kontant",
    "card": "Betalingskort",
    "mobilepay": "MobilePay",
    "manual_card": "Kort (manuel)",
    "gift_voucher": "Gavekort",
}


def ore(value: str | None) -> int:
    """A kroner string from the JSON as øre; None (a figure not taken yet) counts as 0."""
    return 0 if value is None else parse_kroner(value)


def dkk(amount: int) -> str:
    """øre -> '1.234,50' (no 'kr.', so columns stay narrow)."""
    return format_dkk(amount, suffix=False)


def kr(value: str | None, negate: bool = False) -> str:
    """'1234.5' -> '1.234,50'; negate flips the sign (money that left the shop shows as minus)."""
    amount = ore(value)
    return dkk(-amount if negate else amount)


def payment_name(kind: str) -> str:
    return PAYMENT_NAMES.get(kind, kind)


def payment_order(kinds: list[str]) -> list[str]:
    """Known tenders first, in PAYMENT_NAMES order, then anything new the till learns."""
    known = [k for k in PAYMENT_NAMES if k in kinds]
    return known + sorted(k for k in kinds if k not in PAYMENT_NAMES)


def _parse(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def dk_date(value: str | None) -> str:
    """'2026-11-22' or a full timestamp -> '22-11-2026'; text that is not a date passes through."""
    when = _parse(value or "")
    return when.strftime("%d-%m-%Y") if when else (value or "")


def dk_datetime(value: str | None) -> str:
    """ISO timestamp -> '22-11-2026 14:05' in the offset it was written with (the shop's own)."""
    when = _parse(value or "")
    return when.strftime("%d-%m-%Y %H:%M") if when else (value or "")


def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def center(text: str, width: int) -> list[str]:
    """Centred text, wrapped at word boundaries so nothing is cut off."""
    return [line.center(width).rstrip() for line in wrap(text, width)]


def wrap(text: str, width: int) -> list[str]:
    """Word-wrapped lines no wider than `width`; over-long words are split rather than spill."""
    return textwrap.wrap(text, max(width, 1), break_on_hyphens=False) or [""]


def row(label: str, value: str, width: int, indent: int = 0) -> list[str]:
    """`label ... value` with the value right-aligned. A long label wraps (continuation indented
    two more) and the value ends its last line; if there is no room beside it, it goes below."""
    pad = " " * indent
    value = value[:width]
    room = width - indent - len(value) - 2
    if room < 8:
        return [pad + line for line in wrap(label, width - indent)] + [value.rjust(width)]
    head, *rest = wrap(label, room)
    lines = [pad + head]
    if rest:
        lines += [pad + "  " + line for line in wrap(" ".join(rest), room - 2)]
    lines[-1] = lines[-1].ljust(width - len(value)) + value
    return [line.rstrip() for line in lines]


def check_width(width: int) -> int:
    if not isinstance(width, int) or width < 24:
        raise ValueError(f"paper width must be at least 24 characters, got {width!r}")
    return width
