"""One SAF-T export in a fresh interpreter, for bench.saft: prints its time and peak memory."""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import date
from pathlib import Path

from appliance.services import saft_export
from appliance.services.till import open_till


def main() -> None:
    args = json.loads(sys.argv[1])
    till = open_till(Path(args["data"]))
    result: dict = {"files": [], "transactions": 0, "entries": 0}
    t0 = time.perf_counter()
    if args["mode"] == "startup":  # what every start checks: the key, and the chain since the last Z
        from appliance.services.startup_check import check_on_start
        report = check_on_start(till)
        result = {"files": [], "transactions": report.transactions, "entries": report.entries,
                  "ok": report.ok}
    elif args["mode"] == "verify":  # the whole journal, as `till journal verify` walks it
        from appliance.store.journal import verify
        report = verify(till.conn, till.journal.company_ident)
        result = {"files": [], "transactions": report.transactions, "entries": report.entries,
                  "ok": report.ok}
    elif args["mode"] == "export":
        r = saft_export.export(till, date.fromisoformat(args["from"]), date.fromisoformat(args["to"]),
                               Path(args["out"]))
        result = {"files": [str(p) for p in r.files], "transactions": r.transactions, "entries": r.events}
    else:  # the floor: everything the export needs loaded, nothing exported
        from appliance.saft import writer  # noqa: F401
    result["seconds"] = time.perf_counter() - t0
    till.close()
    result["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
