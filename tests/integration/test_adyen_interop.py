"""The till's terminal driver and simulator held against Adyen's own Node library (@adyen/api-library,
pinned in tests/adyen/package.json): the library's NexoCrypto and the till's security.py read each
other's messages byte for byte; the library's TerminalLocalAPI drives a running `till terminal-sim`
over HTTPS on 127.0.0.1 (chunked bodies, as it sends them) for every request the till makes; and every
message either side writes is checked against the library's Terminal API models.

Needs node and tests/adyen/node_modules (`npm ci --prefix tests/adyen`, which the session fixture runs
once when the folder is missing)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.terminal import messages as m
from drivers.terminal.security import (
    CRYPTO_VERSION,
    ROUNDS,
    SALT,
    PassphraseError,
    SharedKey,
    check_passphrase,
    decrypt,
    derive,
    encrypt,
    encrypt_bytes,
)
from tests.drivers.test_terminal import terminal_certificate

from .test_cli import ok, till

ROOT = Path(__file__).resolve().parents[2]
ADYEN = ROOT / "tests" / "adyen"
PASSPHRASE = "Till and terminal, 2 of a kind!"
KEY = SharedKey("TillboxKey", PASSPHRASE, 3)
ADYEN_KEY = {"AdyenCryptoVersion": CRYPTO_VERSION, "KeyIdentifier": KEY.identifier,
             "KeyVersion": KEY.version, "Passphrase": PASSPHRASE}
POI_ID = "V400m-346403161"  # the shape Adyen's certificate check wants: <model>-<serial>
SALE_ID = "TILLBOX-1"
DANISH = "blåbærgrød-nøgle"


@pytest.fixture(scope="session")
def node_modules() -> Path:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: Adyen's Node library cannot run")
    modules = ADYEN / "node_modules" / "@adyen" / "api-library"
    if not modules.is_dir():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("tests/adyen/node_modules is missing and npm is not installed to run `npm ci`")
        proc = subprocess.run([npm, "ci", "--prefix", str(ADYEN), "--no-audit", "--no-fund"],
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0 or not modules.is_dir():
            pytest.skip(f"tests/adyen/node_modules is missing and `npm ci` failed: {proc.stderr[-500:]}")
    return modules


class Adyen:
    """tests/adyen/interop.js: one JSON command per line, one answer per line."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(["node", str(ADYEN / "interop.js")], cwd=ADYEN, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     encoding="utf-8")

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"node stopped: {self.proc.stderr.read() if self.proc.stderr else ''}"
        answer = json.loads(line)
        assert "error" not in answer, f"Adyen's library threw on {op}: {answer['error']}"
        return answer["ok"]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def adyen(node_modules: Path) -> Iterator[Adyen]:
    lib = Adyen()
    try:
        yield lib
    finally:
        lib.close()


# --- the shared key ------------------------------------------------------------------------------

def test_keys_agree_for_ascii_and_danish_letters_are_refused(adyen: Adyen) -> None:
    ours = derive(PASSPHRASE)
    theirs = adyen.call("derive", passphrase=PASSPHRASE)
    assert (theirs["hmacKey"], theirs["cipherKey"], theirs["iv"]) == (
        ours.hmac_key.hex(), ours.cipher_key.hex(), ours.iv.hex())
    # Why the till refuses æ, ø, å: Adyen's Node library reads the passphrase as Latin-1, the till (and
    # Adyen's Java library) as UTF-8, so the two derive different keys from the same words.
    danish = adyen.call("derive", passphrase=DANISH)
    assert danish["hmacKey"] != derive(DANISH).hmac_key.hex()
    latin1 = hashlib.pbkdf2_hmac("sha1", DANISH.encode("latin-1"), SALT, ROUNDS, 80)
    assert danish["hmacKey"] == latin1[:32].hex()
    with pytest.raises(PassphraseError, match="æ, ø and å"):
        check_passphrase(DANISH)


