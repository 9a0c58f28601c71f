"""Money as integer øre. Floats never touch an amount; text in and out goes through here."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_AMOUNT = re.compile(r"^-?\d+(\.\d{1,2})?$")


class MoneyError(ValueError):
    """An amount that cannot be taken as kroner and øre."""


def parse_kroner(text: str | int | Decimal) -> int:
    """'123.50' -> 12350. Rejects floats, commas and more than two decimals rather than guessing."""
    if isinstance(text, bool) or isinstance(text, float):
        raise MoneyError(f"amount must be given as text, not {type(text).__name__}: {text!r}")
    if isinstance(text, int):
        return text * 100
    if isinstance(text, Decimal):
        text = format(text, "f")
    s = str(text).strip()
    if not _AMOUNT.match(s):
        if re.match(r"^-?\d+\.\d{3,}$", s):
            raise MoneyError(f"amount has more than two decimals: {s!r}")
        raise MoneyError(f"not an amount in kroner (use a dot, e.g. 123.50): {s!r}")
    try:
        value = Decimal(s)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise MoneyError(f"not an amount: {s!r}") from exc
    return int(value * 100)


def format_kroner(ore: int) -> str:
    """12350 -> '123.50', the form used in JSON and SAF-T."""
    sign = "-" if ore < 0 else ""
    ore = abs(ore)
    return f"{sign}{ore // 100}.{ore % 100:02d}"


def format_dkk(ore: int, suffix: bool = True) -> str:
    """123450 -> '1.234,50 kr.', as a Danish shop writes it."""
    sign = "-" if ore < 0 else ""
    ore = abs(ore)
    kroner = f"{ore // 100:,}".replace(",", ".")
    text = f"{sign}{kroner},{ore % 100:02d}"
    return f"{text} kr." if suffix else text


def div_round_half_up(numerator: int, denominator: int) -> int:
    """Integer division rounding halves away from zero (the shop's and SKAT's rounding)."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    sign = -1 if numerator < 0 else 1
    q, r = divmod(abs(numerator), denominator)
    if 2 * r >= denominator:
        q += 1
    return sign * q


def round_cash(ore: int) -> int:
    """Nearest 50 øre; x.25 and x.75 round up (away from zero for refunds)."""
    sign = -1 if ore < 0 else 1
    return sign * div_round_half_up(abs(ore), 50) * 50


def percent_of(amount: int, percent: Decimal) -> int:
    """`percent` % of `amount` øre, rounded half up to whole øre."""
    scaled = Decimal(amount) * percent / Decimal(100)
    return int(scaled.to_integral_value(rounding="ROUND_HALF_UP"))
