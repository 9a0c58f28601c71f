"""The SAF-T Cash Register DK master data the till's file carries: basics, addresses, VAT codes.

Every code a file uses must stand in its `basics` (the check script's NO_RELATION_TO_BASICS_FOUND),
and every basic of the families 10-13 needs its predefined code. The file carries the whole list the
till can use, so no file lacks one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..domain.tenders import SAFT_PAYMENT_CODE, PaymentType

NAMESPACE = "urn:StandardAuditFile-Taxation-CashRegister:DK"
AUDITFILE_VERSION = "1.0.3"


@dataclass(frozen=True)
class Basic:
    basic_type: str
    basic_id: str
    predefined: str | None
    desc: str


# journal kind -> (eventType basicID, predefined code, description). Kinds the code list has no
# code for are 13999 ("other"), each under a basicID of its own so the file still tells them apart.
EVENTS: dict[str, tuple[str, str, str]] = {
    "app_start": ("13001", "13001", "Programstart"),
    "login": ("13003", "13003", "Log ind"),
    "logout": ("13004", "13004", "Log ud"),
    "drawer_open": ("13005", "13005", "Skuffe åbnet"),
    "drawer_close": ("13006", "13006", "Skuffe lukket"),
    "x_report": ("13008", "13008", "X-rapport"),
    "z_report": ("13009", "13009", "Z-rapport"),
    "park": ("13010", "13010", "Salg parkeret"),
    "resume": ("13011", "13011", "Parkeret salg hentet"),
    "receipt_copy": ("13014", "13014", "Kopi af kvittering"),
    "journal_export": ("13020", "13020", "Eksport af elektronisk journal"),
    "price_change": ("13021", "13021", "Prisændring"),
    "price_override": ("13021.override", "13021", "Prisændring på linje"),
    "training_on": ("13023", "13023", "Træningstilstand til"),
    "training_off": ("13024", "13024", "Træningstilstand fra"),
    "void_line": ("13999.void_line", "13999", "Slettet linje"),
    "discount": ("13999.discount", "13999", "Rabat"),
    "login_failed": ("13999.login_failed", "13999", "Forkert pinkode"),
    "pin_locked": ("13999.pin_locked", "13999", "Ekspedient spærret efter forkerte pinkoder"),
    "settings_change": ("13999.settings", "13999", "Ændring af indstilling"),
    "init": ("13999.init", "13999", "Kasse oprettet"),
    "key_rotation": ("13999.key_rotation", "13999", "Ny signeringsnøgle og nyt certifikat"),
    "payment_intent": ("13999.payment_intent", "13999", "Betaling sendt til terminal/MobilePay"),
    "payment_outcome": ("13999.payment_outcome", "13999", "Svar fra terminal/MobilePay"),
    "payment_signature": ("13999.signature", "13999", "Underskrift på kortbetaling"),
    "terminal_reconciliation": ("13999.reconciliation", "13999", "Afstemning af betalingsterminal"),
}
# Events a cash transaction brings with it, naming it by its transID.
TRANSACTION_EVENTS: dict[str, tuple[str, str, str]] = {
    "void_receipt": ("13028", "13028", "Annulleret kvittering"),
    "return": ("13013", "13013", "Returkvittering"),
    "cash_to_bank": ("13019", "13019", "Kontanter til bank"),
    "training_sale": ("13017", "13017", "Træningskvittering"),
}
TRANSACTIONS: dict[str, str] = {
    "11001": "Kontantsalg", "11006": "Udbetaling ved retur", "11007": "Indgående vekselbeholdning",
    "11008": "Kassedifference", "11010": "Udtag", "11011": "Indsætning",
}
PAYMENT_DESC = {
    PaymentType.CASH: "Kontant", PaymentType.CARD: "Betalingskort (integreret terminal)",
    PaymentType.MANUAL_CARD: "Betalingskort (manuel terminal)", PaymentType.MOBILEPAY: "MobilePay",
    PaymentType.GIFT_VOUCHER: "Gavekort",
}
# Line types (05) and discount types (08) are the till's own; no predefined code exists for them.
LINE_SALE, LINE_RETURN, LINE_DIFFERENCE = "SALG", "RETUR", "KASSEDIFFERENCE"
LINE_TYPES = {LINE_SALE: "Salgslinje", LINE_RETURN: "Returlinje", LINE_DIFFERENCE: "Kassedifference"}
DISCOUNT_LINE, DISCOUNT_BASKET = "LINJERABAT", "BONRABAT"
DISCOUNT_TYPES = {DISCOUNT_LINE: "Rabat på linje", DISCOUNT_BASKET: "Rabat på hele bonen"}
GOODS_GROUP_CODE = "04003"  # Varesalg


def payment_basic_id(tender: str) -> str:
    """A tender's paymentType basicID: the tender's own name, mapped to its predefined 12xxx code."""
    return PaymentType(tender).value


def group_basic_id(group: str) -> str:
    """An article group's basicID (at most 36 characters, as the schema's identifiers are)."""
    return group[:36] or "-"


def basics(groups: list[str]) -> list[Basic]:
    out = [Basic("04", group_basic_id(g), GOODS_GROUP_CODE, g[:999] or "-") for g in sorted(set(groups))]
    out += [Basic("05", k, None, v) for k, v in LINE_TYPES.items()]
    out += [Basic("08", k, None, v) for k, v in DISCOUNT_TYPES.items()]
    out += [Basic("11", k, k, v) for k, v in TRANSACTIONS.items()]
    out += [Basic("12", payment_basic_id(t), SAFT_PAYMENT_CODE[t], PAYMENT_DESC[t]) for t in PaymentType]
    seen: set[str] = set()
    for basic_id, code, desc in (*EVENTS.values(), *TRANSACTION_EVENTS.values()):
        if basic_id not in seen:
            seen.add(basic_id)
            out.append(Basic("13", basic_id, code, desc))
    return out


@dataclass(frozen=True)
class Address:
    street: str
    number: str
    postal_code: str
    city: str
    country: str = "DK"


def parse_address(text: str) -> Address:
    """'Hovedgaden 1, 4000 Roskilde' -> street, number, postcode, city. An address the till cannot
    split goes whole into the street, with '-' where SAF-T needs a part it lacks."""
    m = re.fullmatch(r"\s*(?P<street>.+?)\s+(?P<number>\d+[A-Za-z]?(?:[ ,.-].{0,15})?)\s*,\s*"
                     r"(?:DK-?)?(?P<zip>\d{4})\s+(?P<city>.+?)\s*", text)
    if m:
        return Address(m["street"][:100], m["number"].strip(" ,")[:20], m["zip"], m["city"][:50])
    m = re.search(r"(?:DK-?)?(\d{4})\s+([^,\d][^,]*)$", text.strip())
    if m:
        return Address(text[:m.start()].strip(" ,")[:100] or "-", "-", m[1], m[2].strip()[:50])
    return Address(text.strip()[:100] or "-", "-", "-", "-")
