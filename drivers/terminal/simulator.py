"""A card terminal simulator speaking the same encrypted nexo JSON as an Adyen terminal on the LAN.

It keeps a ledger (JSON lines) of what it charged and refunded, so tests and the fault campaign can
compare the till's journal with what "the bank" saw. Each line is one of

    {"type": "payment"|"refund", "poi_transaction_id", "poi_timestamp", "service_id", "sale_id",
     "amount": int øre, "brand": "Dankort"|"Visa"|"Mastercard", "time", "response": {...},
     "original_poi_transaction_id", "original_poi_timestamp" (refunds only: the payment they reverse,
     its TimeStamp as the request gave it)}
    {"type": "reconciliation", "poi_reconciliation_id", "time"}

and the ledger is read back on start, so a restarted simulator still answers TransactionStatus for
what it approved and reconciles the right period.

A script (JSON list) decides what happens to successive Payment and Reversal requests (status, abort
and reconciliation requests never use a step); when it runs out every request is approved. A step is
a name or an object {"action": name, ...}:

    approve                   charge (Payment) / refund (Reversal)
    decline   [condition]     Failure, ErrorCondition "Refusal" (or condition); nothing charged
    busy                      Failure, ErrorCondition "Busy"; nothing charged
    timeout   [seconds] [then] in progress for `seconds` (default: the simulator's timeout_s, meant to
                              be longer than the client waits), then `then`
                              ("approve" by default, or "decline"); an AbortRequest ends it as Aborted
    drop_before               close the connection without processing (the request is forgotten)
    drop_after                process and record (approve), then close without answering
    signature                 approve, with RequiredSignatureFlag on the merchant copy
    sign / refuse_signature   for the next Input (GetSignature) request: the shopper signs (the
                              default when no such step is next) or presses Cancel

A message the simulator will not take is answered with nexo's EventNotification Reject, which always
carries RejectedMessage (base64 of the message refused): a reused SaleID+ServiceID, a wrong POIID or a
malformed request inside a genuine envelope get it encrypted under the request's key, as Adyen does
(VERIFY: the exact EventDetails text); a message that is not authentic (bad SecurityTrailer or HMAC,
unknown key, not JSON) gets it in clear, since there is no key to trust. Brands rotate Dankort, Visa,
Mastercard over approved payments.

HTTP is HTTP/1.1 through h11 (the sans-IO parser httpx's own stack uses): bodies with Content-Length
and chunked bodies (Adyen's Node library sends chunked) alike, kept-alive connections, and one thread
per connection from socketserver.

    python -m drivers.terminal.simulator --port 8443 --key-id K --key-version 1 --ledger ledger.jsonl \\
        [--passphrase P | env TILL_TERMINAL_PASSPHRASE] [--script steps.json] [--tls-cert C --tls-key K]
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import secrets
import signal
import socket
import socketserver
import ssl
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import h11

from . import messages as m
from .security import NexoSecurityError, PassphraseError, SharedKey, check_passphrase, decrypt, encrypt

log = logging.getLogger(__name__)

ACTIONS = ("approve", "decline", "busy", "timeout", "drop_before", "drop_after", "signature", "sign",
           "refuse_signature")
INPUT_ACTIONS = ("sign", "refuse_signature")
BRAND_ROTATION = ("Dankort", "Visa", "Mastercard")
DEFAULT_POI_ID = "SIM400-000000001"
MAX_BODY = 1 << 20  # a nexo message is a few kB; anything near this is not one


@dataclass(frozen=True)
class Step:
    action: str = "approve"
    seconds: float | None = None  # timeout steps: None = the simulator's timeout_s
    then: str = "approve"
    condition: str = "Refusal"

    @classmethod
    def parse(cls, raw: Step | str | Mapping[str, Any]) -> Step:
        if isinstance(raw, Step):
            return raw
        if isinstance(raw, str):
            raw = {"action": raw}
        seconds = raw.get("seconds")
        step = cls(action=str(raw.get("action", "")), seconds=None if seconds is None else float(seconds),
                   then=str(raw.get("then", "approve")), condition=str(raw.get("condition", "Refusal")))
        if step.action not in ACTIONS:
            raise ValueError(f"unknown script action {step.action!r} (one of {', '.join(ACTIONS)})")
        if step.then not in ("approve", "decline"):
            raise ValueError(f"timeout 'then' must be approve or decline, not {step.then!r}")
        return step


def load_script(source: str | Path | Iterable[Step | str | Mapping[str, Any]]) -> list[Step]:
    if isinstance(source, str | Path):
        source = json.loads(Path(source).read_text(encoding="utf-8"))
    if not isinstance(source, Iterable) or isinstance(source, str | bytes | Mapping):
        raise ValueError("a script is a JSON list of steps")
    return [Step.parse(s) for s in source]


Ref = tuple[str, str]  # (SaleID, ServiceID)
_Outcome = tuple[str, dict[str, Any], dict[str, Any] | None]  # body name, body, ledger entry if approved


class _Answer:
    """What to send back: an envelope, an empty 200 body (Abort), nothing (drop the connection), or a
    refusal still to be made into an EventNotification Reject (its EventDetails text)."""

    def __init__(self, envelope: dict[str, Any] | None = None, drop: bool = False,
                 rejection: str | None = None) -> None:
        self.envelope, self.drop, self.rejection = envelope, drop, rejection


class TerminalSimulator:
    def __init__(self, key: SharedKey | Iterable[SharedKey], *, poi_id: str = DEFAULT_POI_ID,
                 ledger: str | Path | None = None,
                 script: Iterable[Step | str | Mapping[str, Any]] | None = None,
                 host: str = "127.0.0.1", port: int = 0, delay: float = 0.0, timeout_s: float = 2.0,
                 ssl_context: ssl.SSLContext | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        keys = [key] if isinstance(key, SharedKey) else list(key)
        self._keys = {(k.identifier, k.version): k for k in keys}
        self.poi_id = poi_id
        self.delay = delay  # every approval waits this long (a customer tapping a card)
        self.timeout_s = timeout_s  # a timeout step without "seconds" lasts this long
        self._host, self._port = host, port
        self._ssl = ssl_context
        self._now = now
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._script: list[Step] = load_script(script or [])
        self._seen: set[Ref] = set()
        self._responses: dict[Ref, tuple[dict[str, Any], str, dict[str, Any]]] = {}  # header, name, body
        self._in_progress: dict[Ref, threading.Event] = {}
        self._in_progress_changed = threading.Condition(self._lock)
        self._entries: list[dict[str, Any]] = []
        self._counter = 0
        self.requests: list[tuple[str, str]] = []  # (MessageCategory, ServiceID) of every readable request
        self.lose_reconciliation_answers = 0  # fault: this many reconciliations are made, their answer lost
        self.ledger: Path | None = Path(ledger) if ledger else None  # the JSON-lines file
        if self.ledger is not None:
            if self.ledger.exists():
                self._load_ledger()
            else:  # an empty ledger is a ledger: readers never meet a missing file
                self.ledger.parent.mkdir(parents=True, exist_ok=True)
                self.ledger.touch()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle ----------------------------------------------------------------------------

    def start(self) -> TerminalSimulator:
        sim = self
        self._stopping.clear()  # switched on again (a restarted simulator answers from its ledger)

        class Handler(_Handler):
            simulator = sim

        server = _Server((self._host, self._port), Handler)
        if self._ssl is not None:  # the handshake runs on the connection's own thread, not in accept()
            server.socket = self._ssl.wrap_socket(server.socket, server_side=True,
                                                  do_handshake_on_connect=False)
        self._server = server
        self._port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="terminal-sim", daemon=True)
        self._thread.start()
        log.info("terminal_sim_started url=%s poi_id=%s keys=%s", self.url, self.poi_id,
                 ",".join(f"{i}/{v}" for i, v in self._keys))
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            for event in self._in_progress.values():
                event.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> TerminalSimulator:
        return self.start() if self._server is None else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        scheme = "https" if self._ssl is not None else "http"
        return f"{scheme}://{self._host}:{self._port}/nexo"

    # --- for tests -----------------------------------------------------------------------------

    def script(self, *steps: Step | str | Mapping[str, Any] | list[Step | str | Mapping[str, Any]]) -> None:
        """Append steps to the script: script("decline", "busy") or script(["decline", "busy"])."""
        flat = [s for group in steps for s in (group if isinstance(group, list) else [group])]
        parsed = [Step.parse(s) for s in flat]
        with self._lock:
            self._script.extend(parsed)

    def entries(self) -> list[dict[str, Any]]:
        """The ledger as the simulator holds it (same lines as the file)."""
        with self._lock:
            return [dict(e) for e in self._entries]

    def wait_in_progress(self, service_id: str, timeout: float = 5.0) -> bool:
        """Block until the payment/refund with this ServiceID is being processed (e.g. in a timeout step)."""
        with self._lock:
            return self._in_progress_changed.wait_for(
                lambda: any(ref[1] == service_id for ref in self._in_progress), timeout)

    # --- ledger --------------------------------------------------------------------------------

    def _load_ledger(self) -> None:
        assert self.ledger is not None
        for n, line in enumerate(self.ledger.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                log.warning("terminal_sim_ledger_bad_line line=%d", n)  # a torn last line after a crash
                continue
            self._entries.append(entry)
            if entry.get("type") in ("payment", "refund"):
                ref = (entry["sale_id"], entry["service_id"])
                self._seen.add(ref)
                if isinstance(entry.get("response"), dict):
                    r = entry["response"]
                    self._responses[ref] = (r["header"], r["name"], r["body"])
        self._counter = len(self._entries)

    def _record(self, entry: dict[str, Any]) -> None:
        """Append to the ledger (caller holds the lock)."""
        self._entries.append(entry)
        if self.ledger is not None:
            self.ledger.parent.mkdir(parents=True, exist_ok=True)
            with self.ledger.open("a", encoding="utf-8") as f:
                f.write(json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n")
                f.flush()

    def _next_id(self) -> str:
        self._counter += 1
        return f"SIM{self._counter:08d}.{secrets.token_hex(4)}"

    # --- requests ------------------------------------------------------------------------------

    def handle(self, raw: bytes) -> _Answer:
        try:
            envelope = json.loads(raw)
            message = decrypt(envelope, self._keys)
            if "SaleToPOIRequest" not in message:
                raise NexoSecurityError("a SaleToPOIResponse is no request")
        except (ValueError, NexoSecurityError) as exc:
            log.warning("terminal_sim_refused reason=%s", exc)
            return self._reject_clear(raw, "Message not authentic")
        trailer = envelope["SaleToPOIRequest"]["SecurityTrailer"]
        key = self._keys[(trailer["KeyIdentifier"], trailer["KeyVersion"])]
        request = message["SaleToPOIRequest"]
        hdr = request["MessageHeader"]
        category, ref = hdr.get("MessageCategory", ""), (hdr.get("SaleID", ""), hdr.get("ServiceID", ""))
        self.requests.append((category, ref[1]))
        # From here a refusal is encrypted and names the authenticated message it refuses.
        rejected = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        answer = self._dispatch(request, hdr, category, ref, key)
        if answer.rejection is not None:
            return self._reject(hdr, key, answer.rejection, rejected)
        return answer

    def _dispatch(self, request: dict[str, Any], hdr: dict[str, Any], category: str, ref: Ref,
                  key: SharedKey) -> _Answer:
        if hdr.get("POIID") != self.poi_id:
            return _Answer(rejection="Wrong POIID")
        if not ref[0] or not ref[1] or len(ref[1]) > m.SERVICE_ID_MAX:
            return _Answer(rejection="Invalid SaleID or ServiceID")
        step = Step()
        with self._lock:
            if ref in self._seen:
                log.info("terminal_sim_duplicate category=%s service_id=%s", category, ref[1])
                return _Answer(rejection="Duplicate ServiceID")
            money = category in ("Payment", "Reversal")
            if money and self._in_progress:
                step = Step("busy")  # one card transaction at a time, as on a real terminal
            elif money and self._script and self._script[0].action not in INPUT_ACTIONS:
                step = self._script.pop(0)
            elif category == "Input" and self._script and self._script[0].action in INPUT_ACTIONS:
                step = self._script.pop(0)
            if step.action == "drop_before":
                log.info("terminal_sim_drop_before category=%s service_id=%s", category, ref[1])
                return _Answer(drop=True)
            self._seen.add(ref)
            if money:
                self._in_progress[ref] = threading.Event()  # set by an AbortRequest
                self._in_progress_changed.notify_all()
        try:
            if category == "Payment":
                return self._money(hdr, request.get("PaymentRequest") or {}, step, key, self._payment)
            if category == "Reversal":
                return self._money(hdr, request.get("ReversalRequest") or {}, step, key, self._reversal)
            if category == "TransactionStatus":
                return self._status(hdr, request.get("TransactionStatusRequest") or {}, key)
            if category == "Abort":
                return self._abort(request.get("AbortRequest") or {})
            if category == "Reconciliation":
                return self._reconcile(hdr, request.get("ReconciliationRequest") or {}, key)
            if category == "Input":
                return self._input(hdr, request.get("InputRequest") or {}, step, key)
        except (m.MessageError, KeyError, TypeError, AttributeError) as exc:
            log.warning("terminal_sim_bad_request category=%s service_id=%s error=%s", category, ref[1], exc)
            return _Answer(rejection="Invalid message")
        return _Answer(rejection=f"Unsupported MessageCategory {category}")

    def _money(self, hdr: dict[str, Any], body: Mapping[str, Any], step: Step, key: SharedKey,
               process: Callable[[dict[str, Any], Mapping[str, Any], bool, Step], _Outcome]) -> _Answer:
        ref = (hdr["SaleID"], hdr["ServiceID"])
        with self._lock:
            abort = self._in_progress[ref]
        try:
            wait = {"timeout": step.seconds if step.seconds is not None else self.timeout_s,
                    "busy": 0.0}.get(step.action, self.delay)
            aborted = abort.wait(wait) if wait > 0 else False
            aborted = aborted or self._stopping.is_set()
            with self._lock:
                name, out, entry = process(hdr, body, aborted, step)
                rh = self._response_header(hdr)
                self._responses[ref] = (rh, name, out)
                if entry is not None:  # approved: in the ledger with its answer, for status after a restart
                    self._record({**entry, "response": {"header": rh, "name": name, "body": out}})
        finally:
            with self._lock:
                self._in_progress.pop(ref, None)
                self._in_progress_changed.notify_all()
        log.info("terminal_sim_answer category=%s service_id=%s action=%s result=%s error=%s",
                 hdr["MessageCategory"], ref[1], step.action, out["Response"]["Result"],
                 out["Response"].get("ErrorCondition"))
        if step.action == "drop_after":
            return _Answer(drop=True)
        return _Answer(encrypt({"SaleToPOIResponse": {"MessageHeader": rh, name: out}}, key))

    @staticmethod
    def _failure(condition: str, text: str) -> dict[str, Any]:
        return {"Result": "Failure", "ErrorCondition": condition,
                "AdditionalResponse": urllib.parse.urlencode({"message": text})}

    def _outcome(self, aborted: bool, step: Step) -> dict[str, Any] | None:
        """The Response for anything but an approval, None to approve."""
        if aborted:
            return self._failure("Aborted", "Transaction aborted")
        if step.action == "busy":
            return self._failure("Busy", "Terminal busy")
        if step.action == "decline" or (step.action == "timeout" and step.then == "decline"):
            return self._failure(step.condition, "Refused")
        return None

    def _payment(self, hdr: dict[str, Any], body: Mapping[str, Any], aborted: bool,
                 step: Step) -> _Outcome:
        """Caller holds the lock. Returns the answer and, for an approval, its ledger entry."""
        amount = m.amount_to_ore(body["PaymentTransaction"]["AmountsReq"]["RequestedAmount"])
        at = m.timestamp(self._now())
        tx = self._next_id()
        out: dict[str, Any] = {
            "SaleData": {"SaleTransactionID": body.get("SaleData", {}).get("SaleTransactionID", {})},
            "POIData": {"POITransactionID": {"TransactionID": tx, "TimeStamp": at}},
        }
        failure = self._outcome(aborted, step)
        if failure is not None:
            out["Response"] = failure
            out["PaymentReceipt"] = _receipts(["Købmand Simulator", "KØB", f"DKK {_kr(amount)}", "AFVIST"])
            return "PaymentResponse", out, None
        n = sum(1 for e in self._entries if e.get("type") == "payment")
        brand = BRAND_ROTATION[n % len(BRAND_ROTATION)]
        pan = f"**** **** **** {1000 + n % 9000:04d}"
        out["Response"] = {"Result": "Success", "AdditionalResponse": urllib.parse.urlencode(
            {"pspReference": tx, "paymentMethod": m.BRAND_CODES[brand]})}
        out["PaymentResult"] = {
            "PaymentType": "Normal",
            "PaymentInstrumentData": {"PaymentInstrumentType": "Card", "CardData": {
                "PaymentBrand": m.BRAND_CODES[brand], "MaskedPan": pan, "EntryMode": ["Contactless"]}},
            "AmountsResp": {"Currency": m.CURRENCY, "AuthorizedAmount": m.ore_to_amount(amount)},
        }
        lines = ["Købmand Simulator", f"Dato: {at[:10]}", f"Kort: {brand}", f"Kortnr.: {pan}", "KØB",
                 f"Beløb: DKK {_kr(amount)}", f"Ref.: {tx}", "GODKENDT"]
        out["PaymentReceipt"] = _receipts(lines, signature=step.action == "signature")
        return "PaymentResponse", out, {
            "type": "payment", "poi_transaction_id": tx, "poi_timestamp": at, "service_id": hdr["ServiceID"],
            "sale_id": hdr["SaleID"], "amount": amount, "brand": brand, "time": at}

    def _reversal(self, hdr: dict[str, Any], body: Mapping[str, Any], aborted: bool,
                  step: Step) -> _Outcome:
        original_id = body["OriginalPOITransaction"]["POITransactionID"]["TransactionID"]
        amount = m.amount_to_ore(body["ReversedAmount"])
        at = m.timestamp(self._now())
        out: dict[str, Any] = {"OriginalPOITransaction": body["OriginalPOITransaction"]}
        original = next((e for e in self._entries if e.get("type") == "payment"
                         and e.get("poi_transaction_id") == original_id), None)
        refunded = sum(e["amount"] for e in self._entries if e.get("type") == "refund"
                       and e.get("original_poi_transaction_id") == original_id)
        failure = self._outcome(aborted, step)
        if failure is None and original is None:
            failure = self._failure("NotFound", "Original transaction not found")
        if failure is None and original is not None and refunded + amount > original["amount"]:
            failure = self._failure("NotAllowed", "Refund exceeds the original amount")
        if failure is not None:
            out["Response"] = failure
            return "ReversalResponse", out, None
        assert original is not None
        tx = self._next_id()
        out["Response"] = {"Result": "Success", "AdditionalResponse": urllib.parse.urlencode(
            {"pspReference": tx, "paymentMethod": m.BRAND_CODES.get(original["brand"], "")})}
        out["POIData"] = {"POITransactionID": {"TransactionID": tx, "TimeStamp": at}}
        out["ReversedAmount"] = m.ore_to_amount(amount)
        out["PaymentReceipt"] = _receipts(["Købmand Simulator", f"Kort: {original['brand']}", "RETUR",
                                           f"Beløb: DKK {_kr(amount)}", f"Ref.: {tx}", "GODKENDT"])
        return "ReversalResponse", out, {
            "type": "refund", "poi_transaction_id": tx, "poi_timestamp": at, "service_id": hdr["ServiceID"],
            "sale_id": hdr["SaleID"], "amount": amount, "brand": original["brand"], "time": at,
            "original_poi_transaction_id": original_id,
            "original_poi_timestamp": body["OriginalPOITransaction"]["POITransactionID"].get("TimeStamp")}

    def _status(self, hdr: dict[str, Any], body: Mapping[str, Any], key: SharedKey) -> _Answer:
        ref_obj = body.get("MessageReference") or {}
        ref = (ref_obj.get("SaleID", hdr["SaleID"]), ref_obj.get("ServiceID", ""))
        with self._lock:
            if ref in self._in_progress:
                out: dict[str, Any] = {"Response": self._failure("InProgress", "Transaction in progress")}
            elif ref in self._responses:
                rh, name, original = self._responses[ref]
                out = {"Response": {"Result": "Success"}, "MessageReference": ref_obj,
                       "RepeatedMessageResponse": {"MessageHeader": rh,
                                                   "RepeatedResponseMessageBody": {name: original}}}
            else:
                out = {"Response": self._failure("NotFound", "Transaction not found")}
        log.info("terminal_sim_status payment_service_id=%s result=%s error=%s", ref[1],
                 out["Response"]["Result"], out["Response"].get("ErrorCondition"))
        return _Answer(encrypt({"SaleToPOIResponse": {"MessageHeader": self._response_header(hdr),
                                                      "TransactionStatusResponse": out}}, key))

    def _abort(self, body: Mapping[str, Any]) -> _Answer:
        ref_obj = body.get("MessageReference") or {}
        with self._lock:
            event = self._in_progress.get((ref_obj.get("SaleID", ""), ref_obj.get("ServiceID", "")))
        if event is not None:
            event.set()
        log.info("terminal_sim_abort payment_service_id=%s running=%s", ref_obj.get("ServiceID"),
                 event is not None)
        return _Answer()  # Adyen answers an AbortRequest with an empty 200

    def _input(self, hdr: dict[str, Any], body: Mapping[str, Any], step: Step, key: SharedKey) -> _Answer:
        """A GetSignature screen: the shopper signs (a small drawing comes back) or cancels."""
        screen = body["DisplayOutput"]["OutputContent"]["PredefinedContent"]["ReferenceID"]
        if screen != "GetSignature" or body["InputData"]["InputCommand"] != "GetConfirmation":
            return _Answer(rejection=f"Unsupported input {screen}")
        signed = step.action != "refuse_signature"
        response: dict[str, Any] = {"Result": "Success"} if signed else self._failure("Cancel", "Cancelled")
        if signed:  # VERIFY: the drawing's exact encoding; Adyen documents it only as "the signature"
            response["AdditionalResponse"] = urllib.parse.urlencode({"signature": json.dumps(
                {"AreaSize": {"X": "0x00f0", "Y": "0x00aa"},
                 "SignaturePoint": [{"X": "0x0010", "Y": "0x0050"}, {"X": "0x00e0", "Y": "0x0060"}]})})
        out = {"InputResult": {"Device": "CustomerInput", "InfoQualify": "Input", "Response": response,
                               "Input": {"InputCommand": "GetConfirmation", "ConfirmedFlag": signed}}}
        log.info("terminal_sim_signature service_id=%s signed=%s", hdr["ServiceID"], signed)
        return _Answer(encrypt({"SaleToPOIResponse": {"MessageHeader": self._response_header(hdr),
                                                      "InputResponse": out}}, key))

    def _reconcile(self, hdr: dict[str, Any], body: Mapping[str, Any], key: SharedKey) -> _Answer:
        if body.get("ReconciliationType") == "PreviousReconciliation":
            return self._previous_reconciliation(hdr, body, key)
        at = m.timestamp(self._now())
        with self._lock:
            since = max((i for i, e in enumerate(self._entries) if e.get("type") == "reconciliation"),
                        default=-1)
            per_brand: dict[str, dict[str, list[int]]] = {}
            for e in self._entries[since + 1:]:
                if e.get("type") in ("payment", "refund"):
                    kind = "Debit" if e["type"] == "payment" else "ReverseDebit"
                    t = per_brand.setdefault(e["brand"], {}).setdefault(kind, [0, 0])
                    t[0] += 1
                    t[1] += e["amount"]
            rec_id = f"R{sum(1 for e in self._entries if e.get('type') == 'reconciliation') + 1:06d}"
            self._record({"type": "reconciliation", "poi_reconciliation_id": rec_id, "time": at})
        totals = [{"PaymentInstrumentType": "Card", "CardBrand": m.BRAND_CODES.get(brand, brand),
                   "PaymentCurrency": m.CURRENCY, "POIID": self.poi_id,
                   "PaymentTotals": [{"TransactionType": kind, "TransactionCount": c,
                                      "TransactionAmount": m.ore_to_amount(a)}
                                     for kind, (c, a) in kinds.items()]}
                  for brand, kinds in sorted(per_brand.items())]
        out = {"Response": {"Result": "Success"}, "ReconciliationType": body.get("ReconciliationType"),
               "POIReconciliationID": rec_id, "TransactionTotals": totals}
        log.info("terminal_sim_reconciliation id=%s brands=%d", rec_id, len(totals))
        if self.lose_reconciliation_answers > 0:  # fault: the period is closed, the answer never arrives
            self.lose_reconciliation_answers -= 1
            return _Answer(drop=True)
        return _Answer(encrypt({"SaleToPOIResponse": {"MessageHeader": self._response_header(hdr),
                                                      "ReconciliationResponse": out}}, key))

    def _previous_reconciliation(self, hdr: dict[str, Any], body: Mapping[str, Any],
                                 key: SharedKey) -> _Answer:
        """PreviousReconciliation: the totals of a period already closed, named by its POIReconciliationID
        (what a till whose answer was lost reads again). Nothing new is closed."""
        wanted = str(body.get("POIReconciliationID", ""))
        per_brand: dict[str, dict[str, list[int]]] = {}
        with self._lock:
            marks = [i for i, e in enumerate(self._entries) if e.get("type") == "reconciliation"]
            end = next((i for i in marks if str(self._entries[i].get("poi_reconciliation_id")) == wanted),
                       None)
            if end is not None:
                since = max((i for i in marks if i < end), default=-1)
                for e in self._entries[since + 1:end]:
                    if e.get("type") in ("payment", "refund"):
                        kind = "Debit" if e["type"] == "payment" else "ReverseDebit"
                        t = per_brand.setdefault(e["brand"], {}).setdefault(kind, [0, 0])
                        t[0] += 1
                        t[1] += e["amount"]
        out: dict[str, Any] = {"ReconciliationType": "PreviousReconciliation"}
        if end is None:
            out["Response"] = self._failure("NotFound", "Reconciliation not found")
        else:
            out.update({"Response": {"Result": "Success"}, "POIReconciliationID": wanted,
                        "TransactionTotals": [
                {"PaymentInstrumentType": "Card", "CardBrand": m.BRAND_CODES.get(brand, brand),
                 "PaymentCurrency": m.CURRENCY, "POIID": self.poi_id,
                 "PaymentTotals": [{"TransactionType": kind, "TransactionCount": c,
                                    "TransactionAmount": m.ore_to_amount(a)}
                                   for kind, (c, a) in kinds.items()]}
                for brand, kinds in sorted(per_brand.items())]})
        log.info("terminal_sim_previous_reconciliation id=%s found=%s", wanted, end is not None)
        return _Answer(encrypt({"SaleToPOIResponse": {"MessageHeader": self._response_header(hdr),
                                                      "ReconciliationResponse": out}}, key))

    # --- shapes --------------------------------------------------------------------------------

    @staticmethod
    def _response_header(hdr: Mapping[str, Any]) -> dict[str, Any]:
        return {**hdr, "MessageType": "Response"}

    def _reject_body(self, hdr: Mapping[str, Any], text: str, rejected: bytes) -> dict[str, Any]:
        """nexo's EventNotification Reject: RejectedMessage (mandatory with Reject) is the refused
        message, base64; EventDetails says why, URL-encoded as Adyen's terminals write it."""
        def text_of(name: str) -> str:
            value = hdr.get(name)
            return value if isinstance(value, str) else ""

        return {
            "MessageHeader": {"ProtocolVersion": m.PROTOCOL_VERSION, "MessageClass": "Event",
                              "MessageCategory": "Event", "MessageType": "Notification",
                              "SaleID": text_of("SaleID"), "ServiceID": text_of("ServiceID"),
                              "POIID": self.poi_id},
            "EventNotification": {"TimeStamp": m.timestamp(self._now()), "EventToNotify": "Reject",
                                  "EventDetails": urllib.parse.urlencode({"message": text}),
                                  "RejectedMessage": base64.b64encode(rejected).decode("ascii")},
        }

    def _reject(self, hdr: Mapping[str, Any], key: SharedKey, text: str, rejected: bytes) -> _Answer:
        log.info("terminal_sim_reject service_id=%s reason=%r", hdr.get("ServiceID"), text)
        return _Answer(encrypt({"SaleToPOIRequest": self._reject_body(hdr, text, rejected)}, key))

    def _reject_clear(self, raw: bytes, text: str) -> _Answer:
        """A refusal of a message that is not authentic: no key to answer under, so in clear, addressed
        with whatever clear MessageHeader it carried (unauthenticated, used for nothing else)."""
        hdr: Mapping[str, Any] = {}
        try:
            outer = json.loads(raw)
            inner = outer.get("SaleToPOIRequest") if isinstance(outer, dict) else None
            if isinstance(inner, dict) and isinstance(inner.get("MessageHeader"), dict):
                hdr = inner["MessageHeader"]
        except ValueError:
            pass
        return _Answer({"SaleToPOIRequest": self._reject_body(hdr, text, raw)})


