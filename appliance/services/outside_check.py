"""`till journal verify --against-dinero`: the journal held against the Z anchors in Dinero.

Each Z's PDF in Dinero's file archive carries the Z's anchor (domain/anchors.py). This reads them
all back, keeps those of this register, and asks the store whether the local journal agrees with
each. Dinero is only read: nothing is written there or here."""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from ..domain.anchors import Anchor, AnchorError, parse_anchor
from ..store import anchors
from .till import Till

log = logging.getLogger(__name__)
Z_FILE = re.compile(r"^z-\d+\.pdf$")


@dataclass
class OutsideCheck:
    anchors: list[Anchor] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    without_anchor: int = 0  # Z PDFs from before anchors, or not this till's
    other_registers: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        newest = max(self.anchors, key=lambda a: a.z_number, default=None)
        return {"ok": self.ok, "anchors": len(self.anchors), "problems": self.problems,
                "newest_z": None if newest is None else newest.z_number,
                "newest_journal_nr": None if newest is None else newest.journal_nr,
                "without_anchor": self.without_anchor, "other_registers": self.other_registers}


def _keywords(pdf: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        meta = PdfReader(io.BytesIO(pdf)).metadata
    except (PyPdfError, ValueError) as exc:
        raise AnchorError(f"not a readable PDF ({type(exc).__name__})") from exc
    return "" if meta is None else str(meta.get("/Keywords") or "")


def read_anchors(client: Any, org: int, register_id: str) -> OutsideCheck:
    """Every Z anchor of this register in the organization's file archive (one per Z)."""
    result = OutsideCheck()
    seen: dict[int, Anchor] = {}
    for f in client.list_files(org, "pdf"):
        if not Z_FILE.match(str(f.get("Name") or "")) or not f.get("FileGuid"):
            continue
        try:
            anchor = parse_anchor(_keywords(client.download_file(org, str(f["FileGuid"]))))
        except AnchorError as exc:
            result.problems.append(f"{f.get('Name')} in Dinero has a damaged anchor: {exc}")
            continue
        if anchor is None:
            result.without_anchor += 1
        elif anchor.register_id != register_id:
            result.other_registers += 1
        elif anchor.z_number in seen and seen[anchor.z_number] != anchor:
            result.problems.append(f"Dinero holds two different anchors for Z {anchor.z_number}")
        else:
            seen[anchor.z_number] = anchor
    result.anchors = [seen[z] for z in sorted(seen)]
    return result


def check_against_dinero(till: Till, client: Any, org: int) -> OutsideCheck:
    result = read_anchors(client, org, till.register_id)
    for a in reversed(result.anchors):  # the newest first: a cut-off end shows there
        found = anchors.problem(till.conn, a)
        if found:
            result.problems.append(found)
    log.info("event=journal_outside_check anchors=%d problems=%d", len(result.anchors), len(result.problems))
    return result