# --- NexoCrypto against security.py --------------------------------------------------------------

def _requests() -> dict[str, dict[str, Any]]:
    """One of every request the till builds (messages.py), Danish text included."""
    return {
        "payment": m.payment_request(SALE_ID, "PAY1", POI_ID, "Kvittering-ø-17", 12995),
        "reversal": m.reversal_request(SALE_ID, "REV1", POI_ID, "SIM00000001.ab12cd34", 4000,
                                       original_time="2025-03-14T09:26:53.589Z"),
        "status": m.transaction_status_request(SALE_ID, "ST1", POI_ID, "PAY1"),
        "abort": m.abort_request(SALE_ID, "AB1", POI_ID, "PAY1"),
        "reconciliation": m.reconciliation_request(SALE_ID, "REC1", POI_ID),
        "signature": m.signature_request(SALE_ID, "SIG1", POI_ID, "Skriv under på skærmen"),
    }


def test_adyen_encrypts_and_the_till_decrypts_byte_for_byte(adyen: Adyen) -> None:
    for name, request in _requests().items():
        out = adyen.call("encrypt", request=request, key=ADYEN_KEY)
        secured, plaintext = out["secured"], out["plaintext"].encode("utf-8")
        assert decrypt(secured, KEY) == json.loads(plaintext), name
        assert decrypt(secured, KEY) == request, name  # the library's models kept every field
        trailer = secured["SaleToPOIRequest"]["SecurityTrailer"]
        assert trailer == {"AdyenCryptoVersion": 1, "KeyIdentifier": KEY.identifier, "KeyVersion": 3,
                           "Nonce": trailer["Nonce"], "Hmac": trailer["Hmac"]}
        # The library draws a random nonce; under that nonce the till makes the very same bytes.
        blob, mac = encrypt_bytes(plaintext, KEY, base64.b64decode(trailer["Nonce"]))
        assert base64.b64encode(blob).decode() == secured["SaleToPOIRequest"]["NexoBlob"], name
        assert base64.b64encode(mac).decode() == trailer["Hmac"], name
        with pytest.raises(Exception, match="not authentic"):
            decrypt(secured, SharedKey(KEY.identifier, PASSPHRASE + "x", KEY.version))


def test_the_till_encrypts_and_adyen_decrypts_byte_for_byte(adyen: Adyen) -> None:
    nonce = bytes(range(16, 32))
    for name, request in _requests().items():
        secured = encrypt(request, KEY, nonce)
        assert adyen.call("check", message=secured, type="TerminalApiSecuredRequest")["problems"] == []
        out = adyen.call("decrypt", secured=secured, key=ADYEN_KEY, type="TerminalApiRequest")
        assert out["plaintext"].encode("utf-8") == json.dumps(
            request, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), name
        assert out["problems"] == [], (name, out["problems"])  # the till's request fits Adyen's models
        assert out["typed"] == request, name
    answer = {"SaleToPOIResponse": {
        "MessageHeader": m.header("Payment", SALE_ID, "PAY1", POI_ID, "Response"),
        "PaymentResponse": {"Response": {"Result": "Success"}, "POIData": {"POITransactionID": {
            "TransactionID": "X1", "TimeStamp": "2025-03-14T09:26:53.589Z"}}}}}
    out = adyen.call("decrypt", secured=encrypt(answer, KEY), key=ADYEN_KEY, type="TerminalApiResponse")
    assert out["problems"] == [] and out["typed"] == answer


