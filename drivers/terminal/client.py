"""A client for one card terminal over Adyen's local Terminal API: encrypted nexo JSON POSTed to
https://<terminal>:8443/nexo, the answer decrypted and checked to be the answer to this request.

The caller owns the ServiceIDs of money-moving requests (pay, refund) and persists them before
calling, because that id is how it later asks what happened. Any `TerminalError` from pay/refund means
the outcome is unknown: ask `status()` with the same ServiceID before going on. Status, abort and
reconcile get fresh ServiceIDs of their own."""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx

from . import messages as m
from .security import NexoSecurityError, SharedKey, decrypt, encrypt, is_secured

log = logging.getLogger(__name__)
T = TypeVar("T")


class TerminalError(Exception):
    """The request's outcome is unknown (or it was refused as a message); resolve by status()."""


class TerminalUnreachable(TerminalError):
    """No answer: connection refused, timed out, or dropped. `maybe_processed` is False only when the
    request never left the till (connection refused / connect timeout)."""

    def __init__(self, message: str, maybe_processed: bool = True) -> None:
        super().__init__(message)
        self.maybe_processed = maybe_processed


class TerminalProtocolError(TerminalError):
    """An answer we cannot trust or read: bad HMAC, unencrypted, wrong shape, not ours, HTTP error."""


class TerminalRejected(TerminalError):
    """The terminal refused the message itself (EventNotification Reject), e.g. a reused ServiceID."""

    def __init__(self, rejection: m.Rejection) -> None:
        reason = rejection.details.get("message") or rejection.event
        super().__init__(f"terminal rejected the message: {reason}")
        self.rejection = rejection


def _parse(parser: Callable[[Mapping[str, Any]], T], body: Mapping[str, Any]) -> T:
    try:
        return parser(body)
    except (m.MessageError, TypeError, AttributeError, KeyError) as exc:
        raise TerminalProtocolError(f"answer has an unexpected shape: {exc}") from exc


def _clear_rejection(envelope: Any) -> str | None:
    """The reason of an EventNotification Reject sent in clear (what a terminal answers a message it
    cannot authenticate), else None."""
    request = envelope.get("SaleToPOIRequest") if isinstance(envelope, dict) else None
    event = request.get("EventNotification") if isinstance(request, dict) else None
    if not isinstance(event, Mapping) or event.get("EventToNotify") != "Reject":
        return None
    rejection = m.parse_event_notification(event)
    return rejection.details.get("message") or rejection.event


