"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest

from drivers.mobilepay.client import EPaymentClient
from tests.fakes.epayment import FakeEPayment

MOBILEPAY_QR = "https://qr.vipps.no/28/2/01/031/4512345678?v=1"  # a customer's personal QR, as scanned


@pytest.fixture
def mp():
    """The spec-checking ePayment fake and a client for it; every request is checked on the way out."""
    with FakeEPayment() as fake:
        client = EPaymentClient(fake.url, **fake.credentials(), system_version="0.1.0", timeout=5.0)
        yield fake, client
        client.close()
        assert fake.spec_violations == []
