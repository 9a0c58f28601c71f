"""What can go wrong talking to Dinero, sorted by what the caller should do about it.

`Transient` and `RateLimited` mean "try again later" (the uploader owns the back-off), `Rejected` means
"this request will never work as it is" (show the reason, do not repeat it), and `LoginNeeded`
(tokens.py) means "a person must log in again". Messages are English and never carry a token or key:
they are built from the status and Dinero's own error body only."""

from __future__ import annotations

import json
from typing import Any

MAX_DETAIL = 300  # characters of Dinero's message kept, so a huge error page cannot flood the log

NO_PRO_MESSAGE = ("This Dinero organization has no Dinero Pro subscription. Dinero only lets integrations "
                  "such as this till use organizations with Pro: upgrade the organization to Dinero Pro "
                  "(or pick another organization), then try again.")


class DineroError(Exception):
    """A Dinero request failed; `status` is the HTTP status (None if there was no answer)."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class Transient(DineroError):
    """5xx, 480 (brownout), timeouts, refused or dropped connections: retry with back-off. After a dropped
    answer the request may have been carried out (a ledger item's Id makes the retry safe)."""


class RateLimited(DineroError):
    """429: more than 100 requests a minute for the organization. Dinero sends no Retry-After, so wait
    out the minute (`retry_after` seconds)."""

    def __init__(self, message: str, *, status: int | None = 429, code: int | None = None,
                 retry_after: float = 60.0):
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after


class Rejected(DineroError):
    """400/403/404/409/413/422 and the like: permanent for this request. `validation` maps Dinero's field
    paths to its messages, `codes` lists the programmatic codes of errorMessageList."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None,
                 validation: dict[str, str] | None = None, codes: list[str] | None = None):
        super().__init__(message, status=status, code=code)
        self.validation: dict[str, str] = dict(validation or {})
        self.codes: list[str] = list(codes or [])


class Duplicate(Rejected):
    """409, code 72: an entity with this Id exists already (an earlier attempt got through)."""


class NoPro(Rejected):
    """403, code 90: the organization has no Dinero Pro, which the API requires."""

    def __init__(self, message: str = NO_PRO_MESSAGE, *, status: int | None = 403, code: int | None = 90,
                 validation: dict[str, str] | None = None, codes: list[str] | None = None):
        super().__init__(message, status=status, code=code, validation=validation, codes=codes)


def _body(text: str) -> dict[str, Any]:
    try:
        parsed = json.loads(text)
    except ValueError:
        return {"message": text.strip()} if text.strip() else {}
    return parsed if isinstance(parsed, dict) else {}


def _get(body: dict[str, Any], name: str) -> Any:
    """Dinero's bodies are camelCase in places and PascalCase in others."""
    return body.get(name, body.get(name[:1].upper() + name[1:]))


def from_response(status: int, text: str, what: str) -> DineroError:
    """The error for a non-2xx answer (not 401: the client handles that) to the request `what`."""
    body = _body(text)
    raw_code = _get(body, "code")
    code = raw_code if isinstance(raw_code, int) else None
    detail = str(_get(body, "message") or _get(body, "error") or "").strip()[:MAX_DETAIL]
    validation = _get(body, "validationErrors")
    validation = {str(k): str(v)[:MAX_DETAIL] for k, v in validation.items()} \
        if isinstance(validation, dict) else {}
    entries = _get(body, "errorMessageList")
    codes = [str(_get(e, "code")) for e in entries if isinstance(e, dict) and _get(e, "code")] \
        if isinstance(entries, list) else []
    message = f"{what}: HTTP {status}" + (f", code {code}" if code is not None else "") + \
        (f": {detail}" if detail else "") + (f" ({', '.join(codes)})" if codes else "")
    if status == 429:
        return RateLimited(f"{what}: Dinero's rate limit (100 requests a minute) was reached", code=code)
    if status >= 500 or status in (408, 480):
        return Transient(message, status=status, code=code)
    if status == 403 and code == 90:
        return NoPro(status=status, code=code, validation=validation, codes=codes)
    if status == 409 and (code in (72, None)):
        return Duplicate(message, status=status, code=code, validation=validation, codes=codes)
    return Rejected(message, status=status, code=code, validation=validation, codes=codes)
