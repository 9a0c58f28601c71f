"""Package contents ("500 g", "1,5 l", "6 stk") and the unit price a shelf label must show.

Danish price-marking rules want the price per kg, per litre or per piece beside the selling
price of packaged goods; goods sold by weight are priced per kg already."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .money import format_dkk

# unit -> (base unit, factor to the base unit)
_UNITS = {"g": ("kg", Decimal("0.001")), "kg": ("kg", Decimal(1)),
          "ml": ("l", Decimal("0.001")), "cl": ("l", Decimal("0.01")), "l": ("l", Decimal(1)),
          "stk": ("stk", Decimal(1))}
_CONTENT = re.compile(r"^\s*(\d{1,6}(?:[.,]\d{1,3})?)\s*([a-zA-Z]+)\.?\s*$")


class ContentError(ValueError):
    pass


@dataclass(frozen=True)
class Content:
    amount: Decimal  # in `unit`
    unit: str        # g, kg, ml, cl, l or stk

    @property
    def base(self) -> tuple[Decimal, str]:
        base, factor = _UNITS[self.unit]
        return self.amount * factor, base

    def __str__(self) -> str:
        return f"{format(self.amount, 'f').replace('.', ',')} {self.unit}"


def parse_content(text: str) -> Content:
    m = _CONTENT.match(text)
    unit = m.group(2).lower() if m else ""
    if not m or unit not in _UNITS:
        raise ContentError(f"content {text!r} must be an amount and one of {', '.join(_UNITS)} "
                           "(e.g. '500 g', '1,5 l', '6 stk')")
    try:
        amount = Decimal(m.group(1).replace(",", "."))
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
        raise ContentError(f"content {text!r} is not a number") from exc
    if amount <= 0:
        raise ContentError(f"content {text!r} must be more than zero")
    return Content(Decimal(int(amount)) if amount == amount.to_integral() else amount.normalize(), unit)


def unit_price(price_ore: int, content: Content) -> tuple[int, str]:
    """The price per base unit in øre (rounded half up) and the unit: (1996, 'kg')."""
    qty, base = content.base
    return int((Decimal(price_ore) / qty).quantize(Decimal(1), rounding=ROUND_HALF_UP)), base


def unit_price_text(price_ore: int, content: Content | None, by_weight: bool = False) -> str | None:
    """The label's unit price line in Danish, or None when there is none to show."""
    if by_weight:
        return f"Kilopris {format_dkk(price_ore, suffix=False)} kr/kg"
    if content is None:
        return None
    ore, base = unit_price(price_ore, content)
    name = {"kg": "Kilopris", "l": "Literpris", "stk": "Stykpris"}[base]
    return f"{name} {format_dkk(ore, suffix=False)} kr/{base}"
