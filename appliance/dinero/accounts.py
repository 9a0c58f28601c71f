"""The till's account mapping checked against the organization's chart of accounts and VAT codes,
so a Z never fails at the first transfer for a typo made at installation.

Revenue accounts must exist, be visible and (for groups that sell at 25 %) carry a sales VAT code;
cash, bank and the payment clearing accounts must be visible deposit accounts (several keys may
share one); the cash-difference and rounding accounts must exist and be visible."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEPOSIT_KEYS = ("cash", "bank")
ENTRY_KEYS = ("differences", "rounding")
# Danish names for clearing accounts the till can create on request.
CLEARING_NAMES = {"payment:card": "Betalingskort (clearing)", "payment:mobilepay": "MobilePay (clearing)",
                  "payment:manual_card": "Kort, manuel terminal (clearing)",
                  "payment:gift_voucher": "Gavekort (clearing)"}


def clearing_name(key: str) -> str | None:
    """The name a missing clearing account gets when the till creates it (a card brand's own too)."""
    if key.startswith("payment:card:"):
        return f"Betalingskort {key.removeprefix('payment:card:')} (clearing)"[:50]
    return CLEARING_NAMES.get(key)


@dataclass(frozen=True)
class Problem:
    key: str
    account: int | None
    reason: str
    can_create: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "account": self.account, "reason": self.reason,
                "can_create": self.can_create}


def sales_vat_codes(vat_types: list[dict[str, Any]]) -> set[str]:
    """Codes that mean Danish sales VAT (U25 and the organization's other U codes with a rate)."""
    return {str(v.get("VatCode")) for v in vat_types
            if str(v.get("VatCode", "")).upper().startswith("U") and float(v.get("VatRate") or 0) > 0}


def check_mapping(mapping: dict[str, int], group_rates: dict[str, set[int]],
                  entry: list[dict[str, Any]], deposit: list[dict[str, Any]],
                  vat_types: list[dict[str, Any]]) -> list[Problem]:
    """Problems with the mapping (empty when every account will take its postings)."""
    entries = {int(a["AccountNumber"]): a for a in entry}
    deposits = {int(a["AccountNumber"]): a for a in deposit}
    sales_codes = sales_vat_codes(vat_types)
    problems: list[Problem] = []
    if "U25" not in {str(v.get("VatCode")) for v in vat_types}:
        problems.append(Problem("vat", None, "the organization has no U25 (Danish sales VAT) code"))

    def revenue_key(group: str) -> str:
        return f"revenue:{group}" if f"revenue:{group}" in mapping else "revenue:default"

    needs_vat: dict[str, bool] = {}
    for group, rates in group_rates.items():
        key = revenue_key(group)
        needs_vat[key] = needs_vat.get(key, False) or 25 in rates
    for key in sorted(k for k in mapping if k.startswith("revenue:")) + \
            sorted(k for k in needs_vat if k not in mapping):
        number = mapping.get(key)
        if number is None:
            problems.append(Problem(key, None, "not mapped, but products are sold in it"))
            continue
        acc = entries.get(number)
        if acc is None:
            problems.append(Problem(key, number, f"account {number} does not exist in Dinero"))
        elif acc.get("IsHidden"):
            problems.append(Problem(key, number, f"account {number} ({acc.get('Name')}) is hidden"))
        elif needs_vat.get(key) and str(acc.get("VatCode")) not in sales_codes:
            problems.append(Problem(key, number, f"account {number} ({acc.get('Name')}) has VAT code "
                                    f"{acc.get('VatCode')!r}, not sales VAT: 25 % sales would be posted "
                                    "without VAT"))
    for key in (*DEPOSIT_KEYS, *sorted(k for k in mapping if k.startswith("payment:"))):
        number = mapping.get(key)
        if number is None:
            if key in DEPOSIT_KEYS:
                problems.append(Problem(key, None, "not mapped"))
            continue
        acc = deposits.get(number)
        if acc is None:
            where = "is not a deposit account" if number in entries else "does not exist in Dinero"
            problems.append(Problem(key, number, f"account {number} {where}",
                                    can_create=clearing_name(key) is not None and number not in entries))
        elif acc.get("IsHidden"):
            problems.append(Problem(key, number, f"account {number} ({acc.get('Name')}) is hidden"))
    for key in ENTRY_KEYS:
        number = mapping.get(key)
        if number is None:
            problems.append(Problem(key, None, "not mapped"))
            continue
        acc = entries.get(number) or deposits.get(number)
        if acc is None:
            problems.append(Problem(key, number, f"account {number} does not exist in Dinero"))
        elif acc.get("IsHidden"):
            problems.append(Problem(key, number, f"account {number} ({acc.get('Name')}) is hidden"))
    return problems


def check_organization(client: Any, org: int, mapping: dict[str, int],
                       group_rates: dict[str, set[int]], create_missing: bool = False) -> dict[str, Any]:
    """Read the chart and VAT codes (3 requests), check, and optionally create the missing clearing
    accounts; then check again so what is reported is what Dinero now holds."""
    def read() -> list[Problem]:
        return check_mapping(mapping, group_rates, client.entry_accounts(org), client.deposit_accounts(org),
                             client.vat_types(org))

    problems = read()
    created: list[int] = []
    if create_missing:
        for p in problems:
            if p.can_create and p.account is not None and p.account not in created:
                client.create_deposit_account(org, p.account, clearing_name(p.key) or p.key)
                created.append(p.account)
        if created:
            problems = read()
    return {"ok": not problems, "problems": [p.to_json() for p in problems], "created": created}
