"""MobilePay's settings: saved, checked and journalled without secrets; the secrets in a 0600 file and
nowhere else (not in stdout, stderr, logs or the journal); `open_mobilepay` for the ePayment API (the
spec-checking fake) and for the in-process simulator; `till mobilepay ...` run as subprocesses."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from appliance.services import mobilepay
from appliance.services import mobilepay_setup as mps
from appliance.services.till import open_till
from drivers.mobilepay.client import EPaymentClient
from drivers.mobilepay.simulator import SimulatedClient
from tests.conftest import make_till
from tests.fakes.epayment import FakeEPayment

SECRET = "fake-client-secret-s3cr3t"
SUBKEY = "fake-subkey-0123456789"


@pytest.fixture
def fake():
    with FakeEPayment(client_secret=SECRET, subscription_key=SUBKEY) as f:
        yield f
        assert f.spec_violations == []


def spec(fake: FakeEPayment) -> dict:
    return {"kind": "epayment", "base_url": fake.url, "msn": fake.msn, "client_id": fake.client_id}


def journal_text(till) -> str:
    return "\n".join(p for (p,) in till.conn.execute("SELECT payload FROM journal"))


def test_round_trip_secrets_private_and_never_journalled(till, fake, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    assert mps.open_mobilepay(till) is None  # off until set
    saved = mps.set_mobilepay(till, spec(fake), "bo", client_secret=SECRET, subscription_key=SUBKEY)
    assert saved == {**spec(fake), "system_name": "tillbox", "system_version": mps.till_version()}
    assert mps.settings_of(till) == saved
    stored = till.data_dir / "secrets" / "mobilepay.json"
    assert stored.stat().st_mode & 0o777 == 0o600
    assert stored.parent.stat().st_mode & 0o777 == 0o700
    assert json.loads(stored.read_text()) == {"client_secret": SECRET, "subscription_key": SUBKEY}
    shown = mps.describe(till)
    assert shown["secrets"] == {"client_secret": "set", "subscription_key": "set"}
    client = mps.open_mobilepay(till, strict=True)
    try:
        assert isinstance(client, EPaymentClient)
        client.check_access()
        ref = mobilepay.start(till, client, 1_000, "anna", "S1", phone="12345678")
        fake.approve(ref)
        assert mobilepay.settle(till, client, ref, 1_000, "anna").approved
    finally:
        client.close()
    # the secrets are kept when only the plain settings change
    mps.set_mobilepay(till, {**spec(fake), "client_id": "another-id"}, "bo")
    assert json.loads(stored.read_text())["client_secret"] == SECRET
    for text in (journal_text(till), caplog.text, json.dumps(shown), repr(client)):
        assert SECRET not in text and SUBKEY not in text
        assert not any(t in text for t in fake.tokens_issued)
    assert '"mobilepay.secrets"' in journal_text(till)


@pytest.mark.parametrize("change, message", [
    ({"base_url": "http://api.vipps.no"}, "https"),
    ({"base_url": "https://apitest.vipps.no/epayment"}, "server only"),
    ({"msn": "12"}, "4-6 digits"),
    ({"client_id": ""}, "client id"),
    ({"system_name": "x" * 31}, "system_name"),
    ({"kind": "pos-v10"}, "kind"),
])
def test_bad_settings_are_refused(till, change, message) -> None:
    good = {"kind": "epayment", "base_url": mps.TEST_URL, "msn": "123456", "client_id": "abc"}
    with pytest.raises(mps.MobilePaySetupError, match=message):
        mps.set_mobilepay(till, {**good, **change}, "bo", client_secret=SECRET, subscription_key=SUBKEY)
    assert mps.settings_of(till) is None


def test_secrets_are_needed_and_checked(till) -> None:
    good = {"kind": "epayment", "base_url": mps.PRODUCTION_URL, "msn": "123456", "client_id": "abc"}
    with pytest.raises(mps.MobilePaySetupError, match="client secret and subscription key"):
        mps.set_mobilepay(till, good, "bo")
    with pytest.raises(mps.MobilePaySetupError, match="looks wrong"):
        mps.set_mobilepay(till, good, "bo", client_secret="short", subscription_key=SUBKEY)
    assert mps.set_mobilepay(till, good, "bo", client_secret=SECRET, subscription_key=SUBKEY)
    assert mps.describe(till)["environment"] == "production"
    mps.secrets_store(till).clear()
    assert mps.open_mobilepay(till) is None  # logged, the till sells on
    with pytest.raises(mps.MobilePaySetupError, match="not stored"):
        mps.open_mobilepay(till, strict=True)


def test_sim_runs_in_process_and_close_stops_it(till) -> None:
    mps.set_mobilepay(till, mps.sim_spec(till, approve_after=0.0), "bo")
    client = mps.open_mobilepay(till, strict=True)
    assert isinstance(client, SimulatedClient)
    url = client.base_url
    try:
        client.check_access()
        ref = mobilepay.start(till, client, 2_000, "anna", "S1", personal_qr="https://qr.vipps.no/x")
        outcome = mobilepay.finish(till, client, ref, 2_000, "anna", sleep=lambda _s: None, clock=lambda: 0.0)
        assert outcome.approved
        assert mobilepay.refund(till, client, ref, 2_000, "bo", "R1").approved
    finally:
        client.close()
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/epayment/v1/payments/abcdefgh", timeout=2)
    assert (till.data_dir / "sim" / "mobilepay" / "ledger.jsonl").exists()
    again = mps.open_mobilepay(till, strict=True)  # the ledger brings the payment back
    try:
        assert again.get_payment(ref).refunded_ore == 2_000
    finally:
        again.close()


# --- the CLI, as an installer runs it ------------------------------------------------------------


def cli(data: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TILLBOX_")}
    cmd = [sys.executable, "-m", "appliance.cli", "--data", str(data), "--json", "mobilepay", *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60,
                          env={**base, "TILLBOX_LOG": "DEBUG", **(env or {})})


@pytest.fixture
def shop(tmp_path: Path, clock) -> Path:
    make_till(tmp_path / "shop", clock).close()
    return tmp_path / "shop"


def test_cli_set_show_test_sim_and_no_secret_anywhere(shop: Path, fake) -> None:
    seen: list[str] = []

    def run(*args: str, **kw) -> dict:
        proc = cli(shop, *args, **kw)
        seen.extend((proc.stdout, proc.stderr))
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    settings = ["--url", fake.url, "--msn", fake.msn, "--client-id", fake.client_id]
    out = run("set", *settings, env={"TILLBOX_MOBILEPAY_CLIENT_SECRET": SECRET,
                                      "TILLBOX_MOBILEPAY_SUBSCRIPTION_KEY": SUBKEY})
    assert out["mobilepay"] == "epayment" and out["secrets"]["client_secret"] == "set"
    assert run("show")["settings"]["msn"] == fake.msn
    assert run("test")["mobilepay"] == "OK"
    # secrets from stdin (one line each), never argv
    run("set", *settings, stdin=f"{SECRET}\n{SUBKEY}\n")
    assert run("test")["mobilepay"] == "OK"

    wrong = cli(shop, "set", *settings, stdin="wrong-secret-value\n\n")  # subscription key kept
    seen.extend((wrong.stdout, wrong.stderr))
    assert wrong.returncode == 0
    refused = cli(shop, "test")
    seen.extend((refused.stdout, refused.stderr))
    assert refused.returncode == 1 and "refused the keys" in refused.stderr

    fake.stop()
    down = cli(shop, "test")
    seen.extend((down.stdout, down.stderr))
    assert down.returncode == 1 and "cannot be reached" in down.stderr

    bad = cli(shop, "set", "--url", "http://api.vipps.no", "--msn", "1", "--client-id", "x")
    assert bad.returncode == 1 and "https" in bad.stderr

    assert run("sim", "--approve-after", "0")["mobilepay"] == "sim"
    assert run("test")["mobilepay"] == "OK"
    assert run("off")["mobilepay"] == "off"
    assert cli(shop, "test").returncode == 1

    stored = shop / "secrets" / "mobilepay.json"
    assert stored.stat().st_mode & 0o777 == 0o600
    with open_till(shop) as t:
        journal = journal_text(t)
    text = "\n".join(seen) + journal
    assert "epayment op=token" in text  # the logs were captured (TILLBOX_LOG=DEBUG)
    for secret in (SECRET, SUBKEY, "wrong-secret-value", *fake.tokens_issued):
        assert secret not in text
