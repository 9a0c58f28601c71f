"""Cashier login: pick your name, type your PIN. A wrong PIN is journalled by the core and says so;
after 5 in a row the cashier is locked out for 5 minutes (`Till.cashier`, the same count as
`till sell` from the shell), and the screen says until when."""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.properties import BooleanProperty, ListProperty, StringProperty
from kivy.uix.screenmanager import Screen

from ..i18n import _


class LoginScreen(Screen):
    cashiers = ListProperty([])   # [(id, name)]
    chosen = StringProperty("")
    chosen_name = StringProperty("")
    first_run = BooleanProperty(False)  # a fresh box: no cashiers yet, the installer makes a manager

    def on_pre_enter(self, *_args: Any) -> None:
        from ...services.kiosk import cashiers
        app = App.get_running_app()
        self.ids.pad.text = ""
        app.backend.call(lambda t: [(c.id, c.name) for c in cashiers(t)], done=self._show)

    def _show(self, people: list[tuple[str, str]]) -> None:
        from ..widgets import TouchButton
        self.cashiers = people
        self.first_run = not people
        box = self.ids.people
        box.clear_widgets()
        for cid, name in people:
            b = TouchButton(text=name, key=f"cashier-{cid}")
            b.bind(on_release=lambda _b, cid=cid, name=name: self.choose(cid, name))
            box.add_widget(b)
        if len(people) == 1:
            self.choose(*people[0])

    def choose(self, cashier_id: str, name: str) -> None:
        self.chosen, self.chosen_name = cashier_id, name
        self.ids.pad.text = ""

    def create_manager(self) -> None:
        """First start: the installer names the first manager and picks a PIN, then goes on to the
        Dinero set-up (pairing, accounts, device test) and the first sale."""
        from ...services.setup import add_cashier
        app = App.get_running_app()
        name, pin = self.ids.manager_name.text.strip(), self.ids.pad.text
        if not name or len(pin) < 4:
            app.notify(_("Skriv et navn og en PIN på 4-6 cifre."), error=True)
            return
        cashier_id = "".join(c for c in name.lower() if c.isalnum())[:20] or "leder"

        def made(_c: Any) -> None:
            self.chosen, self.chosen_name = cashier_id, name
            self.login(then="pairing")

        def refused(exc: BaseException) -> None:
            app.notify(_("Lederen kunne ikke oprettes: {e}").format(e=exc), error=True)
        app.backend.call(lambda t: add_cashier(t, cashier_id, name, "manager", pin), done=made,
                         failed=refused)

    def login(self, then: str = "sale") -> None:
        app = App.get_running_app()
        if not self.chosen:
            app.notify(_("Vælg dit navn først."), error=True)
            return
        pin, chosen = self.ids.pad.text, self.chosen
        app.backend.call(lambda t: t.cashier(chosen, pin), done=lambda c: self._in(c, then),
                         failed=self._refused)

    def _in(self, cashier: Any, then: str = "sale") -> None:
        app = App.get_running_app()
        session = app.session
        if session.cashier is None or session.cashier.id != cashier.id:
            session.new_basket()
        session.cashier = cashier
        self.ids.pad.text = ""
        app.clear_message()
        app.show(then)
        app.save_session()

    def _refused(self, exc: BaseException) -> None:
        from ...services.till import PinLocked
        app = App.get_running_app()
        self.ids.pad.text = ""
        if isinstance(exc, PinLocked):  # the PIN was not even tried: say so, and until when
            app.notify(_("For mange forkerte PIN-koder: {cashier} er spærret til kl. {until}.").format(
                cashier=exc.cashier_id, until=exc.until), error=True)
            return
        app.notify(_("Forkert PIN. Prøv igen."), error=True)


SCREEN = LoginScreen
