"""A randomized fault campaign for MobilePay (issue 6): a few hundred payments and refunds against the
spec-checking fake ePayment server, with the customer approving, declining or never answering, the
cashier aborting, 5xx/429 answers, answers dropped after the server stored the change, timeouts, and
till crashes at random points (a crash abandons the flow; the till is then opened again from disk and
`mobilepay.recover` runs at start-up, faults still on). At the end the till's journal and the server
agree exactly: no payment charged twice, none approved and unrecorded, refunds once each.

Time is the fake's: the customer, expiry and the client's polling read one manual clock, so nothing
waits in real time except the client's short timeouts. TILLBOX_CAMPAIGN_SEED picks another seed."""

from __future__ import annotations

import collections
import json
import math
import os
import random
import time
from pathlib import Path
from typing import Any

from appliance.services import mobilepay, payments
from appliance.services.till import Till, open_till
from appliance.store.journal import verify
from drivers.mobilepay.client import EPaymentClient, EPaymentError, Payment, Transient
from drivers.mobilepay.simulator import Fault, Reply, SimPayment
from tests.conftest import CVR
from tests.fakes.epayment import FakeEPayment

SEED = int(os.environ.get("TILLBOX_CAMPAIGN_SEED", "20261123"))
PAYMENTS = 300
EXPIRE_AFTER_S = 20.0  # the fake's clock: a customer who never answers lets the payment expire
CLIENT_TIMEOUT_S = 0.15  # real time: a delayed answer (DELAY_S) is a timeout to the till
DELAY_S = 1.0
QR = "https://qr.vipps.no/28/2/01/031/4512345678?v=1"
FAULTS = ("fail500", "fail503", "fail429", "drop", "delay")


class TillCrash(Exception):
    """The till dies here: the flow is abandoned and nothing after it runs."""