def test_a_refund_carries_the_original_payments_timestamp(adyen: Adyen) -> None:
    original = "2025-03-14T09:26:53.589Z"
    request = m.reversal_request(SALE_ID, "REV2", POI_ID, "SIM00000007.0badf00d", 2500, original_time=original,
                                 at=dt.datetime(2025, 3, 20, 12, 0, tzinfo=dt.UTC))
    checked = adyen.call("check", message=request, type="TerminalApiRequest")
    assert checked["problems"] == []
    assert checked["classes"]["SaleToPOIRequest.ReversalRequest.OriginalPOITransaction.POITransactionID"] == \
        "TransactionIdentification"
    ident = checked["typed"]["SaleToPOIRequest"]["ReversalRequest"]["OriginalPOITransaction"]["POITransactionID"]
    assert ident == {"TransactionID": "SIM00000007.0badf00d", "TimeStamp": original}
    # The check bites: a field the models do not know, a value outside an enum, a wrong JSON type.
    body = request["SaleToPOIRequest"]["ReversalRequest"]
    bent = {"SaleToPOIRequest": {**request["SaleToPOIRequest"], "ReversalRequest": {
        **body, "ReversalReason": "ChangedMyMind", "ReversedAmount": "25.00",
        "OriginalPOITransaction": {"POITransactionId": ident}}}}
    assert sorted(adyen.call("check", message=bent, type="TerminalApiRequest")["problems"]) == [
        "TerminalApiRequest.SaleToPOIRequest.ReversalRequest.OriginalPOITransaction.POITransactionId: "
        "not a field of OriginalPOITransaction",
        'TerminalApiRequest.SaleToPOIRequest.ReversalRequest.ReversalReason: "ChangedMyMind" is not a '
        "ReversalReasonType",
        'TerminalApiRequest.SaleToPOIRequest.ReversalRequest.ReversedAmount: "25.00" is not a number']


# --- Adyen's client against `till terminal-sim` --------------------------------------------------

class RunningSim:
    def __init__(self, url: str, certificate: Path, ledger: Path) -> None:
        self.url, self.certificate, self.ledger = url, certificate, ledger

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.ledger.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture
def terminal_sim(tmp_path: Path) -> Iterator[RunningSim]:
    """`till terminal-sim` in its own process, over TLS, scripted: the 3rd money request (a payment
    the test aborts) waits until aborted."""
    cert, key = terminal_certificate(tmp_path, POI_ID)
    script = tmp_path / "script.json"
    script.write_text(json.dumps(["approve", "approve", {"action": "timeout", "seconds": 30}]))
    ledger = tmp_path / "ledger.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "terminal-sim", "--port", "0", "--key-id", KEY.identifier,
         "--key-version", str(KEY.version), "--poi-id", POI_ID, "--ledger", str(ledger), "--script",
         str(script), "--tls-cert", str(cert), "--tls-key", str(key)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "TILL_TERMINAL_PASSPHRASE": PASSPHRASE, "TILLBOX_DATA": ""})
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("https://127.0.0.1:"), proc.stderr.read() if proc.stderr else ""
        yield RunningSim(url + "/", cert, ledger)  # the library posts to .../nexo/
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=10)
        assert PASSPHRASE not in err


def _send(adyen: Adyen, sim: RunningSim, request: dict[str, Any]) -> dict[str, Any]:
    """Adyen's TerminalLocalAPI sends the till's request; its answer as the library typed it."""
    out = adyen.call("send", endpoint=sim.url, certificate=str(sim.certificate), request=request,
                     key=ADYEN_KEY)
    assert out["problems"] == [], out["problems"]  # the request and the answer fit Adyen's models
    if out["answer"] is not None:  # None: an empty body, the library's empty TerminalApiResponse
        assert out["typed"] == out["answer"]  # the library's models kept every field the simulator sent
    return out


def _body(out: dict[str, Any], name: str) -> dict[str, Any]:
    response = out["typed"]["SaleToPOIResponse"]
    assert out["classes"]["SaleToPOIResponse"] == "SaleToPOIResponse"
    assert out["classes"][f"SaleToPOIResponse.{name}"] == name
    assert response["MessageHeader"]["MessageType"] == "Response"
    return response[name]


