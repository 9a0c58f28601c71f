"""The till's own MobilePay simulator (drivers/mobilepay/simulator.py) through the real client and the
till's MobilePay service: the simulated customer approves after a delay, declines or ignores by the
documented conventions, its ledger survives a restart, and it needs nothing test-only. The same runs
under the spec-checking fake, so the simulator's answers are the spec's."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.services import mobilepay, payments
from drivers.mobilepay.client import EPaymentClient
from drivers.mobilepay.simulator import EPaymentSimulator, customer_choice
from tests.fakes.epayment import FakeEPayment

QR = "https://qr.vipps.no/28/2/01/031/4512345678?v=1"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Steps:
    """The poll's sleep and clock: sleeping moves the clock the simulator reads too."""

    def __init__(self, mono: Clock):
        self.mono = mono

    def sleep(self, s: float) -> None:
        self.mono.now += s


def ref() -> str:
    return "sim-" + uuid.uuid4().hex[:20]


def key() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def mono() -> Clock:
    return Clock()


@pytest.fixture
def sim(mono: Clock) -> Iterator[EPaymentSimulator]:
    with EPaymentSimulator(clock=mono, approve_after=2.0, expire_after=300.0) as s:
        yield s


@pytest.fixture
def client(sim: EPaymentSimulator) -> Iterator[EPaymentClient]:
    with EPaymentClient(sim.url, **sim.credentials(), system_version="0.1.0", timeout=5.0) as c:
        yield c


def test_conventions() -> None:
    assert customer_choice({"phoneNumber": "4512345600"}) == "decline"
    assert customer_choice({"personalQr": "https://qr.vipps.no/x?decline=1"}) == "decline"
    assert customer_choice({"phoneNumber": "4512345699"}) == "ignore"
    assert customer_choice({"personalQr": "IGNORE-me"}) == "ignore"
    assert customer_choice({"phoneNumber": "4512345678"}) == customer_choice(None) == "approve"


def test_customer_approves_after_the_delay(sim: EPaymentSimulator, client: EPaymentClient,
                                           mono: Clock) -> None:
    r = ref()
    client.create_payment(r, 4_450, key(), personal_qr=QR)
    mono.now = 1.9
    assert client.get_payment(r).state == "CREATED"
    mono.now = 2.0
    paid = client.get_payment(r)
    assert (paid.state, paid.authorized_ore) == ("AUTHORIZED", 4_450)
    assert sim.effects(r) == ["CREATED", "AUTHORIZED"]


def test_declines_ignores_and_cancel_before_the_answer(client: EPaymentClient, mono: Clock) -> None:
    declined, ignored, cancelled, shown = ref(), ref(), ref(), ref()
    client.create_payment(declined, 1_000, key(), phone="12 34 56 00")
    client.create_payment(ignored, 1_000, key(), phone="12345699")
    client.create_payment(cancelled, 1_000, key(), personal_qr=QR)
    created = client.create_payment(shown, 1_000, key())  # the till shows a QR
    assert created.redirect_url and created.redirect_url.startswith("https://")
    mono.now = 1.0
    assert client.cancel(cancelled, key()).state == "TERMINATED"
    mono.now = 2.0
    assert client.get_payment(declined).state == "ABORTED"
    assert client.get_payment(ignored).state == "CREATED"
    assert client.get_payment(cancelled).state == "TERMINATED"
    assert client.get_payment(shown).state == "AUTHORIZED"
    mono.now = 300.0
    assert client.get_payment(ignored).state == "EXPIRED"


def test_start_and_finish_through_the_till(till, sim: EPaymentSimulator, client: EPaymentClient,
                                           mono: Clock) -> None:
    steps = Steps(mono)
    ref_ok = mobilepay.start(till, client, 2_500, "anna", "S1", personal_qr=QR)
    outcome = mobilepay.finish(till, client, ref_ok, 2_500, "anna", sleep=steps.sleep, clock=mono)
    assert outcome.approved and client.get_payment(ref_ok).captured_ore == 2_500
    ref_no = mobilepay.start(till, client, 2_500, "anna", "S2", phone="12345600")
    outcome = mobilepay.finish(till, client, ref_no, 2_500, "anna", sleep=steps.sleep, clock=mono)
    assert outcome.state == "declined" and sim.effects(ref_no) == ["CREATED", "ABORTED"]
    started = mobilepay.start_payment(till, client, 999, "anna", "S3")
    assert started.qr_url and started.qr_url.startswith("https://landing.vipps.no/")
    assert mobilepay.finish(till, client, started.reference, 999, "anna", sleep=steps.sleep,
                            clock=mono).approved
    assert payments.open_intents(till, "mobilepay") == []


def test_ledger_survives_a_restart(tmp_path: Path, mono: Clock) -> None:
    ledger = tmp_path / "mp" / "ledger.jsonl"
    r, capture_key = ref(), key()
    with EPaymentSimulator(clock=mono, approve_after=0.0, ledger=ledger) as sim:
        with sim.client(system_version="0.1.0") as c:
            c.create_payment(r, 5_000, key(), personal_qr=QR)
            assert c.get_payment(r).state == "AUTHORIZED"
            c.capture(r, 5_000, capture_key)
    with EPaymentSimulator(clock=mono, approve_after=0.0, ledger=ledger) as again:
        with again.client(system_version="0.1.0") as c:
            assert c.get_payment(r).captured_ore == 5_000
            assert c.capture(r, 5_000, capture_key).captured_ore == 5_000  # the stored answer
            assert again.effects(r) == ["CREATED", "AUTHORIZED", "CAPTURED"]
            assert c.refund(r, 1_000, key()).refunded_ore == 1_000


def test_simulated_client_close_stops_the_simulator(mono: Clock) -> None:
    import httpx

    sim = EPaymentSimulator(clock=mono).start()
    url = sim.url
    sim.client(system_version="0.1.0").close()
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/epayment/v1/payments/abcdefgh", timeout=2)


def test_the_simulator_speaks_the_spec(till, mono: Clock) -> None:
    """The same flows, with the simulated customer, under the spec-checking fake."""
    with FakeEPayment(clock=mono, approve_after=2.0, expire_after=300.0) as fake:
        with EPaymentClient(fake.url, **fake.credentials(), system_version="0.1.0", timeout=5.0) as c:
            steps = Steps(mono)
            for phone, state in (("12345678", "approved"), ("12345600", "declined")):
                r = mobilepay.start(till, c, 1_200, "anna", "S", phone=phone)
                assert mobilepay.finish(till, c, r, 1_200, "anna", sleep=steps.sleep, clock=mono).state == state
            c.events(r)
        assert fake.spec_violations == []


def test_drivers_need_nothing_test_only() -> None:
    code = ("import sys, drivers.mobilepay.simulator; "
            "print(sorted(m for m in ('jsonschema', 'yaml', 'appliance') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"
