"""The journal's signing certificate as the shop sees it: which one, until when, and a warning in
good time before it runs out (an expired certificate makes the SAF-T export fail the authority's
check for every sale signed after it)."""

from __future__ import annotations

from datetime import datetime

from ..domain.signing import certificate_fingerprint
from ..store import settings
from .till import Till

WARN_DAYS = 30


def certificate_info(till: Till, now: datetime | None = None) -> dict:
    from cryptography import x509
    version = settings.current_key_version(till.conn)
    row = till.conn.execute("SELECT certificate, kind, installed FROM key_versions WHERE version = ?",
                            (version,)).fetchone()
    if row is None:
        return {"key_version": version, "kind": None, "state": "missing",
                "warning": "no certificate is installed", "warning_da": "Der er intet certifikat."}
    cert = x509.load_pem_x509_certificate(row[0].encode())
    now = now or till.now()
    days = (cert.not_valid_after_utc - now).days
    state = "expired" if days < 0 else "expiring" if days < WARN_DAYS else "ok"
    until = cert.not_valid_after_utc.date()
    warnings = {
        "expired": (f"the certificate expired on {until}", f"Certifikatet udløb {until:%d-%m-%Y}."),
        "expiring": (f"the certificate expires on {until}, in {days} days",
                     f"Certifikatet udløber {until:%d-%m-%Y}, om {days} dage. "
                     "Bestil et nyt OCES-certifikat."),
    }
    warning, warning_da = warnings.get(state, (None, None))
    return {
        "key_version": version, "kind": row[1], "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(), "valid_from": cert.not_valid_before_utc.isoformat(),
        "valid_until": cert.not_valid_after_utc.isoformat(), "days_left": days, "state": state,
        "fingerprint_sha256": certificate_fingerprint(row[0].encode()), "warning": warning,
        "warning_da": warning_da,
    }
