"""The local journal held against Z anchors read from outside the till (the Z PDFs in Dinero).

The journal's own check proves the chain is whole as it stands; it cannot tell that its end was cut
off, that an older copy was put back, or that the whole history was signed again with a new key.
An anchor kept elsewhere can, for everything up to the newest Z that reached it."""

from __future__ import annotations

import sqlite3

from ..domain.anchors import Anchor, signature_hash
from .journal import entry, last_nr
from .settings import certificate_sha256
from .transfers import was_sent


def _tx_signature(conn: sqlite3.Connection, register_id: str, nr: int) -> str | None:
    row = conn.execute("SELECT signature FROM cash_transactions WHERE register_id = ? AND nr = ?",
                       (register_id, nr)).fetchone()
    return None if row is None else str(row[0])


def problem(conn: sqlite3.Connection, a: Anchor) -> str | None:
    """What is wrong with the local journal as this anchor sees it; None when they agree."""
    z = a.z_number
    e = entry(conn, a.journal_nr)
    if e is None:
        end = last_nr(conn)
        if was_sent(conn, z):  # this till.db itself once sent that Z
            return (f"Dinero holds Z {z} (journal entry {a.journal_nr}, cash transaction {a.last_tx_nr}), "
                    f"but this journal ends at entry {end}: entries were cut off its end")
        return (f"Dinero holds Z {z} (journal entry {a.journal_nr}), which this till.db never sent and does "
                f"not hold (it ends at entry {end}): an older copy of till.db was restored")
    if e.kind != "z_report" or int(e.data().get("z_number", 0)) != z:
        return f"journal entry {a.journal_nr} is not Z {z} as Dinero holds it: the journal was rewritten"
    if signature_hash(e.signature) != a.journal_signature_sha256:
        local = certificate_sha256(conn, e.key_version)
        if a.certificate_sha256 and local != a.certificate_sha256:
            return (f"Z {z} in Dinero was signed under certificate {a.certificate_sha256[:16]}…, this "
                    f"journal's under {(local or 'none')[:16]}…: the history was re-signed with another key")
        return (f"journal entry {a.journal_nr} (Z {z}) is not the one Dinero holds: the journal up to it was "
                "rewritten and signed again")
    if a.last_tx_nr is not None and _tx_signature(conn, a.register_id, a.last_tx_nr) != a.last_tx_signature:
        return (f"cash transaction {a.last_tx_nr} is not the one Z {z} in Dinero ends at: the cash "
                "transactions were rewritten")
    return None
