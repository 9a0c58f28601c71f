#!/bin/bash
# Is the image bit-for-bit reproducible? Builds it twice from the same tree (the second build reuses
# the first's cached base and downloads, as any warm rebuild does) and compares the bytes; where
# they differ it says which partition, so the cause can be found (debugfs stat, mdir).
#   image/reproducible.sh      (root; after `make image`, or it builds the base first)
# What this does not show: that a cold build (a new base from the mirror) gives the same bytes;
# the mirror moves (security updates), see README.md.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
OUT=${OUT:-$REPO/build/image}
# shellcheck source=common.sh
source "$HERE/common.sh"
[[ -z $(git -C "$REPO" status --porcelain -- appliance drivers relay image systemd pyproject.toml) ]] \
    || log "warning: uncommitted changes; both builds use the same working tree all the same"
work="$OUT/repro"
rm -rf "$work"; mkdir -p "$work"
for n in 1 2; do
    log "build $n of 2"
    make -C "$REPO" --no-print-directory image > "$work/build$n.log" 2>&1 \
        || { tail -20 "$work/build$n.log" >&2; exit 1; }
    img=$(sed -n 's/.*\] done in .*: //p' "$work/build$n.log")
    cp --sparse=always "$img" "$work/$n.img"
    cp "${img}.zst" "$work/$n.img.zst"
done
sha256sum "$work"/{1,2}.img "$work"/{1,2}.img.zst | sed "s|$work/||"
if cmp -s "$work/1.img" "$work/2.img" && cmp -s "$work/1.img.zst" "$work/2.img.zst"; then
    echo "reproducible: both builds gave the same image, byte for byte"
    rm -f "$work"/*.img "$work"/*.img.zst
    exit 0
fi
echo "NOT reproducible: bytes that differ, by partition:"
starts=$(partitions "$work/1.img" | cut -d' ' -f1 | tr '\n' ' ')
cmp -l "$work/1.img" "$work/2.img" | awk -v starts="$starts" '
    BEGIN { n = split(starts, s, " ") }
    { sector = int(($1 - 1) / 512); part = 0
      for (i = 1; i <= n; i++) if (sector >= s[i]) part = i
      count[part]++ }
    END { for (p in count) printf "  partition %d: %d bytes\n", p, count[p] }'
exit 1
