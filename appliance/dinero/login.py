"""The stored login of a data folder, as a token source for the client (whichever kind it is)."""

from __future__ import annotations

import httpx

from .tokens import LoginNeeded, TokenSource, TokenStore


def login_for(store: TokenStore, *, transport: httpx.BaseTransport | None = None) -> TokenSource:
    """`transport` is the token requests' network (httpx.MockTransport in tests; None: the real one)."""
    record = store.load()
    kind = (record or {}).get("kind")
    if kind == "personal":
        from .personal import PersonalLogin
        return PersonalLogin(store, str(record["auth_url"]), transport=transport)  # type: ignore[index]
    if kind == "relay":
        from .relay_login import RelayLogin
        return RelayLogin(store, transport=transport)
    raise LoginNeeded("the till is not connected to Dinero (till dinero connect ...)")
