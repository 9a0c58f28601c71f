#!/bin/bash
# make image-test: boot the built image in qemu-system-aarch64 (virt machine) and check it.
#
# This is the smoke boot of the image itself: a copy of the image, grown to 6 GiB like a bigger
# SD card, with a tillbox.toml that sets the shop up, and a probe unit added to the copy's root that
# records what came up into the data partition and powers off. Checked afterwards on the host:
# first boot done and the data partition grown, root read-only, till-kiosk and till-uploader
# active, SSH off, no failed units. The kiosk uses SDL's offscreen driver (virt has no display).
# The fuller end-to-end checks (screenshot, a day closed into a fake Dinero, a power cut in a sale)
# are image/e2e.sh, run from here with the image's path (IMAGE_E2E=0: the smoke boot only).
# Variables: IMG (default: the built image), KERNEL and INITRD (their names on the boot partition),
# DISK_SIZE (the copy's size, like an SD card's: 6G), TIMEOUT.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
OUT=${OUT:-$REPO/build/image}
PY=${PY:-$REPO/.venv/bin/python}
TIMEOUT=${TIMEOUT:-600}
# shellcheck source=common.sh
source "$HERE/common.sh"

VERSION=$("$PY" -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["project"]["version"])' \
    "$REPO/pyproject.toml")
IMG=${IMG:-$OUT/tillbox-$VERSION-arm64.img}
KERNEL=${KERNEL:-vmlinuz} INITRD=${INITRD:-initrd.img}  # kernel8.img, initramfs8 for Raspberry Pi OS
[[ -s "$IMG" ]] || { echo "no image at $IMG: run make image first" >&2; exit 1; }
command -v qemu-system-aarch64 >/dev/null || { echo "apt-get install qemu-system-arm" >&2; exit 1; }

t="$OUT/test"
rm -rf "$t"; mkdir -p "$t/mnt"
cp --sparse=always "$IMG" "$t/disk.img"
truncate -s ">${DISK_SIZE:-6G}" "$t/disk.img"  # never smaller than the image
boot_off=$(( $(partitions "$t/disk.img" | head -1 | cut -d' ' -f1) * 512 ))
cat > "$t/tillbox.toml" <<'TOML'
[shop]
name = "Testbutikken"
cvr = "12345678"
address = "Testvej 1, 4000 Roskilde"
[wifi]
ssid = "Testbutik-net"
psk = "e2e-wifi-key-7351"
[dinero]
relay_url = "https://pair.example.test"
TOML
mcopy -o -i "$t/disk.img@@$boot_off" "$t/tillbox.toml" ::tillbox.toml
mcopy -o -i "$t/disk.img@@$boot_off" "::$KERNEL" "$t/vmlinuz"
mcopy -o -i "$t/disk.img@@$boot_off" "::$INITRD" "$t/initrd.img"
cmdline=$(mtype -i "$t/disk.img@@$boot_off" ::cmdline.txt | tr -d '\r\n' \
    | sed -e 's/console=[^ ]*//g' -e 's/ quiet//' -e 's/loglevel=3/loglevel=4/')

# The probe: added to the copy's root A (the built image stays as it was).
loop=$(losetup -f --show "$t/disk.img"); partx -a "$loop"
cleanup() { mountpoint -q "$t/mnt" && umount "$t/mnt"; partx -d "$loop" 2>/dev/null || true; losetup -d "$loop"; }
trap cleanup EXIT
mount "${loop}p2" "$t/mnt"
cat > "$t/mnt/etc/systemd/system/tillbox-probe.service" <<'UNIT'
[Unit]
Description=image-test probe
After=multi-user.target
[Service]
Type=oneshot
TimeoutStartSec=15min
ExecStart=/bin/sh /usr/local/sbin/tillbox-probe
ExecStartPost=/bin/systemctl poweroff
[Install]
WantedBy=multi-user.target
UNIT
cat > "$t/mnt/usr/local/sbin/tillbox-probe" <<'PROBE'
# Waits until the slot was marked good (or gave up), then records what came up, for test.sh.
d=/data/probe; mkdir -p $d
for _ in $(seq 60); do systemctl is-active -q tillbox-boot-ok || break; sleep 5; done
for u in tillbox-firstboot till-kiosk till-uploader ssh; do echo "$u $(systemctl is-active $u)"; done > $d/units
systemctl show -p ActiveState -p Result tillbox-boot-ok > $d/boot-ok; tillbox-ab status > $d/ab 2>&1
systemctl --failed --no-legend --plain > $d/failed; findmnt -no OPTIONS / > $d/root-options
df -B1M --output=size /data | tail -1 > $d/data-size
cat /data/system/firstboot.error > $d/firstboot.error 2>/dev/null
systemd-analyze > $d/analyze 2>&1
journalctl -b -o short-monotonic --no-pager | grep -m1 'event=kiosk_first_frame ' > $d/first-frame
cp /var/lib/tillbox/first-frame.png $d/ 2>/dev/null
ls /var/lib/tillbox > $d/till-data
journalctl -b --no-pager > $d/journal; sync
PROBE
mkdir -p "$t/mnt/etc/systemd/system/till-kiosk.service.d"
printf '[Service]\nEnvironment=SDL_VIDEODRIVER=offscreen TILLBOX_FIRST_FRAME_PNG=/var/lib/tillbox/first-frame.png\n' > "$t/mnt/etc/systemd/system/till-kiosk.service.d/zz-qemu.conf"
ln -sf /etc/systemd/system/tillbox-probe.service "$t/mnt/etc/systemd/system/multi-user.target.wants/"
umount "$t/mnt"; partx -d "$loop"; losetup -d "$loop"; trap - EXIT

