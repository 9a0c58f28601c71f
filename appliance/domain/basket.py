"""The basket being rung up: lines, discounts, price overrides, voids. Pure data, no storage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from .catalog import Product
from .money import MoneyError, div_round_half_up, parse_kroner, percent_of
from .roles import Cashier, require_manager

MAX_QTY = 999
MAX_WEIGHT_G = 100_000


class BasketError(ValueError):
    pass


@dataclass(frozen=True)
class Discount:
    """Either a percentage (Decimal, 0-100) or a fixed amount in øre."""

    percent: Decimal | None = None
    amount: int | None = None

    @staticmethod
    def parse(spec: object) -> Discount:
        if not isinstance(spec, dict) or len(spec) != 1:
            raise BasketError('discount must be {"percent": P} or {"amount": "A"}')
        if "percent" in spec:
            try:
                pct = Decimal(str(spec["percent"]))
            except InvalidOperation as exc:
                raise BasketError(f"discount percent is not a number: {spec['percent']!r}") from exc
            exponent = pct.as_tuple().exponent  # a letter for NaN and Infinity, which do not compare
            if not isinstance(exponent, int) or not (0 < pct <= 100) or exponent < -2:
                raise BasketError("discount percent must be above 0, at most 100, two decimals")
            return Discount(percent=pct)
        if "amount" in spec:
            try:
                amount = parse_kroner(spec["amount"])
            except MoneyError as exc:
                raise BasketError(str(exc)) from exc
            if amount <= 0:
                raise BasketError("discount amount must be positive")
            return Discount(amount=amount)
        raise BasketError('discount must be {"percent": P} or {"amount": "A"}')

    def of(self, gross: int) -> int:
        off = percent_of(gross, self.percent) if self.percent is not None else self.amount or 0
        if off > gross:
            raise BasketError("a discount cannot exceed what it is given on")
        return off

    def to_dict(self) -> dict[str, str | int | None]:
        return {"percent": str(self.percent)} if self.percent is not None else {
            "amount": self.amount}


@dataclass(frozen=True)
class Line:
    line_no: int
    sku: str
    name: str
    group: str
    vat_rate: int
    unit_price: int
    qty: int = 1
    weight_g: int | None = None
    barcode: str | None = None
    override_from: int | None = None
    override_by: str | None = None
    discount: Discount | None = None
    voided: bool = False

    @property
    def gross(self) -> int:
        if self.weight_g is not None:
            return div_round_half_up(self.unit_price * self.weight_g, 1000)
        return self.unit_price * self.qty

    @property
    def line_discount(self) -> int:
        return self.discount.of(self.gross) if self.discount else 0


@dataclass(frozen=True)
class PricedLine:
    line: Line
    gross: int
    line_discount: int
    basket_discount: int

    @property
    def total(self) -> int:
        return self.gross - self.line_discount - self.basket_discount


def check_qty(qty: object) -> int:
    if isinstance(qty, bool) or not isinstance(qty, int):
        raise BasketError(f"quantity must be a whole number, got {qty!r}")
    if not 1 <= qty <= MAX_QTY:
        raise BasketError(f"quantity must be between 1 and {MAX_QTY}, got {qty}")
    return qty


@dataclass
class Basket:
    lines: list[Line] = field(default_factory=list)
    discount: Discount | None = None

    def _next_no(self) -> int:
        return max((ln.line_no for ln in self.lines), default=0) + 1

    def add(
        self,
        product: Product,
        qty: int = 1,
        *,
        weight_g: int | None = None,
        price: int | None = None,
        barcode: str | None = None,
    ) -> Line:
        """Add a product; `price` comes from an in-store price code, `weight_g` from a weight code."""
        if weight_g is not None:
            if not 1 <= weight_g <= MAX_WEIGHT_G:
                raise BasketError(f"weight must be 1 g to {MAX_WEIGHT_G // 1000} kg")
            qty = 1
        else:
            check_qty(qty)
        unit_price = product.price if price is None else price
        if unit_price < 0:
            raise BasketError("a price cannot be negative")
        line = Line(
            self._next_no(), product.sku, product.name, product.group, product.vat_rate,
            unit_price, qty, weight_g, barcode,
        )
        self.lines.append(line)
        return line

    def _replace(self, line_no: int, **changes: Any) -> Line:
        for i, ln in enumerate(self.lines):
            if ln.line_no == line_no:
                if ln.voided:
                    raise BasketError(f"line {line_no} is voided")
                new = replace(ln, **changes)
                self.lines[i] = new
                return new
        raise BasketError(f"no line {line_no} in the basket")

    def set_qty(self, line_no: int, qty: int) -> Line:
        return self._replace(line_no, qty=check_qty(qty))

    def void(self, line_no: int) -> Line:
        return self._replace(line_no, voided=True)

    def override_price(self, line_no: int, price: int, by: Cashier) -> Line:
        require_manager(by, "a price override")
        if not 0 <= price <= 10_000_000:
            raise BasketError("override price out of range")
        current = self.line(line_no)
        original = current.override_from if current.override_from is not None else current.unit_price
        return self._replace(line_no, unit_price=price, override_from=original, override_by=by.id)

    def discount_line(self, line_no: int, discount: Discount) -> Line:
        line = self.line(line_no)
        discount.of(line.gross)  # raises if it exceeds the line
        return self._replace(line_no, discount=discount)

    def discount_basket(self, discount: Discount) -> None:
        self.discount = discount
        self.priced()  # raises if it exceeds the basket

    def line(self, line_no: int) -> Line:
        for ln in self.lines:
            if ln.line_no == line_no:
                return ln
        raise BasketError(f"no line {line_no} in the basket")

    @property
    def active(self) -> list[Line]:
        return [ln for ln in self.lines if not ln.voided]

    def priced(self) -> list[PricedLine]:
        """Active lines with line and basket discounts; the basket discount is spread over the
        lines in proportion to their totals (largest remainder) so every øre lands on a VAT rate."""
        active = self.active
        after_line = [ln.gross - ln.line_discount for ln in active]
        subtotal = sum(after_line)
        basket_off = self.discount.of(subtotal) if self.discount else 0
        shares = allocate(basket_off, after_line)
        return [
            PricedLine(ln, ln.gross, ln.line_discount, share)
            for ln, share in zip(active, shares, strict=True)
        ]

    @property
    def total(self) -> int:
        return sum(p.total for p in self.priced())

    def to_dict(self) -> dict[str, Any]:
        def line_dict(ln: Line) -> dict[str, Any]:
            d = asdict(ln)
            d["discount"] = ln.discount.to_dict() if ln.discount else None
            return d
        return {
            "lines": [line_dict(ln) for ln in self.lines],
            "discount": self.discount.to_dict() if self.discount else None,
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Basket:
        def disc(d: dict[str, Any] | None) -> Discount | None:
            if not d:
                return None
            if "percent" in d:
                return Discount(percent=Decimal(d["percent"]))
            return Discount(amount=int(d["amount"]))
        lines = [Line(**{**ln, "discount": disc(ln.get("discount"))}) for ln in data["lines"]]
        return Basket(lines, disc(data.get("discount")))


def allocate(amount: int, weights: list[int]) -> list[int]:
    """Split `amount` over `weights` in proportion, largest remainder first; sums exactly."""
    total = sum(weights)
    if amount == 0 or total == 0:
        return [0] * len(weights)
    base = [amount * w // total for w in weights]
    remainders = sorted(
        range(len(weights)), key=lambda i: (-(amount * weights[i] % total), i)
    )
    for i in remainders[: amount - sum(base)]:
        base[i] += 1
    return base
