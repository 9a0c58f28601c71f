#!/bin/bash
# make image: build tillbox-<version>-arm64.img (and .img.zst) for the Raspberry Pi 3 and 4.
#
#   1. base   cached Debian bookworm arm64 rootfs tarball (base.sh; ~15 min cold, reused warm)
#   2. app    /opt/tillbox/.venv from aarch64 wheels downloaded here + the project's own wheel
#   3. system the till user, units from systemd/, the image's overlay (rootfs/), read-only root
#   4. disk   boot FAT + root A + empty root B + data, assembled by genimage; zstd copy
#
# Bash because every step is a call to debootstrap, chroot, pip, mke2fs or genimage.
# Needs root (chroot, binfmt), debootstrap qemu-user-static binfmt-support genimage dosfstools
# mtools e2fsprogs zstd. Variables: OUT (build dir), ROOT_SIZE, BOOT_SIZE, DATA_SIZE, MIRROR, and
# PI_OS_IMAGE: a Raspberry Pi OS Lite (64-bit, bookworm) image to build on instead of Debian, for
# the Pi 5 (raspios.sh; the result is tillbox-<version>-arm64-raspios.img).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
OUT=${OUT:-$REPO/build/image}
PI_OS_IMAGE=${PI_OS_IMAGE:-}
# Raspberry Pi OS's root is about 1.3 GB before the till's packages; Debian's minbase far less.
if [[ -n $PI_OS_IMAGE ]]; then ROOT_SIZE=${ROOT_SIZE:-3072M}; else ROOT_SIZE=${ROOT_SIZE:-1536M}; fi
BOOT_SIZE=${BOOT_SIZE:-256M}
DATA_SIZE=${DATA_SIZE:-64M}
PY=${PY:-$REPO/.venv/bin/python}
# shellcheck source=common.sh
source "$HERE/common.sh"

[[ $(id -u) == 0 ]] || { echo "make image needs root (chroot, binfmt)" >&2; exit 1; }
for tool in debootstrap genimage mke2fs mkfs.vfat mcopy zstd; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install debootstrap" \
        "qemu-user-static binfmt-support genimage dosfstools mtools e2fsprogs zstd" >&2; exit 1; }
done
if [[ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]]; then
    mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    update-binfmts --enable qemu-aarch64
fi

VERSION=$("$PY" -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["project"]["version"])' \
    "$REPO/pyproject.toml")
NAME="tillbox-$VERSION-arm64${PI_OS_IMAGE:+-raspios}"
# One timestamp for every file and file system: the last commit's, else pyproject.toml's mtime.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$REPO" log -1 --format=%ct 2>/dev/null \
    || stat -c %Y "$REPO/pyproject.toml")}
export SOURCE_DATE_EPOCH E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH
log "building $NAME (SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH) in $OUT"
start=$(date +%s)
mkdir -p "$OUT"

# --- 1. downloads (cached by the lock files' hash) and the base ------------------------------
dl="$OUT/dl/$(cat "$HERE/requirements.txt" "$HERE/requirements-sdist.txt" | sha256sum | cut -c1-12)"
if [[ ! -e "$dl/.complete" ]]; then
    log "downloading aarch64 wheels"
    rm -rf "$dl"; mkdir -p "$dl/wheels"
    pin() { sed -n "s/^$1==//p" "$HERE/requirements-sdist.txt"; }
    env -u PIP_FIND_LINKS "$PY" -m pip download --quiet --no-deps --no-binary :all: \
        "evdev==$(pin evdev)" -d "$dl"
    env -u PIP_FIND_LINKS "$PY" -m pip wheel --quiet --no-deps --no-binary :all: \
        "packbits==$(pin packbits)" -w "$dl/wheels"
    env -u PIP_FIND_LINKS "$PY" -m pip download --quiet --no-deps --only-binary=:all: \
        --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 \
        --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
        -r "$HERE/requirements.txt" -d "$dl/wheels" 2> >(grep -v '^WARNING: Location' >&2)
    touch "$dl/.complete"
fi
export EVDEV_SDIST SETUPTOOLS_WHEEL
EVDEV_SDIST=$(echo "$dl"/evdev-*.tar.gz) SETUPTOOLS_WHEEL=$(echo "$dl"/wheels/setuptools-*.whl)
if [[ -n $PI_OS_IMAGE ]]; then
    base=$("$HERE/raspios.sh" "$PI_OS_IMAGE" "$OUT/cache")
else
    "$HERE/base.sh" "$OUT/cache"
    base="$OUT/cache/base-$(base_key)"
fi
base_done=$(date +%s)

# --- 2. root file system: base + the app ------------------------------------------------------
work="$OUT/work"
root="$work/rootfs"
cleanup() { chroot_umount "$root"; }
trap cleanup EXIT
chroot_umount "$root"
rm -rf "$work"
mkdir -p "$root" "$work/wheels" "$work/src"
log "unpacking the base"
tar --numeric-owner --xattrs --xattrs-include='*' -C "$root" -xf "$base.tar"