log "booting in qemu-system-aarch64 (up to $TIMEOUT s)"
start=$(date +%s.%N)
timeout "$TIMEOUT" qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 2048 -nographic -no-reboot -net none \
    -kernel "$t/vmlinuz" -initrd "$t/initrd.img" -append "console=ttyAMA0 $cmdline" \
    -drive "file=$t/disk.img,if=virtio,format=raw" > "$t/console.log" 2>&1 || true
end=$(date +%s.%N)
log "qemu ran $(printf '%.1f' "$(echo "$end - $start" | bc)") s; console: $t/console.log"

loop=$(losetup -f --show "$t/disk.img"); partx -a "$loop"
trap cleanup EXIT
mount -o ro "${loop}p4" "$t/mnt"
rm -rf "$t/probe"; cp -a "$t/mnt/probe" "$t/probe" 2>/dev/null || { echo "FAIL: the probe left nothing" >&2; exit 1; }
[[ -s "$t/probe/units" ]] || { echo "FAIL: the probe did not finish (see $t/console.log)" >&2; exit 1; }
[[ -e "$t/mnt/system/firstboot.done" ]] && echo "firstboot.done present" > "$t/probe/firstboot"
wifi_conf="$t/mnt/system/wpa_supplicant-wlan0.conf"
if [[ $(stat -c %a "$wifi_conf" 2>/dev/null) == 600 ]] && grep -q 'psk="e2e-wifi-key-7351"' "$wifi_conf"; then
    echo "kept on the data partition, 0600" > "$t/probe/wifi-kept"; fi
umount "$t/mnt"
mtype -i "$t/disk.img@@$boot_off" ::tillbox.toml > "$t/probe/tillbox.toml.after"

fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
check "first boot done" '[[ -e $t/probe/firstboot ]]'
check "data partition grown (> 1 GiB): $(tr -d ' ' < "$t/probe/data-size" 2>/dev/null) MiB" \
    '(( $(tr -d " " < $t/probe/data-size) > 1024 ))'
check "root mounted read-only" 'grep -qw ro $t/probe/root-options'
check "till-kiosk active" 'grep -q "^till-kiosk active" $t/probe/units'
check "till-uploader active" 'grep -q "^till-uploader active" $t/probe/units'
check "slot marked good" 'grep -qx ActiveState=inactive $t/probe/boot-ok && grep -qx Result=success $t/probe/boot-ok \
    && grep -q "running=a good=a trying=-" $t/probe/ab'
check "ssh off (no key given)" '! grep -q "^ssh active" $t/probe/units'
check "kiosk drew its first frame (PNG)" '[[ -s $t/probe/first-frame.png ]]'
check "signing key created" 'grep -qx keys $t/probe/till-data'
check "no failed units" '[[ ! -s $t/probe/failed ]]'
check "Wi-Fi key kept on the data partition (0600)" '[[ -e $t/probe/wifi-kept ]]'
check "Wi-Fi key taken off the card's tillbox.toml" '! grep -q e2e-wifi-key $t/probe/tillbox.toml.after \
    && grep -q "^ssid = \"Testbutik-net\"" $t/probe/tillbox.toml.after'
cat "$t/probe/units" "$t/probe/failed" "$t/probe/analyze" "$t/probe/first-frame" "$t/probe/firstboot.error" \
    2>/dev/null | sed 's/^/  /'
if [[ -x "$HERE/e2e.sh" && ${IMAGE_E2E:-1} != 0 ]]; then  # IMAGE_E2E=0: the smoke boot only
    "$HERE/e2e.sh" "$IMG" || fail=1; fi
exit $fail
