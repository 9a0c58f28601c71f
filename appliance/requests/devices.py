"""Device specs (`till hw set ROLE JSON`, `till hw layout JSON`, the kiosk's device settings) as
schemas: one flat JSON object per role, its `kind` one the role knows, and each value of the type
its key takes (whole numbers for pins, lines, ports and pulses; true/false for switches; finite
numbers for delays; text otherwise). The driver then checks the values themselves when it is built."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from . import RequestError, parse

WHOLE = frozenset({"pulse_ms", "line", "sensor_line", "pin", "port", "baudrate", "paper_mm", "columns",
                   "key_version", "dpi"})
NUMBER = frozenset({"delay_s", "timeout", "width_mm", "height_mm", "margin_mm", "gap_mm"})
FLAG = frozenset({"sensor", "active_low", "keyboard", "status"})
MAX_KEYS = 20


def _kind(value: object) -> str:
    return {bool: "true/false", float: "a number with decimals", int: "a number", type(None): "null",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def check_flat(data: object, numbers_only: bool = False) -> dict[str, Any]:
    """The shape every spec has: a flat object of short ASCII keys to scalars of the key's type."""
    if not isinstance(data, dict):
        raise ValueError('must be a JSON object, e.g. {"kind": "sim", ...}')
    if len(data) > MAX_KEYS:
        raise ValueError(f"has more than {MAX_KEYS} keys")
    for key, value in data.items():
        if not (isinstance(key, str) and key.isascii() and key.isidentifier() and len(key) <= 40):
            raise ValueError("a key is not a short ASCII name")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{key} must be a finite number, not NaN or infinity")
        if key in WHOLE and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{key} must be a whole number, not {_kind(value)}")
        elif key in FLAG and not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false, not {_kind(value)}")
        elif (key in NUMBER or numbers_only) and (isinstance(value, bool)
                                                  or not isinstance(value, int | float)):
            raise ValueError(f"{key} must be a number, not {_kind(value)}")
        elif key not in WHOLE | FLAG | NUMBER and not numbers_only:
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise ValueError(f"{key} must be text, not {_kind(value)}")
            if isinstance(value, str) and (len(value) > 500 or not value.isprintable()):
                raise ValueError(f"{key} must be one line of at most 500 characters")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**9:
            raise ValueError(f"{key} is out of range")
    return data


class _Spec(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _flat(cls, data: object) -> object:
        return check_flat(data)


class PrinterSpec(_Spec):
    kind: Literal["usb", "serial", "network", "sim"]


class DrawerSpec(_Spec):
    kind: Literal["gpio", "printer_kick", "sim"]


class ScannerSpec(_Spec):
    kind: Literal["evdev", "serial", "sim"]


class LabelsSpec(_Spec):
    kind: Literal["zpl", "brother_ql", "sim"]


class TerminalSpec(_Spec):
    kind: Literal["nexo", "sim"]


class LabelLayoutSpec(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _flat(cls, data: object) -> object:
        return check_flat(data, numbers_only=True)


SPECS: dict[str, type[_Spec]] = {"printer": PrinterSpec, "drawer": DrawerSpec, "scanner": ScannerSpec,
                                 "labels": LabelsSpec, "terminal": TerminalSpec}


def device_spec(role: str, data: object) -> dict[str, Any]:
    """A role's spec checked against its schema (RequestError says which key), as a plain dict."""
    schema = SPECS.get(role)
    if schema is None:
        raise RequestError(f"device role must be one of {', '.join(SPECS)}, not {role!r}")
    parse(schema, data, f"{role} spec")
    assert isinstance(data, dict)
    return dict(data)


def label_layout(data: object) -> dict[str, Any]:
    parse(LabelLayoutSpec, data, "label layout")
    assert isinstance(data, dict)
    return dict(data)
