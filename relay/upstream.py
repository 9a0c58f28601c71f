"""The relay's calls out: Visma Connect's token endpoint (with the client secret) and Dinero's
organization list. Errors are typed so the web layer can answer the till or the phone precisely."""

from __future__ import annotations

from typing import Any

import httpx

from relay.config import RelayConfig


class UpstreamError(Exception):
    """Visma or Dinero failed or answered something unusable (a temporary problem for the caller)."""


class InvalidGrant(Exception):
    """Visma refused the code or refresh token (used, expired, revoked): only a new login helps."""


class Upstream:
    """`transport` replaces the network (httpx.MockTransport in tests; None: the real one)."""

    def __init__(self, config: RelayConfig, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.http = httpx.Client(timeout=config.http_timeout, follow_redirects=False, transport=transport)

    def close(self) -> None:
        self.http.close()

    def exchange_code(self, code: str, verifier: str) -> dict[str, Any]:
        return self._token({
            "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "redirect_uri": f"{self.config.public_url}/callback",
        })

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        return self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def _token(self, form: dict[str, str]) -> dict[str, Any]:
        form = {**form, "client_id": self.config.client_id, "client_secret": self.config.client_secret}
        try:
            resp = self.http.post(self.config.token_url, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise UpstreamError(f"token endpoint unreachable ({type(exc).__name__})") from None
        body = _json(resp)
        if resp.status_code == 400 and body.get("error") == "invalid_grant":
            raise InvalidGrant
        if resp.status_code != 200:
            raise UpstreamError(f"token endpoint answered {resp.status_code} error={body.get('error', '-')}")
        if not isinstance(body.get("access_token"), str) or not body["access_token"]:
            raise UpstreamError("token endpoint answered without an access token")
        try:
            body["expires_in"] = int(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            raise UpstreamError("token endpoint answered a bad expires_in") from None
        return body

    def organizations(self, access_token: str) -> list[dict[str, Any]]:
        """The user's organizations as {"id", "name", "pro"}; Pro is what the API requires."""
        try:
            resp = self.http.get(f"{self.config.dinero_api}/v1/organizations",
                                 params={"fields": "Id,Name,IsPro,IsPayingPro"},
                                 headers={"Authorization": f"Bearer {access_token}",
                                          "Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise UpstreamError(f"Dinero unreachable ({type(exc).__name__})") from None
        if resp.status_code != 200:
            raise UpstreamError(f"Dinero answered {resp.status_code} to the organization list")
        try:
            rows = resp.json()
            return [{"id": int(row["Id"]), "name": str(row.get("Name") or row["Id"]),
                     "pro": bool(row.get("IsPro"))} for row in rows]
        except (ValueError, TypeError, KeyError):
            raise UpstreamError("Dinero answered an unreadable organization list") from None


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
