"""The full `journal verify`, once a day, beside a kiosk that stays open for weeks.

The start-up check walks only the period since the last Z; the full walk (every entry, every cash
transaction, the Zs' anchors, the derived tables, the pinned certificates) runs here in a child
process at low priority: it takes seconds on a year of history, and in its own process it neither
holds the kiosk's interpreter lock nor leaves its memory behind. A failure stops selling, as a
failed start-up check does."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..domain.journal import ChainReport
from ..store.db import transaction
from ..store.settings import get_meta, set_meta

log = logging.getLogger(__name__)

LAST_OK_KEY = "journal.full_verify_ok_at"
INTERVAL = timedelta(days=1)
RETRY = timedelta(hours=1)  # after a check that could not run at all


def last_ok(till: Any) -> str | None:
    return get_meta(till.conn, LAST_OK_KEY)


def record_ok(till: Any, when: datetime) -> None:
    with transaction(till.conn):
        set_meta(till.conn, LAST_OK_KEY, when.isoformat())


class DailyVerify:
    """One child `till journal verify` at a time; `poll()` says how the last one ended."""

    def __init__(self, data_dir: Path, now: Callable[[], datetime], last_ok: str | None,
                 interval: timedelta = INTERVAL):
        self.data_dir = Path(data_dir)
        self.now = now
        self.last_ok = datetime.fromisoformat(last_ok) if last_ok else None
        self.interval = interval
        self._proc: subprocess.Popen[str] | None = None
        self._not_before: datetime | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None

    def due(self) -> bool:
        now = self.now()
        if self.running or (self._not_before is not None and now < self._not_before):
            return False
        return self.last_ok is None or now - self.last_ok >= self.interval

    def start(self) -> None:
        env = {**os.environ, "TILLBOX_DATA": ""}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "appliance.cli", "--data", str(self.data_dir), "--json", "journal",
             "verify"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            preexec_fn=lambda: os.nice(10))  # the cashier's screen comes first
        log.info("event=full_verify_started pid=%d", self._proc.pid)

    def poll(self) -> ChainReport | None:
        """None while the child runs (or none was started); its report once it has ended."""
        if self._proc is None or self._proc.poll() is None:
            return None
        out, err = self._proc.communicate()
        code, self._proc = self._proc.returncode, None
        try:
            body = json.loads(out or "{}")  # `--json`: the result, or one line with the error
        except ValueError:
            body = {}
        if code == 0 and body.get("ok"):
            self.last_ok = self.now()
            report = ChainReport(True, int(body.get("entries", 0)),
                                 transactions=int(body.get("transactions", 0)))
        elif code == 3:
            report = ChainReport(False, int(body.get("entries") or 0), body.get("first_bad"),
                                 str(body.get("problem") or "the journal does not verify"))
        else:  # the check itself could not run (no memory, a crash): say so, try again later
            log.error("event=full_verify_error code=%s stderr=%s", code, err.strip()[-300:])
            self._not_before = self.now() + RETRY
            return None
        log.log(logging.INFO if report.ok else logging.ERROR,
                "event=full_verify ok=%s entries=%d problem=%s", report.ok, report.entries, report.problem)
        return report

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.communicate()
            self._proc = None
