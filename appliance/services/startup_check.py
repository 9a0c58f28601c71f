"""The check every start makes before the till may sell (CLI and kiosk): the signing key belongs to
the certificate in use, and the journal's chain since the last Z verifies, its cash transactions
too. A full `journal verify` walks everything; this walks one period, so a start stays quick."""

from __future__ import annotations

import logging
import time

from ..domain.journal import ChainReport
from ..domain.signing import certificate_key_der
from ..store import settings
from ..store.journal import verify_since
from .till import Till

log = logging.getLogger(__name__)


def key_matches_certificate(till: Till) -> bool:
    pem = settings.certificate_pem(till.conn, settings.current_key_version(till.conn))
    return pem is not None and till.journal.signer.public_key_der() == certificate_key_der(pem.encode())


def check_on_start(till: Till) -> ChainReport:
    t0 = time.perf_counter()
    if not key_matches_certificate(till):
        report = ChainReport(False, 0, None, "the signing key does not belong to the certificate in use")
    else:
        row = till.conn.execute("SELECT MAX(journal_nr) FROM z_reports").fetchone()
        after = int(row[0]) - 1 if row and row[0] else 0  # from the last Z itself on
        report = verify_since(till.conn, settings.get_meta(till.conn, "cvr") or "", after)
    log.info("event=startup_check ok=%s entries=%d seconds=%.3f problem=%s", report.ok, report.entries,
             time.perf_counter() - t0, report.problem)
    return report