def _kr(ore: int) -> str:
    return f"{ore // 100},{ore % 100:02d}"


def _receipts(lines: list[str], signature: bool = False) -> list[dict[str, Any]]:
    """Receipt lines as Adyen sends them: each a URL-encoded key/name/value set."""
    def encoded(i: int, text: str) -> dict[str, str]:
        name, sep, value = text.partition(": ")
        fields = {"key": f"line{i}", "name": name if sep else "", "value": value if sep else text}
        return {"Text": urllib.parse.urlencode(fields, quote_via=urllib.parse.quote)}

    out = []
    for qualifier in ("CashierReceipt", "CustomerReceipt"):
        body = list(lines)
        sign = signature and qualifier == "CashierReceipt"
        if sign:
            body += ["Underskrift: ______________"]
        out.append({"DocumentQualifier": qualifier, "RequiredSignatureFlag": sign,
                    "OutputContent": {"OutputFormat": "Text",
                                      "OutputText": [encoded(i, t) for i, t in enumerate(body)]}})
    return out


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class _Handler(socketserver.BaseRequestHandler):
    """One connection: HTTP/1.1 requests parsed by h11 (Content-Length or chunked bodies), answered in
    turn while the client keeps the connection alive."""

    simulator: TerminalSimulator
    request: socket.socket

    def handle(self) -> None:
        sock = self.request
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no delayed-ACK stall
            if isinstance(sock, ssl.SSLSocket):
                sock.do_handshake()
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError: a client that distrusts us
            log.debug("terminal_sim_http handshake_failed error=%s", exc)
            return
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        while True:
            try:
                request = self._read_request(conn, sock)
            except h11.RemoteProtocolError as exc:
                log.info("terminal_sim_http bad_request error=%s", exc)
                self._send(conn, sock, exc.error_status_hint, b"")
                return
            except OSError:
                return
            if request is None:  # the client closed (or we are switched off)
                return
            target, method, body = request
            if self.simulator._stopping.is_set():  # switched off: a kept-alive connection gets no answer
                return
            if target.split("?")[0].rstrip("/") != "/nexo":
                status, payload = 404, b""
            elif method != "POST":
                status, payload = 405, b""
            elif body is None:
                status, payload = 413, b""
            else:
                answer = self.simulator.handle(body)
                if answer.drop:
                    return
                status = 200
                payload = b"" if answer.envelope is None else json.dumps(answer.envelope).encode("utf-8")
            if not self._send(conn, sock, status, payload):
                return
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE or body is None:
                return
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return

    @staticmethod
    def _read_request(conn: h11.Connection, sock: socket.socket) -> tuple[str, str, bytes | None] | None:
        """(target, method, body) of the next request; body None when it is larger than MAX_BODY."""
        target, method, chunks, size = "", "", [], 0
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = sock.recv(65536)
                conn.receive_data(data)  # b"" tells h11 the client closed
                continue
            if isinstance(event, h11.Request):
                target, method = event.target.decode("ascii", "replace"), event.method.decode("ascii")
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size <= MAX_BODY:
                    chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return target, method, (b"".join(chunks) if size <= MAX_BODY else None)
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None

    @staticmethod
    def _send(conn: h11.Connection, sock: socket.socket, status: int, body: bytes) -> bool:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):  # IDLE: h11 lets a 400 go out there
            return False
        try:
            out = conn.send(h11.Response(status_code=status, headers=[
                ("Content-Type", "application/json"), ("Content-Length", str(len(body)))])) or b""
            if body:
                out += conn.send(h11.Data(data=body)) or b""
            out += conn.send(h11.EndOfMessage()) or b""
            sock.sendall(out)  # one write: headers and body in one segment
        except OSError:  # the till gave up waiting (timeout step): nobody to answer
            return False
        except h11.LocalProtocolError:
            return False
        return True


