#!/bin/bash
# The image's end-to-end checks (run by image/test.sh, i.e. `make image-test`; or on its own):
#   image/e2e.sh [build/image/tillbox-<version>-arm64.img]
# Two boots of a test copy in qemu-system-aarch64: the kiosk's first frame read back as a PNG, a
# day closed in the guest reaching a fake Dinero on the host, a power cut in the middle of a sale
# and the journal verified on the next boot. The logic is image/e2e.py (it reacts to the console
# while qemu runs and holds the fake Dinero in-process); this checks the tools and starts it.
# Variables: PY (the project's venv python), E2E_KILL_AFTER, E2E_TIMEOUT.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
PY=${PY:-$REPO/.venv/bin/python}
[[ $(id -u) == 0 ]] || { echo "e2e.sh needs root (debugfs -w on the test copy)" >&2; exit 1; }
for tool in qemu-system-aarch64 debugfs mcopy mtype sfdisk; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install --no-install-recommends" \
        "qemu-system-arm e2fsprogs mtools fdisk" >&2; exit 1; }
done
cd "$REPO"
exec env PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" "$PY" "$HERE/e2e.py" "$@"
