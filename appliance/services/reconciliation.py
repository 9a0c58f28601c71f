"""Reconciling the card terminal at the end of the day: ask it for its totals per brand (which also
starts its next period), compare them with the card payments the till journalled since its last
reconciliation (or since the terminal was set up), and journal both with the differences, so the Z
shows the bookkeeper any mismatch.

A terminal that does not answer (or answers with a failure) gets nothing journalled: the error says
so in English for the log and in Danish for the screen, and the day can still be closed. An answer
lost after the request left the till may have closed the terminal's period all the same: the till
then reads that period again (nexo PreviousReconciliation, by the POIReconciliationID after the
last one it journalled), so the next day does not show the lost period's card payments as a
difference; if the terminal closed nothing, the reconciliation is asked for once more."""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol

from ..domain.reconciliation import KIND, Totals, compare, payload, till_totals
from ..store.db import transaction
from ..store.journal import entries, last_nr
from .till import Till

log = logging.getLogger(__name__)

NO_ANSWER = "Terminalen svarer ikke: afstemningen mangler"
LOST = "Terminalens svar på afstemningen gik tabt og kunne ikke hentes igen: afstemningen mangler"
TERMINAL_SETTING = "device.terminal"  # services.devices journals a terminal set up under this key


class Reconciler(Protocol):
    """What reconciling needs of a terminal (drivers.terminal.client.TerminalClient): close a period,
    and read a closed one again when its answer was lost."""

    def reconcile(self) -> Any: ...

    def previous_reconciliation(self, reconciliation_id: str | int) -> Any: ...


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
    from drivers.terminal.client import TerminalError, TerminalUnreachable

    who = till.acting(who)
    reread = False
    try:
        result = terminal.reconcile()
    except TerminalError as exc:
        log.warning("event=terminal_reconciliation_failed reason=no_answer error=%s", type(exc).__name__)
        if isinstance(exc, TerminalUnreachable) and not exc.maybe_processed:
            raise ReconciliationError(f"terminal did not answer the reconciliation: {exc}") from exc
        result = _read_again(till, terminal)  # the request left: the period may be closed all the same
        if result is None:  # the terminal closed nothing: asking again cannot close a period twice
            try:
                result = terminal.reconcile()
            except TerminalError as again:
                raise ReconciliationError(f"terminal did not answer the reconciliation: {again}") from again
        else:
            reread = True
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
        if reread:
            data["answer_reread"] = True  # the first answer was lost; these totals were read again
        e = till.journal.append(KIND, who, data)
    differing = [r.brand for r in rows if not r.agrees]
    log.info("event=terminal_reconciled nr=%d id=%s brands=%d agreed=%s differing=%s", e.nr,
             result.reconciliation_id, len(rows), data["agreed"], ",".join(differing) or "-")
    return {**data, "nr": e.nr, "rows": [r.to_json() for r in rows]}


def _next_id(reconciliation_id: str) -> str | None:
    """The id a terminal gives the period after this one: its number plus one, in the same form
    (Adyen counts 1007, 1008; the simulator R000001, R000002). None when it has no number."""
    found = re.search(r"(\d+)$", reconciliation_id)
    if found is None:
        return None
    digits = found.group(1)
    return reconciliation_id[:found.start()] + str(int(digits) + 1).zfill(len(digits))


def _read_again(till: Till, terminal: Any, most: int = 5) -> Any:
    """After a lost answer: the periods the terminal closed after the last reconciliation the till
    journalled for it, read again with PreviousReconciliation and added up (normally the one whose
    answer was lost). None when it closed none (the request never got there). Raises
    ReconciliationError when the till cannot name the period (no earlier reconciliation of this
    terminal) or the terminal does not answer this either."""
    from drivers.terminal import messages as m
    from drivers.terminal.client import TerminalError

    poi = getattr(terminal, "poi_id", None)
    row = till.conn.execute(
        "SELECT json_extract(payload, '$.reconciliation_id') FROM journal WHERE kind = ? AND "
        "json_extract(payload, '$.poi_id') IS ? AND json_extract(payload, '$.reconciliation_id') IS NOT NULL "
        "ORDER BY nr DESC LIMIT 1", (KIND, poi)).fetchone()
    wanted = _next_id(str(row[0])) if row is not None else None
    if wanted is None:
        log.warning("event=terminal_reconciliation_lost reason=no_earlier_id poi_id=%s", poi)
        raise ReconciliationError("the reconciliation's answer was lost and the till cannot name the period "
                                  "to read again (no earlier reconciliation of this terminal)", LOST)
    found: list[Any] = []
    for _ in range(most):
        try:
            result = terminal.previous_reconciliation(wanted)
        except (TerminalError, m.MessageError) as exc:
            log.warning("event=terminal_reconciliation_lost reason=reread_failed id=%s error=%s", wanted,
                        type(exc).__name__)
            raise ReconciliationError(f"the reconciliation's answer was lost and reading it again failed: "
                                      f"{exc}", LOST) from exc
        if not result.ok:  # NotFound: the terminal closed no period with this id
            break
        found.append(result)
        wanted = _next_id(str(result.reconciliation_id or wanted)) or wanted
    if not found:
        return None
    totals: dict[str, Totals] = {}
    for result in found:
        for brand, t in result.totals.items():
            totals[str(brand)] = totals.get(str(brand), Totals()) + Totals.from_json(t)
    log.info("event=terminal_reconciliation_reread ids=%s", ",".join(str(r.reconciliation_id) for r in found))
    return m.ReconciliationResult(ok=True, reconciliation_id=found[-1].reconciliation_id,
                                  totals=totals)  # type: ignore[arg-type]  # Totals has BrandTotals' fields


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
