"""Everything that comes in from outside, as declared schemas: requests (sale, return, cash,
close-day, settings, device specs) and the files the till reads (catalog CSV, secrets).

Each kind of input has one pydantic model (strict where a wrong type could be read as something
else: `"training": "no"` is refused, not taken as true). `parse(Model, data)` turns pydantic's
report into the till's own one-line `RequestError` (English; the kiosk wraps it in its Danish
error texts). Input values are never echoed into the message, so a secret cannot leak through one.

Money is never a float: an amount is text in kroner (`"12.50"` or `"12,50"`, ASCII digits only)
read through `domain.money.parse_kroner`, or whole øre where an API already uses them, and no
amount may pass `MAX_AMOUNT_ORE`."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from ..domain.money import MoneyError, format_dkk, parse_kroner

MAX_AMOUNT_ORE = 100_000_000  # 1.000.000,00 kr.: the ceiling for any one amount in a request
MAX_LINES = 500               # lines in one sale or return
MAX_PAYMENTS = 20             # tenders in one sale or return
MAX_TEXT = 200                # a free text (cash movement, drawer reason)


class RequestError(ValueError):
    """Input refused by its schema; the message is one line and never holds the input's value."""


class Model(BaseModel):
    """Strict and closed: types are not coerced, unknown fields are refused."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


M = TypeVar("M", bound=BaseModel)

_FRIENDLY = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
}


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith(("function-", "literal[", "tagged-union[")):
            out += f".{part}" if out else str(part)
    return out


def one_line(exc: ValidationError, what: str) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    msg = _FRIENDLY.get(first["type"]) or str(first["msg"])
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    where = _where(tuple(first["loc"]))
    text = f"{what}: {where + ': ' if where else ''}{msg}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more)"
    return " ".join(text.split())  # one line, whatever a message held


def parse(model: type[M], data: object, what: str | None = None) -> M:
    """`data` as `model`, or RequestError with one line naming the first field that is wrong."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestError(one_line(exc, what or _title(model))) from None
    except RecursionError:  # a document nested thousands deep
        raise RequestError(f"{what or _title(model)}: nested too deeply") from None


def _title(model: type[BaseModel]) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", model.__name__).lower()


# --- money ---------------------------------------------------------------------------------------

def kroner_text(value: object) -> int:
    """Text in kroner -> øre. "12.50" and "12,50" are the same amount; floats, NaN, infinities,
    booleans, thousands separators and non-ASCII digits (e.g. full-width "１２") are refused."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f'amount must be text in kroner, e.g. "12.50", not {_kind(value)}')
    s = value.strip()
    if not s.isascii():
        raise ValueError("amount must be written with the digits 0-9")
    if len(s) > 16:
        raise ValueError("amount is too long")
    if "," in s:
        if "." in s or s.count(",") > 1:
            raise ValueError('amount must have one decimal comma or dot and no thousands separator, '
                             'e.g. "1234.50"')
        s = s.replace(",", ".")
    try:
        ore = parse_kroner(s)
    except MoneyError as exc:
        raise ValueError(str(exc).split(":")[0]) from None  # the message without the value
    return ceiling(ore)


def ore_or_kroner_text(value: object) -> int:
    """Whole øre as an integer (where the API already uses them) or kroner as text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return ceiling(value)
    if isinstance(value, float):
        raise ValueError("amount must be whole øre or text in kroner, never a fraction")
    return kroner_text(value)


def ceiling(ore: int) -> int:
    if abs(ore) > MAX_AMOUNT_ORE:
        raise ValueError(f"amount is above the ceiling of {format_dkk(MAX_AMOUNT_ORE)}")
    return ore


def positive(ore: int) -> int:
    if ore <= 0:
        raise ValueError("amount must be positive")
    return ore


def not_negative(ore: int) -> int:
    if ore < 0:
        raise ValueError("amount cannot be negative")
    return ore


def _kind(value: object) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN or infinity"
    return {bool: "true/false", float: "a number with decimals", int: "a number",
            type(None): "null"}.get(type(value), type(value).__name__)


Kroner = Annotated[int, BeforeValidator(kroner_text)]
PositiveKroner = Annotated[int, BeforeValidator(lambda v: positive(kroner_text(v)))]
NonNegativeKroner = Annotated[int, BeforeValidator(lambda v: not_negative(kroner_text(v)))]
PositiveAmount = Annotated[int, BeforeValidator(lambda v: positive(ore_or_kroner_text(v)))]


# --- small shared fields ---------------------------------------------------------------------------

def ascii_text(max_len: int, pattern: str | None = None, name: str = "text") -> Any:
    rx = re.compile(pattern) if pattern else None

    def check(value: object) -> str:
        if not isinstance(value, str):
            raise ValueError(f"{name} must be text, not {_kind(value)}")
        if not value.isascii() or (rx is not None and not rx.fullmatch(value)) or not value:
            raise ValueError(f"{name} is not valid")
        if len(value) > max_len:
            raise ValueError(f"{name} is longer than {max_len} characters")
        return value
    return BeforeValidator(check)


def free_text(max_len: int, name: str = "text") -> Any:
    """Any printable text (Danish letters welcome), one line, at most `max_len` characters."""
    def check(value: object) -> str:
        if not isinstance(value, str):
            raise ValueError(f"{name} must be text, not {_kind(value)}")
        if len(value) > max_len:
            raise ValueError(f"{name} is longer than {max_len} characters")
        if any(not c.isprintable() for c in value):
            raise ValueError(f"{name} holds control characters")
        return value
    return BeforeValidator(check)


def pin_text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f'PIN must be text, e.g. "1234", not {_kind(value)}')
    if not (value.isascii() and value.isdigit() and 4 <= len(value) <= 6):
        raise ValueError("PIN must be 4 to 6 digits")
    return value


def whole(low: int, high: int, name: str) -> Any:
    """A whole number from JSON: not a bool, a float or text."""
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be a whole number, not {_kind(value)}")
        if not low <= value <= high:
            raise ValueError(f"{name} must be between {low} and {high}, got {value}")
        return value
    return BeforeValidator(check)


def decimal_text(value: object, places: int = 2) -> Decimal:
    """A whole number or ASCII decimal text (comma or dot) -> Decimal; never a float."""
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if not isinstance(value, str):
        raise ValueError(f'must be a whole number or text like "12.5", not {_kind(value)}')
    s = value.strip().replace(",", ".", 1)
    if not (s.isascii() and re.fullmatch(rf"\d{{1,6}}(\.\d{{1,{places}}})?", s)):
        raise ValueError(f"must be a number with at most {places} decimals")
    return Decimal(s)


Pin = Annotated[str, BeforeValidator(pin_text)]
CashierId = Annotated[str, ascii_text(36, r"[A-Za-z0-9._-]+", "cashier id")]
