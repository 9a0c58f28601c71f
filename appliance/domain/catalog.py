"""Products and the catalog CSV format. Parsing is all-or-nothing: a broken row names its line."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .barcodes import BarcodeError, normalise, validate_code
from .money import MoneyError, parse_kroner
from .units import ContentError, parse_content
from .vat import VatError, check_rate


def _rows(reader: Any) -> Iterator[list[str]]:
    """The reader's rows; a line the csv module cannot read (a field past its size limit, a stray
    quote at the end of the file) is a CatalogError naming it."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CatalogError(f"not a CSV line: {exc}", reader.line_num) from exc


CSV_HEADER = ("sku", "barcode", "name", "price", "vat_rate", "group")
OPTIONAL_COLUMNS = ("content",)  # "500 g", "1,5 l": the shelf label's unit price
MAX_PRICE = 10_000_000  # 100,000.00 kr: anything above is a typo, not a product
_SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,39}$")
_GROUP = re.compile(r"^[\wÆØÅæøåéÉ &.-]{1,40}$")


class CatalogError(ValueError):
    def __init__(self, message: str, line: int | None = None):
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price: int  # øre incl. VAT; per kg for goods sold by weight
    vat_rate: int
    group: str
    barcodes: tuple[str, ...] = ()
    content: str | None = None  # normalised, e.g. "500 g"


def check_group(group: str) -> str:
    group = group.strip()
    if not _GROUP.match(group):
        raise CatalogError(f"product group {group!r} must be 1-40 letters, digits or spaces")
    return group


def make_product(
    sku: str, name: str, price: str, vat_rate: str, group: str, barcodes: str = "", content: str = ""
) -> Product:
    sku = sku.strip()
    if not _SKU.match(sku):
        raise CatalogError(f"SKU {sku!r} must be 1-40 letters, digits, '.', '_', '/', '-'")
    name = name.strip()
    if not name or len(name) > 80:
        raise CatalogError("name must be 1-80 characters")
    if not (price.isascii() and vat_rate.isascii() and barcodes.isascii() and content.isascii()):
        raise CatalogError("price, VAT rate, barcodes and content take the digits 0-9 only")
    try:
        price_ore = parse_kroner(price)
        rate = check_rate(int(vat_rate.strip()) if vat_rate.strip().isdigit() else -1)
        codes = tuple(normalise(validate_code(c)) for c in barcodes.split("|") if c.strip())
        packed = str(parse_content(content)) if content.strip() else None
    except (MoneyError, VatError, BarcodeError, ContentError) as exc:
        raise CatalogError(str(exc)) from exc
    if not 0 <= price_ore <= MAX_PRICE:
        raise CatalogError(f"price {price} is out of range (0 to 100000.00)")
    return Product(sku, name, price_ore, rate, check_group(group), codes, packed)


MAX_ROWS = 100_000


def parse_catalog_csv(text: str,
                      row_schema: Callable[[dict[str, str]], dict[str, str]] | None = None) -> list[Product]:
    """Every product of the file, or CatalogError naming the first bad line. `row_schema` checks a
    row's cells first (the boundary's declared schema, `requests.files.catalog_row`) and gives them
    back cleaned; a ValueError from it is that line's error."""
    if "\x00" in text:
        raise CatalogError("the file holds NUL characters: not a CSV text file")
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration as exc:
        raise CatalogError("the file is empty", 1) from exc
    except csv.Error as exc:
        raise CatalogError(f"not a CSV file: {exc}", 1) from exc
    columns = tuple(h.strip().lower() for h in header)
    if columns not in (CSV_HEADER, CSV_HEADER + OPTIONAL_COLUMNS):
        raise CatalogError(f"header must be {','.join(CSV_HEADER)} (optionally ,content)", 1)
    products: list[Product] = []
    seen_sku: dict[str, int] = {}
    seen_code: dict[str, int] = {}
    for row in _rows(reader):
        line = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(columns):
            raise CatalogError(f"expected {len(columns)} fields, found {len(row)}", line)
        if len(products) >= MAX_ROWS:
            raise CatalogError(f"more than {MAX_ROWS} products", line)
        sku, barcode, name, price, vat_rate, group = row[:6]
        try:
            if row_schema is not None:
                cells = row_schema(dict(zip(CSV_HEADER + OPTIONAL_COLUMNS, row, strict=False)))
                sku, barcode, name, price, vat_rate, group = (cells[c] for c in CSV_HEADER)
                row = [*row[:6], *([cells["content"]] if len(row) > 6 else [])]
            product = make_product(sku, name, price, vat_rate, group, barcode, *row[6:])
        except CatalogError as exc:
            raise CatalogError(str(exc), line) from exc
        except ValueError as exc:
            raise CatalogError(str(exc).removeprefix("catalog row: "), line) from exc
        if product.sku in seen_sku:
            raise CatalogError(f"SKU {product.sku} also on line {seen_sku[product.sku]}", line)
        seen_sku[product.sku] = line
        for code in product.barcodes:
            if code in seen_code:
                raise CatalogError(f"barcode {code} also on line {seen_code[code]}", line)
            seen_code[code] = line
        products.append(product)
    return products
