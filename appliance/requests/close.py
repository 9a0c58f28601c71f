"""Closing the day (`till close-day`, the kiosk's end of day), as a schema: the counted cash, what
goes to the bank, and the count by denomination ("500:2,200:1,0.50:4")."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, model_validator

from ..domain.money import format_kroner
from . import Model, NonNegativeKroner, parse

_DENOMINATION = re.compile(r"[0-9]{1,4}(?:\.[0-9]{1,2})?:[0-9]{1,6}")


def _denominations(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("denominations must be text like 500:2,200:1,0.50:4")
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not value.isascii() or not parts or len(parts) > 30 or \
            not all(_DENOMINATION.fullmatch(p) for p in parts):
        raise ValueError("denominations must be VALUE:COUNT pairs like 500:2,200:1,0.50:4 "
                         "(digits 0-9, a dot for øre)")
    return ",".join(parts)


Denominations = Annotated[str, BeforeValidator(_denominations)]


class CloseDay(Model):
    counted_cash: NonNegativeKroner | None = None
    to_bank: NonNegativeKroner | None = None
    denominations: Denominations | None = None

    @model_validator(mode="after")
    def _counted(self) -> CloseDay:
        if self.counted_cash is None and self.denominations is None:
            raise ValueError("closing the day needs the counted cash (or the denominations)")
        if self.to_bank is not None and self.counted_cash is not None and self.to_bank > self.counted_cash:
            raise ValueError("cannot take more to the bank than was counted")
        return self

    def plain(self) -> dict[str, Any]:
        """The arguments `closing.close_day` takes, amounts in its one form ("1234.50")."""
        return {"counted_cash": None if self.counted_cash is None else format_kroner(self.counted_cash),
                "to_bank": None if self.to_bank is None else format_kroner(self.to_bank),
                "denominations": self.denominations}


def close_day_request(counted_cash: object, to_bank: object = None, denominations: object = None) -> CloseDay:
    return parse(CloseDay, {"counted_cash": counted_cash, "to_bank": to_bank or None,
                            "denominations": denominations or None}, "close-day")
