"""Child process for bench.zreport: one close_day in a fresh interpreter, as `till close-day` runs
it, so the lazy import of the PDF renderer (fpdf) is paid inside the timed call. Prints the ns."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path

from appliance.services.closing import close_day
from appliance.services.till import open_till


def main() -> None:
    args = json.loads(sys.argv[1])
    when = datetime.fromisoformat(args["when"])
    till = open_till(Path(args["data"]), lambda: when)
    try:
        t0 = time.perf_counter_ns()
        close_day(till, args["counted"], args["to_bank"], render_pdf=args["pdf"])
        print(time.perf_counter_ns() - t0)
    finally:
        till.close()


if __name__ == "__main__":
    main()
