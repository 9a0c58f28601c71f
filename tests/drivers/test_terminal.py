"""The card terminal driver: message security, messages, and the client against the simulator over real
HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from drivers.terminal import messages as m
from drivers.terminal.client import (
    TerminalClient,
    TerminalProtocolError,
    TerminalRejected,
    TerminalUnreachable,
)
from drivers.terminal.security import (
    NexoSecurityError,
    PassphraseError,
    SharedKey,
    check_passphrase,
    decrypt,
    decrypt_bytes,
    encrypt,
    encrypt_bytes,
)
from drivers.terminal.simulator import TerminalSimulator, load_script

PASSPHRASE = "s1mulated-Passphrase"
KEY = SharedKey("TillboxKey", PASSPHRASE, 1)
SALE_ID = "TILL-1"
POI_ID = "SIM400-000000001"


@pytest.fixture
def sim(tmp_path: Path):
    with TerminalSimulator(KEY, poi_id=POI_ID, ledger=tmp_path / "ledger.jsonl") as s:
        yield s


@pytest.fixture
def client(sim: TerminalSimulator):
    with TerminalClient(sim.url, KEY, POI_ID, SALE_ID, timeout=10) as c:
        yield c


def payment_of(status: m.StatusResult) -> m.PaymentResult:
    assert status.payment is not None, status
    return status.payment


def tx_id(result: m.PaymentResult) -> str:
    assert result.poi_transaction_id, result
    return result.poi_transaction_id


def ledger_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# --- message security ---------------------------------------------------------------------------

# Fixed vector from a third-party Kotlin test (AdyenLibraryTest, package io.minimpos.terminal; stored file
# id 70869475260 in our code search), made with Python hashlib/hmac and `openssl enc -aes-256-cbc` and
# asserted there to decrypt with Adyen's own Java NexoCrypto. Adyen's libraries publish no fixed vectors:
# adyen-node-api-library src/__tests__/nexoCrypto.spec.ts, adyen-java-api-library NexoCryptoTest.java and
# adyen-dotnet-api-library Adyen.Test/TerminalApi/TerminalApiPosSecurityTest.cs only round-trip.
VECTOR_KEY = SharedKey("mykey", "mysupersecretpassphrase", 1)
VECTOR_PLAINTEXT = b'{"SaleToPOIRequest":{"hello":"world"}}'
VECTOR_NONCE = bytes(range(16))
VECTOR_BLOB = "gP0vnBpYJLc06akeJiZwNBNfEbJ150PkxQyPMNvwCouKFt21HOha6s6cYXki3gt0"
VECTOR_HMAC = "gvfkFGl2YOtUUksWgbZbwn9lzFt4mB/Vber+JI12zSg="


def test_published_vector_encrypts_and_decrypts() -> None:
    blob, mac = encrypt_bytes(VECTOR_PLAINTEXT, VECTOR_KEY, VECTOR_NONCE)
    assert base64.b64encode(blob).decode() == VECTOR_BLOB
    assert base64.b64encode(mac).decode() == VECTOR_HMAC
    assert decrypt_bytes(base64.b64decode(VECTOR_BLOB), base64.b64decode(VECTOR_HMAC), VECTOR_KEY,
                         VECTOR_NONCE) == VECTOR_PLAINTEXT
    with pytest.raises(NexoSecurityError):
        decrypt_bytes(base64.b64decode(VECTOR_BLOB), base64.b64decode(VECTOR_HMAC),
                      SharedKey("mykey", "another passphrase", 1), VECTOR_NONCE)


def _request() -> dict:
    return m.payment_request(SALE_ID, "S1", POI_ID, "T1", 12995)


def test_round_trip_and_envelope_shape() -> None:
    msg = _request()
    env = encrypt(msg, KEY)
    body = env["SaleToPOIRequest"]
    assert body["MessageHeader"] == msg["SaleToPOIRequest"]["MessageHeader"]
    assert set(body) == {"MessageHeader", "NexoBlob", "SecurityTrailer"}
    trailer = body["SecurityTrailer"]
    assert trailer["AdyenCryptoVersion"] == 1 and trailer["KeyIdentifier"] == "TillboxKey"
    assert trailer["KeyVersion"] == 1 and len(base64.b64decode(trailer["Nonce"])) == 16
    assert "PaymentRequest" not in json.dumps(env)  # the body is only inside the blob
    assert decrypt(json.loads(json.dumps(env)), KEY) == msg
    assert encrypt(msg, KEY)["SaleToPOIRequest"]["SecurityTrailer"]["Nonce"] != trailer["Nonce"]


def _tampered(env: dict, **trailer) -> dict:
    env = json.loads(json.dumps(env))
    env["SaleToPOIRequest"]["SecurityTrailer"].update(trailer)
    return env


def test_tampering_and_wrong_keys_are_refused() -> None:
    env = encrypt(_request(), KEY)
    mac = bytearray(base64.b64decode(env["SaleToPOIRequest"]["SecurityTrailer"]["Hmac"]))
    mac[0] ^= 1
    blob = bytearray(base64.b64decode(env["SaleToPOIRequest"]["NexoBlob"]))
    blob[-20] ^= 1
    bad_blob = json.loads(json.dumps(env))
    bad_blob["SaleToPOIRequest"]["NexoBlob"] = base64.b64encode(bytes(blob)).decode()
    readdressed = json.loads(json.dumps(env))
    readdressed["SaleToPOIRequest"]["MessageHeader"]["POIID"] = "OTHER"
    cases = [
        _tampered(env, Hmac=base64.b64encode(bytes(mac)).decode()),
        bad_blob,
        _tampered(env, KeyIdentifier="OtherKey"),
        _tampered(env, KeyVersion=2),
        _tampered(env, AdyenCryptoVersion=2),
        _tampered(env, Nonce=base64.b64encode(bytes(8)).decode()),
        _tampered(env, Nonce=base64.b64encode(bytes(16)).decode()),
        _tampered(env, Hmac="not base64!"),
        readdressed,
        {"SaleToPOIRequest": {"MessageHeader": {}}},
    ]
    for case in cases:
        with pytest.raises(NexoSecurityError):
            decrypt(case, KEY)
    with pytest.raises(NexoSecurityError):
        decrypt(env, SharedKey("TillboxKey", "wrong passphrase", 1))
    assert decrypt(env, [SharedKey("Old", "x", 1), KEY])["SaleToPOIRequest"]["PaymentRequest"]


def test_shared_key_hides_its_passphrase_and_caches_derivation() -> None:
    key = SharedKey("K", "hunter2-secret", 3)
    assert "hunter2" not in repr(key) and "hunter2" not in str(key)
    assert key.derived is key.derived
    assert repr(key.derived) == "DerivedKey()"
    for bad in [("", "p", 1), ("k", "", 1), ("k", "p", -1), ("k", "p", True)]:
        with pytest.raises(ValueError):
            SharedKey(*bad)


def test_passphrases_are_taken_as_typed_and_only_in_ascii() -> None:
    for good in ["s1mulated-Passphrase", "with spaces inside it", "!#$%&'()*+,-./:;<=>?@[]^_`{|}~"]:
        assert check_passphrase(good) == good
    for bad, reason in [("blåbærgrød", "æ, ø and å"), ("Ærø-færgen-1", "æ, ø and å"), ("naïve-café", "ASCII"),
                        ("tab\tinside", "ASCII"), (" leading-space", "space"), ("trailing-space ", "space"),
                        ("", "empty")]:
        with pytest.raises(PassphraseError, match=reason):
            check_passphrase(bad)
    assert issubclass(PassphraseError, ValueError)


# --- messages -----------------------------------------------------------------------------------

def test_amounts_are_exact_decimals_of_ore() -> None:
    for ore in [1, 5, 10, 99, 100, 1295, 12950, 99999, 123456789]:
        amount = m.ore_to_amount(ore)
        assert m.amount_to_ore(json.loads(json.dumps(amount))) == ore
    assert json.dumps(m.ore_to_amount(1295)) == "12.95"
    with pytest.raises(m.MessageError):
        m.amount_to_ore(12.955)
    with pytest.raises(TypeError):
        m.ore_to_amount(12.5)  # type: ignore[arg-type]


def test_request_shapes() -> None:
    req = m.payment_request(SALE_ID, "S1", POI_ID, "T1", 12950)["SaleToPOIRequest"]
    assert req["MessageHeader"] == {"ProtocolVersion": "3.0", "MessageClass": "Service",
                                    "MessageCategory": "Payment", "MessageType": "Request",
                                    "SaleID": SALE_ID, "ServiceID": "S1", "POIID": POI_ID}
    assert req["PaymentRequest"]["PaymentTransaction"]["AmountsReq"] == {"Currency": "DKK",
                                                                         "RequestedAmount": 129.5}
    ts = req["PaymentRequest"]["SaleData"]["SaleTransactionID"]["TimeStamp"]
    assert ts.endswith("Z") and len(ts) == 24
    status = m.transaction_status_request(SALE_ID, "S2", POI_ID, "S1")["SaleToPOIRequest"]
    assert status["TransactionStatusRequest"]["MessageReference"] == {
        "MessageCategory": "Payment", "SaleID": SALE_ID, "ServiceID": "S1"}
    with pytest.raises(ValueError):
        m.payment_request(SALE_ID, "ELEVENCHARS", POI_ID, "T1", 100)
    ids = {m.new_service_id() for _ in range(200)}
    assert len(ids) == 200 and all(len(i) == 10 and i.isalnum() for i in ids)


def test_receipt_lines_are_url_decoded() -> None:
    assert m.receipt_line("key=cardType&name=Kort&value=Visa%20Debit&format=bold") == "Kort: Visa Debit"
    assert m.receipt_line("key=header1&name=&value=K%C3%B8bmand%20Hansen") == "Købmand Hansen"
    assert m.receipt_line("key=filler&format=line") == ""
    assert m.receipt_line("name=Bel%C3%B8b&value=DKK%2012%2C95%20%2B%20gebyr") == "Beløb: DKK 12,95 + gebyr"


# --- against the simulator ----------------------------------------------------------------------

def test_approve(sim: TerminalSimulator, client: TerminalClient, tmp_path: Path) -> None:
    r = client.pay("P1", "SALE-1", 12950)
    assert r.approved and r.result == "Success" and r.error_condition is None
    assert r.amount_ore == 12950 and r.brand == "Dankort" and r.brand_code == "dankort"
    assert r.poi_transaction_id and r.poi_timestamp and not r.signature_required
    assert set(r.receipts) == {"CashierReceipt", "CustomerReceipt"}
    assert "Beløb: DKK 129,50" in r.receipts["CustomerReceipt"]
    assert "Kort: Dankort" in r.receipts["CustomerReceipt"]
    [entry] = ledger_lines(tmp_path / "ledger.jsonl")
    assert entry["type"] == "payment" and entry["poi_transaction_id"] == r.poi_transaction_id
    assert (entry["service_id"], entry["sale_id"], entry["amount"], entry["brand"]) == (
        "P1", SALE_ID, 12950, "Dankort")


def test_brands_rotate(sim: TerminalSimulator, client: TerminalClient) -> None:
    brands = [client.pay(f"B{i}", f"S{i}", 100 + i).brand for i in range(4)]
    assert brands == ["Dankort", "Visa", "Mastercard", "Dankort"]


def test_decline_and_busy(sim: TerminalSimulator, client: TerminalClient, tmp_path: Path) -> None:
    sim.script(["decline", {"action": "decline", "condition": "WrongPIN"}], "busy")
    r = client.pay("D1", "SALE-1", 5000)
    assert not r.approved and r.result == "Failure" and r.error_condition == "Refusal"
    assert "AFVIST" in r.receipts["CustomerReceipt"]
    assert client.pay("D2", "SALE-1", 5000).error_condition == "WrongPIN"
    assert client.pay("D3", "SALE-1", 5000).error_condition == "Busy"
    assert client.status("D1").state == "processed" and not payment_of(client.status("D1")).approved
    assert ledger_lines(tmp_path / "ledger.jsonl") == [] and sim.entries() == []


def test_signature_is_flagged(sim: TerminalSimulator, client: TerminalClient) -> None:
    sim.script("signature")
    r = client.pay("SIG1", "SALE-1", 70000)
    assert r.approved and r.signature_required
    assert any(line.startswith("Underskrift") for line in r.receipts["CashierReceipt"])
    assert not any(line.startswith("Underskrift") for line in r.receipts["CustomerReceipt"])


def test_abort_running_payment(sim: TerminalSimulator, client: TerminalClient) -> None:
    sim.script({"action": "timeout", "seconds": 30})
    result: list = []
    t = threading.Thread(target=lambda: result.append(client.pay("AB1", "SALE-1", 2500)))
    t.start()
    assert sim.wait_in_progress("AB1")
    assert client.status("AB1").state == "in_progress"
    with TerminalClient(sim.url, KEY, POI_ID, SALE_ID) as second_till:
        assert second_till.pay("AB2", "SALE-2", 100).error_condition == "Busy"  # one at a time
    client.abort("AB1")
    t.join(timeout=10)
    [r] = result
    assert not r.approved and r.error_condition == "Aborted"
    assert client.status("AB1").state == "processed"
    assert sim.entries() == []


def test_referenced_refund(sim: TerminalSimulator, client: TerminalClient, tmp_path: Path) -> None:
    paid = client.pay("R1", "SALE-1", 10000)
    refund = client.refund("R2", tx_id(paid), 4000, paid.poi_timestamp)
    assert refund.approved and refund.amount_ore == 4000 and refund.poi_transaction_id
    assert refund.poi_transaction_id != paid.poi_transaction_id
    assert "RETUR" in refund.receipts["CustomerReceipt"]
    too_much = client.refund("R3", tx_id(paid), 6001)
    assert not too_much.approved and too_much.error_condition == "NotAllowed"
    assert client.refund("R4", tx_id(paid), 6000).approved
    assert client.refund("R5", "NOPE", 100).error_condition == "NotFound"
    lines = ledger_lines(tmp_path / "ledger.jsonl")
    assert [(e["type"], e["amount"]) for e in lines] == [("payment", 10000), ("refund", 4000),
                                                             ("refund", 6000)]
    assert lines[1]["original_poi_transaction_id"] == paid.poi_transaction_id
    assert lines[1]["original_poi_timestamp"] == paid.poi_timestamp  # the payment's time went on the wire
    assert lines[1]["brand"] == "Dankort"
    st = client.status("R2")
    assert st.state == "processed" and payment_of(st).poi_transaction_id == refund.poi_transaction_id


def test_drop_before_is_not_found(sim: TerminalSimulator, client: TerminalClient) -> None:
    sim.script("drop_before")
    with pytest.raises(TerminalUnreachable) as exc:
        client.pay("DB1", "SALE-1", 1000)
    assert exc.value.maybe_processed
    assert client.status("DB1") == m.StatusResult("not_found")
    assert sim.entries() == []
    assert client.pay("DB2", "SALE-1", 1000).approved  # the till retries under a new ServiceID


def test_drop_after_is_processed_once(sim: TerminalSimulator, client: TerminalClient, tmp_path: Path) -> None:
    sim.script("drop_after")
    with pytest.raises(TerminalUnreachable):
        client.pay("DA1", "SALE-1", 4295)
    st = client.status("DA1")
    assert st.state == "processed" and payment_of(st).approved and payment_of(st).amount_ore == 4295
    again = client.status("DA1")
    [entry] = ledger_lines(tmp_path / "ledger.jsonl")
    assert entry["service_id"] == "DA1"
    assert tx_id(payment_of(st)) == tx_id(payment_of(again)) == entry["poi_transaction_id"]
    assert payment_of(st).receipts["CustomerReceipt"]  # reprinted receipt comes with the repeated answer


def test_timeout_then_status(sim: TerminalSimulator, tmp_path: Path) -> None:
    sim.script({"action": "timeout", "seconds": 0.5})
    with TerminalClient(sim.url, KEY, POI_ID, SALE_ID, timeout=0.2) as impatient:
        with pytest.raises(TerminalUnreachable) as exc:
            impatient.pay("TO1", "SALE-1", 990)
        assert exc.value.maybe_processed
    with TerminalClient(sim.url, KEY, POI_ID, SALE_ID, timeout=10) as client:
        states = []
        for _ in range(200):  # until the customer finally taps; bounded, no timing asserted
            st = client.status("TO1")
            states.append(st.state)
            if st.state == "processed":
                break
            time.sleep(0.02)
    assert states[0] == "in_progress" and states[-1] == "processed"
    assert payment_of(st).approved and [e["service_id"] for e in sim.entries()] == ["TO1"]


def test_duplicate_service_id_refused(sim: TerminalSimulator, client: TerminalClient) -> None:
    first = client.pay("DUP1", "SALE-1", 1000)
    with pytest.raises(TerminalRejected) as exc:
        client.pay("DUP1", "SALE-2", 2000)
    assert "Duplicate" in str(exc.value)
    assert len(sim.entries()) == 1
    assert payment_of(client.status("DUP1")).poi_transaction_id == first.poi_transaction_id


def test_reconciliation_totals_per_brand(sim: TerminalSimulator, client: TerminalClient,
                                         tmp_path: Path) -> None:
    paid = [client.pay(f"C{i}", f"S{i}", amount) for i, amount in enumerate([1000, 2000, 3000, 4000])]
    assert [p.brand for p in paid] == ["Dankort", "Visa", "Mastercard", "Dankort"]
    client.refund("C9", tx_id(paid[3]), 500)
    sim.script("decline")
    client.pay("C10", "S10", 999)
    rec = client.reconcile()
    assert rec.ok and rec.reconciliation_id
    assert rec.totals == {
        "Dankort": m.BrandTotals(payments=2, payments_ore=5000, refunds=1, refunds_ore=500),
        "Visa": m.BrandTotals(payments=1, payments_ore=2000),
        "Mastercard": m.BrandTotals(payments=1, payments_ore=3000),
    }
    client.pay("C11", "S11", 700)  # Visa, in the next period
    rec2 = client.reconcile()
    assert rec2.reconciliation_id != rec.reconciliation_id
    assert rec2.totals == {"Visa": m.BrandTotals(payments=1, payments_ore=700)}
    assert client.reconcile().totals == {}
    assert [e["type"] for e in ledger_lines(tmp_path / "ledger.jsonl")].count("reconciliation") == 3


def test_restarted_simulator_remembers_its_ledger(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    with TerminalSimulator(KEY, poi_id=POI_ID, ledger=ledger) as sim1, \
            TerminalClient(sim1.url, KEY, POI_ID, SALE_ID) as c:
        paid = c.pay("RS1", "SALE-1", 1500)
    with TerminalSimulator(KEY, poi_id=POI_ID, ledger=ledger) as sim2, \
            TerminalClient(sim2.url, KEY, POI_ID, SALE_ID) as c:
        st = c.status("RS1")
        assert st.state == "processed" and payment_of(st).poi_transaction_id == paid.poi_transaction_id
        with pytest.raises(TerminalRejected):
            c.pay("RS1", "SALE-1", 1500)
        assert c.pay("RS2", "SALE-2", 100).brand == "Visa"  # the rotation carries on
        assert c.reconcile().totals["Dankort"].payments_ore == 1500


def test_wrong_key_or_poi_refused(sim: TerminalSimulator) -> None:
    with TerminalClient(sim.url, SharedKey("TillboxKey", "not the passphrase", 1), POI_ID, SALE_ID) as c:
        with pytest.raises(TerminalProtocolError):  # the terminal cannot answer under our key
            c.pay("WK1", "SALE-1", 100)
    with TerminalClient(sim.url, KEY, "OTHER-POI", SALE_ID) as c, pytest.raises(TerminalRejected):
        c.pay("WK2", "SALE-1", 100)
    assert sim.entries() == []


def test_chunked_bodies_are_read_like_sized_ones(sim: TerminalSimulator) -> None:
    """Adyen's Node library sends its requests chunked (no Content-Length)."""
    import httpx

    body = json.dumps(encrypt(m.payment_request(SALE_ID, "CH1", POI_ID, "SALE-1", 1250), KEY)).encode()
    pieces = [body[i:i + 100] for i in range(0, len(body), 100)]
    with httpx.Client(timeout=10) as http:
        chunked = http.post(sim.url, content=iter(pieces))  # an iterator: httpx sends it chunked
        assert chunked.request.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in chunked.request.headers
        answer = decrypt(chunked.json(), KEY)["SaleToPOIResponse"]
        assert m.parse_payment_response(answer["PaymentResponse"]).amount_ore == 1250
        sized = http.post(sim.url, content=json.dumps(encrypt(  # and again on the kept-alive connection
            m.payment_request(SALE_ID, "CH2", POI_ID, "SALE-1", 1300), KEY)).encode())
        assert m.parse_payment_response(decrypt(sized.json(), KEY)["SaleToPOIResponse"]["PaymentResponse"]).approved
        assert http.get(sim.url).status_code == 405
        assert http.post(sim.url.replace("/nexo", "/other"), content=body).status_code == 404
    assert [e["service_id"] for e in sim.entries()] == ["CH1", "CH2"]


