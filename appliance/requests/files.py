"""The files the till reads, as schemas: a row of the catalog CSV and the secrets files
(`DATA/secrets/<name>.json`: the Dinero login, MobilePay's secrets, the card terminal's key).

A secrets file that does not hold what its schema says is refused as a whole with a one-line
message that names the field but never a value."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

from ..domain.catalog import MAX_PRICE
from ..domain.money import format_dkk, format_kroner
from . import Model, NonNegativeKroner, RequestError, ascii_text, free_text, parse, whole


def _price(value: object) -> int:
    if isinstance(value, str) and value.strip() == "":
        raise ValueError("price is required")
    return value  # type: ignore[return-value]  # NonNegativeKroner reads it next


def _at_most_price(ore: int) -> int:
    if ore > MAX_PRICE:
        raise ValueError(f"price is out of range (0 to {format_dkk(MAX_PRICE)})")
    return ore


class CatalogRow(Model):
    """One product line of the catalog CSV (sku,barcode,name,price,vat_rate,group[,content]); every
    cell is text. Price in kroner ("12.95" or, quoted, "12,95"); codes and numbers in ASCII."""

    sku: Annotated[str, ascii_text(60, r"\s*[A-Za-z0-9][A-Za-z0-9._/-]*\s*", "SKU")]
    barcode: Annotated[str, BeforeValidator(lambda v: _codes(v))]
    name: Annotated[str, free_text(200, "name")]
    price: Annotated[NonNegativeKroner, BeforeValidator(_price)]
    vat_rate: Annotated[str, ascii_text(4, r"\s*[0-9]{1,3}\s*", "VAT rate")]
    group: Annotated[str, free_text(60, "group")]
    content: Annotated[str, BeforeValidator(lambda v: _content(v))] = ""

    def plain(self) -> dict[str, str]:
        """The cells as `domain.catalog.make_product` takes them (price with a dot)."""
        _at_most_price(self.price)
        return {"sku": self.sku, "barcode": self.barcode, "name": self.name,
                "price": format_kroner(self.price), "vat_rate": self.vat_rate, "group": self.group,
                "content": self.content}


def _codes(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("barcode must be text")
    if not value.isascii() or any(not c.isprintable() for c in value) or len(value) > 400:
        raise ValueError("barcodes must be ASCII codes separated by |")
    return value


def _content(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("content must be text")
    if not value.isascii() or len(value) > 20:
        raise ValueError('content must be like "500 g" or "1,5 l" (digits 0-9)')
    return value


def catalog_row(cells: dict[str, str]) -> dict[str, str]:
    """A CSV row's cells checked against CatalogRow (RequestError names the column)."""
    row = parse(CatalogRow, cells, "catalog row")
    try:
        return row.plain()
    except ValueError as exc:
        raise RequestError(f"catalog row: price: {exc}") from None


# --- secrets -------------------------------------------------------------------------------------

Secret = Annotated[str, free_text(4096, "secret")]


class SecretsFile(BaseModel):
    """What every secrets file is: a JSON object of short ASCII names to text, whole numbers, finite
    numbers (times), true/false or null; nothing nested."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _flat(cls, data: object) -> object:
        if not isinstance(data, dict):
            raise ValueError("must be a JSON object")
        for name, value in data.items():
            if not (isinstance(name, str) and name.isascii() and name.isidentifier() and len(name) <= 64):
                raise ValueError("a field name is not a short ASCII name")
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{name} is not a finite number")
            if not (value is None or isinstance(value, str | int | float)):  # bool is an int
                raise ValueError(f"{name} must be text, a number, true/false or null")
            if isinstance(value, str) and len(value) > 16_384:
                raise ValueError(f"{name} is too long")
        return data


class DineroSecrets(SecretsFile):
    kind: Literal["personal", "relay"] | None = None
    org_id: Annotated[int, whole(1, 10**12, "org_id")] | None = None
    client_id: Secret | None = None
    client_secret: Secret | None = None
    api_key: Secret | None = None
    access_token: Secret | None = None
    refresh_token: Secret | None = None


class MobilePaySecrets(SecretsFile):
    client_secret: Secret | None = None
    subscription_key: Secret | None = None


class TerminalSecrets(SecretsFile):
    passphrase: Secret | None = None
    key_id: Annotated[str, ascii_text(64, r"[\x21-\x7e]+", "key_id")] | None = None
    key_version: Annotated[int, whole(0, 10**9, "key_version")] | None = None


SECRETS: dict[str, type[SecretsFile]] = {
    "dinero": DineroSecrets, "mobilepay": MobilePaySecrets, "terminal": TerminalSecrets,
}


def secrets_record(name: str, data: object) -> dict[str, Any]:
    """A secrets file's JSON as its schema reads it (RequestError names the field, never a value)."""
    parse(SECRETS.get(name, SecretsFile), data, f"secrets/{name}.json")
    assert isinstance(data, dict)
    return dict(data)


__all__ = ["SECRETS", "CatalogRow", "catalog_row", "secrets_record"]
