"""MobilePay (Vipps MobilePay ePayment API) for customer-present payments; see client.py."""

from drivers.mobilepay.client import (
    FINAL_STATES,
    AuthFailed,
    Created,
    EPaymentClient,
    EPaymentError,
    NotFound,
    Payment,
    PaymentEvent,
    Rejected,
    Transient,
    msisdn,
)

__all__ = [
    "FINAL_STATES",
    "AuthFailed",
    "Created",
    "EPaymentClient",
    "EPaymentError",
    "NotFound",
    "Payment",
    "PaymentEvent",
    "Rejected",
    "Transient",
    "msisdn",
]
