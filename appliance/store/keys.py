"""The journal signing key on disk: 0600 in a 0700 folder, never logged, never in the database."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from ..domain.signing import Signer, certificate_key_der, public_key_der

KEY_DIR = "keys"


def key_path(data_dir: Path, version: int) -> Path:
    return Path(data_dir) / KEY_DIR / f"journal-v{version}.key"


def write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def load_signer(data_dir: Path, version: int) -> Signer:
    path = key_path(data_dir, version)
    try:
        return Signer.from_pem(path.read_bytes(), version)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"journal signing key {path} is missing") from exc


def check_pair(key_pem: bytes, cert_pem: bytes) -> None:
    """An installed certificate must belong to the key we sign with."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    if public_key_der(key.public_key()) != certificate_key_der(cert_pem):
        raise ValueError("the certificate does not belong to the given key")
