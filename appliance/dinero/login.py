"""The stored login of a data folder, as a token source for the client (whichever kind it is)."""

from __future__ import annotations

from .tokens import LoginNeeded, TokenSource, TokenStore


def login_for(store: TokenStore) -> TokenSource:
    record = store.load()
    kind = (record or {}).get("kind")
    if kind == "personal":
        from .personal import PersonalLogin
        return PersonalLogin(store, str(record["auth_url"]))  # type: ignore[index]
    if kind == "relay":
        from .relay_login import RelayLogin
        return RelayLogin(store)
    raise LoginNeeded("the till is not connected to Dinero (till dinero connect ...)")
