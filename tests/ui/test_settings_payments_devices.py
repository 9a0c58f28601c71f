"""Settings, by touch: payment types switched off and on (the payment screen offers only those on, the
journal has each change; cash is always on), a device chosen from what detection finds (udev answered
by recorded properties, as tests/drivers/test_detect.py does), and "Test terminal" against the demo
shop's simulated terminal and against one that cannot be reached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.ui.screens.settings import DevicesSection
from appliance.ui.widgets import find_key
from tests.drivers.test_detect import EPSON_TM_T20III, HONEYWELL_VOYAGER_EVENT, FakeContext
from tests.ui.conftest import query
from tests.ui.test_counter_flows import copy_shop, run_child


def open_section(kiosk, name: str) -> None:
    kiosk.tap("menu-toggle")
    kiosk.tap("menu-settings")
    assert kiosk.app.manager.current == "settings"
    kiosk.tap(f"section-{name}")


def last_change(kiosk, key: str) -> tuple[dict, str]:
    rows = query(kiosk, "SELECT payload, cashier FROM journal WHERE kind = 'settings_change' ORDER BY nr DESC")
    return next((json.loads(p), who) for p, who in rows if json.loads(p).get("key") == key)


def to_payment(kiosk) -> None:
    code = query(kiosk, "SELECT code FROM barcodes WHERE code LIKE '570%' ORDER BY code LIMIT 1")[0][0]
    kiosk.scan(code)
    kiosk.tap("pay")
    assert kiosk.app.manager.current == "payment"


def device_settings(kiosk) -> dict:
    from appliance.services.devices import device_settings as read
    return kiosk.app.backend.run(read)


def set_device(kiosk, role: str, spec: dict | None) -> None:
    from appliance.services.devices import set_device as save
    kiosk.app.backend.run(lambda t: save(t, role, spec, "system"))


def test_gift_voucher_switched_off_is_not_offered_then_back_on(kiosk) -> None:
    kiosk.login("bo", "2222")
    open_section(kiosk, "payments")
    screen = kiosk.app.screen("settings")
    assert find_key(screen, "ptype-cash").disabled  # cash cannot be switched off
    assert "danske butikker skal tage imod kontanter" in screen.current().ids.types.children[-2].text
    kiosk.tap("ptype-gift_voucher")
    assert "Gavekort er slået fra" in kiosk.app.message
    assert json.loads(query(kiosk, "SELECT value FROM meta WHERE key = 'payment.types'")[0][0]) == [
        "cash", "card", "mobilepay", "manual_card"]
    change, who = last_change(kiosk, "payment.types")
    assert change["to"] == ["cash", "card", "mobilepay", "manual_card"] and who == "bo"
    assert "gift_voucher" in change["from"]
    kiosk.tap("back")
    to_payment(kiosk)
    payment = kiosk.app.screen("payment")
    assert find_key(payment, "tender-gift_voucher") is None
    assert all(find_key(payment, f"tender-{t}") is not None
               for t in ("cash", "card", "mobilepay", "manual_card"))
    kiosk.tap("back")

    open_section(kiosk, "payments")
    kiosk.tap("ptype-gift_voucher")
    assert "Gavekort er slået til" in kiosk.app.message
    assert last_change(kiosk, "payment.types")[0]["to"][-1] == "gift_voucher"
    kiosk.tap("back")
    kiosk.tap("pay")
    assert find_key(kiosk.app.screen("payment"), "tender-gift_voucher") is not None
    kiosk.tap("back")
    kiosk.tap("void-line")


def test_card_and_mobilepay_show_that_they_are_set_up(kiosk) -> None:
    kiosk.login("bo", "2222")
    open_section(kiosk, "payments")
    notes = [w.text for w in kiosk.app.screen("settings").current().ids.types.children]
    assert "Kortterminal sat op (simuleret)." in notes and "MobilePay er sat op (simuleret)." in notes


def test_a_detected_device_is_chosen_checked_and_saved(kiosk, monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.setattr(DevicesSection, "udev_context", FakeContext([EPSON_TM_T20III, HONEYWELL_VOYAGER_EVENT]))
    monkeypatch.setattr(DevicesSection, "chips_dir", str(tmp_path))  # no GPIO chips
    monkeypatch.setattr("drivers.detect.list_gpio_chips",
                        lambda chips_dir: [("/dev/gpiochip0", "pinctrl-nowhere", 54)])
    before = device_settings(kiosk)
    try:
        kiosk.login("bo", "2222")
        open_section(kiosk, "devices")
        screen = kiosk.app.screen("settings")
        assert find_key(screen, "device-printer-0").text == "Epson TM-T20III"
        assert find_key(screen, "device-scanner-0").text == "Honeywell 1250g"
        assert find_key(screen, "device-terminal-none") is not None  # the terminal is a role too
        kiosk.tap("device-printer-0")
        assert "Den tages i brug, når kassen startes igen" in kiosk.app.message
        assert device_settings(kiosk)["printer"] == {"kind": "usb", "vendor_id": "04b8", "product_id": "0e28"}
        change, who = last_change(kiosk, "device.printer")
        assert change["value"]["product_id"] == "0e28" and who == "bo"
        assert find_key(screen, "device-printer-0").background_color == [0.15, 0.45, 0.7, 1]
        assert any("tages i brug, når kassen startes igen" in w.text
                   for w in screen.current().ids.roles.children if hasattr(w, "text"))
        # "none" for a role
        kiosk.tap("device-labels-none")
        assert device_settings(kiosk)["labels"] is None
        # a GPIO drawer needs its line first, and a chip that is not really there is refused in Danish
        kiosk.tap("device-drawer-1")
        assert "GPIO-linje" in kiosk.app.message and kiosk.app.message_level == "error"
        screen.current().gpio_line.text = "17"
        kiosk.tap("device-drawer-1")
        assert kiosk.app.message_level == "error"
        assert "Intet er ændret" in kiosk.app.message or "GPIO-linje kan ikke bruges" in kiosk.app.message
        assert device_settings(kiosk)["drawer"] == before["drawer"]
    finally:
        for role in ("printer", "labels", "drawer"):
            set_device(kiosk, role, before[role])
    assert device_settings(kiosk) == before


def test_test_terminal_against_the_demo_shops_simulator(kiosk) -> None:
    kiosk.login("bo", "2222")
    open_section(kiosk, "devices")
    ledger = kiosk.app.data_dir / "sim" / "terminal" / "ledger.jsonl"
    charged = ledger.read_text(encoding="utf-8") if ledger.exists() else ""
    kiosk.tap("test-terminal")
    kiosk.until(lambda: "Terminalen svarer, og nøglen passer" in kiosk.app.message, what="the terminal test")
    assert kiosk.app.message_level == "info"
    assert "Terminalen svarer" in kiosk.app.screen("settings").current().terminal_result
    assert (ledger.read_text(encoding="utf-8") if ledger.exists() else "") == charged  # no money moved


def test_test_terminal_says_in_danish_when_it_cannot_be_reached(kiosk) -> None:
    before = device_settings(kiosk)["terminal"]
    # a nexo terminal on a closed port (its key is the simulator's, already stored)
    set_device(kiosk, "terminal", {"kind": "nexo", "url": "https://127.0.0.1:9/nexo", "poi_id": "V400m-1",
                                   "key_id": "sim", "key_version": 1})
    try:
        kiosk.login("bo", "2222")
        open_section(kiosk, "devices")
        kiosk.tap("test-terminal")
        kiosk.until(lambda: "Terminalen kan ikke nås" in kiosk.app.message, what="the terminal test")
        assert kiosk.app.message_level == "error"
    finally:
        set_device(kiosk, "terminal", before)


def test_the_new_sections_fit_each_display(tmp_path: Path, kiosk_data: Path) -> None:
    """Payment types and devices (with detected devices) at 800x480, 1280x800 and 1920x1080: every
    visible button inside the window (or a scrolling list) and at least 9 mm high."""
    data = copy_shop(kiosk_data, tmp_path)
    for width, height in ((800, 480), (1280, 800), (1920, 1080)):
        result = run_child(f"""
from kivy.metrics import mm
from kivy.core.window import Window
from appliance.ui.screens.settings import DevicesSection
from tests.ui.targets import buttons, in_window
from tests.drivers.test_detect import ALL, FakeContext
DevicesSection.udev_context = FakeContext(ALL)
Window.size = ({width}, {height})
d.step(3)
d.login("bo", "2222")
app.show("settings")
d.settle()
bad = []
for name in ("payments", "devices"):
    d.tap("section-" + name)
    d.step(3)
    for w, scrolls, _hidden in buttons(app.manager.current_screen):
        inside = scrolls or in_window(w, Window)
        if w.height < mm(9) - 0.5 or w.width < mm(9) - 0.5 or not inside:
            bad.append([name, w.key, round(w.width), round(w.height), inside])
print(json.dumps({{"bad": bad}}), flush=True)
d.close()
""", data)
        assert result["bad"] == [], (width, height, result["bad"][:30])
