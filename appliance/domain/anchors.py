"""A Z's anchor: what a copy of the Z outside the till (its PDF in Dinero) must carry so the till's
journal can be checked against it later.

Whoever can write the data folder can cut entries off the journal's end, restore an older copy or
re-sign the whole history with a new key; the journal's own chain cannot see any of that. A copy
held elsewhere can: the anchor names the Z's register and journal entry, a hash of that entry's
signature (which chains over every entry before it), the last cash transaction with its
signature, the grand totals and the certificate's fingerprint. It travels in the PDF as a line the
bookkeeper can read and as a keyword line a program can read back (`ANCHOR_PREFIX` + JSON)."""

from __future__ import annotations

import hashlib
import json
import re

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .journal import Entry, canonical_json

ANCHOR_PREFIX = "tillbox-anchor/1 "
_HEX64 = r"^[0-9a-f]{64}$"
_B64 = r"^[A-Za-z0-9+/]+={0,2}$"


class AnchorError(ValueError):
    """A PDF's anchor line that is not one the till wrote."""


class Anchor(BaseModel):
    """One Z as the world outside the till holds it."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    register_id: str = Field(min_length=1, max_length=36)
    z_number: int = Field(ge=1)
    journal_nr: int = Field(ge=1)
    journal_signature_sha256: str = Field(pattern=_HEX64)
    last_tx_nr: int | None = Field(default=None, ge=1)
    last_tx_signature: str | None = Field(default=None, pattern=_B64, max_length=2048)
    grand_total_sales: str = Field(pattern=r"^-?\d+\.\d{2}$")
    grand_total_returns: str = Field(pattern=r"^-?\d+\.\d{2}$")
    certificate_sha256: str | None = Field(default=None, pattern=_HEX64)
    key_version: int = Field(ge=1)

    def keywords(self) -> str:
        return ANCHOR_PREFIX + canonical_json(self.model_dump())


def signature_hash(signature: str) -> str:
    """What the anchor holds of an entry's signature: enough to tell it apart, short enough to read."""
    return hashlib.sha256(signature.encode("ascii")).hexdigest()


def anchor_of(z_entry: Entry) -> Anchor:
    """The anchor of a journalled Z (its payload, number and signature)."""
    if z_entry.kind != "z_report":
        raise AnchorError(f"journal entry {z_entry.nr} is not a Z report")
    data = z_entry.data()
    last = data.get("last_transaction") or {}
    return Anchor(
        register_id=str(data["register_id"]), z_number=int(data["z_number"]), journal_nr=z_entry.nr,
        journal_signature_sha256=signature_hash(z_entry.signature or ""),
        last_tx_nr=None if not last else int(last["nr"]),
        last_tx_signature=None if not last else str(last["signature"]),
        grand_total_sales=str(data["grand_total_sales"]),
        grand_total_returns=str(data["grand_total_returns"]),
        certificate_sha256=data.get("certificate_sha256"), key_version=z_entry.key_version)


def parse_anchor(keywords: str) -> Anchor | None:
    """The anchor in a PDF's keywords; None when there is none (a Z from before anchors)."""
    match = re.search(re.escape(ANCHOR_PREFIX) + r"(\{.*\})", keywords or "", re.S)
    if match is None:
        return None
    try:
        return Anchor.model_validate(json.loads(match.group(1)))
    except (ValueError, ValidationError) as exc:
        raise AnchorError(f"the anchor line is damaged: {str(exc).splitlines()[0]}") from exc