def test_adyens_client_drives_the_simulator_for_every_request_the_till_makes(
        adyen: Adyen, terminal_sim: RunningSim) -> None:
    paid = _body(_send(adyen, terminal_sim, m.payment_request(SALE_ID, "PAY1", POI_ID, "S-1", 12995)),
                 "PaymentResponse")
    result = m.parse_payment_response(paid)  # the till reads what Adyen's models hold
    assert result.approved and result.amount_ore == 12995 and result.brand == "Dankort"
    assert result.poi_transaction_id and result.poi_timestamp
    assert "Beløb: DKK 129,95" in result.receipts["CustomerReceipt"]
    assert paid["PaymentResult"]["PaymentInstrumentData"]["CardData"]["PaymentBrand"] == "dankort"

    refund = _body(_send(adyen, terminal_sim, m.reversal_request(
        SALE_ID, "REV1", POI_ID, result.poi_transaction_id, 4000, original_time=result.poi_timestamp)),
        "ReversalResponse")
    refunded = m.parse_reversal_response(refund)
    assert refunded.approved and refunded.amount_ore == 4000
    assert refund["OriginalPOITransaction"]["POITransactionID"] == {
        "TransactionID": result.poi_transaction_id, "TimeStamp": result.poi_timestamp}

    status = m.parse_status_response(_body(_send(adyen, terminal_sim, m.transaction_status_request(
        SALE_ID, "ST1", POI_ID, "PAY1")), "TransactionStatusResponse"))
    assert status.state == "processed" and status.payment is not None
    assert status.payment.poi_transaction_id == result.poi_transaction_id
    assert m.parse_status_response(_body(_send(adyen, terminal_sim, m.transaction_status_request(
        SALE_ID, "ST2", POI_ID, "NEVER")), "TransactionStatusResponse")) == m.StatusResult("not_found")

    signed = m.parse_input_response(_body(_send(adyen, terminal_sim, m.signature_request(
        SALE_ID, "SIG1", POI_ID, "Skriv under på skærmen")), "InputResponse"))
    assert signed.signed and signed.signature

    # A payment the customer never finishes, aborted by a second client while it runs.
    running: list[dict[str, Any]] = []
    second = Adyen()
    try:
        waiting = threading.Thread(target=lambda: running.append(_send(
            second, terminal_sim, m.payment_request(SALE_ID, "PAY2", POI_ID, "S-2", 500))))
        waiting.start()
        for i in range(200):  # bounded: until the simulator has the payment running
            state = m.parse_status_response(_body(_send(adyen, terminal_sim, m.transaction_status_request(
                SALE_ID, f"W{i}", POI_ID, "PAY2")), "TransactionStatusResponse")).state
            if state == "in_progress":
                break
        assert state == "in_progress"
        aborted = _send(adyen, terminal_sim, m.abort_request(SALE_ID, "AB1", POI_ID, "PAY2"))
        assert aborted["answer"] is None and aborted["typed"] == {}  # Adyen answers an abort with nothing
        waiting.join(timeout=20)
    finally:
        second.close()
    [late] = running
    assert m.parse_payment_response(_body(late, "PaymentResponse")).error_condition == "Aborted"

    totals = m.parse_reconciliation_response(_body(_send(adyen, terminal_sim, m.reconciliation_request(
        SALE_ID, "REC1", POI_ID)), "ReconciliationResponse"))
    assert totals.ok and totals.totals == {
        "Dankort": m.BrandTotals(payments=1, payments_ore=12995, refunds=1, refunds_ore=4000)}

    entries = terminal_sim.entries()
    assert [e["type"] for e in entries] == ["payment", "refund", "reconciliation"]
    assert entries[1]["original_poi_timestamp"] == result.poi_timestamp


