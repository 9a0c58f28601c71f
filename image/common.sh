#!/bin/bash
# Shared helpers for the image scripts (sourced, not run).
# Bash because the build is glue around debootstrap, chroot, mkfs and genimage; the parts with
# logic worth testing (first boot, tillbox.toml, the update slots) are Python.

IMAGE_DIR=${IMAGE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}

log() { printf '%s [image] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# The package list without comments or blank lines, in file order.
package_list() { sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$IMAGE_DIR/packages.txt"; }

# Cache key of the base: what goes into it (package list, the script, suite and mirror); comment
# lines do not count, so documenting base.sh does not cost a 15-minute rebuild.
base_key() {
    { grep -hv '^[[:space:]]*#' "$IMAGE_DIR/packages.txt" "$IMAGE_DIR/base.sh"
      echo "${SUITE:-bookworm} ${MIRROR:-}"; } \
        | sha256sum | cut -c1-16
}

chroot_mount() {
    local root=$1
    mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
    mountpoint -q "$root/sys" || mount -t sysfs sysfs "$root/sys"
    mountpoint -q "$root/dev" || mount --bind /dev "$root/dev"
    mountpoint -q "$root/dev/pts" || mount -t devpts devpts "$root/dev/pts"
}

chroot_umount() {
    local root=$1 m
    for m in boot/firmware dev/pts dev sys proc; do
        if [[ -d "$root/$m" ]] && mountpoint -q "$root/$m"; then umount -l "$root/$m"; fi
    done
}
