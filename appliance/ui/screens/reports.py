"""Reports: the closed days (Z reports) with each one's Dinero state and transfer time, one opened
with its figures, a printed copy, and "Send til Dinero igen"."""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.screenmanager import Screen

from ..i18n import _
from .cash import UserError, danish_error
from .endofday import dk_date, dk_time, fill_rows, kr, queue_report_print, report_rows, transfer_text


def state_line(row: dict) -> str:
    """Dinero state; the transfer time stays empty when the Z was never sent."""
    text = transfer_text(row["state"], row.get("transferred_at"), row.get("error"))
    if row["state"] != "sent" and row.get("transferred_at"):
        text += " " + _("(sidst overført {time})").format(time=dk_time(row["transferred_at"]))
    return text


# --- on the backend's worker ------------------------------------------------------------------------

def load_reports(till: Any) -> list[dict]:
    from ...services.closing import list_reports
    return list(reversed(list_reports(till)))  # the newest first


def load_report(till: Any, z_number: int) -> dict:
    from ...services.closing import get_report
    data, _pdf = get_report(till, z_number)
    return data


def print_copy(till: Any, z_number: int, queue: Any) -> int:
    from ...services.closing import z_journal_nr
    return queue_report_print(till, z_journal_nr(till, z_number), queue)


def send_again(till: Any, z_number: int) -> dict:
    from ...services.uploader import TransferError, request_send, transfer_states
    try:
        return request_send(till, z_number)
    except TransferError:
        if transfer_states(till).get(z_number, {}).get("state") == "queued":
            raise UserError(_("Z-rapport {z} står allerede i kø til Dinero.").format(z=z_number)) from None
        raise


# --- the screen ------------------------------------------------------------------------------------

class ReportsScreen(Screen):
    reports = ListProperty([])
    selected = NumericProperty(0)      # z_number, 0 = none
    title = StringProperty("")
    state_text = StringProperty("")
    state_failed = BooleanProperty(False)

    def on_pre_enter(self, *_args: Any) -> None:
        self.refresh()

    def refresh(self) -> None:
        app = App.get_running_app()
        app.backend.call(load_reports, done=self._listed,
                         failed=lambda e: app.notify(danish_error(e), error=True))

    def _listed(self, reports: list[dict]) -> None:
        from ..widgets import TouchButton
        self.reports = reports
        box = self.ids.list
        box.clear_widgets()
        for r in reports:
            text = (f"Z {r['z_number']}   {dk_date(r['business_date'])}   {kr(r['net_sales'])}\n"
                    f"{state_line(r)}")
            b = TouchButton(text=text, key=f"report-{r['z_number']}")
            chosen = r["z_number"] == self.selected
            b.background_color = (0.55, 0.75, 1, 1) if chosen else (0.20, 0.33, 0.52, 1)
            b.color = (0.1, 0.1, 0.1, 1) if chosen else (1, 1, 1, 1)
            b.bind(on_release=lambda _b, z=r["z_number"]: self.open(z))
            box.add_widget(b)
        known = {r["z_number"] for r in reports}
        if reports and self.selected not in known:
            self.open(reports[0]["z_number"])
        elif self.selected in known:
            self._state(self.selected)
        if not reports:
            self.title = _("Ingen dage er afsluttet endnu.")

    def _state(self, z: int) -> None:
        row = next((r for r in self.reports if r["z_number"] == z), None)
        self.state_text = _("Dinero: {state}").format(state=state_line(row)) if row else ""
        self.state_failed = bool(row and row["state"] == "failed")

    def open(self, z_number: int) -> None:
        app = App.get_running_app()
        changed = z_number != self.selected
        self.selected = z_number
        if changed:
            self._listed(self.reports)  # the chosen row's colour
        app.backend.call(load_report, z_number, done=self._opened,
                         failed=lambda e: app.notify(danish_error(e), error=True))

    def _opened(self, data: dict) -> None:
        self.title = _("Z-rapport {z}").format(z=data["z_number"])
        self._state(data["z_number"])
        fill_rows(self.ids.figures, report_rows(data))

    def print_copy(self) -> None:
        app = App.get_running_app()
        if not self.selected:
            return
        queue = app.backend.print_queue
        z = self.selected

        def queued(_job: int) -> None:
            if queue is None:
                app.notify(_("Der er ingen bonprinter sat op."), error=True)
            else:
                app.notify(_("En kopi af Z-rapport {z} udskrives.").format(z=z))
        app.backend.call(print_copy, z, queue, done=queued,
                         failed=lambda e: app.notify(danish_error(e), error=True))

    def send_again(self) -> None:
        app = App.get_running_app()
        if not self.selected:
            return
        z = self.selected

        def sent(_result: dict) -> None:
            app.notify(_("Z-rapport {z} er sat i kø til Dinero.").format(z=z))
            self.refresh()
        app.backend.call(send_again, z, done=sent, failed=lambda e: app.notify(danish_error(e), error=True))


SCREEN = ReportsScreen


def tour(driver: Any, shoot: Any) -> None:
    """Reports: the list with the newest opened, an older one, a copy printed."""
    screen = driver.app.screen("reports")
    shoot("reports", "list")
    if len(screen.reports) > 1:
        driver.tap(f"report-{screen.reports[-1]['z_number']}")
        shoot("reports", "older")
    if screen.reports:
        driver.tap("report-print")
        shoot("reports", "printed")
        driver.tap("report-send")
        shoot("reports", "send-again")
