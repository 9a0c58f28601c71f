"""RSA/SHA-512 signatures for the journal, and the self-signed certificate used until an OCES
certificate is installed."""

from __future__ import annotations

import base64
import datetime as dt

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

KEY_BITS = 2048


class Signer:
    def __init__(self, private_key: rsa.RSAPrivateKey, key_version: int = 1):
        self._key = private_key
        self.key_version = key_version

    @staticmethod
    def from_pem(pem: bytes, key_version: int = 1) -> Signer:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the journal key must be an RSA key")
        return Signer(key, key_version)

    def sign(self, text: str) -> str:
        sig = self._key.sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA512())
        return base64.b64encode(sig).decode()

    def public_key_der(self) -> bytes:
        return public_key_der(self._key.public_key())

    def sign_sha512_digest(self, digest: bytes) -> bytes:
        """PKCS#1 v1.5 over a SHA-512 digest made elsewhere (a file hashed while it was written):
        the same signature as signing the file's bytes, so `openssl dgst -sha512 -verify` checks it."""
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
        return self._key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA512()))


class Verifier:
    """Checks signatures against the certificates the till has used, by key version."""

    def __init__(self, certificates: dict[int, bytes]):
        from cryptography import x509  # certificates only here and at set-up: not in the kiosk's memory
        self._keys: dict[int, rsa.RSAPublicKey] = {}
        for v, pem in certificates.items():
            key = x509.load_pem_x509_certificate(pem).public_key()
            if isinstance(key, rsa.RSAPublicKey):  # another kind of key verifies nothing here
                self._keys[v] = key

    def __call__(self, signature: str, text: str, key_version: int) -> bool:
        key = self._keys.get(key_version)
        if key is None:
            return False
        try:
            key.verify(
                base64.b64decode(signature), text.encode("utf-8"), padding.PKCS1v15(),
                hashes.SHA512(),
            )
        except (InvalidSignature, ValueError):
            return False
        return True


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


def key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def self_signed_certificate(key: rsa.RSAPrivateKey, shop_name: str, cvr: str,
                            register_id: str, now: dt.datetime | None = None) -> bytes:
    """Valid from a day before the till's clock (or the machine's, if earlier) for ten years."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DK"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, shop_name[:64]),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, f"CVR:{cvr}"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"Tillbox {register_id}"[:64]),
    ])
    now = min(now or dt.datetime.now(dt.UTC), dt.datetime.now(dt.UTC))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(key, hashes.SHA512())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def public_key_der(key: PublicKeyTypes) -> bytes:
    """A public key as DER SubjectPublicKeyInfo: how a key and a certificate are told to belong."""
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def certificate_key_der(pem: bytes) -> bytes:
    from cryptography import x509
    return public_key_der(x509.load_pem_x509_certificate(pem).public_key())


def certificate_fingerprint(pem: bytes) -> str:
    """SHA-256 over the certificate's DER, in hex: how the journal pins the certificate in use."""
    from cryptography import x509
    return x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex()
