"""The relay's settings: a TOML file, overridden by TILLBOX_RELAY_* environment variables.

The client secret is read from `client_secret_file` or TILLBOX_RELAY_CLIENT_SECRET, never from the
TOML itself, so the config file can be shared and committed without the secret in it."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "TILLBOX_RELAY_"
SCOPES = "dineropublicapi:read dineropublicapi:write offline_access"


class ConfigError(ValueError):
    """The relay's settings are missing or invalid; the message says which one."""


@dataclass(frozen=True)
class RelayConfig:
    public_url: str  # how phones and tills reach it, e.g. https://pair.tillbox.dk ("": where it listens)
    authorize_url: str  # Visma Connect's /connect/authorize
    token_url: str  # Visma Connect's /connect/token
    client_id: str
    client_secret: str = field(repr=False)
    dinero_api: str = "https://api.dinero.dk"
    scopes: str = SCOPES
    code_lifetime: int = 600  # seconds a pairing may take
    interval: int = 5  # seconds between the till's polls
    host: str = "127.0.0.1"  # where to listen; a reverse proxy terminates TLS in front
    port: int = 8080
    max_pending: int = 1000  # pairings in progress, across all tills
    wrong_code_limit: int = 5  # wrong user codes per client IP and window, then 429
    wrong_code_window: int = 60
    trust_forwarded_for: bool = False  # take the client IP from X-Forwarded-For (behind a proxy only)
    http_timeout: float = 15.0  # for calls to Visma and Dinero

    def __post_init__(self) -> None:
        for name in ("public_url", "authorize_url", "token_url", "dinero_api"):
            if name != "public_url" or self.public_url:
                _check_url(name, getattr(self, name))
        if not self.client_id:
            raise ConfigError("client_id is empty")
        if not self.client_secret:
            raise ConfigError("the client secret is empty: set client_secret_file or "
                              "TILLBOX_RELAY_CLIENT_SECRET")
        for name in ("code_lifetime", "interval", "max_pending", "wrong_code_limit", "wrong_code_window"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be at least 1")
        object.__setattr__(self, "public_url", self.public_url.rstrip("/"))
        object.__setattr__(self, "dinero_api", self.dinero_api.rstrip("/"))


def _check_url(name: str, url: str) -> None:
    """https everywhere, except plain http to a loopback host (tests and local development)."""
    parts = urlsplit(url or "")
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return
    raise ConfigError(f"{name} must be an https URL (http only for localhost): {url!r}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> RelayConfig:
    """Settings from the TOML file (if any), then the environment; the secret from a file or env."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
    if "client_secret" in raw:
        raise ConfigError("put the client secret in client_secret_file or TILLBOX_RELAY_CLIENT_SECRET, "
                          "not in the TOML")
    field_types = {f.name: f.type for f in fields(RelayConfig)}
    known = [*field_types, "client_secret_file"]
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(unknown)}")
    for name in known:
        value = env.get(ENV_PREFIX + name.upper())
        if value is not None:
            raw[name] = value
    secret_file = raw.pop("client_secret_file", None)
    if "client_secret" not in raw and secret_file:
        try:
            raw["client_secret"] = Path(secret_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read client_secret_file {secret_file}: {exc.strerror}") from exc
    required = ("public_url", "authorize_url", "token_url", "client_id", "client_secret")
    missing = [name for name in required if name not in raw]
    if missing:
        raise ConfigError(f"missing settings: {', '.join(missing)}")
    return RelayConfig(**{name: _coerce(field_types[name], name, value) for name, value in raw.items()})


def _coerce(kind: Any, name: str, value: Any) -> Any:
    """Environment values are strings: turn them into the field's type."""
    try:
        if kind in (int, "int"):
            return int(value)
        if kind in (float, "float"):
            return float(value)
        if kind in (bool, "bool"):
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} has an invalid value") from exc
    return str(value)
