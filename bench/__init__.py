"""Benchmarks for the till's issue targets: `python -m bench` runs them all; each module also runs
alone (`python -m bench.sale`, `bench.zreport`, `bench.lookup`). They print figures against their
targets and never fail on a miss: timing asserts in tests would flake on shared CI machines."""
