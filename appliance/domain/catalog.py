"""Products and the catalog CSV format. Parsing is all-or-nothing: a broken row names its line."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from .barcodes import BarcodeError, normalise, validate_code
from .money import MoneyError, parse_kroner
from .units import ContentError, parse_content
from .vat import VatError, check_rate

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


def parse_catalog_csv(text: str) -> list[Product]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration as exc:
        raise CatalogError("the file is empty", 1) from exc
    columns = tuple(h.strip().lower() for h in header)
    if columns not in (CSV_HEADER, CSV_HEADER + OPTIONAL_COLUMNS):
        raise CatalogError(f"header must be {','.join(CSV_HEADER)} (optionally ,content)", 1)
    products: list[Product] = []
    seen_sku: dict[str, int] = {}
    seen_code: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(columns):
            raise CatalogError(f"expected {len(columns)} fields, found {len(row)}", line)
        sku, barcode, name, price, vat_rate, group = row[:6]
        try:
            product = make_product(sku, name, price, vat_rate, group, barcode, *row[6:])
        except CatalogError as exc:
            raise CatalogError(str(exc), line) from exc
        if product.sku in seen_sku:
            raise CatalogError(f"SKU {product.sku} also on line {seen_sku[product.sku]}", line)
        seen_sku[product.sku] = line
        for code in product.barcodes:
            if code in seen_code:
                raise CatalogError(f"barcode {code} also on line {seen_code[code]}", line)
            seen_code[code] = line
        products.append(product)
    return products
