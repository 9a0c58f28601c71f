"""nexo Sale-to-POI messages as Adyen's Terminal API speaks them (protocol 3.0): builders for the
requests a till sends and parsers that turn answers into small typed results.

Amounts are integer øre everywhere in the till; on the wire they are decimal DKK numbers, converted
here and nowhere else. Shapes follow Adyen's Terminal API reference (see shared notes §1.2.A); where
a detail is our reading rather than documented it is marked VERIFY."""

from __future__ import annotations

import base64
import binascii
import secrets
import string
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

PROTOCOL_VERSION = "3.0"
CURRENCY = "DKK"
SERVICE_ID_MAX = 10
_SERVICE_ID_ALPHABET = string.ascii_letters + string.digits

# Adyen's PaymentBrand codes -> the names the till keeps per payment. VERIFY "visadankort": a co-badged
# card taken on its Dankort side; Adyen names the variant so, the posting plan wants it as Dankort.
BRANDS = {"dankort": "Dankort", "visadankort": "Dankort", "visa": "Visa", "mc": "Mastercard",
          "maestro": "Maestro", "amex": "American Express", "diners": "Diners", "jcb": "JCB",
          "mobilepay": "MobilePay"}
BRAND_CODES = {"Dankort": "dankort", "Visa": "visa", "Mastercard": "mc"}


class MessageError(ValueError):
    """An answer that does not have the shape nexo promises."""


# --- amounts, ids, time ----------------------------------------------------------------------

def ore_to_amount(ore: int) -> float:
    """12950 -> 129.5 (a JSON number; float repr is the shortest exact decimal for two places)."""
    if isinstance(ore, bool) or not isinstance(ore, int):
        raise TypeError("amounts are integer øre")
    return float(Decimal(ore).scaleb(-2))


def amount_to_ore(amount: Any) -> int:
    try:
        value = Decimal(str(amount)) * 100
    except (InvalidOperation, ValueError) as exc:
        raise MessageError(f"not an amount: {amount!r}") from exc
    if value != value.to_integral_value():
        raise MessageError(f"amount has fractions of an øre: {amount!r}")
    return int(value)


def new_service_id() -> str:
    """A fresh ServiceID: 10 alphanumerics (Adyen cloud wants alphanumeric, nexo allows <= 10)."""
    return "".join(secrets.choice(_SERVICE_ID_ALPHABET) for _ in range(SERVICE_ID_MAX))


def check_service_id(service_id: str) -> str:
    if not isinstance(service_id, str) or not 1 <= len(service_id) <= SERVICE_ID_MAX:
        raise ValueError(f"ServiceID must be 1..{SERVICE_ID_MAX} characters: {service_id!r}")
    return service_id


def timestamp(at: datetime | None = None) -> str:
    at = (at or datetime.now(UTC)).astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


# --- requests --------------------------------------------------------------------------------

def header(category: str, sale_id: str, service_id: str, poi_id: str,
           message_type: str = "Request", message_class: str = "Service") -> dict[str, str]:
    return {"ProtocolVersion": PROTOCOL_VERSION, "MessageClass": message_class, "MessageCategory": category,
            "MessageType": message_type, "SaleID": sale_id, "ServiceID": check_service_id(service_id),
            "POIID": poi_id}


def _request(category: str, sale_id: str, service_id: str, poi_id: str, body_name: str,
             body: dict[str, Any], message_class: str = "Service") -> dict[str, Any]:
    return {"SaleToPOIRequest": {"MessageHeader": header(category, sale_id, service_id, poi_id,
                                                         message_class=message_class),
                                 body_name: body}}


def payment_request(sale_id: str, service_id: str, poi_id: str, transaction_id: str, amount_ore: int,
                    at: datetime | None = None) -> dict[str, Any]:
    if amount_ore <= 0:
        raise ValueError("a payment is for a positive amount")
    return _request("Payment", sale_id, service_id, poi_id, "PaymentRequest", {
        "SaleData": {"SaleTransactionID": {"TransactionID": transaction_id, "TimeStamp": timestamp(at)}},
        "PaymentTransaction": {"AmountsReq": {"Currency": CURRENCY,
                                              "RequestedAmount": ore_to_amount(amount_ore)}},
    })


