"""Opening the cash drawer, and what its sensor says: every opening is journalled with its reason.

A commanded opening is journalled after the pulse, with what happened (`pulsed`, `failed`, or
`no_drawer` when none is set up), so the journal says what the drawer really did. With a sensor,
each open-close cycle is journalled as `drawer_close` with both times, and an opening the till did
not command (a key, a forced drawer) is journalled at once as `drawer_open` with reason `unexplained`."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from drivers.drawer.base import DrawerError, DrawerEvent

from ..store.db import transaction
from .devices import Devices
from .till import Till

log = logging.getLogger(__name__)

REASONS = ("sale", "return", "no_sale", "cash_float", "cash_in", "cash_out", "test")
# A sensor opening this soon after a pulse is that pulse's opening, not a forced one.
COMMANDED_WINDOW = timedelta(seconds=5)
MSG_FAILED = "Skuffen kunne ikke åbnes. Tjek at den er tilsluttet, og brug nøglen om nødvendigt."


def open_drawer(till: Till, devices: Devices | None, who: str, reason: str,
                ref: int | None = None, text: str = "") -> dict[str, Any]:
    if reason not in REASONS:
        raise ValueError(f"drawer reason must be one of {', '.join(REASONS)}")
    drawer = devices.drawer if devices is not None else None
    result, error = "no_drawer", None
    if drawer is not None:
        try:
            drawer.pulse()
            result = "pulsed"
            devices.last_pulse = till.now()  # type: ignore[union-attr]
        except DrawerError as exc:
            result, error = "failed", str(exc)
            log.warning("event=drawer_failed reason=%s error=%s", reason, exc)
    payload: dict[str, Any] = {"reason": reason, "result": result}
    if ref is not None:
        payload["ref"] = ref
    if text:
        payload["text"] = text
    if error:
        payload["error"] = error
    with transaction(till.conn):
        e = till.journal.append("drawer_open", who, payload)
    return {"journal_nr": e.nr, "result": result,
            "message": MSG_FAILED if result == "failed" else None}


def record_sensor(till: Till, devices: Devices, event: DrawerEvent) -> int | None:
    """Journal one sensor event; returns the journal nr written, if any."""
    watch = devices
    at = event.at.astimezone(till.now().tzinfo)
    if event.opened:
        watch.opened_at = at
        commanded = watch.last_pulse is not None and at - watch.last_pulse <= COMMANDED_WINDOW
        if commanded:
            return None
        log.warning("event=drawer_unexplained_open at=%s", at.isoformat())
        with transaction(till.conn):
            return till.journal.append("drawer_open", "system", {
                "reason": "unexplained", "result": "sensor", "opened_at": at.isoformat()}).nr
    opened = watch.opened_at
    watch.opened_at = None
    payload: dict[str, Any] = {"closed_at": at.isoformat()}
    if opened is not None:
        payload["opened_at"] = opened.isoformat()
        payload["open_seconds"] = round((at - opened).total_seconds(), 1)
    with transaction(till.conn):
        return till.journal.append("drawer_close", "system", payload).nr


def process_events(till: Till, devices: Devices) -> list[tuple[str, Any]]:
    """Journal the drawer events waiting on the queue; other events (scans) are handed back."""
    others: list[tuple[str, Any]] = []
    while not devices.events.empty():
        kind, payload = devices.events.get_nowait()
        if kind == "drawer":
            record_sensor(till, devices, payload)
        else:
            others.append((kind, payload))
    return others
