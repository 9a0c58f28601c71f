"""A new signing key and certificate, the one way the till's certificate may change.

The change is itself a journal entry (`key_rotation`), signed with the key it replaces and naming
the new certificate's fingerprint: so the old key vouches for the new one, and `journal verify`
refuses a certificate that turned up any other way (say, a history re-signed with a key of the
attacker's own and its certificate written into key_versions). Entries after the rotation are
signed with the new key; the old certificate stays, so every earlier signature still verifies."""

from __future__ import annotations

import logging

from ..domain.signing import certificate_fingerprint
from ..store import settings
from ..store.db import transaction
from ..store.keys import key_path, load_signer, write_private
from .setup import SetupError, signing_pair
from .till import Till

log = logging.getLogger(__name__)


def rotate_key(till: Till, who: str = "system", certificate: bytes | None = None,
               key: bytes | None = None) -> dict:
    """Install a new key (an OCES pair, or a new self-signed one) as the next key version."""
    old = till.journal.signer.key_version
    if old != settings.current_key_version(till.conn):
        raise SetupError("the till is not signing with its newest key version; restart it first")
    version = old + 1
    shop = settings.shop(till.conn)
    pem, cert, kind = signing_pair(certificate, key, shop["shop_name"], shop["cvr"], till.register_id,
                                   till.now())
    path = key_path(till.data_dir, version)
    path.unlink(missing_ok=True)  # left by a rotation that crashed before its entry: it never signed
    write_private(path, pem)
    fingerprint = certificate_fingerprint(cert)
    with transaction(till.conn):
        added = settings.add_key_version(till.conn, cert.decode(), kind, till.now().isoformat())
        if added != version:
            raise SetupError(f"key version {added} was expected to be {version}")
        entry = till.journal.append("key_rotation", who, {  # signed with the old key: it vouches
            "key_version": version, "previous_key_version": old, "certificate": kind,
            "certificate_sha256": fingerprint})
    till.journal.signer = load_signer(till.data_dir, version)
    log.info("event=key_rotated from=%d to=%d entry=%d", old, version, entry.nr)
    return {"key_version": version, "previous_key_version": old, "certificate": kind,
            "fingerprint_sha256": fingerprint, "journal_nr": entry.nr}