def reversal_request(sale_id: str, service_id: str, poi_id: str, original_poi_transaction_id: str,
                     amount_ore: int, original_time: str | None = None,
                     at: datetime | None = None) -> dict[str, Any]:
    """A referenced refund: reverse (part of) the payment the terminal knows as POITransactionID.

    `original_time` is that payment's POI TimeStamp (PaymentResult.poi_timestamp), sent as it came:
    nexo identifies a transaction by the pair. Without it the refund's own time stands in (nexo makes
    the TimeStamp mandatory), which names no real transaction: callers should pass it."""
    if amount_ore <= 0:
        raise ValueError("a refund is for a positive amount")
    return _request("Reversal", sale_id, service_id, poi_id, "ReversalRequest", {
        "OriginalPOITransaction": {"POITransactionID": {"TransactionID": original_poi_transaction_id,
                                                        "TimeStamp": original_time or timestamp(at)}},
        "ReversalReason": "MerchantCancel",
        "ReversedAmount": ore_to_amount(amount_ore),
    })


def _reference(sale_id: str, payment_service_id: str) -> dict[str, str]:
    return {"MessageCategory": "Payment", "SaleID": sale_id,
            "ServiceID": check_service_id(payment_service_id)}


def abort_request(sale_id: str, service_id: str, poi_id: str, payment_service_id: str) -> dict[str, Any]:
    return _request("Abort", sale_id, service_id, poi_id, "AbortRequest", {
        "AbortReason": "MerchantAbort", "MessageReference": _reference(sale_id, payment_service_id)})


def transaction_status_request(sale_id: str, service_id: str, poi_id: str,
                               payment_service_id: str) -> dict[str, Any]:
    return _request("TransactionStatus", sale_id, service_id, poi_id, "TransactionStatusRequest", {
        "MessageReference": _reference(sale_id, payment_service_id),
        "ReceiptReprintFlag": True,
        "DocumentQualifier": ["CashierReceipt", "CustomerReceipt"],
    })


def reconciliation_request(sale_id: str, service_id: str, poi_id: str) -> dict[str, Any]:
    return _request("Reconciliation", sale_id, service_id, poi_id, "ReconciliationRequest",
                    {"ReconciliationType": "SaleReconciliation"})


def previous_reconciliation_request(sale_id: str, service_id: str, poi_id: str,
                                    reconciliation_id: str | int) -> dict[str, Any]:
    """The totals of a period already closed, named by its POIReconciliationID (an integer on Adyen's
    terminals): a reconciliation whose answer was lost is read again without closing another period."""
    return _request("Reconciliation", sale_id, service_id, poi_id, "ReconciliationRequest",
                    {"ReconciliationType": "PreviousReconciliation",
                     "POIReconciliationID": reconciliation_id})


def signature_request(sale_id: str, service_id: str, poi_id: str, prompt: str,
                      max_seconds: int = 60) -> dict[str, Any]:
    """Ask the shopper to sign on the terminal's display (Adyen: a Device/Input request whose display
    names the predefined GetSignature screen; the answer is a GetConfirmation with the drawing)."""
    return _request("Input", sale_id, service_id, poi_id, "InputRequest", {
        "DisplayOutput": {"Device": "CustomerDisplay", "InfoQualify": "Display", "OutputContent": {
            "OutputFormat": "Text", "PredefinedContent": {"ReferenceID": "GetSignature"},
            "OutputText": [{"Text": prompt}, {"Text": ""}]}},
        "InputData": {"Device": "CustomerInput", "InfoQualify": "Input", "InputCommand": "GetConfirmation",
                      "MaxInputTime": max_seconds},
    }, message_class="Device")


# --- parsed results --------------------------------------------------------------------------

@dataclass(frozen=True)
class PaymentResult:
    approved: bool
    result: str                       # Success | Failure | Partial
    error_condition: str | None       # Refusal, Aborted, Busy, ... (None when approved)
    poi_transaction_id: str | None
    brand: str | None                 # Dankort, Visa, Mastercard, ... (BRANDS), raw code if unknown
    amount_ore: int | None            # authorised (payment) or reversed (refund) amount
    receipts: dict[str, list[str]] = field(default_factory=dict)  # DocumentQualifier -> text lines
    poi_timestamp: str | None = None  # needed to reference the payment in a refund
    signature_required: bool = False  # the cashier must collect a signature on the merchant copy
    brand_code: str | None = None     # Adyen's PaymentBrand as sent
    additional_response: str | None = None