class TerminalClient:
    def __init__(self, url: str, key: SharedKey, poi_id: str, sale_id: str, *, timeout: float = 120.0,
                 connect_timeout: float = 5.0, verify: ssl.SSLContext | str | bool = True,
                 new_service_id: Callable[[], str] = m.new_service_id,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url, self.key, self.poi_id, self.sale_id = url, key, poi_id, sale_id
        self._new_service_id = new_service_id
        self._now = now
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(connect_timeout, timeout)), verify=verify,
            transport=transport, headers={"Content-Type": "application/json"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TerminalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the requests ------------------------------------------------------------------------

    def pay(self, service_id: str, transaction_id: str, amount_ore: int) -> m.PaymentResult:
        req = m.payment_request(self.sale_id, service_id, self.poi_id, transaction_id, amount_ore,
                                self._now())
        result = _parse(m.parse_payment_response, self._exchange(req, "Payment", "PaymentResponse"))
        log.info("terminal_payment service_id=%s result=%s error=%s brand=%s signature=%s", service_id,
                 result.result, result.error_condition, result.brand, result.signature_required)
        return result

    def refund(self, service_id: str, original_poi_transaction_id: str, amount_ore: int,
               original_time: str | None = None) -> m.PaymentResult:
        """Referenced refund (ReversalRequest) of a payment this terminal approved."""
        req = m.reversal_request(self.sale_id, service_id, self.poi_id, original_poi_transaction_id,
                                 amount_ore, original_time, self._now())
        result = _parse(m.parse_reversal_response, self._exchange(req, "Reversal", "ReversalResponse"))
        log.info("terminal_refund service_id=%s result=%s error=%s", service_id, result.result,
                 result.error_condition)
        return result

    def abort(self, service_id_of_payment: str) -> None:
        """Ask the terminal to abort a running payment; the payment's own answer then says Aborted (or
        that it was approved first: only that answer, or status(), tells)."""
        req = m.abort_request(self.sale_id, self._new_service_id(), self.poi_id, service_id_of_payment)
        self._exchange(req, "Abort", None)
        log.info("terminal_abort payment_service_id=%s", service_id_of_payment)

    def status(self, service_id_of_payment: str) -> m.StatusResult:
        req = m.transaction_status_request(self.sale_id, self._new_service_id(), self.poi_id,
                                           service_id_of_payment)
        result = _parse(m.parse_status_response,
                        self._exchange(req, "TransactionStatus", "TransactionStatusResponse"))
        log.info("terminal_status payment_service_id=%s state=%s", service_id_of_payment, result.state)
        return result

    def signature(self, prompt: str, max_seconds: int = 60) -> m.SignatureResult:
        """Ask the shopper to sign on the terminal (after a payment whose receipt asks for a signature).
        Waits up to `max_seconds` for the shopper, so the HTTP timeout must be longer."""
        req = m.signature_request(self.sale_id, self._new_service_id(), self.poi_id, prompt, max_seconds)
        result = _parse(m.parse_input_response, self._exchange(req, "Input", "InputResponse"))
        log.info("terminal_signature signed=%s error=%s", result.signed, result.error_condition)
        return result

    def reconcile(self) -> m.ReconciliationResult:
        """Close the terminal's period and return its totals per brand (SaleReconciliation)."""
        req = m.reconciliation_request(self.sale_id, self._new_service_id(), self.poi_id)
        result = _parse(m.parse_reconciliation_response,
                        self._exchange(req, "Reconciliation", "ReconciliationResponse"))
        log.info("terminal_reconciliation ok=%s id=%s brands=%d", result.ok, result.reconciliation_id,
                 len(result.totals))
        return result

    def previous_reconciliation(self, reconciliation_id: str | int) -> m.ReconciliationResult:
        """Read a closed period again (PreviousReconciliation): how a lost answer is recovered
        without closing another period."""
        req = m.previous_reconciliation_request(self.sale_id, self._new_service_id(), self.poi_id,
                                                reconciliation_id)
        result = _parse(m.parse_reconciliation_response,
                        self._exchange(req, "Reconciliation", "ReconciliationResponse"))
        log.info("terminal_previous_reconciliation ok=%s id=%s", result.ok, result.reconciliation_id)
        return result

    # --- transport ---------------------------------------------------------------------------

    def _exchange(self, request: dict[str, Any], category: str, body_name: str | None) -> Mapping[str, Any]:
        service_id = request["SaleToPOIRequest"]["MessageHeader"]["ServiceID"]
        try:
            resp = self._http.post(self.url, content=json.dumps(encrypt(request, self.key)).encode())
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            log.warning("terminal_unreachable category=%s service_id=%s sent=no error=%s", category,
                        service_id, type(exc).__name__)
            raise TerminalUnreachable(f"terminal not reachable: {exc}", maybe_processed=False) from exc
        except httpx.TransportError as exc:  # read timeout, connection dropped mid-answer, ...
            log.warning("terminal_unreachable category=%s service_id=%s sent=yes error=%s", category,
                        service_id, type(exc).__name__)
            raise TerminalUnreachable(f"no answer from terminal: {type(exc).__name__}") from exc
        if resp.status_code != 200:
            raise TerminalProtocolError(f"terminal answered HTTP {resp.status_code}")
        if not resp.content.strip():
            if body_name is None:
                return {}
            raise TerminalProtocolError("terminal answered with an empty body")
        try:
            envelope = resp.json()
        except ValueError as exc:
            raise TerminalProtocolError("terminal answered with something that is not JSON") from exc
        if not isinstance(envelope, dict) or not is_secured(envelope):
            reason = _clear_rejection(envelope)
            if reason is not None:  # unauthenticated, so only ever a reason in the error, never acted on
                log.warning("terminal_rejected_in_clear category=%s service_id=%s message=%s", category,
                            service_id, reason)
                raise TerminalProtocolError(f"terminal refused the message in clear: {reason} "
                                            "(wrong key identifier, version or passphrase?)")
            raise TerminalProtocolError("terminal answered without message security")
        try:
            message = decrypt(envelope, self.key)
        except NexoSecurityError as exc:
            log.warning("terminal_answer_refused category=%s service_id=%s reason=%s", category, service_id,
                        exc)
            raise TerminalProtocolError(f"terminal answer refused: {exc}") from exc
        return self._body(message, request, category, body_name)

    def _body(self, message: dict[str, Any], request: dict[str, Any], category: str,
              body_name: str | None) -> Mapping[str, Any]:
        sent = request["SaleToPOIRequest"]["MessageHeader"]
        if "SaleToPOIRequest" in message:  # the terminal speaking first: a Reject of our message
            event = message["SaleToPOIRequest"].get("EventNotification")
            if isinstance(event, Mapping):
                rejection = m.parse_event_notification(event)
                log.warning("terminal_rejected category=%s service_id=%s event=%s message=%s", category,
                            sent["ServiceID"], rejection.event, rejection.details.get("message"))
                raise TerminalRejected(rejection)
            raise TerminalProtocolError("terminal answered with a request")
        inner: Mapping[str, Any] = message["SaleToPOIResponse"]
        got = inner.get("MessageHeader") or {}
        for k in ("MessageCategory", "SaleID", "ServiceID", "POIID"):
            if got.get(k) != sent[k]:
                raise TerminalProtocolError(f"answer is not for this request ({k} {got.get(k)!r})")
        if body_name is None:
            return inner
        body = inner.get(body_name)
        if not isinstance(body, Mapping):
            raise TerminalProtocolError(f"answer has no {body_name}")
        return body
