"""Products and barcodes in the database; lookups by barcode are a primary-key probe."""

from __future__ import annotations

import sqlite3
from typing import Any, TypedDict

from ..domain.catalog import Product

# A price change as the journal records it ("from" is a keyword, hence the functional form).
PriceChange = TypedDict("PriceChange", {"sku": str, "from": int, "to": int})


class ProductChanges(TypedDict):
    added: int
    updated: int
    price_changes: list[PriceChange]
    changed_prices: int


def replace_products(conn: sqlite3.Connection, products: list[Product], when: str) -> ProductChanges:
    """Insert or update products by SKU; their barcodes replace the old ones. Returns counts."""
    known = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT sku, price, name FROM products")}
    added = changed = 0
    price_changes: list[PriceChange] = []
    for p in products:
        old = known.get(p.sku)
        if old is None:
            added += 1
        elif old[0] != p.price:
            changed += 1
            price_changes.append({"sku": p.sku, "from": old[0], "to": p.price})
        conn.execute(
            "INSERT INTO products (sku, name, price, vat_rate, grp, updated_at, content) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(sku) DO UPDATE SET name = excluded.name, "
            "price = excluded.price, vat_rate = excluded.vat_rate, grp = excluded.grp, "
            "content = excluded.content, "
            "updated_at = CASE WHEN products.price <> excluded.price THEN excluded.updated_at "
            "ELSE products.updated_at END",
            (p.sku, p.name, p.price, p.vat_rate, p.group, when, p.content))
        conn.execute("DELETE FROM barcodes WHERE sku = ?", (p.sku,))
    conn.executemany(
        "INSERT INTO barcodes (code, sku) VALUES (?, ?) "
        "ON CONFLICT(code) DO UPDATE SET sku = excluded.sku",
        [(code, p.sku) for p in products for code in p.barcodes])
    return {"added": added, "updated": len(products) - added, "price_changes": price_changes,
            "changed_prices": changed}


def _product(row: tuple[Any, ...], codes: tuple[str, ...] = ()) -> Product:
    return Product(row[0], row[1], row[2], row[3], row[4], codes, row[5])


def by_barcode(conn: sqlite3.Connection, code: str) -> Product | None:
    row = conn.execute(
        "SELECT p.sku, p.name, p.price, p.vat_rate, p.grp, p.content FROM barcodes b "
        "JOIN products p ON p.sku = b.sku WHERE b.code = ?", (code,)).fetchone()
    return _product(row) if row else None


def by_sku(conn: sqlite3.Connection, sku: str) -> Product | None:
    row = conn.execute(
        "SELECT sku, name, price, vat_rate, grp, content FROM products WHERE sku = ?", (sku,)).fetchone()
    return _product(row) if row else None


def all_products(conn: sqlite3.Connection) -> list[Product]:
    return select_products(conn)


def select_products(conn: sqlite3.Connection, *, sku: str | None = None, group: str | None = None,
                    changed_since: str | None = None) -> list[Product]:
    """Products with their barcodes, by SKU, group, or price changed (or added) at or after an
    ISO time; no filter gives them all."""
    where, args = [], []
    for clause, value in (("sku = ?", sku), ("grp = ?", group), ("updated_at >= ?", changed_since)):
        if value is not None:
            where.append(clause)
            args.append(value)
    sql = "SELECT sku, name, price, vat_rate, grp, content FROM products"
    rows = conn.execute(sql + (" WHERE " + " AND ".join(where) if where else "") +
                        " ORDER BY grp, name", args).fetchall()
    codes: dict[str, list[str]] = {r[0]: [] for r in rows}
    for code, code_sku in conn.execute("SELECT code, sku FROM barcodes ORDER BY code"):
        if code_sku in codes:
            codes[code_sku].append(code)
    return [_product(r, tuple(codes[r[0]])) for r in rows]


def groups(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT DISTINCT grp FROM products ORDER BY grp")]


def search(conn: sqlite3.Connection, text: str, limit: int) -> list[tuple[str, str, int]]:
    """(sku, name, price) of products whose name holds the text, or whose SKU or a barcode is it."""
    rows = conn.execute(
        "SELECT DISTINCT p.sku, p.name, p.price FROM products p "
        "LEFT JOIN barcodes b ON b.sku = p.sku "
        "WHERE p.name LIKE ? OR p.sku = ? OR b.code = ? ORDER BY p.name LIMIT ?",
        (f"%{text}%", text, text, limit)).fetchall()
    return [(str(sku), str(name), int(price)) for sku, name, price in rows]
