#!/bin/bash
# A stand-in for an official Raspberry Pi OS Lite (64-bit, bookworm) image, for testing the Pi 5
# path (raspios.sh, PI_OS_IMAGE=... make image) on a machine that cannot download the real one.
#
# It has Raspberry Pi OS's layout and the things the customisation must deal with:
#   - MBR with its own disk id; 1 = FAT "bootfs" (type c, 512 MiB), 2 = ext4 "rootfs" (type 83);
#   - bootfs: Raspberry Pi OS's config.txt and cmdline.txt (console=serial0, root=PARTUUID=<id>-02,
#     init=/usr/lib/raspberrypi-sys-mods/firstboot), the firmware files, kernel8.img +
#     initramfs8, kernel_2712.img + initramfs_2712, DTBs, overlays/;
#   - rootfs: bookworm with /etc/rpi-issue, a user with a password and passwordless sudo, and
#     userconfig.service (the console wizard that asks for a user name) enabled.
# What is not the real thing: the root is the Debian base of `make image` (cached), and the
# kernels are Debian's arm64 kernel under Raspberry Pi OS's file names (so qemu can boot the
# result); kernel_2712.img is that same kernel and there is no bcm2712 device tree.
#
# Usage (root): raspios-standin.sh OUT.img   (after one `make image`, whose base it reuses)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
OUT_IMG=${1:?usage: raspios-standin.sh OUT.img}
CACHE=${CACHE:-$REPO/build/image/cache}
# shellcheck source=common.sh
source "$HERE/common.sh"

key=$(base_key)
base="$CACHE/base-$key.tar"
[[ -s "$base" ]] || { echo "no cached base at $base: run make image first" >&2; exit 1; }
work=$(mktemp -d "${OUT_IMG%/*}/standin.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/rootfs" boot="$work/bootfs"
mkdir -p "$root" "$boot/overlays" "$work/img"
tar --numeric-owner --xattrs -C "$root" -xf "$base"

kver=$(basename "$(find "$root/usr/lib/modules" -mindepth 1 -maxdepth 1 | sort -V | tail -1)")
cp "$root/usr/lib/raspi-firmware"/* "$boot/"
for k in kernel8.img kernel_2712.img; do cp "$root/boot/vmlinuz-$kver" "$boot/$k"; done
for i in initramfs8 initramfs_2712; do cp "$root/boot/initrd.img-$kver" "$boot/$i"; done
cp "$root/usr/lib/linux-image-$kver/broadcom"/bcm2711-rpi-4-b.dtb "$boot/"
echo "Raspberry Pi OS stand-in: overlays would be here" > "$boot/overlays/README"
echo "Raspberry Pi reference 2025-05-13 (stand-in)" > "$boot/issue.txt"
cat > "$boot/config.txt" <<'CFG'
# For more options and information see
# http://rptl.io/configtxt
# Some settings may impact device functionality. See link above for details

# Enable audio (loads snd_bcm2835)
dtparam=audio=on

# Automatically load overlays for detected cameras
camera_auto_detect=1

# Automatically load overlays for detected DSI displays
display_auto_detect=1

# Automatically load initramfs files, if found
auto_initramfs=1

# Enable DRM VC4 V3D driver
dtoverlay=vc4-kms-v3d
max_framebuffers=2

# Don't have the firmware create an initial video= setting in cmdline.txt.
# Use the kernel's default instead.
disable_fw_kms_setup=1

# Run in 64-bit mode
arm_64bit=1

# Disable compensation for displays with overscan
disable_overscan=1

# Run as fast as firmware / board allows
arm_boost=1

[cm4]
otg_mode=1

[all]
CFG
echo "console=serial0,115200 console=tty1 root=PARTUUID=5e3da3da-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot" \
    > "$boot/cmdline.txt"

# The root: what Raspberry Pi OS has that a till must not keep.
echo "Raspberry Pi reference 2025-05-13 (stand-in)" > "$root/etc/rpi-issue"
chroot "$root" /bin/sh -ec '
    useradd --create-home --groups sudo --shell /bin/bash pi 2>/dev/null || useradd --create-home --shell /bin/bash pi
    echo "pi:raspberry" | chpasswd'
mkdir -p "$root/etc/sudoers.d"
echo "pi ALL=(ALL) NOPASSWD: ALL" > "$root/etc/sudoers.d/010_pi-nopasswd"
chmod 440 "$root/etc/sudoers.d/010_pi-nopasswd"
cat > "$root/usr/lib/systemd/system/userconfig.service" <<'UNIT'
[Unit]
Description=User configuration dialog (stand-in: fails, so a root that still runs it is caught)
[Service]
Type=oneshot
ExecStart=/bin/false
[Install]
WantedBy=multi-user.target
UNIT
ln -sf /usr/lib/systemd/system/userconfig.service "$root/etc/systemd/system/multi-user.target.wants/"
rm -f "$root/etc/resolv.conf"

mke2fs -q -t ext4 -L rootfs -d "$root" "$work/img/rootfs.ext4" 2G
cat > "$work/genimage.cfg" <<'CFG'
image bootfs.vfat {
	vfat { label = "bootfs" }
	size = 512M
}
image raspios.img {
	hdimage {
		partition-table-type = "mbr"
		disk-signature = 0x5e3da3da
	}
	partition bootfs {
		partition-type = 0x0C
		offset = 4M
		image = "bootfs.vfat"
	}
	partition rootfs {
		partition-type = 0x83
		image = "rootfs.ext4"
	}
}
CFG
genimage --config "$work/genimage.cfg" --rootpath "$boot" --inputpath "$work/img" --outputpath "$work/img" \
    --tmppath "$work/genimage-tmp" > "$work/genimage.log" 2>&1 || { cat "$work/genimage.log" >&2; exit 1; }
mv "$work/img/raspios.img" "$OUT_IMG"
log "stand-in Raspberry Pi OS Lite image: $OUT_IMG"
