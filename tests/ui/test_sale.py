"""The login and sale screens driven by touches and scans."""

from __future__ import annotations

from tests.ui.conftest import query


def a_barcode(kiosk, sku_like: str = "D%") -> tuple[str, str, int]:
    [(code, sku, price)] = query(kiosk, "SELECT b.code, p.sku, p.price FROM barcodes b JOIN products p "
                                        "ON p.sku = b.sku WHERE p.sku LIKE ? ORDER BY p.sku LIMIT 1", sku_like)
    return code, sku, price


def test_wrong_pin_is_refused_and_journalled(kiosk) -> None:
    before = query(kiosk, "SELECT COUNT(*) FROM journal WHERE kind = 'login_failed'")[0][0]
    kiosk.tap("cashier-anna")
    kiosk.type_pin("9999")
    kiosk.tap("login")
    assert kiosk.app.manager.current == "login"
    assert "Forkert PIN" in kiosk.app.message and kiosk.app.message_level == "error"
    after = query(kiosk, "SELECT COUNT(*) FROM journal WHERE kind = 'login_failed'")[0][0]
    assert after == before + 1


def test_scans_fill_the_basket_and_unknown_codes_say_so(kiosk) -> None:
    kiosk.login("anna", "1111")
    assert kiosk.app.manager.current == "sale"
    code, sku, price = a_barcode(kiosk)
    kiosk.scan(code)
    kiosk.scan(code)
    sale = kiosk.app.screen("sale")
    assert [ln.sku for ln in kiosk.app.session.basket.lines] == [sku, sku]
    assert sale.ids.total.text == f"{2 * price // 100},{2 * price % 100:02d}"
    kiosk.scan("5701234567898")  # wrong check digit
    assert "kontrolciffer" in kiosk.app.message
    from appliance.domain.barcodes import gtin_check_digit
    kiosk.scan("570999999999" + str(gtin_check_digit("570999999999")))  # well formed, not in the catalog
    assert "Ukendt stregkode" in kiosk.app.message
    assert len(kiosk.app.session.basket.lines) == 2
    kiosk.tap("qty-plus")
    assert kiosk.app.session.basket.lines[-1].qty == 2
    kiosk.tap("void-line")
    assert kiosk.app.session.basket.lines[-1].voided
    assert sale.ids.total.text == f"{price // 100},{price % 100:02d}"


def test_product_keys_and_search(kiosk) -> None:
    kiosk.login("anna", "1111")
    [(sku, name)] = query(kiosk, "SELECT sku, name FROM products WHERE grp = 'Brød' ORDER BY name LIMIT 1")
    kiosk.tap("group-Brød")
    kiosk.tap(f"product-{sku}")
    assert kiosk.app.session.basket.lines[-1].sku == sku
    sale = kiosk.app.screen("sale")
    sale.ids.search.text = name
    kiosk.tap("search")
    kiosk.tap(f"product-{sku}")
    assert [ln.sku for ln in kiosk.app.session.basket.lines] == [sku, sku]


def test_the_basket_survives_a_restart(kiosk) -> None:
    import json
    kiosk.login("anna", "1111")
    code, sku, _price = a_barcode(kiosk)
    kiosk.scan(code)
    kiosk.settle()
    [(saved,)] = query(kiosk, "SELECT value FROM meta WHERE key = 'kiosk.session'")
    data = json.loads(saved)
    assert data["cashier"] == "anna" and data["basket"]["lines"][0]["sku"] == sku
    from appliance.ui.session import restore
    assert restore(saved)["basket"].lines[0].sku == sku
