"""The card terminal's reconciliation against the till's own journal, per card brand.

The terminal reports what it charged and refunded since its last reconciliation; the till counts the
card payments (tender type `card`) its sale and return entries hold since its last journalled
`terminal_reconciliation`. Both sides are counts and amounts of payments and refunds per brand, so a
sale booked to card that the terminal never charged, or a charge whose sale was never completed,
shows up as a difference on that brand. Amounts are integer øre; a difference is terminal minus till."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .journal import Entry

KIND = "terminal_reconciliation"
CARD = "card"
UNBRANDED = "Kort"  # a card payment journalled without a brand (older journals)
BRAND_ORDER = ("Dankort", "Visa", "Mastercard")


@dataclass(frozen=True)
class Totals:
    payments: int = 0
    payments_ore: int = 0
    refunds: int = 0
    refunds_ore: int = 0  # positive: money given back

    @property
    def net_ore(self) -> int:
        return self.payments_ore - self.refunds_ore

    def __add__(self, other: Totals) -> Totals:
        return Totals(self.payments + other.payments, self.payments_ore + other.payments_ore,
                      self.refunds + other.refunds, self.refunds_ore + other.refunds_ore)

    def __sub__(self, other: Totals) -> Totals:
        return Totals(self.payments - other.payments, self.payments_ore - other.payments_ore,
                      self.refunds - other.refunds, self.refunds_ore - other.refunds_ore)

    def to_json(self) -> dict[str, int]:
        return {"payments": self.payments, "payments_ore": self.payments_ore, "refunds": self.refunds,
                "refunds_ore": self.refunds_ore}

    @staticmethod
    def from_json(data: Mapping[str, Any] | Any) -> Totals:
        """From a journal payload, or from anything with the same attributes (the driver's BrandTotals)."""
        get = data.get if isinstance(data, Mapping) else lambda k, d=0: getattr(data, k, d)
        return Totals(int(get("payments", 0)), int(get("payments_ore", 0)), int(get("refunds", 0)),
                      int(get("refunds_ore", 0)))


@dataclass(frozen=True)
class Row:
    brand: str
    till: Totals
    terminal: Totals

    @property
    def difference(self) -> Totals:
        return self.terminal - self.till

    @property
    def agrees(self) -> bool:
        return self.till == self.terminal

    def to_json(self) -> dict[str, Any]:
        return {"brand": self.brand, "till": self.till.to_json(), "terminal": self.terminal.to_json(),
                "difference": self.difference.to_json(), "agrees": self.agrees}


def brand_key(brand: str) -> tuple[int, str]:
    """Dankort, Visa, Mastercard first (the shop's usual three), then the rest alphabetically."""
    return (BRAND_ORDER.index(brand) if brand in BRAND_ORDER else len(BRAND_ORDER), brand)


def till_totals(entries: Iterable[Entry]) -> dict[str, Totals]:
    """Card payments and refunds per brand in sale and return entries after the last reconciliation
    among `entries` (each reconciliation starts a new period, as it does on the terminal). Training
    receipts move no money and are left out. A card payment the terminal approved and then gave back
    before any sale carried it (taken off the basket, a refused signature) counts as the payment and
    the refund it was on the terminal, so the two sides agree in counts as well as in money."""
    totals: dict[str, Totals] = {}
    intents: dict[str, dict[str, Any]] = {}
    approved: dict[str, tuple[str, int]] = {}   # POI transaction id -> (brand, amount) of a payment
    reversed_: dict[str, int] = {}               # original POI transaction id -> amount given back
    sold: set[str] = set()

    def add(brand: str, amount: int) -> None:
        one = Totals(1, amount, 0, 0) if amount > 0 else Totals(0, 0, 1, -amount)
        totals[brand] = totals.get(brand, Totals()) + one

    for e in entries:
        if e.kind == KIND:
            totals, intents, approved, reversed_, sold = {}, {}, {}, {}, set()
            continue
        if e.kind == "payment_intent":
            data = e.data()
            if data.get("method", "card") == "card":
                intents[data["service_id"]] = data
            continue
        if e.kind == "payment_outcome":
            data = e.data()
            intent = intents.get(data.get("service_id", ""))
            if intent is None or data.get("state") != "approved":
                continue
            if intent.get("kind") == "payment" and data.get("poi_transaction_id"):
                approved[data["poi_transaction_id"]] = (str(data.get("brand") or UNBRANDED),
                                                        int(data.get("amount") or intent["amount"]))
            elif intent.get("kind") == "refund" and intent.get("original"):
                reversed_[intent["original"]] = reversed_.get(intent["original"], 0) + int(intent["amount"])
            continue
        if e.kind not in ("sale", "return"):
            continue
        rec = e.data()
        if rec.get("training"):
            continue
        for p in rec.get("payments", ()):
            if p.get("type") != CARD or not p.get("amount"):
                continue
            if p.get("reference"):
                sold.add(str(p["reference"]))
            add(str(p.get("brand") or UNBRANDED), int(p["amount"]))
    for poi, (brand, amount) in approved.items():
        back = reversed_.get(poi, 0)
        if poi not in sold and back:
            add(brand, amount)
            add(brand, -back)
    return totals


def compare(till: Mapping[str, Totals], terminal: Mapping[str, Totals]) -> list[Row]:
    """One row per brand either side knows, in brand order."""
    brands = sorted(set(till) | set(terminal), key=brand_key)
    return [Row(b, till.get(b, Totals()), terminal.get(b, Totals())) for b in brands]


def payload(rows: list[Row], reconciliation_id: str | None, poi_id: str | None, since_nr: int,
            upto_nr: int) -> dict[str, Any]:
    """The `terminal_reconciliation` journal entry: the terminal's id and totals, the till's totals
    over journal entries since_nr < nr <= upto_nr, and the brands that differ."""
    return {
        "reconciliation_id": reconciliation_id, "poi_id": poi_id, "since_nr": since_nr, "upto_nr": upto_nr,
        "terminal": {r.brand: r.terminal.to_json() for r in rows if r.terminal != Totals()},
        "till": {r.brand: r.till.to_json() for r in rows if r.till != Totals()},
        "differences": {r.brand: r.difference.to_json() for r in rows if not r.agrees},
        "agreed": all(r.agrees for r in rows),
    }


def rows_of(data: Mapping[str, Any]) -> list[Row]:
    """The comparison rows back from a journalled payload."""
    till = {b: Totals.from_json(t) for b, t in (data.get("till") or {}).items()}
    terminal = {b: Totals.from_json(t) for b, t in (data.get("terminal") or {}).items()}
    return compare(till, terminal)
