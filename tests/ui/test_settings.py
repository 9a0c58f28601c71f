"""The settings screen driven by touches and scans: the manager's PIN, products from an unknown
barcode, a price change with its shelf label, a new cashier, the favourites page."""

from __future__ import annotations

import json

import pytest

from appliance.domain.barcodes import gtin_check_digit
from appliance.ui.widgets import find_key
from tests.ui.conftest import query


def open_settings(kiosk) -> None:
    kiosk.tap("menu-toggle")
    kiosk.tap("menu-settings")
    assert kiosk.app.manager.current == "settings"


def scan(kiosk, code: str) -> None:
    """kiosk.scan, waiting until the UI has taken the scan off the queue (the drain runs every
    20 ms; Driver.scan's settle can finish before it)."""
    kiosk.scan(code)
    kiosk.until(kiosk.app.backend.devices.events.empty, what="the scan to be taken")
    kiosk.settle()


def journal_count(kiosk, kind: str) -> int:
    return query(kiosk, "SELECT COUNT(*) FROM journal WHERE kind = ?", kind)[0][0]


def pad(kiosk, text: str) -> None:
    for ch in text:
        kiosk.tap("pad-comma" if ch == "," else f"pad-{ch}")


def test_a_cashier_needs_a_managers_pin(kiosk) -> None:
    kiosk.login("anna", "1111")
    open_settings(kiosk)
    screen = kiosk.app.screen("settings")
    assert screen.approver is None
    with pytest.raises(AssertionError, match="disabled"):
        kiosk.tap("section-cashiers")
    failed = journal_count(kiosk, "login_failed")
    kiosk.tap("gate-cashier-bo")
    kiosk.type_pin("9999")
    kiosk.tap("gate-ok")
    assert screen.approver is None and find_key(screen, "shop-save") is None
    assert "Forkert PIN" in kiosk.app.message and kiosk.app.message_level == "error"
    assert journal_count(kiosk, "login_failed") == failed + 1
    kiosk.tap("gate-cashier-bo")
    kiosk.type_pin("2222")
    kiosk.tap("gate-ok")
    assert screen.approver.id == "bo" and screen.section == "shop"
    assert screen.current().ids.shop_name.text == "Købmand Demo"
    assert kiosk.app.session.cashier.id == "anna"  # the cashier stays logged in
    # leaving locks the screen again
    kiosk.tap("back")
    open_settings(kiosk)
    assert screen.approver is None and find_key(screen, "gate-ok") is not None


def test_a_product_created_from_an_unknown_scan_sells(kiosk) -> None:
    code = "570888888888" + str(gtin_check_digit("570888888888"))
    kiosk.login("bo", "2222")
    scan(kiosk, code)
    assert "Ukendt stregkode" in kiosk.app.message
    kiosk.tap("create-product")
    screen = kiosk.app.screen("settings")
    assert kiosk.app.manager.current == "settings"
    form = screen.current()
    assert form.is_new and form.ids.barcode.text == code and form.sku.startswith("N")
    form.ids.name.text = "Hjemmebagt kage"
    form.ids.group.text = "Brød"
    pad(kiosk, "24,50")
    kiosk.tap("product-save")
    assert "oprettet" in kiosk.app.message
    [(sku, name, price, vat, grp)] = query(
        kiosk, "SELECT p.sku, p.name, p.price, p.vat_rate, p.grp FROM products p "
               "JOIN barcodes b ON b.sku = p.sku WHERE b.code = ?", code)
    assert (sku, name, price, vat, grp) == (form.sku, "Hjemmebagt kage", 2450, 25, "Brød")
    [(data,)] = query(kiosk, "SELECT payload FROM journal WHERE kind = 'settings_change' "
                             "ORDER BY nr DESC LIMIT 1")
    assert json.loads(data)["sku"] == sku
    kiosk.tap("back")
    scan(kiosk, code)
    line = kiosk.app.session.basket.lines[-1]
    assert (line.sku, line.unit_price) == (sku, 2450)
    assert kiosk.app.screen("sale").ids.total.text == "24,50"


def test_a_price_change_is_journalled_and_prints_a_shelf_label(kiosk) -> None:
    [(sku, name, old, code)] = query(
        kiosk, "SELECT p.sku, p.name, p.price, b.code FROM products p JOIN barcodes b ON b.sku = p.sku "
               "WHERE p.sku LIKE 'D%' ORDER BY p.sku DESC LIMIT 1")
    labels = kiosk.app.data_dir / "sim" / "labels"
    before = set(labels.glob("*.png")) if labels.exists() else set()
    changes = journal_count(kiosk, "price_change")
    kiosk.login("bo", "2222")
    open_settings(kiosk)
    kiosk.tap("section-products")
    screen = kiosk.app.screen("settings")
    screen.current().ids.search.text = code
    kiosk.tap("products-search")
    kiosk.tap(f"edit-{sku}")
    form = screen.current()
    assert form.ids.name.text == name and form.ids.pad.text == f"{old // 100},{old % 100:02d}"
    assert find_key(screen, "print-label").disabled  # nothing to print before a price change
    new = old + 100
    kiosk.tap("price-clear")
    pad(kiosk, f"{new // 100},{new % 100:02d}")
    kiosk.tap("product-save")
    assert "Prisen er ændret" in kiosk.app.message
    assert query(kiosk, "SELECT price FROM products WHERE sku = ?", sku) == [(new,)]
    assert journal_count(kiosk, "price_change") == changes + 1
    [(data, who)] = query(kiosk, "SELECT payload, cashier FROM journal WHERE kind = 'price_change' "
                                 "ORDER BY nr DESC LIMIT 1")
    assert json.loads(data) == {"sku": sku, "from": old, "to": new} and who == "bo"
    kiosk.tap("print-label")
    assert "Hyldeetiketten er printet" in kiosk.app.message
    printed = set(labels.glob("*.png")) - before
    assert len(printed) == 1 and next(iter(printed)).name.endswith(f"-{code}.png")
    png = next(iter(printed))
    zpl = (labels / (png.name.split("-")[0] + ".zpl")).read_text(encoding="utf-8")
    assert f"{new // 100},{new % 100:02d}" in zpl


