"""A shelf/price label and the geometry it is printed with, shared by every label language.

The till hands over ready-formatted Danish texts and a 13-digit EAN; the layout comes from the
shop's settings. `plan_label` turns a layout into boxes in printer dots once, so the ZPL, the
Brother raster and the simulated printer put the same things in the same places."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache

MM_PER_INCH = 25.4
DPIS = (203, 300, 600)

# EAN-13: 95 modules of bars, quiet zones of 11 (left) and 7 (right) modules (GS1 General Specs).
EAN_MODULES = 95
QUIET_LEFT = 11
QUIET_RIGHT = 7
EAN_TOTAL_MODULES = QUIET_LEFT + EAN_MODULES + QUIET_RIGHT
# Module width: 0.33 mm is 100 %; below ~0.25 mm (76 %) cheap scanners start to miss.
NOMINAL_MODULE_MM = 0.33
MIN_MODULE_MM = 0.25
DIGIT_MODULES = 10  # room under the bars for the human-readable digits
GAP_MM = 0.5
MIN_TEXT_COLUMN = 0.35  # side by side, the text column keeps at least this share of the width

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SPACES = re.compile(r"\s+")


def ean13_check_digit(first12: str) -> int:
    """GS1 mod-10: weights 1,3,1,3,... from the left over the first 12 digits."""
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(first12))
    return (10 - total % 10) % 10


def one_line(text: str) -> str:
    """Printers treat control characters as commands; a label field is one clean line."""
    return _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()


@dataclass(frozen=True)
class Label:
    name: str
    price: str
    ean13: str
    unit_price: str | None = None
    sku: str | None = None

    def __post_init__(self) -> None:
        code = self.ean13
        if not isinstance(code, str) or len(code) != 13 or not code.isascii() or not code.isdigit():
            raise ValueError(f"label ean13 must be 13 digits, got {code!r}")
        if ean13_check_digit(code[:12]) != int(code[12]):
            raise ValueError(
                f"label ean13 {code} has a wrong check digit: expected {ean13_check_digit(code[:12])}")
        for name in ("name", "price"):
            value = getattr(self, name)
            if not isinstance(value, str) or not one_line(value):
                raise ValueError(f"label {name} must be a non-empty text")
        if self.unit_price is not None and not isinstance(self.unit_price, str):
            raise ValueError("label unit_price must be a text or None")


# field -> (low, high, unit) for the numeric settings; dpi is one of DPIS.
_RANGES: dict[str, tuple[float, float, str]] = {
    "width_mm": (15, 120, " mm"),
    "height_mm": (10, 200, " mm"),
    "margin_mm": (0, 10, " mm"),
    "name_pt": (5, 36, " pt"),
    "price_pt": (6, 72, " pt"),
    "unit_pt": (5, 36, " pt"),
    "barcode_height_mm": (5, 40, " mm"),
    "copies": (1, 999, ""),
}
_INTEGER_FIELDS = ("dpi", "copies")


@dataclass(frozen=True)
class LabelLayout:
    width_mm: float = 62
    height_mm: float = 29
    dpi: int = 300
    margin_mm: float = 1.5
    name_pt: float = 9
    price_pt: float = 18
    unit_pt: float = 7
    barcode_height_mm: float = 9
    copies: int = 1

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"label layout {f.name} must be a number, got {value!r}")
            if f.name in _INTEGER_FIELDS and not isinstance(value, int):
                raise ValueError(f"label layout {f.name} must be a whole number, got {value!r}")
        if self.dpi not in DPIS:
            raise ValueError(f"label layout dpi must be one of {', '.join(map(str, DPIS))}, got {self.dpi}")
        for name, (low, high, unit) in _RANGES.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"label layout {name} must be between {low} and {high}{unit}, got {value}")

    @classmethod
    def from_settings(cls, d: Mapping[str, object]) -> LabelLayout:
        """Settings arrive as TOML numbers or database text; anything odd is refused here, and a
        layout whose contents cannot fit is refused now rather than at the first print."""
        known = {f.name for f in fields(cls)}
        values: dict[str, float | int] = {}
        for key, raw in d.items():
            if key not in known:
                raise ValueError(f"unknown label layout setting {key!r}")
            values[key] = _number(key, raw)
        layout = cls(**values)  # type: ignore[arg-type]
        plan_label(layout)
        return layout

    def dots(self, mm: float) -> int:
        return round(mm * self.dpi / MM_PER_INCH)

    def pt_dots(self, pt: float) -> int:
        return max(1, round(pt * self.dpi / 72))


def _number(key: str, raw: object) -> float | int:
    if isinstance(raw, bool):
        raise ValueError(f"label layout {key} must be a number, got {raw!r}")
    if isinstance(raw, int | float):
        value: float | int = raw
    elif isinstance(raw, str):
        try:
            value = float(raw.strip().replace(",", "."))
        except ValueError:
            raise ValueError(f"label layout {key} must be a number, got {raw!r}") from None
    else:
        raise ValueError(f"label layout {key} must be a number, got {raw!r}")
    if key in _INTEGER_FIELDS:
        if not math.isfinite(value) or value != int(value):
            raise ValueError(f"label layout {key} must be a whole number, got {raw!r}")
        return int(value)
    return value


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h

    def overlaps(self, other: Box) -> bool:
        return (self.x < other.right and other.x < self.right
                and self.y < other.bottom and other.y < self.bottom)


@dataclass(frozen=True)
class LabelPlan:
    """Where things go, in dots. `barcode` spans both quiet zones and the digits under the bars."""

    width: int
    height: int
    name: Box  # two lines of name_line dots
    name_line: int
    price: Box
    unit: Box
    barcode: Box
    module: int
    bar_height: int
    stacked: bool

    @property
    def bars_x(self) -> int:
        return self.barcode.x + QUIET_LEFT * self.module

    @property
    def digits_height(self) -> int:
        return self.barcode.h - self.bar_height


@lru_cache(maxsize=64)
def plan_label(layout: LabelLayout) -> LabelPlan:
    """Name over the full width; below it price and unit price, then the barcode under them,
    all centred (stacked), or - when the label is too low for that - name at the top and the
    barcode beside price and unit price at the bottom right (side by side).
    The module is the largest whole number of dots between 0.25 and 0.33 mm that fits."""
    width, height = layout.dots(layout.width_mm), layout.dots(layout.height_mm)
    m = layout.dots(layout.margin_mm)
    iw, ih = width - 2 * m, height - 2 * m
    gap = max(1, layout.dots(GAP_MM))
    line, price_h, unit_h = (layout.pt_dots(p) for p in (layout.name_pt, layout.price_pt, layout.unit_pt))
    name_h = 2 * line
    bar_h = layout.dots(layout.barcode_height_mm)
    nominal = max(1, round(layout.dpi * NOMINAL_MODULE_MM / MM_PER_INCH))
    smallest = max(1, round(layout.dpi * MIN_MODULE_MM / MM_PER_INCH))
    modules = range(nominal, smallest - 1, -1)
    for mod in modules:
        bw, bh = EAN_TOTAL_MODULES * mod, bar_h + DIGIT_MODULES * mod
        total = name_h + gap + price_h + gap + unit_h + gap + bh
        if bw <= iw and total <= ih:
            name = Box(m, m + (ih - total) // 2, iw, name_h)
            price = Box(m, name.bottom + gap, iw, price_h)
            unit = Box(m, price.bottom + gap, iw, unit_h)
            barcode = Box(m + (iw - bw) // 2, unit.bottom + gap, bw, bh)
            return LabelPlan(width, height, name, line, price, unit, barcode, mod, bar_h, True)

    for mod in modules:
        bw, bh = EAN_TOTAL_MODULES * mod, bar_h + DIGIT_MODULES * mod
        column = iw - bw - gap
        row_h = max(price_h + gap + unit_h, bh)
        if column >= MIN_TEXT_COLUMN * iw and name_h + gap + row_h <= ih:
            name = Box(m, m, iw, name_h)
            row_y = height - m - row_h
            price = Box(m, row_y, column, price_h)
            unit = Box(m, price.bottom + gap, column, unit_h)
            barcode = Box(width - m - bw, height - m - bh, bw, bh)
            return LabelPlan(width, height, name, line, price, unit, barcode, mod, bar_h, False)

    raise ValueError(
        f"label layout {layout.width_mm:g}x{layout.height_mm:g} mm at {layout.dpi} dpi is too small for "
        f"a two-line name, price, unit price and an EAN-13 of {layout.barcode_height_mm:g} mm "
        "(use a larger label, smaller fonts, a lower barcode or a smaller margin)")