log "building the tillbox wheel"
# A clean copy of the sources, so setuptools' build/ never lands in the repository.
tar -C "$REPO" --exclude=__pycache__ -cf - pyproject.toml README.md appliance drivers relay \
    | tar -C "$work/src" -xf -
"$PY" -m pip wheel --quiet --no-deps -w "$work/wheels" "$work/src"
cp "$dl"/wheels/*.whl "$base.wheels"/*.whl "$work/wheels/"

log "installing the app into /opt/tillbox/.venv (qemu-user)"
mkdir -p "$root/tmp/wheels"
cp "$work"/wheels/*.whl "$root/tmp/wheels/"
cp "$HERE/requirements.txt" "$root/tmp/wheels/requirements.txt"
chroot_mount "$root"
chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" /bin/sh -ec '
    python3 -m venv /opt/tillbox/.venv
    /opt/tillbox/.venv/bin/pip install --quiet --no-index --find-links /tmp/wheels \
        -r /tmp/wheels/requirements.txt evdev tillbox
    /opt/tillbox/.venv/bin/pip check
    /opt/tillbox/.venv/bin/till --help >/dev/null'
"$PY" - "$root" <<'PYEOF'
import sys, pathlib
root = pathlib.Path(sys.argv[1])
freeze = sorted(p.name.removesuffix(".dist-info") for p in root.glob("opt/tillbox/.venv/lib/python3*/site-packages/*.dist-info"))
(root / "opt/tillbox/wheels.txt").write_text("".join(f + "\n" for f in freeze))
PYEOF
rm -rf "$root/tmp/wheels" "$root"/root/.cache
find "$root/opt/tillbox/.venv" -name direct_url.json -delete

# --- 3. the system ----------------------------------------------------------------------------
log "users, units, overlay"
tar -C "$HERE/rootfs" --exclude=__pycache__ --owner=0 --group=0 -cf - . | tar -C "$root" -xf -
# The service user is whoever the units run as (User=); the issue calls it `till`.
till_user=$(sed -n 's/^User=//p' "$REPO"/systemd/till-kiosk.service "$REPO"/systemd/till-uploader.service \
    2>/dev/null | head -1)
till_user=${till_user:-till}
chroot "$root" /bin/sh -ec "
    for g in input video render gpio dialout lp plugdev; do
        getent group \$g >/dev/null || groupadd --system \$g
    done
    getent passwd $till_user >/dev/null || useradd --system --user-group --no-create-home \
        --home-dir /var/lib/tillbox --shell /usr/sbin/nologin \
        --groups input,video,render,gpio,dialout,lp,plugdev $till_user
    usermod -p '*' root
    passwd -l $till_user >/dev/null
    # no account may log in with a password (Raspberry Pi OS's first user included)
    for u in \$(awk -F: '\$2 != \"*\" && \$2 !~ /^!/ {print \$1}' /etc/shadow); do usermod -p '*' \$u; done"
till_uid=$(chroot "$root" id -u "$till_user")
till_gid=$(chroot "$root" id -g "$till_user")

units=()
for f in "$REPO"/systemd/*.service "$REPO"/systemd/*.timer "$REPO"/systemd/*.socket "$REPO"/systemd/*.path; do
    [[ -e "$f" ]] || continue
    install -m 644 "$f" "$root/etc/systemd/system/"
    [[ $(basename "$f") == *@.* ]] || units+=("$(basename "$f")")
done
for f in "$REPO"/systemd/*.rules "$REPO"/systemd/udev/*.rules; do
    if [[ -e "$f" ]]; then install -D -m 644 "$f" "$root/etc/udev/rules.d/$(basename "$f")"; fi
done
for f in "$REPO"/systemd/modules-load.d/*.conf; do
    if [[ -e "$f" ]]; then install -D -m 644 "$f" "$root/etc/modules-load.d/$(basename "$f")"; fi
done
chroot_umount "$root"
systemctl --root="$root" enable "${units[@]}" tillbox-firstboot.service tillbox-ab-trial.service \
    tillbox-boot-ok.service systemd-networkd.service systemd-resolved.service systemd-timesyncd.service \
    ssh.service
systemctl --root="$root" mask systemd-firstboot.service getty@tty1.service apt-daily.timer \
    apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service 2>/dev/null || true
systemctl --root="$root" disable wpa_supplicant.service 2>/dev/null || true

# Read-only root: what would be written at run time points at /run or the data partition.
: > "$root/etc/machine-id"                      # transient per boot (systemd mounts one from /run)
ln -sf /etc/machine-id "$root/var/lib/dbus/machine-id"
ln -sfn /run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
ln -sfn /data/system/localtime "$root/etc/localtime"
rm -f "$root"/etc/ssh/ssh_host_*              # each card makes its own on first boot
mkdir -p "$root/data" "$root/var/lib/tillbox" "$root/boot/firmware"
echo "$VERSION" > "$root/etc/tillbox-version"

# The boot partition's content: Debian's kernel and the Pi firmware from the root, or Raspberry Pi
# OS's own boot files (its kernels, initramfs, device trees, overlays) with a Tillbox section added
# to its config.txt. cmdline.txt is always Tillbox's: root A, read-only, no first-boot wizard.
boot="$work/boot"
mkdir -p "$boot"
if [[ -n $PI_OS_IMAGE ]]; then
    cp -a "$base.boot/." "$boot/"
    cat "$HERE/boot/config-raspios.txt" >> "$boot/config.txt"
    sed 's/console=ttyS1,115200/console=serial0,115200/' "$HERE/boot/cmdline.txt" > "$boot/cmdline.txt"
    cp "$HERE"/boot/{tillbox.toml,tillbox-ab.txt} "$boot/"
    find "$root/usr/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort > "$boot/tillbox-kernel.txt"
else
    kver=$(basename "$(find "$root/usr/lib/modules" -mindepth 1 -maxdepth 1 | sort -V | tail -1)")
    cp "$root/usr/lib/raspi-firmware"/* "$boot/"
    cp "$root/boot/vmlinuz-$kver" "$boot/vmlinuz"
    cp "$root/boot/initrd.img-$kver" "$boot/initrd.img"
    cp "$root/usr/lib/linux-image-$kver/broadcom"/bcm2711-rpi-*.dtb \
        "$root/usr/lib/linux-image-$kver/broadcom"/bcm2837-rpi-*.dtb "$boot/"
    cp "$HERE"/boot/{config.txt,cmdline.txt,tillbox.toml,tillbox-ab.txt} "$boot/"
    echo "$kver" > "$boot/tillbox-kernel.txt"
fi
rm -rf "$root"/boot/firmware/*                   # the FAT partition is mounted here

# The data partition as shipped: the till's folder (owned by the service user) and root's own.
data="$work/data"
mkdir -p "$data/tillbox" "$data/system/systemd" "$data/system/ssh"
chown "$till_uid:$till_gid" "$data/tillbox"; chmod 750 "$data/tillbox"
chmod 700 "$data/system" "$data/system/ssh"
cp -a "$root/var/lib/systemd/." "$data/system/systemd/"

# Same bytes from the same inputs: every file gets SOURCE_DATE_EPOCH.
for d in "$root" "$boot" "$data"; do
    find "$d" -newermt "@$SOURCE_DATE_EPOCH" -print0 | xargs -0r touch -h -d "@$SOURCE_DATE_EPOCH"
done

# --- 4. the disk ------------------------------------------------------------------------------
log "file systems"
img="$work/img"
mkdir -p "$img"
mke2fs -q -t ext4 -L rootA -U 7111b0c5-0002-4000-8000-000000000002 -E hash_seed=7111b0c5-0002-4000-8000-00000000000a \
    -d "$root" "$img/rootA.ext4" "$ROOT_SIZE"
mke2fs -q -t ext4 -b 4096 -L tillbox-data -U 7111b0c5-0004-4000-8000-000000000004 \
    -E hash_seed=7111b0c5-0004-4000-8000-00000000000a -d "$data" "$img/data.ext4" "$DATA_SIZE"
clamp_times "$root" "$img/rootA.ext4"
clamp_times "$data" "$img/data.ext4"
sed -e "s/@BOOT_SIZE@/$BOOT_SIZE/" -e "s/@ROOT_SIZE@/$ROOT_SIZE/" -e "s/@IMAGE_NAME@/$NAME.img/" \
    "$HERE/genimage.cfg.in" > "$work/genimage.cfg"
rm -rf "$work/genimage-tmp"
log "genimage"
genimage --config "$work/genimage.cfg" --rootpath "$boot" --inputpath "$img" --outputpath "$OUT" \
    --tmppath "$work/genimage-tmp" >"$work/genimage.log" 2>&1 || { cat "$work/genimage.log"; exit 1; }
log "zstd"
zstd -q -f -T0 -10 "$OUT/$NAME.img" -o "$OUT/$NAME.img.zst"
(cd "$OUT" && sha256sum "$NAME.img" "$NAME.img.zst" > "$NAME.sha256")
cp "$base.manifest.txt" "$OUT/$NAME.packages.txt"
cp "$root/opt/tillbox/wheels.txt" "$OUT/$NAME.wheels.txt"
rm -rf "$work"
end=$(date +%s)
log "done in $((end - start)) s (base $((base_done - start)) s): $OUT/$NAME.img"
sfdisk -l "$OUT/$NAME.img"
ls -l "$OUT/$NAME.img" "$OUT/$NAME.img.zst"
