"""The kiosk's settings use cases: one product created or edited, the favourites page, the shop's
details and the kiosk language. Every change is journalled (`settings_change`; a changed price also
as `price_change`, exactly like a catalog import) and its message for the manager is Danish."""

from __future__ import annotations

import json
import re
from typing import Any

from ..domain.barcodes import BarcodeError, normalise, validate_code
from ..domain.catalog import CatalogError, Product, make_product
from ..domain.money import MoneyError, parse_kroner
from ..store import catalog, settings
from ..store.db import transaction
from .till import Till

FAVOURITES_KEY = "kiosk.favourites"
LANGUAGE_KEY = "kiosk.language"
LANGUAGES = ("da", "en")  # the kiosk's texts (appliance/ui/i18n.py)
MAX_FAVOURITES = 24  # one page of product keys on the sale screen
NEW_SKU = re.compile(r"^N(\d{4,})$")


class ProductError(ValueError):
    """A product, favourite or shop detail that cannot be saved (the message is Danish)."""


def next_sku(till: Till) -> str:
    """A free SKU for a product created at the till: N0001, N0002, ..."""
    numbers = [int(m[1]) for (sku,) in till.conn.execute("SELECT sku FROM products WHERE sku LIKE 'N%'")
               if (m := NEW_SKU.match(sku))]
    return f"N{max(numbers, default=0) + 1:04d}"


def product(till: Till, sku: str) -> Product | None:
    found = catalog.select_products(till.conn, sku=sku)
    return found[0] if found else None


def search(till: Till, text: str, limit: int = 30) -> list[Product]:
    """By name (any part), SKU or barcode; products with their barcodes."""
    text = text.strip()
    like = f"%{text}%"
    skus = [r[0] for r in till.conn.execute(
        "SELECT DISTINCT p.sku FROM products p LEFT JOIN barcodes b ON b.sku = p.sku "
        "WHERE p.name LIKE ? OR p.sku = ? OR b.code = ? ORDER BY p.grp, p.name LIMIT ?",
        (like, text, text, limit))]
    return [p for sku in skus if (p := product(till, sku)) is not None]


def save_product(till: Till, sku: str, name: str, price: str, vat_rate: int, group: str,
                 barcodes: list[str], who: str) -> dict[str, Any]:
    """Create or update one product (its barcodes replace the old ones). Returns
    {"sku", "added", "price_change": {"from", "to"} | None}."""
    name, group = name.strip(), group.strip()
    if not name:
        raise ProductError("Varen skal have et navn.")
    if not group:
        raise ProductError("Vælg eller skriv en varegruppe.")
    try:
        ore = parse_kroner(price.strip().replace(",", "."))
    except MoneyError as exc:
        raise ProductError(f"Prisen {price!r} er ikke et beløb i kroner.") from exc
    codes: list[str] = []
    for raw in barcodes:
        if not raw.strip():
            continue
        try:
            codes.append(normalise(validate_code(raw.strip())))
        except BarcodeError as exc:
            raise ProductError(f"Stregkoden {raw.strip()} kan ikke bruges (forkert kontrolciffer "
                               "eller tegn).") from exc
    old = product(till, sku)
    try:
        new = make_product(sku, name, _kroner(ore), str(vat_rate), group, "|".join(codes),
                           old.content or "" if old else "")
    except CatalogError as exc:
        raise ProductError(f"Varen kan ikke gemmes: {exc}") from exc
    for code in new.barcodes:
        row = till.conn.execute("SELECT sku FROM barcodes WHERE code = ?", (code,)).fetchone()
        if row and row[0] != sku:
            raise ProductError(f"Stregkoden {code} hører allerede til vare {row[0]}.")
    with transaction(till.conn):
        result = catalog.replace_products(till.conn, [new], till.now().isoformat())
        till.journal.append("settings_change", who, {
            "setting": "product", "sku": new.sku, "name": new.name, "price": new.price,
            "vat_rate": new.vat_rate, "group": new.group, "barcodes": list(new.barcodes),
            "added": result["added"] == 1})
        for change in result["price_changes"]:
            till.journal.append("price_change", who, change)
    first = result["price_changes"][0] if result["price_changes"] else None
    return {"sku": new.sku, "added": result["added"] == 1,
            "price_change": {"from": first["from"], "to": first["to"]} if first else None}


def _kroner(ore: int) -> str:
    return f"{ore // 100}.{ore % 100:02d}"


def favourites(till: Till) -> list[Product]:
    skus = json.loads(settings.get_meta(till.conn, FAVOURITES_KEY) or "[]")
    return [p for sku in skus if (p := product(till, sku)) is not None]


def set_favourites(till: Till, skus: list[str], who: str) -> list[str]:
    """The sale screen's favourites page, in order; unknown SKUs are refused."""
    clean: list[str] = []
    for sku in skus:
        if sku in clean:
            continue
        if product(till, sku) is None:
            raise ProductError(f"Varen {sku} findes ikke.")
        clean.append(sku)
    if len(clean) > MAX_FAVOURITES:
        raise ProductError(f"Der er plads til {MAX_FAVOURITES} favoritter.")
    with transaction(till.conn):
        old = json.loads(settings.get_meta(till.conn, FAVOURITES_KEY) or "[]")
        settings.set_meta(till.conn, FAVOURITES_KEY, json.dumps(clean))
        till.journal.append("settings_change", who, {"key": FAVOURITES_KEY, "from": old, "to": clean})
    return clean


def set_shop(till: Till, shop_name: str, address: str, cvr: str, who: str) -> dict[str, str]:
    """The shop's name, address and CVR (printed on every receipt and report)."""
    values = {"shop_name": shop_name.strip(), "address": address.strip(),
              "cvr": cvr.strip().replace(" ", "")}
    if not values["shop_name"] or not values["address"]:
        raise ProductError("Butikkens navn og adresse skal udfyldes.")
    if not re.fullmatch(r"\d{8}", values["cvr"]):
        raise ProductError("CVR-nummeret skal være 8 cifre.")
    with transaction(till.conn):
        for key, value in values.items():
            old = settings.get_meta(till.conn, key)
            if old != value:
                settings.set_meta(till.conn, key, value)
                till.journal.append("settings_change", who, {"key": key, "from": old, "to": value})
    return values


def set_language(till: Till, code: str, who: str) -> str:
    if code not in LANGUAGES:
        raise ProductError(f"Sproget skal være et af {', '.join(LANGUAGES)}.")
    with transaction(till.conn):
        old = settings.get_meta(till.conn, LANGUAGE_KEY)
        settings.set_meta(till.conn, LANGUAGE_KEY, code)
        till.journal.append("settings_change", who, {"key": LANGUAGE_KEY, "from": old, "to": code})
    return code
