"""The till's link to its Dinero organization, as the CLI and the kiosk both use it: recording a
new connection, and checking the account mapping against the organization's chart."""

from __future__ import annotations

from typing import Any

from ..store.db import transaction
from ..store.settings import accounts
from .till import Till
from .uploader import connector
from .wake import wake_uploader


def record_connection(till: Till, result: dict[str, Any], who: str = "system") -> dict[str, Any]:
    """Journal which organization the till now posts to (never a secret) and wake the uploader:
    days closed while there was no login go now."""
    if result.get("org_id"):
        with transaction(till.conn):
            till.journal.append("settings_change", who, {
                "key": "dinero.organization", "value": result.get("org_id"), "name": result.get("org_name")})
        wake_uploader(till.data_dir)
    return {"org_id": result.get("org_id"), "org_name": result.get("org_name")}


def group_rates(till: Till) -> dict[str, set[int]]:
    rates: dict[str, set[int]] = {}
    for group, rate in till.conn.execute("SELECT DISTINCT grp, vat_rate FROM products"):
        rates.setdefault(group, set()).add(int(rate))
    return rates


def check_accounts(till: Till, create_missing: bool = False) -> dict[str, Any]:
    """The mapping checked against the organization (3 reads, plus one create per missing clearing
    account when asked), with the mapping itself and the optional card-brand keys left unset (their
    payments go to payment:card); raises LoginNeeded without a login. A brand account that is set is
    checked like every payment clearing account (a visible deposit account)."""
    from ..dinero.accounts import check_organization
    from .setup import BRAND_ACCOUNTS

    mapping = accounts(till.conn)
    client, org = connector(till)()
    try:
        result = check_organization(client, org, mapping, group_rates(till), create_missing)
    finally:
        client.close()
    return {**result, "mapping": mapping, "optional": [k for k in BRAND_ACCOUNTS if k not in mapping]}
