#!/bin/bash
# Build the cached base root filesystem tarball: Debian bookworm arm64 by debootstrap under
# qemu-user, plus the packages in packages.txt, and an evdev wheel compiled in the chroot
# (evdev has no aarch64 wheel on PyPI; the compiler is removed again before the tarball is made).
#
# Why a tarball keyed by a hash: the base takes ~15 minutes under qemu-user, almost all of it
# dpkg and the kernel's initramfs. The hash covers packages.txt and this script, so a warm rebuild
# of the image reuses it and only the app layer (seconds) is redone.
#
# Usage: base.sh OUT_DIR   -> OUT_DIR/base-<hash>.tar and OUT_DIR/base-<hash>.wheels/
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:?usage: base.sh OUT_DIR}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
EVDEV_SDIST=${EVDEV_SDIST:?EVDEV_SDIST must name the evdev source tarball (downloaded on the host)}
# evdev 2's pyproject.toml needs setuptools >= 77; Debian's venv brings 65.
SETUPTOOLS_WHEEL=${SETUPTOOLS_WHEEL:?SETUPTOOLS_WHEEL must name a setuptools wheel (downloaded on the host)}

# shellcheck source=common.sh
source "$HERE/common.sh"

key=$(base_key)
tarball="$OUT/base-$key.tar"
wheels="$OUT/base-$key.wheels"
if [[ -s "$tarball" && -d "$wheels" ]]; then
    log "base: reusing $tarball"
    exit 0
fi

mkdir -p "$OUT"
work="$OUT/base-$key.work"
root="$work/rootfs"
cleanup() { chroot_umount "$root"; }
trap cleanup EXIT
chroot_umount "$root"
rm -rf "$work"
mkdir -p "$work"

log "base: debootstrap $SUITE arm64 (first stage)"
debootstrap --arch=arm64 --foreign --variant=minbase --components=main,non-free-firmware \
    --include=apt,ca-certificates "$SUITE" "$root" "$MIRROR"

# dpkg: no docs or man pages on a till (smaller image), and no fsync per file under emulation.
mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
cat > "$root/etc/dpkg/dpkg.cfg.d/01-tillbox" <<'CFG'
force-unsafe-io
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/lintian/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
CFG

log "base: debootstrap second stage (qemu-user, ~5 min)"
chroot "$root" /debootstrap/debootstrap --second-stage

cat > "$root/etc/apt/sources.list" <<SRC
deb $MIRROR $SUITE main non-free-firmware
deb $MIRROR $SUITE-updates main non-free-firmware
deb $SECURITY_MIRROR $SUITE-security main non-free-firmware
SRC
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    > "$root/etc/apt/apt.conf.d/90-tillbox"
# No daemon starts inside the build chroot.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

# A small initramfs: only the drivers for the Pi's SD card (3 and 4) and qemu's virtio disk.
# MODULES=most takes ~13 minutes under qemu-user; this list takes a fraction of it.
mkdir -p "$root/etc/initramfs-tools/conf.d" "$root/usr/share/initramfs-tools/modules.d"
printf 'MODULES=list\nCOMPRESS=zstd\n' > "$root/etc/initramfs-tools/conf.d/tillbox.conf"
cat > "$root/usr/share/initramfs-tools/modules.d/tillbox" <<'MODS'
ext4
mmc_block
sdhci_iproc
sdhci_pltfm
bcm2835
clk_raspberrypi
reset_raspberrypi
raspberrypi_cpufreq
virtio_mmio
virtio_pci
virtio_blk
MODS
# raspi-firmware's kernel hooks want /boot/firmware to be a mount point.
mkdir -p "$root/boot/firmware"

chroot_mount "$root"
mount --bind "$root/boot/firmware" "$root/boot/firmware"
cp /etc/resolv.conf "$root/etc/resolv.conf"

mapfile -t pkgs < <(package_list)
log "base: apt-get install ${#pkgs[@]} packages (qemu-user)"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get update
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${pkgs[@]}"
# systemd-resolved has just made /etc/resolv.conf a link into /run: the chroot needs the host's.
rm -f "$root/etc/resolv.conf"
cp /etc/resolv.conf "$root/etc/resolv.conf"

log "base: compile the evdev wheel in the chroot"
build_evdev_wheel "$root" "$work/wheels"
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root/etc/resolv.conf" "$root"/var/cache/debconf/*-old \
    "$root"/var/log/*.log "$root"/var/log/apt/* "$root/var/cache/ldconfig/aux-cache"
chroot "$root" dpkg-query -W -f '${Package} ${Version}\n' | LC_ALL=C sort > "$work/manifest.txt"

umount "$root/boot/firmware"
chroot_umount "$root"
log "base: tarball"
tar --numeric-owner --xattrs --sort=name -C "$root" -cf "$tarball.tmp" .
mv "$work/wheels" "$wheels"
mv "$work/manifest.txt" "$OUT/base-$key.manifest.txt"
mv "$tarball.tmp" "$tarball"
rm -rf "$work"
log "base: done: $tarball"
