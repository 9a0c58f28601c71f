"""The screen the kiosk shows while the clock cannot be trusted (see services/clock_trust.py), and
the gate that polls the clock and opens the till once it is right.

While the gate is closed the till is not even opened: no login, no sale, no settling of payments
left open, so nothing is journalled with a wrong time. The installer sees why, in Danish, and what
the till's clock says now; the gate looks again every few seconds and opens by itself."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kivy.clock import Clock

from ..services.clock_trust import ClockTrust
from .i18n import _
from .notice import NoticeScreen

log = logging.getLogger(__name__)
POLL_SECONDS = 3.0
NAME = "clockwait"


class ClockWaitScreen(NoticeScreen):
    """The notice while the clock cannot be trusted; `refresh` keeps the clock's reading current."""

    def refresh(self) -> None:
        self.title = _("Venter på korrekt tid")
        self.body = _("Venter på korrekt tid fra internettet (NTP). Kassen skal kende den rigtige tid, "
                      "før den må registrere salg. Tjek at kassen har forbindelse til internettet "
                      "(kabel eller Wi-Fi). Salget venter.")
        self.detail = _("Kassens ur viser nu {time}").format(time=time.strftime("%d-%m-%Y %H:%M:%S"))


class ClockGate:
    """Shows the waiting screen on `manager` and calls `opened()` once `check()` trusts the clock."""

    def __init__(self, manager: Any, check: Callable[[], ClockTrust], opened: Callable[[ClockTrust], None],
                 poll_s: float = POLL_SECONDS):
        self.manager = manager
        self.check = check
        self.opened = opened
        self.since = time.monotonic()
        self.screen = ClockWaitScreen(name=NAME)
        self.is_open = False
        manager.add_widget(self.screen)
        self.screen.refresh()
        manager.current = NAME
        self._event = Clock.schedule_interval(self.poll, poll_s)

    def poll(self, _dt: float = 0) -> bool:
        """One look; False stops the Kivy interval once the gate is open."""
        state = self.check()
        if not state.trusted:
            self.screen.refresh()
            return True
        self.is_open = True
        self._event.cancel()
        log.info("event=clock_trusted source=%s waited_s=%.0f", state.source, time.monotonic() - self.since)
        self.opened(state)
        return False

    def cancel(self) -> None:
        self._event.cancel()
