"""Settings as they come in from the shell or the kiosk's Settings screen: an account in the
mapping and a cashier. (Device specs have their own module, `requests.devices`.)"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator

from . import CashierId, Model, Pin, free_text, parse


def _account_number(value: object) -> int:
    """An account number: a whole number, or text of ASCII digits (the shell gives text)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() \
            and len(value.strip()) <= 9:
        number = int(value.strip())
    else:
        raise ValueError("account number must be a positive whole number (digits 0-9)")
    if not 0 < number < 10**9:
        raise ValueError("account number must be a positive whole number of at most 9 digits")
    return number


class AccountSetting(Model):
    key: Annotated[str, free_text(80, "account key")]
    number: Annotated[int, BeforeValidator(_account_number)]


class CashierSetting(Model):
    id: CashierId
    name: Annotated[str, free_text(60, "name")]
    role: Literal["cashier", "manager"]
    pin: Pin


def account_setting(key: object, number: object) -> AccountSetting:
    return parse(AccountSetting, {"key": key, "number": number}, "account")


def cashier_setting(cashier_id: object, name: object, role: object, pin: object) -> CashierSetting:
    return parse(CashierSetting, {"id": cashier_id, "name": name, "role": role, "pin": pin}, "cashier")
