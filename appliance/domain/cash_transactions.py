"""Cash transactions: the journal entries that move money, as SAF-T Cash Register DK holds them.

The journal chains every action (events too) for the till's own tamper evidence. The tax
authority's check script instead verifies one chain per register over cash transactions only, with
`nr` one gap-free sequence per CVR. So each money-moving entry also gets a cash transaction, signed
when the entry is written over SKAT's string
`prev;nr;transID;transType;transDate;transTime;empID;transAmntIn;transAmntEx;registerID;companyIdent`.
Every field is kept as the exact text that was signed, so an export reproduces it byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from .journal import Entry
from .money import format_kroner
from .vat import vat_breakdown

# journal kind -> SAF-T transType (PredefinedBasicID-11). The journal's own codes (journal.KINDS)
# are signed into its chain and never change; these are the codes of the exported file.
TRANS_TYPES: dict[str, str] = {
    "sale": "11001",            # Kontantsalg (any tender: a till sale, not an invoice)
    "void_receipt": "11001",    # an abandoned basket: a sale with voidTransaction=true
    "return": "11006",          # Udbetaling ved retur
    "cash_float": "11007",      # Indgående vekselbeholdning
    "cash_difference": "11008",  # Kassedifference
    "cash_to_bank": "11010",    # Udtag: cash taken to the bank at the close
    "cash_out": "11010",        # Udtag
    "cash_in": "11011",         # Indsætning
}
CASH_KINDS = frozenset(TRANS_TYPES)
TZ = ZoneInfo("Europe/Copenhagen")  # SAF-T times are Danish local time
# The article a cash difference's line names (11008 must carry a line with an artID).
DIFFERENCE_ARTICLE = "KASSEDIFFERENCE"


@dataclass(frozen=True)
class CashTransaction:
    """One cashtransaction's signed fields, as text exactly as written into the file."""

    nr: str
    trans_id: str
    trans_type: str
    trans_date: str
    trans_time: str
    emp_id: str
    amnt_in: str
    amnt_ex: str
    amnt_tp: str  # C: money in, D: money out
    register_id: str
    void: bool
    training: bool

    def signed_text(self, prev_signature: str, company_ident: str) -> str:
        return ";".join([
            prev_signature or "0", self.nr, self.trans_id, self.trans_type, self.trans_date,
            self.trans_time, self.emp_id, self.amnt_in, self.amnt_ex, self.register_id, company_ident,
        ])


def saft_date_time(ts: datetime) -> tuple[str, str]:
    """(date, time) as SAF-T writes them: Danish local date, and the time with microseconds and the
    UTC offset, so the order of a Z and the transactions around it survives the file (the autumn's
    repeated hour too)."""
    date, _, time = ts.astimezone(TZ).isoformat(timespec="microseconds").partition("T")
    return date, time


def amounts(e: Entry) -> tuple[int, int]:
    """(incl. VAT, excl. VAT) in øre, signed: positive into the till, negative out of it."""
    if e.kind == "void_receipt":
        lines = e.data().get("lines", [])
        total = sum(ln["total"] for ln in lines)
        vat = sum(v.vat for v in vat_breakdown((ln["vat_rate"], ln["total"]) for ln in lines).values())
        return total, total - vat
    if e.kind in ("cash_out", "cash_to_bank"):
        return -abs(e.amount_in), -abs(e.amount_ex)
    return e.amount_in, e.amount_ex


def cash_transaction(e: Entry, nr: int) -> CashTransaction:
    """The cash transaction a journal entry of a cash kind becomes, numbered `nr` for the CVR."""
    amount_in, amount_ex = amounts(e)
    date, time = saft_date_time(e.ts)
    data = e.data()
    return CashTransaction(
        nr=str(nr), trans_id=e.trans_id, trans_type=TRANS_TYPES[e.kind], trans_date=date,
        trans_time=time, emp_id=e.cashier, amnt_in=format_kroner(abs(amount_in)),
        amnt_ex=format_kroner(abs(amount_ex)), amnt_tp="D" if amount_in < 0 else "C",
        register_id=e.register_id, void=e.kind == "void_receipt", training=bool(data.get("training")))
