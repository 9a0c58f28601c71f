"""Tenders and settling a sale: cash rounding on the cash part only, change only from cash."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .money import MoneyError, format_dkk, parse_kroner, round_cash


class PaymentType(StrEnum):
    CASH = "cash"
    CARD = "card"
    MOBILEPAY = "mobilepay"
    MANUAL_CARD = "manual_card"
    GIFT_VOUCHER = "gift_voucher"


NON_CASH = tuple(t for t in PaymentType if t is not PaymentType.CASH)
# SAF-T PredefinedBasicID-12
SAFT_PAYMENT_CODE = {
    PaymentType.CASH: "12001", PaymentType.CARD: "12002", PaymentType.MANUAL_CARD: "12002",
    PaymentType.MOBILEPAY: "12011", PaymentType.GIFT_VOUCHER: "12005",
}


class PaymentError(ValueError):
    pass


class Underpaid(PaymentError):
    def __init__(self, missing: int):
        self.missing = missing
        super().__init__(f"underpaid: {format_dkk(missing)} still due")


@dataclass(frozen=True)
class Payment:
    type: PaymentType
    amount: int  # øre; negative on a refund
    brand: str | None = None
    reference: str | None = None

    @staticmethod
    def parse(spec: object) -> Payment:
        if not isinstance(spec, dict):
            raise PaymentError('a payment is {"type": T, "amount": "A"}')
        try:
            ptype = PaymentType(str(spec.get("type")))
        except ValueError as exc:
            kinds = ", ".join(t.value for t in PaymentType)
            raise PaymentError(f"unknown payment type {spec.get('type')!r} ({kinds})") from exc
        try:
            amount = parse_kroner(spec.get("amount", ""))
        except MoneyError as exc:
            raise PaymentError(str(exc)) from exc
        if amount <= 0:
            raise PaymentError("a payment amount must be positive")
        brand = spec.get("brand")
        return Payment(ptype, amount, str(brand)[:30] if brand else None, spec.get("reference"))

    def to_dict(self) -> dict[str, str | int]:
        d: dict[str, str | int] = {"type": self.type.value, "amount": self.amount}
        if self.brand:
            d["brand"] = self.brand
        if self.reference:
            d["reference"] = str(self.reference)
        return d


@dataclass(frozen=True)
class Settlement:
    payments: tuple[Payment, ...]  # what was taken per tender, cash after change
    rounding: int  # rounded cash due minus unrounded cash due
    change: int
    cash_tendered: int


def settle(total: int, tenders: list[Payment]) -> Settlement:
    """Settle a sale of `total` øre (>= 0) with the tenders offered."""
    if total < 0:
        raise PaymentError("settle() takes a sale; refunds use settle_refund()")
    non_cash = [p for p in tenders if p.type is not PaymentType.CASH]
    cash = [p for p in tenders if p.type is PaymentType.CASH]
    non_cash_sum = sum(p.amount for p in non_cash)
    if non_cash_sum > total:
        raise PaymentError(
            "card, MobilePay and vouchers cannot exceed the amount due; change is only given in cash"
        )
    cash_due = total - non_cash_sum
    cash_tendered = sum(p.amount for p in cash)
    if not cash:
        if cash_due:
            raise Underpaid(cash_due)
        return Settlement(tuple(non_cash), 0, 0, 0)
    rounded = round_cash(cash_due)
    if cash_tendered < rounded:
        raise Underpaid(rounded - cash_tendered)
    payments = (*non_cash, Payment(PaymentType.CASH, rounded))
    return Settlement(payments, rounded - cash_due, cash_tendered - rounded, cash_tendered)


def settle_refund(amount: int, tenders: list[Payment]) -> Settlement:
    """Pay back `amount` øre (> 0): non-cash as given, the rest in cash rounded to 50 øre.
    The result is signed like the journal: payments and rounding negative for money paid out."""
    non_cash = [p for p in tenders if p.type is not PaymentType.CASH]
    non_cash_sum = sum(p.amount for p in non_cash)
    if non_cash_sum > amount:
        raise PaymentError("refund to card or MobilePay exceeds the amount to refund")
    cash_due = amount - non_cash_sum
    payments = [Payment(p.type, -p.amount, p.brand, p.reference) for p in non_cash]
    if cash_due:
        rounded = round_cash(cash_due)
        payments.append(Payment(PaymentType.CASH, -rounded))
        return Settlement(tuple(payments), -(rounded - cash_due), 0, 0)
    return Settlement(tuple(payments), 0, 0, 0)