class Clock:
    """The one clock of the campaign (seconds): the fake's customer and expiry, the till's polling."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class CampaignFake(FakeEPayment):
    """The fake with a scripted customer per payment (what and when) and a count of the faults that
    actually hit a request, by kind and operation."""

    def __init__(self, **kw: Any):
        super().__init__(**kw)
        self.next_plan: tuple[str, float] = ("approve", 0.0)
        self.plans: dict[str, tuple[str, float]] = {}
        self.hits: collections.Counter[str] = collections.Counter()

    def _create(self, body: dict[str, Any]) -> Reply:
        reply = super()._create(body)
        if reply.status == 201:
            self.plans[body["reference"]] = self.next_plan
        return reply

    def _customer(self, p: SimPayment) -> None:
        choice, after = self.plans.get(p.reference, ("ignore", 0.0))
        if p.state == "CREATED" and choice != "ignore" and self.clock() - p.created_at >= after:
            self._answer(p, "AUTHORIZED" if choice == "approve" else "ABORTED")
        super()._customer(p)  # expiry

    def _take_fault(self, kind: str, path: str) -> Fault | None:
        fault = super()._take_fault(kind, path)
        if fault is not None:
            name = f"fail{fault.status}" if kind == "fail" else kind
            self.hits[f"{name}:{_operation(path)}"] += 1
        return fault


def _operation(path: str) -> str:
    last = path.rstrip("/").rsplit("/", 1)[-1]
    if path.endswith("/accesstoken/get"):
        return "token"
    if last == "payments":
        return "create"
    return last if last in ("capture", "cancel", "refund", "events") else "get"


class Chaos:
    """What goes wrong during one flow: each request of the till's client may be answered with a fault
    (the fake is told just before the request, and forgets it just after), and the till may crash
    before or after its k-th request, or just before its j-th payment journal write."""

    def __init__(self, rng: random.Random, fake: CampaignFake):
        self.rng, self.fake = rng, fake
        self.fault_rate = 0.0
        self.crash_at: tuple[str, int, str] | None = None
        self.counts = {"request": 0, "journal": 0}
        self.crashes: collections.Counter[str] = collections.Counter()

    def plan(self, fault_rate: float, crash_rate: float, requests: int = 6, writes: int = 4) -> None:
        self.fault_rate = fault_rate
        self.counts = {"request": 0, "journal": 0}
        self.crash_at = None
        if self.rng.random() < crash_rate:
            if self.rng.random() < 0.7:
                self.crash_at = ("request", self.rng.randint(1, requests), self.rng.choice(["before", "after"]))
            else:
                self.crash_at = ("journal", self.rng.randint(1, writes), "before")

    def calm(self) -> None:
        self.plan(0.0, 0.0)

    def point(self, where: str, when: str, what: str) -> None:
        if when == "before":
            self.counts[where] += 1
        if self.crash_at == (where, self.counts[where], when):
            self.crash_at = None
            self.crashes[f"{when}:{what}"] += 1
            raise TillCrash(f"{when} {what}")

    def arm(self) -> None:
        if self.rng.random() >= self.fault_rate:
            return
        kind = self.rng.choices(FAULTS, [2, 2, 2, 2, 1])[0]  # a timeout costs real time: fewer of them
        if kind == "drop":
            self.fake.drop_after_store_next(1)
        elif kind == "delay":
            self.fake.delay_next(1, DELAY_S)
        else:
            self.fake.fail_next(1, int(kind[4:]))

    def disarm(self) -> None:
        with self.fake._lock:
            self.fake._faults.clear()


class ChaosClient(EPaymentClient):
    """The till's real client; the chaos decides what the server does to each request and where the
    till dies (the request goes out over HTTP as always)."""

    def __init__(self, chaos: Chaos, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        self.chaos = chaos

    def _through(self, op: str, call: Any) -> Any:
        self.chaos.point("request", "before", op)
        self.chaos.arm()
        try:
            result = call()
        except EPaymentError:
            self.chaos.point("request", "after", op)
            raise
        finally:
            self.chaos.disarm()
        self.chaos.point("request", "after", op)
        return result

    def create_payment(self, reference: str, amount_ore: int, idempotency_key: str, **kw: Any) -> Any:
        return self._through("create", lambda: super(ChaosClient, self).create_payment(
            reference, amount_ore, idempotency_key, **kw))

    def get_payment(self, reference: str) -> Payment:
        return self._through("get", lambda: super(ChaosClient, self).get_payment(reference))

    def events(self, reference: str) -> Any:
        return self._through("events", lambda: super(ChaosClient, self).events(reference))

    def capture(self, reference: str, amount_ore: int, idempotency_key: str, currency: str = "DKK") -> Payment:
        return self._through("capture", lambda: super(ChaosClient, self).capture(
            reference, amount_ore, idempotency_key, currency))

    def refund(self, reference: str, amount_ore: int, idempotency_key: str, currency: str = "DKK") -> Payment:
        return self._through("refund", lambda: super(ChaosClient, self).refund(
            reference, amount_ore, idempotency_key, currency))

    def cancel(self, reference: str, idempotency_key: str) -> Payment:
        return self._through("cancel", lambda: super(ChaosClient, self).cancel(reference, idempotency_key))


class CrashingJournal:
    """The till's journal, where the till may die just before a payment intent or outcome is written
    (the write's transaction never commits)."""

    def __init__(self, journal: Any, chaos: Chaos):
        self._journal, self._chaos = journal, chaos

    def append(self, kind: str, cashier: str, payload: dict, *args: Any, **kw: Any) -> Any:
        if kind in ("payment_intent", "payment_outcome"):
            self._chaos.point("journal", "before", f"{kind}:{payload.get('kind') or payload.get('state')}")
        return self._journal.append(kind, cashier, payload, *args, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._journal, name)


def journal_rows(till: Till) -> list[tuple[str, dict]]:
    return [(kind, json.loads(p)) for kind, p in till.conn.execute(
        "SELECT kind, payload FROM journal WHERE kind IN ('payment_intent', 'payment_outcome') ORDER BY nr")]


def refundable(till: Till) -> dict[str, int]:
    """Approved MobilePay payments and what the journal says is left of each to give back."""
    intents: dict[str, dict] = {}
    left: dict[str, int] = {}
    for kind, data in journal_rows(till):
        if kind == "payment_intent":
            intents[data["service_id"]] = data
            continue
        intent = intents.get(data["service_id"], {})
        if intent.get("method") != "mobilepay" or data["state"] != "approved":
            continue
        if intent["kind"] == "payment":
            left[intent["service_id"]] = int(intent["amount"])
        elif intent["kind"] == "refund":
            left[intent["original"]] -= int(intent["amount"])
    return left


def test_randomized_fault_campaign_journal_and_server_agree(till: Till, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    why = f"seed={SEED}"
    clock = Clock()
    started_at = time.monotonic()
    with CampaignFake(clock=clock, expire_after=EXPIRE_AFTER_S, ledger=tmp_path / "epayment.jsonl") as fake:
        chaos = Chaos(rng, fake)
        data = till.data_dir
        state: dict[str, Any] = {"till": till, "client": None}
        figures: collections.Counter[str] = collections.Counter()

        def connect() -> None:
            """The till (again) from disk, with a fresh client: a start after power-up."""
            if state["client"] is not None:
                state["client"].close()
            if state["till"] is not till:
                state["till"].close()
            state["till"] = open_till(data, till.clock)
            state["till"].journal = CrashingJournal(state["till"].journal, chaos)
            state["client"] = ChaosClient(chaos, fake.url, **fake.credentials(), system_version="0.1.0",
                                          timeout=CLIENT_TIMEOUT_S)

        def recover(rounds: int, fault_rate: float, crash_rate: float) -> None:
            """Start-up settling, a few times, time passing between; a crash in it starts it again."""
            for _ in range(rounds):
                clock.sleep(rng.uniform(0.0, 20.0))
                chaos.plan(fault_rate, crash_rate, requests=4, writes=3)
                try:
                    mobilepay.recover(state["till"], state["client"])
                except TillCrash:
                    figures["crashes in recovery"] += 1
                    connect()

        connect()
        for n in range(PAYMENTS):
            fault_rate = rng.choice([0.0, 0.0, 0.1, 0.25, 0.5])
            chaos.plan(fault_rate, crash_rate=0.2)
            t, client = state["till"], state["client"]
            try:
                left = {r: a for r, a in refundable(t).items() if a > 0} if rng.random() < 0.25 else {}
                if left:
                    ref = rng.choice(list(left))  # journal order: the seed replays the campaign
                    amount = rng.choice([left[ref], rng.randint(1, left[ref]), left[ref] + rng.randint(1, 500)])
                    figures["refunds asked"] += 1
                    outcome = mobilepay.refund(t, client, ref, amount, "bo", f"R{n}")
                else:
                    choice = rng.choices(["approve", "decline", "ignore"], [7, 2, 1])[0]
                    fake.next_plan = (choice, rng.uniform(0.5, 15.0))
                    abort_at = rng.uniform(1.0, 20.0) if rng.random() < 0.2 else math.inf
                    who = rng.choice([{"personal_qr": QR}, {"phone": "12345678"}, {}])
                    figures["payments"] += 1
                    figures[f"customer {choice}s"] += 1
                    figures["cashier aborts"] += abort_at < math.inf
                    amount = rng.randint(100, 500_000)
                    ref = mobilepay.start(t, client, amount, "anna", f"S{n}", **who)
                    outcome = mobilepay.finish(t, client, ref, amount, "anna", sleep=clock.sleep, clock=clock,
                                               stop=lambda at=abort_at: clock() >= at)
                figures[f"outcome {outcome.state}"] += 1
                if outcome.state == "unknown":  # "unknown: checking": settled before the sale goes on
                    recover(rng.randint(1, 2), fault_rate, 0.0)
            except Transient:  # the request never got an answer, even sent again: the sale waits
                figures["start failed"] += 1
                recover(rng.randint(1, 2), fault_rate, 0.0)
            except TillCrash:
                connect()
                recover(rng.randint(1, 3), fault_rate, 0.2)
        chaos.calm()
        for _ in range(10):  # the last start-up, the server well again: nothing may stay open
            if not payments.open_intents(state["till"], "mobilepay"):
                break
            clock.sleep(EXPIRE_AFTER_S)
            mobilepay.recover(state["till"], state["client"])
        t = state["till"]
        left_open = payments.open_intents(t, "mobilepay")
        rows = journal_rows(t)
        server = dict(fake.payments)
        state["client"].close()
        seconds = time.monotonic() - started_at
        chain_ok = verify(t.conn, CVR).ok  # the journal's signed chain survived every crash
        if t is not till:
            t.close()
        violations = list(fake.spec_violations)
        hits = dict(fake.hits)

    # --- the till's journal against the server -----------------------------------------------------
    assert left_open == [], f"{why}: {left_open}"
    assert chain_ok, why
    assert violations == [], why
    intents = {d["service_id"]: d for k, d in rows if k == "payment_intent" and d.get("method") == "mobilepay"}
    outcomes: dict[str, list[dict]] = collections.defaultdict(list)
    for k, d in rows:
        if k == "payment_outcome" and d["service_id"] in intents:
            outcomes[d["service_id"]].append(d)
    assert set(outcomes) == set(intents), f"{why}: intents left open {sorted(set(intents) - set(outcomes))}"
    twice = {sid: [o["state"] for o in os_] for sid, os_ in outcomes.items() if len(os_) != 1}
    assert twice == {}, f"{why}: intents with more than one outcome"
    state_of = {sid: os_[0]["state"] for sid, os_ in outcomes.items()}
    paid = {sid: d for sid, d in intents.items() if d["kind"] == "payment"}
    assert set(server) <= set(paid), f"{why}: payments at the server the till never asked for"
    refunded_in_journal: collections.Counter[str] = collections.Counter()
    refund_keys: dict[str, set[str]] = collections.defaultdict(set)
    for sid, d in intents.items():
        if d["kind"] == "refund" and state_of[sid] == "approved":
            refunded_in_journal[d["original"]] += int(d["amount"])
            refund_keys[d["original"]].add(d["refund_key"])
    for ref, intent in paid.items():
        p = server.get(ref)
        amount = int(intent["amount"])
        captures = [e for e in p.events if e["name"] == "CAPTURED"] if p else []
        refunds = [e for e in p.events if e["name"] == "REFUNDED"] if p else []
        where = f"{why} reference={ref} journal={state_of[ref]} server={p and (p.state, p.captured, p.refunded)}"
        if state_of[ref] == "approved":
            assert p is not None and p.captured == amount and len(captures) == 1, where
            assert outcomes[ref][0]["amount"] == amount, where
        else:
            assert p is None or (p.captured == 0 and not captures), where
        if p is not None:
            assert p.state != "CREATED", where  # nobody can approve it any more
            if p.state == "AUTHORIZED":  # nothing authorised is left hanging: captured or released
                assert p.authorized == p.captured + p.cancelled, where
            assert p.refunded == refunded_in_journal[ref] <= p.captured, where
            assert {e["idempotencyKey"] for e in refunds} == refund_keys[ref] and \
                len(refunds) == len(refund_keys[ref]), where
        else:
            assert refunded_in_journal[ref] == 0, where

    # --- the campaign did what it says ---------------------------------------------------------------
    faults: collections.Counter[str] = collections.Counter()
    for name, count in hits.items():
        faults[name.split(":")[0]] += count
    approved = sum(1 for ref in paid if state_of[ref] == "approved")
    summary = (f"{why} payments={figures['payments']} approved={approved} refunds={figures['refunds asked']} "
               f"crashes={sum(chaos.crashes.values())} faults={dict(faults)} seconds={seconds:.1f}")
    print(summary)
    print("figures", dict(figures))
    print("crash points", dict(chaos.crashes))
    print("faults by operation", hits)
    assert figures["payments"] > 150 and approved > 80, summary
    assert sum(chaos.crashes.values()) > 15 and all(faults[f] > 5 for f in FAULTS), summary
    assert sum(refunded_in_journal.values()) > 0, summary
