"""The kiosk application: full screen, no way out to a desktop, one ScreenManager of screens that
each live in screens/<name>.py with their .kv beside them.

Start-up opens the till on the backend's worker, restores an unfinished session, and shows the
login screen (or where the cashier was). Scans arrive from the scanner thread through the devices'
event queue, which the UI drains every 20 ms and hands to the screen showing.

Under systemd (till-kiosk.service, Type=notify) the app says READY=1 after its first frame and pings
the watchdog from the Kivy main loop, so a hung UI thread is restarted. With a clock gate (the
real till; see clockwait.py) the till is opened only once the clock can be trusted."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.lang import Builder
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.screenmanager import NoTransition

from ..domain.money import format_dkk
from ..services.clock_trust import ClockTrust
from ..services.sdnotify import sd_notify, watchdog_interval
from .backend import Backend
from .i18n import _, set_language
from .memory import release_free_memory
from .session import SESSION_KEY, Session, restore

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
SCREENS = ("login", "sale", "payment", "returns", "cash", "endofday", "reports", "settings", "pairing")
MESSAGE_SECONDS = 6.0
RELEASE_AFTER_S = 1.0     # a screen change's first frames are drawn by then
RELEASE_EVERY_S = 60.0
DAILY_VERIFY_TICK_S = 60.0  # how often the kiosk looks whether the daily full verify is due or done
FIRST_FRAME_ENV = "TILLBOX_FIRST_FRAME_PNG"  # the image test: where the first frame goes


class TillApp(App):
    title = "Tillbox"
    training = BooleanProperty(False)
    status_left = StringProperty("")
    status_right = StringProperty("")
    message = StringProperty("")
    message_level = StringProperty("info")

    def __init__(self, data_dir: Path, kiosk: bool = True, clock: Any = None,
                 clock_gate: Callable[[], ClockTrust] | None = None, **kw: Any):
        """`clock_gate`: asked until it trusts the clock before the till is opened (None: no gate)."""
        super().__init__(**kw)
        self.data_dir = Path(data_dir)
        self.kiosk = kiosk
        self.session = Session()
        self.backend = Backend(self.data_dir, lambda fn: Clock.schedule_once(lambda _dt: fn(), 0), clock)
        self.started_at = time.perf_counter()
        self.first_frame_s: float | None = None
        self._message_event: Any = None
        self.clock_gate = clock_gate
        self.gate: Any = None
        self.opened = False
        self.stopped: Any = None  # the journal stop screen, when the start-up check failed

    # --- building ------------------------------------------------------------------------------

    def build(self) -> Any:
        if str(HERE / "tillbox.kv") not in Builder.files:
            Builder.load_file(str(HERE / "tillbox.kv"))
        root = self._root = Builder.load_string("Root:\n")
        manager = root.ids.screens
        manager.transition = NoTransition()
        self.manager = manager
        if self.kiosk:
            Window.borderless = True
            Window.fullscreen = "auto"
        Window.bind(on_request_close=self._refuse_close, on_keyboard=self._swallow_escape)
        Clock.schedule_once(self._first_frame, 0)
        self._ping = None  # the watchdog's pings start with READY (start-up is TimeoutStartSec's)
        state = self.clock_gate() if self.clock_gate is not None else None
        if state is not None and self.clock_gate is not None and not state.trusted:
            from .clockwait import ClockGate
            log.warning("event=clock_untrusted source=%s detail=%s", state.source, state.detail)
            sd_notify("STATUS=waiting for a trustworthy clock (NTP or RTC); sales wait")
            self.gate = ClockGate(manager, self.clock_gate, lambda _s: self._open())
        else:
            self._open()
        return root

    def _open(self) -> None:
        """Open the till (journal, devices, payments left open) and show the login or where the
        cashier was: only once the clock is trusted, as this may already journal."""
        self.backend.start()
        from ..services.startup_check import check_on_start
        started = self.backend.run(check_on_start)
        if not started.ok:  # no sale on top of a journal that does not verify: the till stays shut
            self._show_stop(started.problem or "", started.first_bad)
            return
        self.opened = True
        from ..services.kiosk import kiosk_value
        set_language(self.backend.run(lambda t: kiosk_value(t, "kiosk.language", "da")) or "da")
        self._root.ids.training.text = _("TRÆNING - salg tæller ikke med")  # built before the language
        for name in ("login", "sale"):  # the rest are built the first time they are shown
            self._build_screen(name)
        # A scan wakes the UI at the next frame (Clock triggers are thread-safe); the slow poll
        # only catches what arrives with no wake-up.
        self._drain_now = Clock.create_trigger(self._drain_events, -1)
        if self.backend.devices is not None:
            self.backend.devices.on_event = self._drain_now
        # Freed heap pages go back to the system after a screen change (drawing a screen for the
        # first time leaves the most behind) and once a minute (see memory.py).
        self._release_memory = Clock.create_trigger(lambda _dt: release_free_memory(), RELEASE_AFTER_S)
        self._ticks = [Clock.schedule_interval(self._drain_events, 0.25),
                       Clock.schedule_interval(self._refresh_status, 1.0),
                       Clock.schedule_interval(lambda _dt: release_free_memory(), RELEASE_EVERY_S)]
        from ..services import daily_verify
        self.daily = daily_verify.DailyVerify(self.data_dir, self.backend.till.now,
                                              self.backend.run(daily_verify.last_ok))
        self._ticks.append(Clock.schedule_interval(self.daily_verify_tick, DAILY_VERIFY_TICK_S))
        self._restore()
        sd_notify("STATUS=till open")

    def daily_verify_tick(self, _dt: float = 0.0) -> None:
        """Start the day's full journal verify when it is due; act on it when it has ended."""
        from ..services import daily_verify
        report = self.daily.poll()
        if report is not None and report.ok:
            when = self.daily.last_ok or self.backend.till.now()  # poll() set it with an OK report
            self.backend.run(lambda t: daily_verify.record_ok(t, when))
        elif report is not None:
            self.stop_selling(report.problem or "", report.first_bad)
        elif self.daily.due():
            self.daily.start()

    def stop_selling(self, problem: str, first_bad: int | None) -> None:
        """The journal failed while the till was open: nothing more is journalled (the journal itself
        refuses), and the stop screen replaces whatever the cashier had."""
        def stop(t: Any) -> None:
            t.journal.stopped = problem
        self.backend.run(stop)
        for tick in self._ticks:
            tick.cancel()
        self._show_stop(problem, first_bad)

    def _show_stop(self, problem: str, first_bad: int | None) -> None:
        """The journal stop screen, at start-up or after the daily verify: what failed, what to do."""
        from .journalstop import show_stop
        log.error("event=journal_stop first_bad=%s problem=%s", first_bad, problem)
        sd_notify("STATUS=the journal does not verify; sales stopped")
        self.stopped = show_stop(self.manager, problem, first_bad)

    def _first_frame(self, _dt: float) -> None:
        self.first_frame_s = time.perf_counter() - self.started_at
        log.info("event=kiosk_first_frame seconds=%.3f", self.first_frame_s)
        Window.bind(on_flip=self._ready)  # READY once that frame is on the screen, not before
        if os.environ.get(FIRST_FRAME_ENV):
            Window.bind(on_flip=self._export_first_frame)

    def _ready(self, *_args: Any) -> None:
        Window.unbind(on_flip=self._ready)
        interval = watchdog_interval(fraction=0.25)
        if interval:  # a quarter of WatchdogSec: opening the till may hold the UI thread for up to 30 s
            self._ping = Clock.schedule_interval(lambda _dt: sd_notify("WATCHDOG=1"), interval)
        sd_notify("READY=1\nSTATUS=" + ("till open" if self.opened else
                                         "waiting for a trustworthy clock (NTP or RTC); sales wait"))

    def _export_first_frame(self, *_args: Any) -> None:
        """The image test's proof that the kiosk drew (TILLBOX_FIRST_FRAME_PNG, set only in a test
        copy of the image): the screen after the first flip, once, written under a temporary name
        and renamed so a reader never sees half a PNG. A failure here is logged, never fatal."""
        Window.unbind(on_flip=self._export_first_frame)
        path = Path(os.environ[FIRST_FRAME_ENV])
        part = path.with_name(path.stem + ".part.png")
        try:
            self._root.export_to_png(str(part))
            os.replace(part, path)
            log.info("event=kiosk_first_frame_png path=%s", path)
        except Exception as exc:  # a test hook must not take the kiosk down
            log.warning("event=kiosk_first_frame_png_failed path=%s error=%s", path, exc)

    def _refuse_close(self, *_args: Any) -> bool:
        return self.kiosk  # a kiosk is not closed from its window

    def _swallow_escape(self, _window: Any, key: int, *_args: Any) -> bool:
        return key == 27  # Esc would otherwise end a Kivy app

    # --- session ---------------------------------------------------------------------------------

    def _restore(self) -> None:
        from ..services.kiosk import cashier, kiosk_value
        saved = restore(self.backend.run(lambda t: kiosk_value(t, SESSION_KEY)))
        if saved and saved.get("cashier"):
            found = self.backend.run(lambda t: cashier(t, saved["cashier"]))
            if found is not None:
                self.session = Session(cashier=found, basket=saved["basket"],
                                       training=saved.get("training", False),
                                       customers=saved.get("customers", 0),
                                       screen=saved.get("screen", "sale"),
                                       overrides={int(k): v for k, v in saved.get("overrides", {}).items()},
                                       tenders=list(saved.get("tenders") or []))
        self.training = self.session.training
        unsold = self._unsold_payments()
        screen = self.session.screen if self.session.cashier else "login"
        if unsold and self.session.cashier:
            screen = "payment"
        self.show(screen)
        if unsold:
            self.notify(_("En betaling på {amount} er godkendt, men salget blev ikke afsluttet. Gør salget "
                          "færdigt, eller fjern betalingen (den tilbageføres).").format(
                amount=format_dkk(sum(t["amount"] for t in unsold))), error=True)

    def _unsold_payments(self) -> list[dict[str, Any]]:
        """Approved terminal payments no sale carries (a crash after the approval, before the session
        was saved) join the session's tenders, so the money is neither lost nor taken twice."""
        from ..services.payments import unsold_payments
        known = {t.get("reference") for t in self.session.tenders}
        found = [o.tender() for o in self.backend.run(unsold_payments)
                 if o.poi_transaction_id not in known]
        self.session.tenders.extend(found)
        if found:
            self.save_session()
        return found

    def save_session(self) -> None:
        """Snapshot the counter (cashier, basket, screen) so a restart comes back to it."""
        data = self.session.to_json() if self.session.cashier else ""

        from ..services.kiosk import set_kiosk_value
        self.backend.call(lambda t: set_kiosk_value(t, SESSION_KEY, data))

    def _build_screen(self, name: str) -> Any:
        """Screens are built on first use: a cashier who only sells never pays for the settings
        screen's widgets in memory or start-up time."""
        if name not in SCREENS:
            raise ValueError(f"no screen {name!r}")
        if not self.manager.has_screen(name):
            module = import_module(f"appliance.ui.screens.{name}")
            kv = HERE / "screens" / f"{name}.kv"
            if kv.exists() and str(kv) not in Builder.files:
                Builder.load_file(str(kv))
            self.manager.add_widget(module.SCREEN(name=name))
        return self.manager.get_screen(name)

    def show(self, name: str) -> None:
        if not self.opened:  # the clock gate is closed: no login, no sale
            return
        if name != "login" and self.session.cashier is None:
            name = "login"
        self._build_screen(name)
        changed = self.manager.current != name
        self.manager.current = name
        self.session.screen = name if name not in ("login", "pairing") else "sale"
        self._refresh_status()
        if changed:
            self._release_memory()

    def screen(self, name: str) -> Any:
        return self._build_screen(name)

    def notify(self, text: str, error: bool = False) -> None:
        """A message line in plain Danish (English when chosen); errors stay until replaced."""
        self.message = text
        self.message_level = "error" if error else "info"
        if self._message_event is not None:
            self._message_event.cancel()
        if not error:
            self._message_event = Clock.schedule_once(lambda _dt: self.clear_message(), MESSAGE_SECONDS)

    def clear_message(self) -> None:
        self.message = ""

    def _refresh_status(self, *_args: Any) -> None:
        who = self.session.cashier
        self.status_left = (f"{_('Ekspedient')}: {who.name}" if who else _("Ikke logget ind"))
        pq = self.backend.print_queue
        printer = ""
        if pq is not None and pq.last is not None and pq.last.message:
            printer = pq.last.message
        self.status_right = printer or time.strftime("%H:%M")

    # --- events from the devices -------------------------------------------------------------------

    def _drain_events(self, _dt: float) -> None:
        devices = self.backend.devices
        if devices is None:
            return
        while not devices.events.empty():
            kind, payload = devices.events.get_nowait()
            if kind == "scan":
                self.on_scan(payload.code)
            elif kind == "drawer":
                from ..services.drawer import record_sensor
                self.backend.call(record_sensor, devices, payload)

    def on_scan(self, code: str) -> None:
        handler = getattr(self.manager.current_screen, "on_scan", None)
        if handler is None or self.session.cashier is None:
            self.notify(_("Log ind for at scanne varer."), error=True)
            return
        handler(code)

    def on_stop(self) -> None:
        if getattr(self, "_stopped", False):  # App.stop() and then App.run()'s end both dispatch it
            return
        self._stopped = True
        sd_notify("STOPPING=1")
        for tick in [*getattr(self, "_ticks", []), getattr(self, "_ping", None)]:
            if tick is not None:
                tick.cancel()
        if self.gate is not None:
            self.gate.cancel()
        if getattr(self, "daily", None) is not None:
            self.daily.stop()
        if self.opened:
            self.backend.stop()


def run_kiosk(data_dir: Path, kiosk: bool = True, size: tuple[int, int] | None = None,
              clock_gate: Callable[[], ClockTrust] | None = None) -> None:
    if size:
        Window.size = size
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    app = TillApp(data_dir, kiosk=kiosk, clock_gate=clock_gate)
    # systemctl stop: close the till and release the devices from the UI thread, not mid-frame
    signal.signal(signal.SIGTERM, lambda *_a: Clock.schedule_once(lambda _dt: app.stop(), 0))
    app.run()
