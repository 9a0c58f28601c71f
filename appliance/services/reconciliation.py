"""Reconciling the card terminal at the end of the day: ask it for its totals per brand (which also
starts its next period), compare them with the card payments the till journalled since its last
reconciliation (or since the terminal was set up), and journal both with the differences, so the Z
shows the bookkeeper any mismatch.

A terminal that does not answer (or answers with a failure) gets nothing journalled: the error says
so in English for the log and in Danish for the screen, and the day can still be closed."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from ..domain.reconciliation import KIND, Totals, compare, payload, till_totals
from ..store.db import transaction
from ..store.journal import entries, last_nr
from .till import Till

log = logging.getLogger(__name__)

NO_ANSWER = "Terminalen svarer ikke: afstemningen mangler"
TERMINAL_SETTING = "device.terminal"  # services.devices journals a terminal set up under this key


class Reconciler(Protocol):
    """What reconciling needs of a terminal (drivers.terminal.client.TerminalClient.reconcile)."""

    def reconcile(self) -> Any: ...


class ReconciliationError(Exception):
    """No reconciliation was made; `danish` is the screen's text."""

    def __init__(self, message: str, danish: str = NO_ANSWER) -> None:
        super().__init__(message)
        self.danish = danish


def period_start(till: Till) -> int:
    """The journal nr after which the till's side of the next reconciliation counts: the last
    reconciliation, or the terminal being set up (a new terminal starts with nothing to reconcile, so
    card sales from before it, or on the standalone-terminal dialog, are not held against it)."""
    row = till.conn.execute(
        "SELECT COALESCE(MAX(nr), 0) FROM journal WHERE kind = ? OR (kind = 'settings_change' "
        "AND json_extract(payload, '$.key') = ?)", (KIND, TERMINAL_SETTING)).fetchone()
    return int(row[0])


def reconcile_terminal(till: Till, terminal: Reconciler, who: str) -> dict[str, Any]:
    """Reconcile and journal one `terminal_reconciliation`; returns its payload with its journal nr and
    the comparison rows (`rows`, amounts in øre, difference = terminal minus till)."""
    from drivers.terminal.client import TerminalError

    who = till.acting(who)
    try:
        result = terminal.reconcile()
    except TerminalError as exc:
        log.warning("event=terminal_reconciliation_failed reason=no_answer error=%s", type(exc).__name__)
        raise ReconciliationError(f"terminal did not answer the reconciliation: {exc}") from exc
    if not result.ok:
        log.warning("event=terminal_reconciliation_failed reason=refused error=%s", result.error_condition)
        raise ReconciliationError(f"terminal refused the reconciliation: {result.error_condition}",
                                  f"Terminalen kunne ikke afstemme ({result.error_condition}): "
                                  "afstemningen mangler")
    terminal_totals = {str(brand): Totals.from_json(t) for brand, t in result.totals.items()}
    with transaction(till.conn):
        since = period_start(till)
        upto = last_nr(till.conn)
        rows = compare(till_totals(entries(till.conn, since, upto)), terminal_totals)
        data = payload(rows, result.reconciliation_id, getattr(terminal, "poi_id", None), since, upto)
        e = till.journal.append(KIND, who, data)
    differing = [r.brand for r in rows if not r.agrees]
    log.info("event=terminal_reconciled nr=%d id=%s brands=%d agreed=%s differing=%s", e.nr,
             result.reconciliation_id, len(rows), data["agreed"], ",".join(differing) or "-")
    return {**data, "nr": e.nr, "rows": [r.to_json() for r in rows]}


def reconcile_before_close(till: Till, terminal: Reconciler | None, who: str, counted: int,
                           to_bank: int) -> tuple[dict[str, Any] | None, ReconciliationError | None]:
    """The reconciliation a close of the day makes first, so that its Z holds it: (journalled, None),
    (None, why not), or (None, None) when there is no terminal or the close cannot go through (the
    more goes to the bank than was counted). A reconciliation starts the terminal's
    next period, so one made for a close that then fails would leave the real close an empty one.
    Never raises for a terminal that is down: the day is closed anyway."""
    if terminal is None or to_bank > counted:
        return None, None
    try:
        return reconcile_terminal(till, terminal, who), None
    except ReconciliationError as exc:
        return None, exc
