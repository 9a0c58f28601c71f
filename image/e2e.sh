#!/bin/bash
# The image's end-to-end checks (run by image/test.sh, i.e. `make image-test`; or on its own):
#   image/e2e.sh [build/image/tillbox-<version>-arm64.img]
# e2e.py: two boots of a test copy in qemu-system-aarch64: the kiosk's first frame read back as a
# PNG, a day closed in the guest reaching a fake Dinero on the host, a power cut in the middle of
# a sale and the journal verified on the next boot. e2e_ab.py: four boots through an A/B update
# and the fall-back from an update whose kiosk never comes up. Python because the host reacts to
# the console while qemu runs; this checks the tools and starts them.
# Variables: PY (the project's venv python), E2E_KILL_AFTER, E2E_TIMEOUT, E2E_AB=0 (skip A/B).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
PY=${PY:-$REPO/.venv/bin/python}
[[ $(id -u) == 0 ]] || { echo "e2e.sh needs root (debugfs -w on the test copy)" >&2; exit 1; }
for tool in qemu-system-aarch64 debugfs mcopy mtype mkfs.vfat sfdisk zstd; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install --no-install-recommends" \
        "qemu-system-arm e2fsprogs mtools dosfstools fdisk zstd" >&2; exit 1; }
done
cd "$REPO"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
fail=0
"$PY" "$HERE/e2e.py" "$@" || fail=1
if [[ ${E2E_AB:-1} != 0 ]]; then "$PY" "$HERE/e2e_ab.py" "$@" || fail=1; fi
exit $fail