def test_refusals_are_nexo_rejects_naming_the_message(sim: TerminalSimulator, client: TerminalClient) -> None:
    import base64 as b64

    import httpx

    client.pay("RJ1", "SALE-1", 100)
    again = m.payment_request(SALE_ID, "RJ1", POI_ID, "SALE-2", 200)
    with pytest.raises(TerminalRejected) as exc:  # a genuine message, refused: an encrypted Reject
        client.pay("RJ1", "SALE-2", 200)
    rejection = exc.value.rejection
    assert rejection.event == "Reject" and rejection.details["message"] == "Duplicate ServiceID"
    refused = json.loads(rejection.rejected_message or b"")["SaleToPOIRequest"]
    assert refused["MessageHeader"] == again["SaleToPOIRequest"]["MessageHeader"]
    assert refused["PaymentRequest"]["PaymentTransaction"]["AmountsReq"]["RequestedAmount"] == 2.0
    forged = encrypt(again, SharedKey("TillboxKey", "not the passphrase", 1))
    for raw in [json.dumps(forged).encode(), b"not json at all", json.dumps({"SaleToPOIRequest": {}}).encode()]:
        answer = httpx.post(sim.url, content=raw, timeout=10).json()  # no key to trust: a Reject in clear
        event = answer["SaleToPOIRequest"]["EventNotification"]
        assert event["EventToNotify"] == "Reject" and "not+authentic" in event["EventDetails"]
        assert b64.b64decode(event["RejectedMessage"]) == raw
        assert answer["SaleToPOIRequest"]["MessageHeader"]["MessageCategory"] == "Event"
    with TerminalClient(sim.url, SharedKey("TillboxKey", "not the passphrase", 1), POI_ID, SALE_ID) as c:
        with pytest.raises(TerminalProtocolError, match="refused the message in clear: Message not authentic"):
            c.pay("RJ2", "SALE-3", 300)
    assert len(sim.entries()) == 1