def test_a_new_cashier_can_log_in_and_change_pin(kiosk) -> None:
    kiosk.login("bo", "2222")
    open_settings(kiosk)
    kiosk.tap("section-cashiers")
    section = kiosk.app.screen("settings").current()
    kiosk.tap("cashier-new")
    section.ids.cid.text = "carl"
    section.ids.name.text = "Carl"
    kiosk.tap("role-cashier")
    kiosk.type_pin("12")
    kiosk.tap("cashier-save")
    assert "PIN skal være 4 til 6 cifre" in kiosk.app.message
    kiosk.type_pin("34")
    kiosk.tap("cashier-save")
    assert query(kiosk, "SELECT name, role, active FROM cashiers WHERE id = 'carl'") == [("Carl", "cashier", 1)]
    [(data, who)] = query(kiosk, "SELECT payload, cashier FROM journal WHERE kind = 'settings_change' "
                                 "ORDER BY nr DESC LIMIT 1")
    assert json.loads(data)["id"] == "carl" and who == "bo"
    assert find_key(kiosk.app.screen("settings"), "pick-cashier-carl") is not None
    # a new PIN for Carl
    kiosk.tap("pick-cashier-carl")
    assert section.ids.cid.disabled and section.ids.name.text == "Carl"
    kiosk.type_pin("5678")
    kiosk.tap("cashier-save")
    kiosk.tap("back")
    kiosk.tap("menu-toggle")
    kiosk.tap("menu-logout")
    kiosk.login("carl", "1234")
    assert kiosk.app.manager.current == "login" and "Forkert PIN" in kiosk.app.message
    kiosk.login("carl", "5678")
    assert kiosk.app.manager.current == "sale" and kiosk.app.session.cashier.id == "carl"
    assert not kiosk.app.session.is_manager


def test_favourites_edited_show_on_the_sale_screen(kiosk) -> None:
    [(raw,)] = query(kiosk, "SELECT value FROM meta WHERE key = 'kiosk.favourites'")
    original = json.loads(raw)
    removed = original[0]
    [(added, added_name)] = query(kiosk, "SELECT sku, name FROM products WHERE grp = 'Husholdning' "
                                         "AND sku NOT IN (SELECT value FROM json_each(?)) "
                                         "ORDER BY sku LIMIT 1", raw)
    kiosk.login("bo", "2222")
    open_settings(kiosk)
    kiosk.tap("section-favourites")
    section = kiosk.app.screen("settings").current()
    kiosk.tap(f"fav-remove-{removed}")
    section.ids.search.text = added_name
    kiosk.tap("favourites-search")
    kiosk.tap(f"fav-add-{added}")
    saved = json.loads(query(kiosk, "SELECT value FROM meta WHERE key = 'kiosk.favourites'")[0][0])
    assert saved == [*original[1:], added]
    kiosk.tap("back")
    kiosk.tap("group-favourites")
    sale = kiosk.app.screen("sale")
    assert [k[0] for k in sale.keys] == saved
    kiosk.tap(f"product-{added}")
    assert kiosk.app.session.basket.lines[-1].sku == added
    # put the page back as it was for the rest of the suite
    kiosk.tap("void-line")
    open_settings(kiosk)
    kiosk.tap("section-favourites")
    section = kiosk.app.screen("settings").current()
    kiosk.tap(f"fav-remove-{added}")
    section.ids.search.text = query(kiosk, "SELECT name FROM products WHERE sku = ?", removed)[0][0]
    kiosk.tap("favourites-search")
    kiosk.tap(f"fav-add-{removed}")
    assert set(json.loads(query(kiosk, "SELECT value FROM meta WHERE key = 'kiosk.favourites'")[0][0])) \
        == set(original)


def test_the_dinero_check_says_when_dinero_is_not_connected(kiosk) -> None:
    kiosk.login("bo", "2222")
    open_settings(kiosk)
    kiosk.tap("section-accounts")
    kiosk.tap("accounts-check")
    section = kiosk.app.screen("settings").current()
    assert "Dinero er ikke forbundet" in section.result
    kiosk.tap("section-devices")
    kiosk.tap("test-printer")
    assert "Testbonen er printet" in kiosk.app.message
    [(doc,)] = query(kiosk, "SELECT document FROM print_jobs WHERE kind = 'document' AND state = 'printed' "
                            "ORDER BY id DESC LIMIT 1")
    assert "TESTBON" in doc
