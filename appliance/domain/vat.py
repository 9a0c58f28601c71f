"""VAT on VAT-inclusive prices, worked out once per rate per receipt so the lines add up."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .money import div_round_half_up

RATES = (25, 0)


class VatError(ValueError):
    pass


def check_rate(rate: int) -> int:
    if rate not in RATES:
        raise VatError(f"VAT rate must be one of {', '.join(map(str, RATES))} %, got {rate!r}")
    return rate


@dataclass(frozen=True)
class VatLine:
    rate: int
    gross: int
    vat: int

    @property
    def net(self) -> int:
        return self.gross - self.vat


def vat_in_gross(gross: int, rate: int) -> int:
    """The VAT inside a gross amount: 25 % on net is 20 % of gross."""
    return div_round_half_up(gross * rate, 100 + rate)


def vat_breakdown(lines: Iterable[tuple[int, int]]) -> dict[int, VatLine]:
    """(rate, gross) pairs -> one VatLine per rate, rounded once per rate."""
    gross_by_rate: dict[int, int] = {}
    for rate, gross in lines:
        gross_by_rate[rate] = gross_by_rate.get(rate, 0) + gross
    return {
        rate: VatLine(rate, gross, vat_in_gross(gross, rate))
        for rate, gross in sorted(gross_by_rate.items(), reverse=True)
    }
