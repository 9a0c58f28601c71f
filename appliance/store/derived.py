"""The tables derived from the journal (receipts, z_reports), checked against it: an edited,
deleted or added row there is found by `journal verify` like an edit of the journal itself."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

_RECEIPT_MISMATCH = """
SELECT j.nr, json_extract(j.payload, '$.receipt_number') FROM journal j
LEFT JOIN receipts r ON r.journal_nr = j.nr
WHERE j.kind IN ('sale', 'return') AND (
    r.receipt_number IS NULL
    OR r.receipt_number IS NOT json_extract(j.payload, '$.receipt_number')
    OR r.kind IS NOT j.kind
    OR r.total IS NOT json_extract(j.payload, '$.total')
    OR r.training IS NOT COALESCE(json_extract(j.payload, '$.training'), 0)
    OR r.original_receipt IS NOT json_extract(j.payload, '$.original_receipt'))
ORDER BY j.nr LIMIT 1"""
_RECEIPT_EXTRA = """
SELECT r.receipt_number FROM receipts r LEFT JOIN journal j ON j.nr = r.journal_nr
WHERE j.nr IS NULL OR j.kind NOT IN ('sale', 'return') ORDER BY r.receipt_number LIMIT 1"""
_Z_MISMATCH = """
SELECT j.nr, json_extract(j.payload, '$.z_number') FROM journal j
LEFT JOIN z_reports z ON z.journal_nr = j.nr
WHERE j.kind = 'z_report' AND (
    z.z_number IS NULL
    OR z.z_number IS NOT json_extract(j.payload, '$.z_number')
    OR z.business_date IS NOT json_extract(j.payload, '$.business_date')
    OR z.period_start IS NOT json_extract(j.payload, '$.period_start')
    OR z.period_end IS NOT json_extract(j.payload, '$.period_end'))
ORDER BY j.nr LIMIT 1"""
_Z_EXTRA = """
SELECT z.z_number FROM z_reports z LEFT JOIN journal j ON j.nr = z.journal_nr
WHERE j.nr IS NULL OR j.kind IS NOT 'z_report' ORDER BY z.z_number LIMIT 1"""


_CHECKS: tuple[tuple[str, Callable[[tuple[Any, ...]], tuple[int | None, str]]], ...] = (
    (_RECEIPT_MISMATCH,
     lambda r: (r[0], f"receipt {r[1]} in the receipts table does not match journal entry {r[0]}")),
    (_RECEIPT_EXTRA,
     lambda r: (None, f"receipt {r[0]} in the receipts table has no sale or return in the journal")),
    (_Z_MISMATCH, lambda r: (r[0], f"Z {r[1]} in z_reports does not match journal entry {r[0]}")),
    (_Z_EXTRA, lambda r: (None, f"Z {r[0]} in z_reports has no Z in the journal (the journal was cut off)")),
)


def check(conn: sqlite3.Connection) -> tuple[int | None, str] | None:
    """(journal nr or None, what is wrong) for the first derived row that disagrees; None if all agree."""
    for sql, problem in _CHECKS:
        row = conn.execute(sql).fetchone()
        if row:
            return problem(row)
    return None
