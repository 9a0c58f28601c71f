"""The journal's rules: entry kinds and their SAF-T codes, the signed string, and the chain check.

Each entry is signed over SKAT's SAF-T string
`prev;nr;transID;transType;transDate;transTime;empID;transAmntIn;transAmntEx;registerID;companyIdent`.
That string carries no lines or payments, so our transID ends in a hash of the whole entry: the
signature then covers every byte of it, and one signature per entry keeps a sale fast.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .money import format_kroner

# kind -> SAF-T code (transType from PredefinedBasicID-11, eventType from PredefinedBasicID-13)
KINDS: dict[str, str] = {
    "sale": "11001",
    "return": "11006",
    "cash_float": "11007",
    "cash_difference": "11008",
    "cash_out": "11010",
    "cash_in": "11011",
    "app_start": "13001",
    "login": "13003",
    "logout": "13004",
    "drawer_open": "13005",
    "drawer_close": "13006",
    "x_report": "13008",
    "z_report": "13009",
    "park": "13010",
    "resume": "13011",
    "receipt_copy": "13014",
    "cash_to_bank": "13019",
    "journal_export": "13020",
    "price_override": "13021",
    "price_change": "13021",
    "training_on": "13023",
    "training_off": "13024",
    "void_receipt": "13028",
    "void_line": "13999",
    "discount": "13999",
    "login_failed": "13999",
    "pin_locked": "13999",  # a cashier locked out for a while after too many wrong PINs in a row
    "settings_change": "13999",
    "init": "13999",
    "key_rotation": "13999",  # a new signing key and certificate, announced under the old key
    "payment_intent": "13999",   # an integrated card/MobilePay request, journalled before it is sent
    "payment_outcome": "13999",  # what the terminal or MobilePay answered (or TransactionStatus found)
    "payment_signature": "13999",  # a card's signature: taken on the terminal (or paper), then checked
    "terminal_reconciliation": "13999",  # the card terminal's totals compared with the till's, per brand
}
SYSTEM = "system"


def canonical_json(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Entry:
    nr: int
    ts: datetime
    register_id: str
    cashier: str
    kind: str
    amount_in: int
    amount_ex: int
    payload: str  # canonical JSON, exactly as stored
    trans_id: str = ""
    signature: str = ""
    key_version: int = 1

    @property
    def trans_type(self) -> str:
        return KINDS[self.kind]

    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.payload)  # every payload is a JSON object
        return data


def content_id(e: Entry) -> str:
    """transID: the entry number and a hash over everything the entry holds."""
    head = "\x1f".join((str(e.nr), e.ts.isoformat(), e.register_id, e.cashier, e.kind, e.trans_type,
                        str(e.amount_in), str(e.amount_ex)))
    digest = hashlib.sha256(head.encode() + b"\x1e" + e.payload.encode()).hexdigest()
    return f"{e.nr}-{digest[:24]}"


def signature_string(prev_signature: str, e: Entry, company_ident: str) -> str:
    return ";".join([
        prev_signature or "0",
        str(e.nr),
        e.trans_id,
        e.trans_type,
        e.ts.strftime("%Y-%m-%d"),
        e.ts.strftime("%H:%M:%S"),
        e.cashier,
        format_kroner(e.amount_in),
        format_kroner(e.amount_ex),
        e.register_id,
        company_ident,
    ])


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    first_bad: int | None = None
    problem: str | None = None
    transactions: int = 0  # cash transactions checked (SAF-T's chain), with the journal's own


def verify_chain(
    entries: Iterable[Entry],
    company_ident: str,
    verify_signature: Callable[[str, str, int], bool],
    expected_last: int | None = None,
    after: Entry | None = None,
) -> ChainReport:
    """Walk the journal in storage order; name the first entry that was edited, deleted,
    inserted or moved. `verify_signature(signature, signed_text, key_version)`. With `after`, the
    walk starts behind that entry (trusted as it is): the chain since a point, as at start-up."""
    prev_sig = after.signature if after is not None else "0"
    prev_ts: datetime | None = after.ts if after is not None else None
    expect = after.nr + 1 if after is not None else 1
    count = 0
    for e in entries:
        count += 1
        if e.nr != expect:
            what = "missing" if e.nr > expect else "out of order or duplicated"
            return ChainReport(False, count, expect, f"entry {expect} is {what} (found {e.nr})")
        if e.kind not in KINDS:
            return ChainReport(False, count, e.nr, f"unknown kind {e.kind!r}")
        if content_id(e) != e.trans_id:
            return ChainReport(False, count, e.nr, "content does not match its transID (edited)")
        if not verify_signature(e.signature, signature_string(prev_sig, e, company_ident),
                                e.key_version):
            return ChainReport(False, count, e.nr, "signature does not verify (chain broken)")
        if prev_ts is not None and e.ts < prev_ts:
            return ChainReport(False, count, e.nr, "time goes backwards")
        prev_sig, prev_ts, expect = e.signature, e.ts, expect + 1
    if expected_last is not None and expected_last >= expect:
        return ChainReport(False, count, expect,
                           f"entries {expect}..{expected_last} are missing from the end")
    return ChainReport(True, count)
