#!/bin/bash
# The base for a Raspberry Pi 5 (and 3/4) image made from an official Raspberry Pi OS Lite (64-bit,
# bookworm) image that the user supplies: its root file system with the Tillbox packages added,
# and its boot partition's files (the Raspberry Pi kernels kernel8.img and kernel_2712.img, their
# initramfs, device trees, overlays). build.sh then applies the same app layer, system steps and
# partition layout as for the Debian image (PI_OS_IMAGE=... make image).
#
# Why: Debian bookworm's kernel has no Pi 5 (bcm2712) device tree; the Raspberry Pi kernel has.
#
# Usage: raspios.sh IMAGE OUT_DIR   (IMAGE: .img, .img.xz or .img.zst)
#   -> OUT_DIR/raspios-<key>.tar, .wheels/, .boot/, .manifest.txt
# The key covers the image's SHA-256, packages.txt and this script: a warm rebuild reuses it.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
IMAGE=${1:?usage: raspios.sh IMAGE OUT_DIR}
OUT=${2:?usage: raspios.sh IMAGE OUT_DIR}
EVDEV_SDIST=${EVDEV_SDIST:?EVDEV_SDIST must name the evdev source tarball (downloaded on the host)}
SETUPTOOLS_WHEEL=${SETUPTOOLS_WHEEL:?SETUPTOOLS_WHEEL must name a setuptools wheel (downloaded on the host)}
# shellcheck source=common.sh
source "$HERE/common.sh"
exec 3>&1 1>&2  # stdout: only the base's path, for build.sh

# Debian's kernel, firmware and initramfs are what Raspberry Pi OS replaces with its own.
DEBIAN_BOOT_PACKAGES=" linux-image-arm64 raspi-firmware initramfs-tools "
# Raspberry Pi OS services a till must not run: the console wizard that asks for a user name on
# first boot, its SSH switch and key regeneration (tillbox-firstboot does SSH), NetworkManager and
# ModemManager (systemd-networkd runs the network), the swap file (the root is read-only), the
# EEPROM updater (firmware changes only with a new card image) and the hotkey and mDNS daemons.
MASK_UNITS=(userconfig.service sshswitch.service regenerate_ssh_host_keys.service
    NetworkManager.service NetworkManager-wait-online.service NetworkManager-dispatcher.service
    ModemManager.service dphys-swapfile.service rpi-eeprom-update.service triggerhappy.service
    triggerhappy.socket avahi-daemon.service avahi-daemon.socket man-db.timer)

[[ -s "$IMAGE" ]] || { echo "raspios.sh: no image at $IMAGE" >&2; exit 1; }
key=$( { sha256sum < "$IMAGE"; grep -hv '^[[:space:]]*#' "$IMAGE_DIR/packages.txt" "$0"; } \
    | sha256sum | cut -c1-16)
base="$OUT/raspios-$key"
if [[ -s "$base.tar" && -d "$base.wheels" && -d "$base.boot" ]]; then
    log "raspios: reusing $base.tar"
    echo "$base" >&3
    exit 0
fi

rm -rf "$OUT"/raspios-*  # a base made from another image: not needed again
work="$base.work"
root="$work/rootfs"
mnt="$work/mnt"
cleanup() {
    chroot_umount "$root"
    if mountpoint -q "$mnt"; then umount "$mnt"; fi
}
trap cleanup EXIT
cleanup
rm -rf "$work"
mkdir -p "$root" "$mnt" "$work/boot" "$work/wheels"

log "raspios: unpacking $(basename "$IMAGE")"
case "$IMAGE" in
    *.xz) xz -dc "$IMAGE" > "$work/raspios.img" ;;
    *.zst) zstd -q -dc "$IMAGE" > "$work/raspios.img" ;;
    *) cp --sparse=always "$IMAGE" "$work/raspios.img" ;;
esac
# Raspberry Pi OS: MBR, 1 = FAT "bootfs" (type c), 2 = ext4 "rootfs" (type 83).
boot_type="" root_type=""
{ read -r boot_start _ boot_type; read -r root_start root_size root_type || true; } \
    < <(partitions "$work/raspios.img")
[[ $boot_type == c && $root_type == 83 ]] || {
    echo "raspios.sh: $(basename "$IMAGE") is not laid out like Raspberry Pi OS (FAT boot, ext4 root)" >&2; exit 1; }

mcopy -s -m -n -i "$work/raspios.img@@$((boot_start * 512))" '::*' "$work/boot/"
for f in config.txt cmdline.txt; do
    [[ -s "$work/boot/$f" ]] || { echo "raspios.sh: the image's boot partition has no $f" >&2; exit 1; }
done
[[ -e "$work/boot/kernel_2712.img" ]] || log "raspios: warning: no kernel_2712.img (no Pi 5 kernel) in this image"

mount -o "ro,loop,offset=$((root_start * 512)),sizelimit=$((root_size * 512))" "$work/raspios.img" "$mnt"
if ! grep -qs 'VERSION_CODENAME=bookworm' "$mnt/etc/os-release"; then
    echo "raspios.sh: the image's root is not bookworm (the app's wheels are for Python 3.11)" >&2; exit 1
fi
tar --numeric-owner --xattrs --xattrs-include='*' -C "$mnt" -cf - . | tar --numeric-owner --xattrs \
    --xattrs-include='*' -C "$root" -xf -
umount "$mnt"
rm -f "$work/raspios.img"

log "raspios: adding the Tillbox packages (qemu-user)"
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    > "$root/etc/apt/apt.conf.d/90-tillbox"
chroot_mount "$root"
rm -f "$root/etc/resolv.conf"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mapfile -t pkgs < <(package_list | while read -r p; do [[ $DEBIAN_BOOT_PACKAGES == *" $p "* ]] || echo "$p"; done)
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get update
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${pkgs[@]}"
build_evdev_wheel "$root" "$work/wheels"
chroot "$root" apt-get clean
systemctl --root="$root" mask "${MASK_UNITS[@]}"
rm -f "$root/etc/sudoers.d/010_pi-nopasswd" "$root/usr/sbin/policy-rc.d" "$root/etc/resolv.conf"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/var/log/apt/* "$root/var/swap"
chroot "$root" dpkg-query -W -f '${Package} ${Version}\n' | LC_ALL=C sort > "$work/manifest.txt"
chroot_umount "$root"

log "raspios: tarball"
tar --numeric-owner --xattrs --xattrs-include='*' --sort=name -C "$root" -cf "$base.tar.tmp" .
rm -rf "$base.boot" "$base.wheels"
mv "$work/boot" "$base.boot"
mv "$work/wheels" "$base.wheels"
mv "$work/manifest.txt" "$base.manifest.txt"
mv "$base.tar.tmp" "$base.tar"
rm -rf "$work"
log "raspios: done: $base.tar"
echo "$base" >&3
