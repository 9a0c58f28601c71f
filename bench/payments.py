"""Benchmark 8: the till's own time per card payment, beyond the terminal's (target under 20 ms).

`payments.pay_by_card` against the terminal simulator on 127.0.0.1 with no delay: the intent and
the outcome journalled (two signed, durable entries), the request built, encrypted (Adyen's local
security), sent, the answer decrypted and parsed. The round trip alone (client crypto, HTTP, the
simulator answering at once) is timed too, so the journalling's share shows."""

from __future__ import annotations

from appliance.services import payments
from drivers.terminal.client import TerminalClient
from drivers.terminal.security import SharedKey
from drivers.terminal.simulator import TerminalSimulator

from .common import Row, Stats, check, make_items, new_shop, now_ns, run_alone, say, scratch_dir

RUNS = 300
WARMUP = 30
TARGET_MS = 20.0
KEY = SharedKey("bench-key", "bench passphrase", 1)


def run() -> list[Row]:
    say(f"== payments: the till's own time per card payment (target: median <{TARGET_MS:g} ms)")
    with scratch_dir("payments-") as tmp:
        till = new_shop(tmp / "till", make_items(50))
        try:
            with TerminalSimulator(key=KEY, ledger=tmp / "ledger.jsonl", poi_id="V400m-1") as sim:
                client = TerminalClient(sim.url, KEY, poi_id="V400m-1", sale_id="BENCH", timeout=5)
                whole, wire = [], []
                for i in range(WARMUP + RUNS):
                    t0 = now_ns()
                    outcome = payments.pay_by_card(till, client, 1000 + i, "anna", f"B{i}")
                    t1 = now_ns()
                    assert outcome.approved
                    sid = payments.new_service_id()
                    t2 = now_ns()
                    client.pay(sid, f"W{i}", 1000 + i)  # the round trip alone: client + simulator
                    t3 = now_ns()
                    if i >= WARMUP:
                        whole.append(t1 - t0)
                        wire.append(t3 - t2)
        finally:
            till.close()
    w, r = Stats.of(whole), Stats.of(wire)
    say(w.line("pay_by_card: journal intent, request, answer, journal outcome"))
    say(r.line("  of which the round trip (client crypto + HTTP + simulator)"))
    ok = check("the till's whole time per card payment (median, simulator included)", w.median_ms,
               TARGET_MS, "ms")
    say(f"  journalling (intent + outcome, signed and durable): {w.median_ms - r.median_ms:.3f} ms")
    return [Row("payments", "card payment, till's time incl. simulator (median)", f"{w.median_ms:.2f} ms",
                f"< {TARGET_MS:g} ms", ok),
            Row("payments", "round trip client+simulator (median)", f"{r.median_ms:.2f} ms")]


if __name__ == "__main__":
    run_alone(run)
