"""Setting a till up: the shop, its signing key, cashiers, accounts and the catalog.
Every change is journalled as a settings change."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ..domain.catalog import parse_catalog_csv
from ..domain.roles import Cashier, Role, check_cashier_id, hash_pin
from ..domain.signing import certificate_fingerprint, key_pem, new_key, self_signed_certificate
from ..store import catalog, settings
from ..store.db import StoreError, connect, transaction
from ..store.keys import check_pair, key_path, write_private
from .till import Till, open_till, system_clock

ACCOUNT_KEY = re.compile(
    r"^(revenue:default|revenue:[\wÆØÅæøåéÉ &.-]{1,40}|cash|bank|differences|rounding|"
    r"payment:(card|mobilepay|manual_card|gift_voucher)|payment:card:[\w &.-]{1,30})$")
# Optional accounts of a card brand's own (empty: the brand goes to payment:card with the rest).
BRAND_ACCOUNTS = ("payment:card:Dankort", "payment:card:Visa", "payment:card:Mastercard")


class SetupError(ValueError):
    pass


def init_shop(data: Path, shop_name: str, cvr: str, address: str, register_id: str = "1",
              clock: Callable[[], datetime] | None = None, certificate: bytes | None = None,
              key: bytes | None = None) -> Till:
    cvr = cvr.strip().replace(" ", "")
    if not re.fullmatch(r"\d{8}", cvr):
        raise SetupError("CVR must be 8 digits")
    if not shop_name.strip() or not address.strip():
        raise SetupError("shop name and address are required")
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,36}", register_id):
        raise SetupError("register id must be 1-36 letters, digits, '.', '_' or '-'")
    oces_given(certificate, key)  # before anything is created
    conn = connect(data, create=True)
    try:
        if settings.get_meta(conn, "cvr"):
            raise SetupError(f"{data} already holds an initialised till")
        pem, cert, kind = signing_pair(certificate, key, shop_name, cvr, register_id,
                                       clock() if clock is not None else None)
        kp = key_path(data, 1)
        if kp.exists():
            raise SetupError(f"a journal key already exists at {kp}; refusing to overwrite it")
        write_private(kp, pem)
        with transaction(conn):
            for k, v in (("shop_name", shop_name.strip()), ("cvr", cvr),
                         ("address", address.strip()), ("register_id", register_id)):
                settings.set_meta(conn, k, v)
            settings.add_key_version(conn, cert.decode(), kind, "init")
    finally:
        conn.close()
    till = open_till(data, clock)
    with transaction(till.conn):
        till.journal.append("init", "system", {
            "shop_name": shop_name.strip(), "cvr": cvr, "address": address.strip(),
            "register_id": register_id, "certificate": kind,
            "certificate_sha256": certificate_fingerprint(cert)})  # pinned: verify holds key_versions to it
    return till


def oces_given(certificate: bytes | None, key: bytes | None) -> bool:
    """An OCES certificate and its key were given (False: neither, so a self-signed one is made)."""
    if (certificate is None) != (key is None):
        raise SetupError("an OCES certificate needs its key, and the key its certificate")
    return certificate is not None


def signing_pair(certificate: bytes | None, key: bytes | None, shop_name: str, cvr: str, register_id: str,
                 now: datetime | None) -> tuple[bytes, bytes, str]:
    """(key PEM, certificate PEM, kind) to sign with: the OCES pair given, checked to belong together
    and to be valid now, or a new key with a self-signed certificate. At init and at every rotation."""
    if oces_given(certificate, key):
        assert certificate is not None and key is not None
        try:
            check_pair(key, certificate)
        except ValueError as exc:
            raise SetupError(str(exc)) from exc
        check_valid_now(certificate, now or system_clock())
        return key, certificate, "oces"
    private = new_key()
    return key_pem(private), self_signed_certificate(private, shop_name, cvr, register_id, now), "self-signed"


def check_valid_now(certificate: bytes, now: datetime) -> None:
    """A certificate that has run out (or has not begun) would sign sales no export can stand by."""
    from cryptography import x509
    cert = x509.load_pem_x509_certificate(certificate)
    if now > cert.not_valid_after_utc:
        raise SetupError(f"the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}")
    if now < cert.not_valid_before_utc:
        raise SetupError(f"the certificate is not valid before {cert.not_valid_before_utc:%Y-%m-%d}")


def set_account(till: Till, key: str, number: str | int, who: str = "system") -> None:
    from ..requests import RequestError
    from ..requests.settings import account_setting
    try:
        account = account_setting(key, number)
    except RequestError as exc:
        raise SetupError(str(exc)) from exc
    if not ACCOUNT_KEY.fullmatch(key):
        raise SetupError(
            f"unknown account key {key!r}: use revenue:default, revenue:<group>, cash, bank, "
            "differences, rounding, payment:<card|mobilepay|manual_card|gift_voucher> or "
            "payment:card:<brand>")
    with transaction(till.conn):
        old = settings.accounts(till.conn).get(key)
        settings.set_account(till.conn, key, account.number)
        till.journal.append("settings_change", who, {
            "setting": f"account:{key}", "from": old, "to": account.number})


def clear_account(till: Till, key: str, who: str = "system") -> bool:
    """Remove an optional card-brand account (payment:card:<brand>): that brand's card payments go to
    payment:card again. Other keys are needed by every Z and can only be changed. False if unset."""
    if not key.startswith("payment:card:") or not ACCOUNT_KEY.match(key):
        raise SetupError(f"only a card brand's account (payment:card:<brand>) can be removed, not {key!r}")
    with transaction(till.conn):
        old = settings.accounts(till.conn).get(key)
        if old is None:
            return False
        till.conn.execute("DELETE FROM accounts WHERE key = ?", (key,))
        till.journal.append("settings_change", who, {"setting": f"account:{key}", "from": old, "to": None})
    return True


def add_cashier(till: Till, cashier_id: str, name: str, role: str, pin: str,
                who: str = "system") -> Cashier:
    from ..requests.settings import cashier_setting
    try:
        if cashier_id == "system":
            raise ValueError("'system' is reserved for actions from the shell")
        cashier_setting(cashier_id, name, role, pin)  # RequestError is a ValueError
        c = Cashier(check_cashier_id(cashier_id), name.strip() or cashier_id, Role(role))
        pin_hash = hash_pin(pin)
    except ValueError as exc:
        raise SetupError(str(exc)) from exc
    with transaction(till.conn):
        settings.save_cashier(till.conn, c, pin_hash)
        till.journal.append("settings_change", who, {
            "setting": "cashier", "id": c.id, "name": c.name, "role": c.role.value})
    return c


def import_catalog(till: Till, csv_text: str, who: str = "system") -> catalog.ProductChanges:
    """All rows or none: a broken row raises CatalogError naming its line, before any write."""
    from ..requests.files import catalog_row
    products = parse_catalog_csv(csv_text, catalog_row)
    when = till.now().isoformat()
    with transaction(till.conn):
        result = catalog.replace_products(till.conn, products, when)
        till.journal.append("settings_change", who, {
            "setting": "catalog_import", "added": result["added"], "updated": result["updated"]})
        for change in result["price_changes"]:
            till.journal.append("price_change", who, change)
    return result


def require_initialised(data: Path) -> None:
    if not (Path(data) / "till.db").exists():
        raise StoreError(f"no till database in {data}: run 'till init' first")
