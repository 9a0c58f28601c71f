"""Where the till keeps its Dinero login, and the one interface every login kind offers.

Secrets (client secret, API key, refresh and access tokens) live in one JSON file per data folder,
`secrets/dinero.json`, written atomically with mode 0600 in a 0700 folder. They are never logged:
`redact()` is what code may print or return instead."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

SECRET_KEYS = ("client_secret", "api_key", "access_token", "refresh_token", "device_code", "passphrase")


class LoginNeeded(Exception):
    """There is no usable Dinero login (never connected, revoked, or the key was withdrawn).
    The till shows "Dinero login needed"; reports wait in the queue meanwhile."""


class TokenSource(Protocol):
    def token(self) -> str:
        """A bearer token valid for at least a minute; raises LoginNeeded."""

    def invalidate(self) -> None:
        """The API said 401: the next token() must fetch a new one (once)."""


class TokenStore:
    """The login record of one data folder: {"kind": "personal"|"relay", "org_id": .., ...}."""

    def __init__(self, data_dir: Path, name: str = "dinero"):
        self.dir = Path(data_dir) / "secrets"
        self.name = name
        self.path = self.dir / f"{name}.json"

    def load(self) -> dict[str, Any] | None:
        """The record, read against its schema (`requests.files`); a file that is not valid JSON or
        does not fit the schema raises LoginNeeded, saying which field but never its value."""
        from ..requests import RequestError
        from ..requests.files import secrets_record
        what = "Dinero login" if self.name == "dinero" else f"{self.name} secrets file"
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"), parse_constant=_no_constant)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as exc:  # JSON and UTF-8 errors are ValueErrors
            raise LoginNeeded(f"the stored {what} is unreadable ({type(exc).__name__})") from None
        try:
            return secrets_record(self.name, data)
        except RequestError as exc:
            raise LoginNeeded(f"the stored {what} is unreadable: {exc}") from None

    def save(self, record: dict[str, Any]) -> None:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".dinero-", suffix=".json")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(record, f, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def update(self, **changes: Any) -> dict[str, Any]:
        record = self.load() or {}
        record.update(changes)
        self.save(record)
        return record

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number")


def redact(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """The record with every secret replaced by "***" (for status output and logs)."""
    if record is None:
        return None
    return {k: ("***" if k in SECRET_KEYS and v else v) for k, v in record.items()}