@dataclass(frozen=True)
class StatusResult:
    state: Literal["processed", "in_progress", "not_found"]
    payment: PaymentResult | None = None


@dataclass(frozen=True)
class BrandTotals:
    payments: int = 0
    payments_ore: int = 0
    refunds: int = 0
    refunds_ore: int = 0


@dataclass(frozen=True)
class ReconciliationResult:
    ok: bool
    reconciliation_id: str | None
    totals: dict[str, BrandTotals]    # brand name -> totals for the period just closed
    error_condition: str | None = None


@dataclass(frozen=True)
class SignatureResult:
    signed: bool                      # the shopper signed and confirmed on the terminal
    signature: str | None             # the drawing as the terminal sent it (AdditionalResponse), if any
    error_condition: str | None = None


@dataclass(frozen=True)
class Rejection:
    """The terminal refused the message itself (EventNotification Reject), e.g. a reused ServiceID."""
    event: str
    details: dict[str, str]
    rejected_message: bytes | None = None  # nexo's RejectedMessage: the refused message, as it was sent


# --- parsers ---------------------------------------------------------------------------------

def _obj(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MessageError(f"{what} missing or not an object")
    return value


def receipt_line(text: str) -> str:
    """One OutputText line ("key=...&name=Card&value=Visa%20Debit&format=bold") -> "Card: Visa Debit"."""
    fields = {k: v[0] for k, v in urllib.parse.parse_qs(text, keep_blank_values=True).items()}
    name, value = fields.get("name", "").strip(), fields.get("value", "").strip()
    if name and value:
        return f"{name}: {value}"
    return name or value


def parse_receipts(receipts: Any) -> tuple[dict[str, list[str]], bool]:
    """PaymentReceipt[] -> ({DocumentQualifier: lines}, signature required?)."""
    out: dict[str, list[str]] = {}
    signature = False
    for receipt in receipts or []:
        if not isinstance(receipt, Mapping):
            continue
        qualifier = str(receipt.get("DocumentQualifier", "Receipt"))
        content = receipt.get("OutputContent") or {}
        lines = [receipt_line(str(t.get("Text", ""))) for t in content.get("OutputText") or []
                 if isinstance(t, Mapping)]
        out.setdefault(qualifier, []).extend(lines)
        signature = signature or bool(receipt.get("RequiredSignatureFlag"))
    return out, signature


def brand_name(code: str | None) -> str | None:
    if not code:
        return None
    return BRANDS.get(code.lower(), code)


def _response(body: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    resp = _obj(body.get("Response"), "Response")
    result = resp.get("Result")
    if result not in ("Success", "Failure", "Partial"):
        raise MessageError(f"Result {result!r}")
    return result, resp.get("ErrorCondition"), resp.get("AdditionalResponse")


def _poi_transaction(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    poi_tx = (body.get("POIData") or {}).get("POITransactionID") or {}
    return poi_tx.get("TransactionID"), poi_tx.get("TimeStamp")


def parse_payment_response(body: Mapping[str, Any]) -> PaymentResult:
    """A PaymentResponse body (the value under "PaymentResponse")."""
    result, error, additional = _response(body)
    tx_id, tx_time = _poi_transaction(body)
    pay = body.get("PaymentResult") or {}
    code = ((pay.get("PaymentInstrumentData") or {}).get("CardData") or {}).get("PaymentBrand")
    authorised = (pay.get("AmountsResp") or {}).get("AuthorizedAmount")
    receipts, signature = parse_receipts(body.get("PaymentReceipt"))
    approved = result == "Success"
    if approved and not tx_id:
        raise MessageError("approved payment without POITransactionID")
    return PaymentResult(approved=approved, result=result, error_condition=None if approved else error,
                         poi_transaction_id=tx_id, brand=brand_name(code),
                         amount_ore=None if authorised is None else amount_to_ore(authorised),
                         receipts=receipts, poi_timestamp=tx_time, signature_required=signature,
                         brand_code=code, additional_response=additional)


def parse_reversal_response(body: Mapping[str, Any]) -> PaymentResult:
    result, error, additional = _response(body)
    tx_id, tx_time = _poi_transaction(body)
    reversed_amount = body.get("ReversedAmount")
    receipts, signature = parse_receipts(body.get("PaymentReceipt"))
    approved = result == "Success"
    # No brand in a ReversalResponse: the refund goes to the brand of the payment it references.
    return PaymentResult(approved=approved, result=result, error_condition=None if approved else error,
                         poi_transaction_id=tx_id, brand=None,
                         amount_ore=None if reversed_amount is None else amount_to_ore(reversed_amount),
                         receipts=receipts, poi_timestamp=tx_time, signature_required=signature,
                         additional_response=additional)


def parse_status_response(body: Mapping[str, Any]) -> StatusResult:
    """A TransactionStatusResponse body. InProgress/NotFound come as Failure with that ErrorCondition;
    a processed one carries the original answer in RepeatedMessageResponse."""
    result, error, _ = _response(body)
    if result != "Success":
        if error == "InProgress":
            return StatusResult("in_progress")
        if error == "NotFound":
            return StatusResult("not_found")
        raise MessageError(f"TransactionStatus failed: {error}")
    repeated = _obj(body.get("RepeatedMessageResponse"), "RepeatedMessageResponse")
    inner = _obj(repeated.get("RepeatedResponseMessageBody"), "RepeatedResponseMessageBody")
    if "PaymentResponse" in inner:
        return StatusResult("processed",
                            parse_payment_response(_obj(inner["PaymentResponse"], "PaymentResponse")))
    if "ReversalResponse" in inner:
        return StatusResult("processed",
                            parse_reversal_response(_obj(inner["ReversalResponse"], "ReversalResponse")))
    raise MessageError("RepeatedResponseMessageBody holds neither PaymentResponse nor ReversalResponse")


def parse_reconciliation_response(body: Mapping[str, Any]) -> ReconciliationResult:
    result, error, _ = _response(body)
    totals: dict[str, dict[str, int]] = {}
    for group in body.get("TransactionTotals") or []:
        brand = brand_name(group.get("CardBrand")) or "Unknown"
        t = totals.setdefault(brand, {"payments": 0, "payments_ore": 0, "refunds": 0, "refunds_ore": 0})
        for pt in group.get("PaymentTotals") or []:
            kind = {"Debit": "payments", "ReverseDebit": "refunds"}.get(pt.get("TransactionType"))
            if kind is None:
                continue
            t[kind] += int(pt.get("TransactionCount", 0))
            t[kind + "_ore"] += amount_to_ore(pt.get("TransactionAmount", 0))
    return ReconciliationResult(ok=result == "Success", reconciliation_id=body.get("POIReconciliationID"),
                                totals={b: BrandTotals(**t) for b, t in totals.items()},
                                error_condition=None if result == "Success" else error)


def parse_input_response(body: Mapping[str, Any]) -> SignatureResult:
    """An InputResponse body: InputResult.Response says whether input was taken; Input.ConfirmedFlag
    whether the shopper confirmed; the drawing rides in the Response's AdditionalResponse."""
    result = _obj(body.get("InputResult"), "InputResult")
    outcome, error, additional = _response(result)
    confirmed = bool((result.get("Input") or {}).get("ConfirmedFlag"))
    signed = outcome == "Success" and confirmed
    return SignatureResult(signed=signed, signature=additional if signed else None,
                           error_condition=None if signed else (error or "NotConfirmed"))


def parse_event_notification(body: Mapping[str, Any]) -> Rejection:
    details = urllib.parse.parse_qs(str(body.get("EventDetails", "")), keep_blank_values=True)
    rejected = body.get("RejectedMessage")
    try:
        raw = base64.b64decode(rejected, validate=True) if isinstance(rejected, str) else None
    except (binascii.Error, ValueError):
        raw = None  # only ever shown in a log: a bad one is not worth refusing the answer for
    return Rejection(event=str(body.get("EventToNotify", "")), details={k: v[0] for k, v in details.items()},
                     rejected_message=raw)
