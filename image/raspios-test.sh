#!/bin/bash
# The Pi 5 path (PI_OS_IMAGE=... make image) run end to end here, on a stand-in for Raspberry Pi OS
# Lite (raspios-standin.sh: its layout, its boot files' names, its first-boot wizard and password
# user, on the Debian base; the real image cannot be downloaded on this machine):
#   1. the stand-in, 2. the Tillbox image built on it, 3. checks of what the customisation must
#   have done, read from the image with mtools and debugfs, 4. the smoke boot of image/test.sh in
#   qemu with the image's own kernel8.img and initramfs8.
#   image/raspios-test.sh [RASPIOS.img]   (root; a real Raspberry Pi OS Lite image may be given:
#                                          steps 2 and 3 then run on it, step 4 is skipped)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
PY=${PY:-$REPO/.venv/bin/python}
OUT=${OUT:-$REPO/build/image-raspios}
# shellcheck source=common.sh
source "$HERE/common.sh"
[[ $(id -u) == 0 ]] || { echo "raspios-test.sh needs root" >&2; exit 1; }
mkdir -p "$OUT"
# the downloads are the Debian image's (same wheels): shared, not fetched again
[[ -e "$OUT/dl" || ! -d "$REPO/build/image/dl" ]] || ln -s "$REPO/build/image/dl" "$OUT/dl"

source_img=${1:-}
if [[ -z $source_img ]]; then  # one stand-in per base and stand-in script, kept for warm reruns
    source_img="$OUT/standin-raspios-lite-$( { base_key; sha256sum < "$HERE/raspios-standin.sh"; } \
        | sha256sum | cut -c1-12).img"
    [[ -s $source_img ]] || { rm -f "$OUT"/standin-raspios-lite-*.img; "$HERE/raspios-standin.sh" "$source_img"; }
fi
start=$(date +%s)
PI_OS_IMAGE=$source_img OUT=$OUT PY=$PY "$HERE/build.sh"
log "built on $(basename "$source_img") in $(( $(date +%s) - start )) s"
VERSION=$("$PY" -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["project"]["version"])' \
    "$REPO/pyproject.toml")
img="$OUT/tillbox-$VERSION-arm64-raspios.img"

parts=$(partitions "$img" | tr ' \n' ': ')  # start:size:type per partition
read -r p1 p2 p3 p4 <<< "$parts"
fat="$img@@$(( ${p1%%:*} * 512 ))"
root="$img?offset=$(( ${p2%%:*} * 512 ))"
in_root() { debugfs -R "$1" "$root" 2>/dev/null; }

listing=$(mdir -/ -b -i "$fat" ::/ 2>/dev/null)
config=$(mtype -i "$fat" ::config.txt)
cmdline=$(mtype -i "$fat" ::cmdline.txt)
shadow=$(in_root "cat /etc/shadow")
wants=$(in_root "ls -p /etc/systemd/system/multi-user.target.wants")

layout_ok() {
    local t1 t2 t3 t4
    t1=${p1##*:} t2=${p2##*:} t3=${p3##*:} t4=${p4##*:}
    [[ $t1 == c && $t2 == 83 && $t3 == 83 && $t4 == 83 && $(cut -d: -f2 <<< "$p2") == $(cut -d: -f2 <<< "$p3") ]]
}
signature_ok() { sfdisk -J "$img" | grep -q '"id": *"0x7111b0c5"'; }
boot_files_ok() {
    local f
    for f in kernel_2712.img kernel8.img initramfs_2712 initramfs8 overlays/README; do
        grep -q "::/$f\$" <<< "$listing" || return 1
    done
}
config_ok() { grep -qx "auto_initramfs=1" <<< "$config" && grep -q "^# Tillbox" <<< "$config" \
    && grep -qx "enable_uart=1" <<< "$config"; }
cmdline_ok() { [[ $cmdline == *"root=PARTUUID=7111b0c5-02"* && $cmdline == *" ro "* \
    && $cmdline == *console=serial0,115200* && $cmdline != *init=* ]]; }
boot_state_ok() { mtype -i "$fat" ::tillbox.toml >/dev/null && [[ $(mtype -i "$fat" ::tillbox-ab.txt) == *good=a* ]]; }
regular() { in_root "stat $1" | grep -q "Type: regular"; }
masked() { [[ $(in_root "stat /etc/systemd/system/$1") == *'Fast link dest: "/dev/null"'* ]]; }
enabled() { local u; for u in "$@"; do grep -q "/$u/" <<< "$wants" || return 1; done; }
absent() { ! in_root "stat $1" | grep -q "Type:"; }
no_passwords() { ! awk -F: '$2 != "*" && $2 !~ /^!/' <<< "$shadow" | grep -q .; }

fail=0
check() { local what=$1; shift; if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fail=1; fi; }
check "four partitions: boot FAT, root A, root B of the same size, data ($parts)" layout_ok
check "disk signature 7111b0c5 (PARTUUID=7111b0c5-0N)" signature_ok
check "Raspberry Pi OS's boot files kept (kernel_2712.img, kernel8.img, initramfs, overlays)" boot_files_ok
check "config.txt is Raspberry Pi OS's with the Tillbox section added" config_ok
check "cmdline.txt boots root A read-only on serial0, no first-boot wizard ($cmdline)" cmdline_ok
check "tillbox.toml and tillbox-ab.txt on the boot partition" boot_state_ok
check "the root is Raspberry Pi OS's (/etc/rpi-issue)" regular /etc/rpi-issue
check "the app's venv is in it" regular /opt/tillbox/.venv/bin/till
check "its first-boot wizard is masked" masked userconfig.service
check "NetworkManager is masked" masked NetworkManager.service
check "systemd-networkd, till-kiosk and till-uploader are enabled" \
    enabled systemd-networkd.service till-kiosk.service till-uploader.service
check "no account has a password (pi: $(grep '^pi:' <<< "$shadow" | cut -d: -f2 | cut -c1-3))" no_passwords
check "passwordless sudo removed" absent /etc/sudoers.d/010_pi-nopasswd

if [[ -z ${1:-} ]]; then
    log "smoke boot in qemu with the image's kernel8.img and initramfs8"
    IMG=$img KERNEL=kernel8.img INITRD=initramfs8 DISK_SIZE=9G IMAGE_E2E=0 OUT=$OUT PY=$PY \
        "$HERE/test.sh" || fail=1
fi
exit $fail