def _tls_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m drivers.terminal.simulator",
                                description="A card terminal simulator (Adyen local Terminal API).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8443)
    p.add_argument("--key-id", required=True)
    p.add_argument("--passphrase", help="or set TILL_TERMINAL_PASSPHRASE (keeps it out of ps)")
    p.add_argument("--key-version", type=int, required=True)
    p.add_argument("--poi-id", default=DEFAULT_POI_ID)
    p.add_argument("--ledger", required=True)
    p.add_argument("--script")
    p.add_argument("--delay", type=float, default=0.0, help="seconds each approval takes")
    p.add_argument("--timeout-seconds", type=float, default=2.0, help="how long a 'timeout' step lasts")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    args = p.parse_args(argv)
    passphrase = args.passphrase or os.environ.get("TILL_TERMINAL_PASSPHRASE")
    if not passphrase:
        p.error("a passphrase is needed: --passphrase or TILL_TERMINAL_PASSPHRASE")
    try:
        check_passphrase(passphrase)
    except PassphraseError as exc:
        p.error(str(exc))
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sim = TerminalSimulator(SharedKey(args.key_id, passphrase, args.key_version), poi_id=args.poi_id,
                            ledger=args.ledger, script=load_script(args.script) if args.script else None,
                            host=args.host, port=args.port, delay=args.delay, timeout_s=args.timeout_seconds,
                            ssl_context=_tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    sim.start()
    print(sim.url, flush=True)
    done.wait()
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
