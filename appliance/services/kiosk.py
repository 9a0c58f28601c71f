"""What the kiosk's screens ask the till, in one place: the queries and small use cases a screen
runs on the backend's worker. Screens call these instead of reaching into the store, so the tables
can change without a screen knowing (import-linter holds `ui` away from `store`)."""

from __future__ import annotations

from ..domain.catalog import Product
from ..domain.roles import Cashier
from ..store import catalog, settings
from ..store.db import transaction
from .till import Till

# --- the kiosk's own state (not journalled: it is the screen's, not the shop's record) ----------

def kiosk_value(till: Till, key: str, default: str | None = None) -> str | None:
    return settings.get_meta(till.conn, key, default)


def set_kiosk_value(till: Till, key: str, value: str) -> None:
    with transaction(till.conn):
        settings.set_meta(till.conn, key, value)


# --- settings a manager changes (journalled) --------------------------------------------------

def change_setting(till: Till, key: str, value: str, who: str, default: str | None = None) -> bool:
    """Set a shop setting and journal the change; False when it already had that value."""
    if settings.get_meta(till.conn, key, default) == value:
        return False
    with transaction(till.conn):
        settings.set_meta(till.conn, key, value)
        till.journal.append("settings_change", who, {"key": key, "value": value})
    return True


# --- people, shop, accounts -------------------------------------------------------------------

def cashiers(till: Till) -> list[Cashier]:
    return settings.cashiers(till.conn)


def cashier(till: Till, cashier_id: str) -> Cashier | None:
    found = settings.cashier(till.conn, cashier_id)
    return None if found is None else found[0]


def shop(till: Till) -> dict[str, str]:
    return settings.shop(till.conn)


def accounts(till: Till) -> dict[str, int]:
    return settings.accounts(till.conn)


# --- the catalog ---------------------------------------------------------------------------------

def product_groups(till: Till) -> list[str]:
    return catalog.groups(till.conn)


def products(till: Till, *, group: str | None = None, sku: str | None = None) -> list[Product]:
    return catalog.select_products(till.conn, group=group, sku=sku)


def product_by_sku(till: Till, sku: str) -> Product | None:
    return catalog.by_sku(till.conn, sku)


def product_by_barcode(till: Till, code: str) -> Product | None:
    return catalog.by_barcode(till.conn, code)


def search_products(till: Till, text: str, limit: int) -> list[tuple[str, str, int]]:
    return catalog.search(till.conn, text, limit)
