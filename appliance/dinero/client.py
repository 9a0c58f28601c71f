"""The Dinero API calls the till makes, one HTTP request per call, with typed errors.

There are no retry loops here: the uploader owns back-off and rate limiting, so every request is
counted (`requests_made`) and visible. The one exception is a 401: the token source is told to drop
its token and the request is sent once more with a fresh one; a second 401 means LoginNeeded.
Each request is logged as one line (method, path without query, status, ms), never with headers."""

from __future__ import annotations

import logging
import time
from types import TracebackType
from typing import Any

import httpx

from .errors import Rejected, Transient, from_response
from .tokens import LoginNeeded, TokenSource

log = logging.getLogger(__name__)

ORG_FIELDS = "Id,Name,IsPro,IsPayingPro"
ENTRY_FIELDS = "AccountNumber,Name,VatCode,Category,IsHidden"
DEPOSIT_FIELDS = "AccountNumber,Name,IsHidden"


class DineroClient:
    """One httpx.Client against `api_base` (https://api.dinero.dk), bearer tokens from `tokens`.
    `transport` replaces the network (httpx.MockTransport in unit tests); None is the real one."""

    def __init__(self, api_base: str, tokens: TokenSource, *, timeout: float = 15.0,
                 transport: httpx.BaseTransport | None = None):
        self.api_base = api_base.rstrip("/")
        self.tokens = tokens
        self.requests_made = 0
        self._http = httpx.Client(timeout=timeout, headers={"Accept": "application/json"},
                                  transport=transport)

    # life cycle ------------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DineroClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # organizations, accounts, VAT ------------------------------------------------------------------------

    def organizations(self) -> list[dict[str, Any]]:
        """The organizations the login may use, with IsPro (the API needs Pro for everything else)."""
        return self._list("GET", "/v1/organizations", params={"fields": ORG_FIELDS})

    def entry_accounts(self, org: int, category: str | None = None) -> list[dict[str, Any]]:
        """All accounts (the chart), optionally of one category such as "Turnover"."""
        params = {"fields": ENTRY_FIELDS} | ({"categoryFilter": category} if category else {})
        return self._list("GET", f"/v1/{org}/accounts/entry", params=params)

    def deposit_accounts(self, org: int) -> list[dict[str, Any]]:
        """Bank, cash and clearing accounts (usually 55000-55999)."""
        return self._list("GET", f"/v1/{org}/accounts/deposit", params={"fields": DEPOSIT_FIELDS})

    def vat_types(self, org: int) -> list[dict[str, Any]]:
        return self._list("GET", f"/v1/{org}/vatTypes")

    def create_deposit_account(self, org: int, number: int, name: str) -> None:
        """A clearing account for a payment type. The body is the spec's DepositCreateModel (Number, Name:
        deposit accounts take no VatCode, unlike entry accounts' AccountCreateModel)."""
        self._send("POST", f"/v1/{org}/accounts/deposit", json={"Number": number, "Name": name})

    # files ----------------------------------------------------------------------------------------------

    def upload_file(self, org: int, filename: str, data: bytes, content_type: str = "application/pdf") -> str:
        """Upload a bilag (at most 6 MB); returns its FileGuid for a ledger item."""
        body = self._json(self._send("POST", f"/v1/{org}/files",
                                     files={"file": (filename, data, content_type)}), "POST files")
        guid = body.get("FileGuid") if isinstance(body, dict) else None
        if not isinstance(guid, str) or not guid:
            raise Transient("POST files: Dinero answered without a FileGuid", status=200)
        return guid

    def list_files(self, org: int, extension: str = "pdf", page_size: int = 1000) -> list[dict[str, Any]]:
        """Every file in the archive with that extension (FilteredFileReadModel), all pages."""
        out: list[dict[str, Any]] = []
        page = 0
        while True:
            batch = self._list("GET", f"/v1/{org}/files", params={
                "extensions": extension, "fileStatus": "All", "page": page, "pageSize": page_size})
            out += batch
            if len(batch) < page_size:
                return out
            page += 1

    def download_file(self, org: int, file_guid: str) -> bytes:
        return self._send("GET", f"/v1/{org}/files/{file_guid}").content

    # the cash journal (kassekladde) ----------------------------------------------------------------

    def create_ledger_items(self, org: int, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add Draft items; returns [{Id, Version}]. A repeated Id raises Duplicate (409, code 72).
        The spec shows one object as the answer to an array: both shapes are accepted."""
        return self._list("POST", f"/v1.2/{org}/ledgeritems", json=items)

    def update_ledger_items(self, org: int, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replace Draft items (each with Id and its current Version); returns [{Id, Version}].
        A stale Version is Rejected with code 58."""
        return self._list("PUT", f"/v1/{org}/ledgeritems", json=items)

    def ledger_status(self, org: int, ids: list[str]) -> list[dict[str, Any]]:
        """[{Id, Status (Draft|PendingBooking|Booked), VoucherNumber, Version}]; an unknown Id is Rejected
        with "ledgerItemNotFound" in `.codes`."""
        return self._list("POST", f"/v1/{org}/ledgeritems/status", json=[{"Id": i} for i in ids])

    def book_ledger_items(self, org: int, refs: list[dict[str, Any]]) -> None:
        """Start the asynchronous booking of items ({Id, Version}); poll ledger_status for the result."""
        self._send("POST", f"/v1/{org}/ledgeritems/book", json=_refs(refs))

    def unbooked_ledger_items(self, org: int, refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Read drafts back as LedgerItemModelV2 (items already booked are left out by Dinero)."""
        return self._list("POST", f"/v1/{org}/ledgeritems/ledgers", json=_refs(refs))

    def delete_ledger_items(self, org: int, refs: list[dict[str, Any]]) -> None:
        """Delete drafts ({Id, Version}); the DELETE carries a JSON body."""
        self._send("DELETE", f"/v1/{org}/ledgeritems/delete", json=_refs(refs))

    # plumbing ---------------------------------------------------------------------------------------------

    def _list(self, method: str, path: str, **kwargs: Any) -> list[dict[str, Any]]:
        body = self._json(self._send(method, path, **kwargs), f"{method} {path}")
        if isinstance(body, dict):
            return [body]
        if not isinstance(body, list):
            raise Transient(f"{method} {path}: Dinero answered with neither a list nor an object",
                            status=200)
        return body

    @staticmethod
    def _json(response: httpx.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise Transient(f"{what}: Dinero's answer is not JSON", status=response.status_code) from exc

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; on 401 one more with a fresh token. Errors become DineroError/LoginNeeded."""
        what = f"{method} {path}"
        response = self._once(method, path, self.tokens.token(), **kwargs)
        if response.status_code == 401:
            self.tokens.invalidate()
            response = self._once(method, path, self.tokens.token(), **kwargs)
            if response.status_code == 401:
                raise LoginNeeded(f"{what}: Dinero refused the login (HTTP 401) even with a fresh token; "
                                  "log in to Dinero again")
        if response.status_code >= 300:
            raise from_response(response.status_code, response.text, what)
        return response

    def _once(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        self.requests_made += 1
        started = time.monotonic()
        try:
            response = self._http.request(method, self.api_base + path,
                                          headers={"Authorization": f"Bearer {token}"}, **kwargs)
        except httpx.TimeoutException as exc:
            self._log(method, path, "timeout", started, type(exc).__name__)
            raise Transient(f"{method} {path}: Dinero did not answer in time ({type(exc).__name__})") \
                from exc
        except httpx.TransportError as exc:
            self._log(method, path, "error", started, type(exc).__name__)
            raise Transient(f"{method} {path}: no answer from Dinero ({type(exc).__name__})") from exc
        self._log(method, path, str(response.status_code), started)
        return response

    @staticmethod
    def _log(method: str, path: str, status: str, started: float, error: str | None = None) -> None:
        ms = round((time.monotonic() - started) * 1000)
        if error:
            log.warning("event=dinero_request method=%s path=%s status=%s ms=%d error=%s",
                        method, path, status, ms, error)
        else:
            log.info("event=dinero_request method=%s path=%s status=%s ms=%d", method, path, status, ms)


def _refs(refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """{Id, Version} only: the spec's LedgerItemModel allows nothing else (a status dict has more)."""
    out = []
    for ref in refs:
        if not ref.get("Id"):
            raise Rejected("a ledger-item reference needs an Id")
        out.append({"Id": ref["Id"], "Version": ref.get("Version")})
    return out
