"""Adyen's local Terminal API message security ("shared key", AdyenCryptoVersion 1).

The terminal and the till share a key identifier, a passphrase and a key version (set in Adyen's
Customer Area). Keys are derived once per passphrase with PBKDF2-HMAC-SHA1 (salt "AdyenNexoV1Salt",
4000 rounds, 80 bytes: HMAC key 32 | AES key 32 | IV 16). Each message gets a random 16-byte nonce,
is encrypted with AES-256-CBC (PKCS7) under IV = derived IV XOR nonce, and is authenticated by an
HMAC-SHA256 over the plaintext. The MessageHeader travels in clear beside the blob so the terminal can
route it; on decryption we insist the clear header equals the one inside the authenticated plaintext,
so nobody can re-address a genuine message.

Layout as in Adyen's libraries (`Adyen/adyen-node-api-library` src/security/nexoCrypto.ts,
nexoDerivedKeyGenerator.ts; `Adyen/adyen-java-api-library` .../terminal/security/NexoCrypto.java)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SALT = b"AdyenNexoV1Salt"
ROUNDS = 4000
HMAC_KEY_LEN = 32
CIPHER_KEY_LEN = 32
IV_LEN = 16
NONCE_LEN = 16
CRYPTO_VERSION = 1
KINDS = ("SaleToPOIRequest", "SaleToPOIResponse")


PASSPHRASE_CHARACTERS = "printable ASCII (A-Z, a-z, 0-9, space and punctuation)"


class PassphraseError(ValueError):
    """A passphrase the till will not store: the reason is fit to show the person who typed it."""


def check_passphrase(passphrase: str) -> str:
    """The passphrase as typed, or PassphraseError. Called where a passphrase enters the till.

    Only printable ASCII: Adyen's libraries turn the passphrase into PBKDF2 bytes differently
    (Node: `Buffer.from(passphrase, "binary")`, i.e. Latin-1, and worse above U+00FF; Java and the
    till: UTF-8), so a passphrase with æ, ø or å derives two different keys and nobody can tell which
    one the terminal holds. For ASCII the encodings agree.

    Never stripped: every Adyen library derives from the passphrase exactly as given, spaces
    included, so quietly stripping would derive another key than the terminal's. A leading or
    trailing space is refused instead, since it is far more often a slip of copy and paste than part
    of the passphrase the Customer Area shows."""
    if not isinstance(passphrase, str) or not passphrase:
        raise PassphraseError("the terminal passphrase is empty")
    if any(not " " <= ch <= "~" for ch in passphrase):
        raise PassphraseError(
            f"the terminal passphrase may only use {PASSPHRASE_CHARACTERS}: letters such as æ, ø and å "
            "give a different key in Adyen's Node library (Latin-1) than in its Java library and the "
            "till (UTF-8). Choose a new passphrase without them in the Customer Area, then enter it here")
    if passphrase != passphrase.strip(" "):
        raise PassphraseError(
            "the terminal passphrase begins or ends with a space. Adyen's libraries keep such spaces "
            "as part of the key, so the till will not guess: enter it exactly as in the Customer Area, "
            "without a space at either end (choose a new one there if it really has one)")
    return passphrase


class NexoSecurityError(Exception):
    """A message that must not be trusted: unknown key, bad HMAC, bad padding, malformed envelope.

    The text never says which of HMAC or padding failed (no padding oracle)."""


@dataclass(frozen=True)
class DerivedKey:
    hmac_key: bytes = field(repr=False)
    cipher_key: bytes = field(repr=False)
    iv: bytes = field(repr=False)


def derive(passphrase: str) -> DerivedKey:
    raw = hashlib.pbkdf2_hmac("sha1", passphrase.encode("utf-8"), SALT, ROUNDS,
                              HMAC_KEY_LEN + CIPHER_KEY_LEN + IV_LEN)
    return DerivedKey(raw[:HMAC_KEY_LEN], raw[HMAC_KEY_LEN:HMAC_KEY_LEN + CIPHER_KEY_LEN],
                      raw[HMAC_KEY_LEN + CIPHER_KEY_LEN:])


class SharedKey:
    """One shared key. The passphrase is kept only to derive the keys (once, then cached) and is never
    shown by repr/str, so a key can go into a log line or a traceback safely."""

    __slots__ = ("_derived", "_passphrase", "identifier", "version")

    def __init__(self, identifier: str, passphrase: str, version: int) -> None:
        if not isinstance(identifier, str) or not identifier.strip():
            raise ValueError("key identifier must be a non-empty string")
        if not isinstance(passphrase, str) or not passphrase:
            raise ValueError("passphrase must be a non-empty string")
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise ValueError("key version must be a non-negative integer")
        self.identifier = identifier
        self.version = version
        self._passphrase = passphrase
        self._derived: DerivedKey | None = None

    @property
    def derived(self) -> DerivedKey:
        if self._derived is None:
            self._derived = derive(self._passphrase)
        return self._derived

    def __repr__(self) -> str:
        return f"SharedKey(identifier={self.identifier!r}, version={self.version})"

    __str__ = __repr__


Keys = SharedKey | Iterable[SharedKey] | Mapping[tuple[str, int], SharedKey]


def _keyring(keys: Keys) -> dict[tuple[str, int], SharedKey]:
    if isinstance(keys, SharedKey):
        return {(keys.identifier, keys.version): keys}
    if isinstance(keys, Mapping):
        return dict(keys)
    return {(k.identifier, k.version): k for k in keys}


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _kind(message: Mapping[str, Any]) -> str:
    kinds = [k for k in message if k in KINDS]
    if len(message) != 1 or len(kinds) != 1:
        raise NexoSecurityError("message must hold exactly one of SaleToPOIRequest/SaleToPOIResponse")
    return kinds[0]


def encrypt_bytes(plaintext: bytes, key: SharedKey, nonce: bytes) -> tuple[bytes, bytes]:
    """(ciphertext, hmac) of plaintext; exposed for the published vectors."""
    if len(nonce) != NONCE_LEN:
        raise ValueError("nonce must be 16 bytes")
    dk = key.derived
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.AES(dk.cipher_key), modes.CBC(_xor(dk.iv, nonce))).encryptor()
    return enc.update(padded) + enc.finalize(), hmac.new(dk.hmac_key, plaintext, hashlib.sha256).digest()


def decrypt_bytes(ciphertext: bytes, mac: bytes, key: SharedKey, nonce: bytes) -> bytes:
    if len(nonce) != NONCE_LEN:
        raise NexoSecurityError("nonce must be 16 bytes")
    if not ciphertext or len(ciphertext) % 16:
        raise NexoSecurityError("message not authentic")
    dk = key.derived
    dec = Cipher(algorithms.AES(dk.cipher_key), modes.CBC(_xor(dk.iv, nonce))).decryptor()
    padded = dec.update(ciphertext) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plaintext = unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        plaintext = b""  # still compute an HMAC below: same work, same answer as a bad HMAC
    expected = hmac.new(dk.hmac_key, plaintext, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, mac) or not plaintext:
        raise NexoSecurityError("message not authentic")
    return plaintext


def encrypt(message: Mapping[str, Any], key: SharedKey, nonce: bytes | None = None) -> dict[str, Any]:
    """{"SaleToPOIRequest"|"SaleToPOIResponse": {...}} -> its secured envelope."""
    kind = _kind(message)
    header = message[kind].get("MessageHeader")
    if not isinstance(header, Mapping):
        raise NexoSecurityError("message has no MessageHeader")
    nonce = os.urandom(NONCE_LEN) if nonce is None else nonce
    plaintext = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    blob, mac = encrypt_bytes(plaintext, key, nonce)
    return {kind: {
        "MessageHeader": dict(header),
        "NexoBlob": base64.b64encode(blob).decode("ascii"),
        "SecurityTrailer": {
            "AdyenCryptoVersion": CRYPTO_VERSION,
            "KeyIdentifier": key.identifier,
            "KeyVersion": key.version,
            "Nonce": base64.b64encode(nonce).decode("ascii"),
            "Hmac": base64.b64encode(mac).decode("ascii"),
        },
    }}


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise NexoSecurityError(f"{what} missing")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NexoSecurityError(f"{what} is not base64") from exc


def is_secured(envelope: Mapping[str, Any]) -> bool:
    return any(isinstance(envelope.get(k), Mapping) and "NexoBlob" in envelope[k] for k in KINDS)


def decrypt(envelope: Mapping[str, Any], keys: Keys) -> dict[str, Any]:
    """A secured envelope -> the message inside, checked with whichever of `keys` it names.

    Refuses an unknown key identifier/version, another crypto version, a bad HMAC, and a clear header
    that differs from the authenticated one."""
    if not isinstance(envelope, Mapping):
        raise NexoSecurityError("envelope is not an object")
    kind = _kind(envelope)
    body = envelope[kind]
    if not isinstance(body, Mapping):
        raise NexoSecurityError("envelope body is not an object")
    trailer = body.get("SecurityTrailer")
    if not isinstance(trailer, Mapping):
        raise NexoSecurityError("SecurityTrailer missing")
    if trailer.get("AdyenCryptoVersion") != CRYPTO_VERSION:
        raise NexoSecurityError("unsupported AdyenCryptoVersion")
    key = _keyring(keys).get((trailer.get("KeyIdentifier"), trailer.get("KeyVersion")))  # type: ignore[arg-type]
    if key is None:
        raise NexoSecurityError(
            f"unknown key identifier={trailer.get('KeyIdentifier')!r} version={trailer.get('KeyVersion')!r}")
    plaintext = decrypt_bytes(_b64(body.get("NexoBlob"), "NexoBlob"), _b64(trailer.get("Hmac"), "Hmac"),
                              key, _b64(trailer.get("Nonce"), "Nonce"))
    try:
        message = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise NexoSecurityError("authentic message is not JSON") from exc
    if not isinstance(message, dict) or _kind(message) != kind:
        raise NexoSecurityError("inner message kind differs from envelope")
    inner = message[kind]
    if not isinstance(inner, dict) or inner.get("MessageHeader") != body.get("MessageHeader"):
        raise NexoSecurityError("clear MessageHeader differs from the authenticated one")
    return message