def test_broken_http_is_answered_400(sim: TerminalSimulator) -> None:
    import socket
    import urllib.parse

    url = urllib.parse.urlsplit(sim.url)
    with socket.create_connection((url.hostname, url.port), timeout=5) as s:
        s.sendall(b"POST /nexo HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400 ")
    with socket.create_connection((url.hostname, url.port), timeout=5) as s:  # the simulator still serves
        s.sendall(b"POST /nexo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nnope\r\n0\r\n\r\n")
        data = b""
        while b"Reject" not in data and len(data) < 65536:
            chunk = s.recv(4096)
            assert chunk, data
            data += chunk
        assert data.startswith(b"HTTP/1.1 200 ")


def test_unreachable_terminal_was_never_sent() -> None:
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with TerminalClient(f"http://127.0.0.1:{port}/nexo", KEY, POI_ID, SALE_ID) as c:
        with pytest.raises(TerminalUnreachable) as exc:
            c.pay("UR1", "SALE-1", 100)
    assert not exc.value.maybe_processed


class _Canned(BaseHTTPRequestHandler):
    """A 'terminal' that answers every request with whatever the test put in `answer`."""
    answer: bytes = b""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.answer)))
        self.end_headers()
        self.wfile.write(self.answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def canned():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _answer(service_id: str, tweak=None) -> bytes:
    resp = {"SaleToPOIResponse": {
        "MessageHeader": m.header("Payment", SALE_ID, service_id, POI_ID, "Response"),
        "PaymentResponse": {"Response": {"Result": "Success"},
                            "POIData": {"POITransactionID": {"TransactionID": "X1", "TimeStamp": "t"}}}}}
    env = encrypt(resp, KEY)
    if tweak:
        tweak(env["SaleToPOIResponse"])
    return json.dumps(env).encode()


def test_client_refuses_untrustworthy_answers(canned) -> None:
    url = f"http://127.0.0.1:{canned.server_address[1]}/nexo"
    with TerminalClient(url, KEY, POI_ID, SALE_ID) as c:
        _Canned.answer = _answer("CA1")
        assert c.pay("CA1", "SALE-1", 100).approved
        bad = [
            _answer("CA2", lambda b: b["SecurityTrailer"].update(Hmac=base64.b64encode(bytes(32)).decode())),
            _answer("OTHER"),  # a genuine answer, but to another request
            json.dumps({"SaleToPOIResponse": json.loads(_answer("CA2"))["SaleToPOIResponse"]["MessageHeader"]}
                       ).encode(),  # unencrypted
            b"<html>",
        ]
        for answer in bad:
            _Canned.answer = answer
            with pytest.raises(TerminalProtocolError):
                c.pay("CA2", "SALE-1", 100)


def test_script_file_and_cli(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(["decline", {"action": "timeout", "seconds": 0.01, "then": "approve"}]))
    assert [s.action for s in load_script(script)] == ["decline", "timeout"]
    with pytest.raises(ValueError):
        load_script(["explode"])
    ledger = tmp_path / "cli-ledger.jsonl"
    env = {**os.environ, "TILL_TERMINAL_PASSPHRASE": PASSPHRASE}
    proc = subprocess.Popen(
        [sys.executable, "-m", "drivers.terminal.simulator", "--port", "0", "--key-id", "TillboxKey",
         "--key-version", "1", "--ledger", str(ledger), "--script", str(script), "--poi-id", POI_ID],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        cwd=Path(__file__).resolve().parents[2])
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with TerminalClient(url, KEY, POI_ID, SALE_ID) as c:
            assert c.pay("CLI1", "SALE-1", 100).error_condition == "Refusal"
            assert c.pay("CLI2", "SALE-1", 200).approved
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert [e["service_id"] for e in ledger_lines(ledger)] == ["CLI2"]
    assert "terminal_sim_started" in err and PASSPHRASE not in err


def terminal_certificate(tmp_path: Path, poi_id: str = POI_ID) -> tuple[Path, Path]:
    """A terminal certificate as Adyen's client checks it: CN <POIID>.test.terminal.adyen.com, for
    127.0.0.1 (the interop test uses it too)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{poi_id}.test.terminal.adyen.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "terminal.pem", tmp_path / "terminal.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_over_tls(tmp_path: Path) -> None:
    import ssl

    cert, key = terminal_certificate(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    with TerminalSimulator(KEY, poi_id=POI_ID, ssl_context=server_ctx) as sim:
        assert sim.url.startswith("https://127.0.0.1:")
        with TerminalClient(sim.url, KEY, POI_ID, SALE_ID,
                            verify=ssl.create_default_context(cafile=str(cert))) as c:
            assert c.pay("TLS1", "SALE-1", 100).approved
        with TerminalClient(sim.url, KEY, POI_ID, SALE_ID) as untrusting, pytest.raises(TerminalUnreachable):
            untrusting.pay("TLS2", "SALE-1", 100)  # an unknown certificate is no terminal of ours


def test_no_secret_in_logs(sim: TerminalSimulator, client: TerminalClient, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    sim.script("drop_after", "decline")
    with pytest.raises(TerminalUnreachable):
        client.pay("L1", "SALE-1", 100)
    client.status("L1")
    client.pay("L2", "SALE-1", 100)
    client.refund("L3", tx_id(payment_of(client.status("L1"))), 100)
    client.reconcile()
    with TerminalClient(sim.url, SharedKey("TillboxKey", "wrong-pass", 1), POI_ID, SALE_ID) as bad:
        with pytest.raises(TerminalProtocolError):
            bad.pay("L4", "SALE-1", 100)
    text = caplog.text
    assert "terminal_payment" in text and "terminal_sim_answer" in text
    dk = KEY.derived
    secrets = [PASSPHRASE, "wrong-pass"]
    for raw in (dk.hmac_key, dk.cipher_key, dk.iv):
        secrets += [raw.hex(), base64.b64encode(raw).decode()]
    for secret in secrets:
        assert secret not in text