def test_refusals_are_nexo_rejects_adyens_models_read(adyen: Adyen, terminal_sim: RunningSim) -> None:
    request = m.payment_request(SALE_ID, "DUP1", POI_ID, "S-1", 100)
    _send(adyen, terminal_sim, request)
    # The same ServiceID again: refused, encrypted, naming the refused message.
    again = adyen.call("encrypt", request=m.payment_request(SALE_ID, "DUP1", POI_ID, "S-2", 200), key=ADYEN_KEY)
    posted = adyen.call("post", endpoint=terminal_sim.url, certificate=str(terminal_sim.certificate),
                        body=json.dumps(again["secured"]))
    read = adyen.call("decrypt", secured=json.loads(posted["body"]), key=ADYEN_KEY, type="TerminalApiResponse")
    assert read["problems"] == []
    assert read["classes"]["SaleToPOIRequest.EventNotification"] == "EventNotification"
    event = read["typed"]["SaleToPOIRequest"]["EventNotification"]
    assert event["EventToNotify"] == "Reject" and "Duplicate" in m.parse_event_notification(event).details["message"]
    assert base64.b64decode(event["RejectedMessage"]).decode("utf-8") == again["plaintext"]
    header = read["typed"]["SaleToPOIRequest"]["MessageHeader"]
    assert (header["MessageCategory"], header["MessageType"], header["ServiceID"]) == ("Event", "Notification",
                                                                                        "DUP1")
    # A message under the wrong passphrase: not authentic, so the Reject comes in clear.
    wrong = {**ADYEN_KEY, "Passphrase": "not the terminal's passphrase"}
    forged = json.dumps(adyen.call("encrypt", request=m.payment_request(SALE_ID, "F1", POI_ID, "S-3", 300),
                                   key=wrong)["secured"])
    posted = adyen.call("post", endpoint=terminal_sim.url, certificate=str(terminal_sim.certificate), body=forged)
    answer = json.loads(posted["body"])
    read = adyen.call("check", message=answer, type="TerminalApiResponse")
    assert read["problems"] == []
    event = read["typed"]["SaleToPOIRequest"]["EventNotification"]
    assert event["EventToNotify"] == "Reject"
    assert base64.b64decode(event["RejectedMessage"]).decode("utf-8") == forged
    assert len(terminal_sim.entries()) == 1


# --- the passphrase where it enters the till -----------------------------------------------------

def test_a_passphrase_adyen_would_read_differently_is_refused(tmp_path: Path) -> None:
    for bad, reason in [(DANISH, "æ, ø and å"), (f" {PASSPHRASE}", "space"), (f"{PASSPHRASE} ", "space")]:
        with pytest.raises(PassphraseError, match=reason):
            check_passphrase(bad)
    assert check_passphrase(PASSPHRASE) == PASSPHRASE  # spaces inside are kept, nothing stripped
    sim = subprocess.run([sys.executable, "-m", "appliance.cli", "terminal-sim", "--port", "0", "--key-id", "K",
                          "--key-version", "1", "--ledger", str(tmp_path / "l.jsonl")], cwd=ROOT, timeout=60,
                         capture_output=True, text=True,
                         env={**os.environ, "TILL_TERMINAL_PASSPHRASE": DANISH, "TILLBOX_DATA": ""})
    assert sim.returncode == 2 and "æ, ø and å" in sim.stderr and not (tmp_path / "l.jsonl").exists()
    shop = tmp_path / "shop"
    ok(till(shop, "init", "--shop-name", "Købmand Hansen", "--cvr", "12345678", "--address", "Hovedgaden 1"))
    for typed in (DANISH, f"{PASSPHRASE} "):
        refused = till(shop, "hw", "terminal-key", stdin=typed + "\n")
        assert refused.returncode == 1 and "Nothing was stored" in refused.stdout + refused.stderr
        assert not (shop / "secrets" / "terminal.json").exists()
    ok(till(shop, "hw", "terminal-key", stdin=PASSPHRASE + "\r\n"))
    stored = json.loads((shop / "secrets" / "terminal.json").read_text(encoding="utf-8"))
    assert stored["passphrase"] == PASSPHRASE
