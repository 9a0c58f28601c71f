"""`till kiosk --simulate --tour DIR`: every screen, in its states, driven by simulated touches and
scans on a demo shop, one PNG each (`<screen>-<state>.png`), offscreen. A screen module may add
its own states with `tour(driver, shoot)`; the tour calls them in SCREENS order."""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
Shoot = Callable[[str, str], Path]


def run_tour(data: Path, out: Path, size: tuple[int, int] = (1280, 800), only: str | None = None
             ) -> list[Path]:
    """Every screen in SCREENS order; with `only`, that one screen, the first opened after the
    manager logs in (each screen must work without another having been opened before it)."""
    from .driver import Driver, prepare
    prepare(offscreen=True, size=size)
    from .app import SCREENS, TillApp

    out.mkdir(parents=True, exist_ok=True)
    app = TillApp(data, kiosk=False)
    driver = Driver(app)
    shots: list[Path] = []

    def shoot(screen: str, state: str) -> Path:
        path = driver.screenshot(out / f"{screen}-{state}.png")
        shots.append(path)
        return path

    if only is not None and only not in SCREENS:
        raise ValueError(f"no screen {only!r}: one of {', '.join(SCREENS)}")
    try:
        if app.stopped is not None:  # the journal failed its start-up check: that screen is the tour
            driver.settle()
            shoot("journalstop", "open")
            return shots
        app.session.cashier = None
        app.show("login")
        driver.settle()
        shoot("login", "choose")
        if only is None:
            driver.tap("cashier-anna")
            driver.type_pin("0000")
            driver.tap("login")
            shoot("login", "wrong-pin")
        driver.login("bo", "2222")  # the demo's manager
        for name in SCREENS if only is None else (only,):
            module = import_module(f"appliance.ui.screens.{name}")
            tour: Any = getattr(module, "tour", None)
            if name == "login":
                continue
            app.show(name)
            driver.settle()
            if tour is None:
                shoot(name, "open")
            else:
                tour(driver, shoot)
            app.show("sale")
            driver.settle()
    finally:
        driver.close()
    log.info("event=tour_done shots=%d dir=%s", len(shots), out)
    return shots
