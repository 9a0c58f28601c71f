"""The sale screen: the basket with a large total, product keys by group and a favourites page,
search by name or number, and scans arriving at any time. Every common action is one touch on
the selected line (the newest, unless another is tapped)."""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.screenmanager import Screen

from ...domain.basket import BasketError, Discount
from ...domain.money import format_dkk
from ..i18n import _

KEYS_PER_PAGE = 24
SCAN_WAIT_S = 0.02


class SaleScreen(Screen):
    total_text = StringProperty("0,00")
    lines_data = ListProperty([])
    selected = NumericProperty(0)       # line_no, 0 = none
    groups = ListProperty([])
    group = StringProperty("")          # "" = favourites
    keys = ListProperty([])             # [(sku, name, price text)]
    unknown_code = StringProperty("")   # the last unknown barcode (a manager may create it)
    menu_open = BooleanProperty(False)

    def on_pre_leave(self, *_args: Any) -> None:
        self.close_menu()

    def close_menu(self) -> None:
        self.menu_open = False

    def on_pre_enter(self, *_args: Any) -> None:
        app = App.get_running_app()
        from ...services.kiosk import product_groups
        app.backend.call(product_groups, done=self._groups)
        self.refresh()

    def _groups(self, names: list[str]) -> None:
        from ..widgets import ROW, TouchButton
        self.groups = names
        strip = self.ids.groups
        strip.clear_widgets()
        for key, label, group in [("group-favourites", _("Favoritter"), ""),
                                  *[(f"group-{n}", n, n) for n in names]]:
            b = TouchButton(text=label, key=key, size_hint_x=None,
                            width=max(ROW * 2.2, len(label) * ROW * 0.28))
            b.bind(on_release=lambda _b, group=group: self.show_group(group))
            strip.add_widget(b)
        self.show_group(self.group)

    # --- product keys and search ------------------------------------------------------------------

    def show_group(self, group: str) -> None:
        from ...services.kiosk import products
        from ...services.products import favourites
        self.group = group
        app = App.get_running_app()

        def load(t: Any) -> list[tuple[str, str, str]]:
            if group:
                shown = products(t, group=group)
            else:
                shown = favourites(t)
            return [(p.sku, p.name, format_dkk(p.price, suffix=False)) for p in shown[:KEYS_PER_PAGE]]
        app.backend.call(load, done=self._keys)

    def _keys(self, keys: list[tuple[str, str, str]]) -> None:
        self.keys = keys
        from ..widgets import TouchButton
        grid = self.ids.product_keys
        grid.clear_widgets()
        for sku, name, price in keys:
            b = TouchButton(text=f"{name}\n{price}", key=f"product-{sku}")
            b.bind(on_release=lambda _b, sku=sku: self.add_sku(sku))
            grid.add_widget(b)

    def search(self, text: str) -> None:
        """By name (any part) or by number (SKU or barcode)."""
        text = text.strip()
        if not text:
            self.show_group(self.group)
            return
        app = App.get_running_app()

        def find(t: Any) -> list[tuple[str, str, str]]:
            from ...services.kiosk import search_products
            return [(sku, name, format_dkk(price, suffix=False))
                    for sku, name, price in search_products(t, text, KEYS_PER_PAGE)]
        app.backend.call(find, done=self._keys)

    # --- adding --------------------------------------------------------------------------------

    def add_sku(self, sku: str) -> None:
        from ...services.kiosk import product_by_sku
        app = App.get_running_app()
        app.backend.call(lambda t: product_by_sku(t, sku), done=lambda p: self._add(p, {}))

    def on_scan(self, code: str) -> None:
        """A lookup is a primary-key probe: the line is painted in this frame when the worker answers
        within SCAN_WAIT_S; if it is busy (a sale completing, a drawer pulse) it arrives a frame later."""
        from ...services.scanning import lookup_scan
        app = App.get_running_app()
        answered = {"done": False}

        def done(found: Any) -> None:
            if not answered["done"]:
                answered["done"] = True
                self._scanned(code, found)

        future = app.backend.call(lookup_scan, code, done=done)
        try:
            found = future.result(timeout=SCAN_WAIT_S)
        except Exception:  # busy or failed: the asynchronous answer (or error) follows
            return
        done(found)

    def _scanned(self, code: str, found: Any) -> None:
        app = App.get_running_app()
        if found.receipt_number is not None:
            app.screen("returns").start(found.receipt_number)
            app.show("returns")
            return
        if found.product is None:
            self.unknown_code = code if found.unknown else ""
            app.notify(found.message + ("" if not found.unknown or not app.session.is_manager
                                        else " " + _("Tryk 'Opret vare' for at oprette den.")), error=True)
            return
        self.unknown_code = ""
        self._add(found.product, found.extra or {})

    def _add(self, product: Any, extra: dict) -> None:
        app = App.get_running_app()
        if product is None:
            app.notify(_("Varen findes ikke."), error=True)
            return
        try:
            line = app.session.basket.add(product, **extra)
        except BasketError as exc:
            app.notify(str(exc), error=True)
            return
        self.selected = line.line_no
        self.refresh()
        app.save_session()

    # --- the selected line ----------------------------------------------------------------------

    def select(self, line_no: int) -> None:
        self.selected = line_no
        self.refresh()

    def change_qty(self, delta: int) -> None:
        self._edit(lambda b, n: b.set_qty(n, b.line(n).qty + delta))

    def void_line(self) -> None:
        self._edit(lambda b, n: b.void(n))

    def discount_line(self, percent: int) -> None:
        self._edit(lambda b, n: b.discount_line(n, Discount.parse({"percent": percent})))

    def _edit(self, change: Any) -> None:
        app = App.get_running_app()
        if not self.selected:
            app.notify(_("Vælg en linje først."), error=True)
            return
        try:
            change(app.session.basket, self.selected)
        except BasketError as exc:
            app.notify(str(exc), error=True)
            return
        self.refresh()
        app.save_session()

    # --- the basket -----------------------------------------------------------------------------

    def refresh(self) -> None:
        basket = App.get_running_app().session.basket
        rows = []
        priced = {p.line.line_no: p for p in basket.priced()} if basket.active else {}
        for ln in basket.lines:
            qty = f"{ln.weight_g / 1000:.3f} kg".replace(".", ",") if ln.weight_g else f"{ln.qty} x"
            amount = priced[ln.line_no].total if ln.line_no in priced else 0
            rows.append({"text": f"{qty}  {ln.name}", "amount": format_dkk(amount, suffix=False),
                         "line_no": ln.line_no, "voided": ln.voided, "selected": ln.line_no == self.selected,
                         "discounted": ln.discount is not None})
        self.lines_data = rows
        self.total_text = format_dkk(basket.total if basket.active else 0, suffix=False)

    def pay(self) -> None:
        app = App.get_running_app()
        if not app.session.basket.active and not app.session.tenders:
            app.notify(_("Kurven er tom."), error=True)
            return
        app.show("payment")

    def park(self) -> None:
        from ...services.selling import park
        from ..session import basket_request
        app = App.get_running_app()
        if not app.session.basket.active:
            app.notify(_("Kurven er tom."), error=True)
            return
        if app.session.tenders:
            app.notify(_("Der er betalt på kurven: gør salget færdigt, eller fjern betalingen først."),
                       error=True)
            return
        request = basket_request(app.session, [])

        def parked(parked_id: int) -> None:
            app.session.new_basket()
            self.selected = 0
            self.refresh()
            app.save_session()
            app.notify(_("Salget er parkeret som nr. {n}.").format(n=parked_id))
        app.backend.call(park, request, done=parked, failed=lambda e: app.notify(str(e), error=True))

    def resume_last(self) -> None:
        from ...services.selling import resume
        app = App.get_running_app()

        def last(t: Any) -> int | None:
            row = t.conn.execute("SELECT id FROM parked ORDER BY id DESC LIMIT 1").fetchone()
            return row[0] if row else None

        def got(parked_id: int | None) -> None:
            if parked_id is None:
                app.notify(_("Der er ingen parkerede salg."), error=True)
                return
            if app.session.basket.active:
                app.notify(_("Afslut eller parkér det nuværende salg først."), error=True)
                return
            app.backend.call(resume, parked_id, app.session.cashier.id, done=resumed,
                             failed=lambda e: app.notify(str(e), error=True))

        def resumed(basket: Any) -> None:
            app.session.basket = basket
            self.selected = basket.lines[-1].line_no if basket.lines else 0
            self.refresh()
            app.save_session()
        app.backend.call(last, done=got)

    def create_product(self) -> None:
        app = App.get_running_app()
        if not app.session.is_manager:
            app.notify(_("Kun en leder kan oprette varer."), error=True)
            return
        settings = app.screen("settings")
        if hasattr(settings, "new_product"):
            settings.new_product(self.unknown_code)
        app.show("settings")

    def toggle_training(self) -> None:
        app = App.get_running_app()
        if app.session.tenders:  # real money on the basket cannot become practice (or the reverse)
            app.notify(_("Der er betalt på kurven: gør salget færdigt først."), error=True)
            return
        app.session.training = not app.session.training
        app.training = app.session.training
        app.save_session()

    def logout(self) -> None:
        app = App.get_running_app()
        app.session.cashier = None
        app.save_session()
        app.show("login")


SCREEN = SaleScreen


def tour(driver: Any, shoot: Any) -> None:
    """The sale screen: empty, a basket from scans and keys, an unknown code, the menu."""
    app = driver.app
    app.session.new_basket()
    screen = app.screen("sale")
    screen.refresh()
    shoot("sale", "empty")
    codes = driver.app.backend.run(lambda t: [r[0] for r in t.conn.execute(
        "SELECT code FROM barcodes WHERE code LIKE '570%' ORDER BY code LIMIT 3")])
    for code in codes:
        driver.scan(code)
    driver.tap("group-Brød")
    first = screen.keys[0][0] if screen.keys else None
    if first:
        driver.tap(f"product-{first}")
    driver.tap("discount-10")
    shoot("sale", "basket")
    from ...domain.barcodes import gtin_check_digit
    driver.scan("570999999999" + str(gtin_check_digit("570999999999")))
    shoot("sale", "unknown-code")
    driver.tap("menu-toggle")
    shoot("sale", "menu")
    driver.tap("menu-toggle")
