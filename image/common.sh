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
      echo "${SUITE:-bookworm} ${MIRROR:-http://deb.debian.org/debian}"; } \
        | sha256sum | cut -c1-16
}

# A disk image's partitions, one line each: start size type (sectors; the type as sfdisk writes
# it: c for FAT32 LBA, 83 for Linux).
partitions() {
    sfdisk -J "$1" | python3 -c 'import json, sys
for p in json.load(sys.stdin)["partitiontable"]["partitions"]:
    print(p["start"], p["size"], p["type"])'
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

# mke2fs -d copies each file's atime and ctime, and ctime is the build's (no tool can set it):
# set every inode's access, change and creation time to SOURCE_DATE_EPOCH afterwards, so the same
# tree gives the same bytes (e2fsprogs 1.47.1 can do this itself; bookworm has 1.47.0).
clamp_times() {
    local tree=$1 fs=$2 cmds errors
    if [[ -n $(find "$tree" \( -name '*"*' -o -name $'*\n*' \) -print -quit) ]]; then
        echo "clamp_times: a path in $tree has a quote or a newline" >&2; return 1
    fi
    cmds=$(mktemp)
    (cd "$tree" && find . -printf '/%P\n') | awk -v t="$SOURCE_DATE_EPOCH" \
        '{ for (i = 1; i <= 3; i++) printf "sif \"%s\" %s %d\n", $0, (i == 1 ? "atime" : i == 2 ? "ctime" : "crtime"), t }' \
        > "$cmds"
    errors=$(debugfs -w -f "$cmds" "$fs" 2>&1 >/dev/null | grep -v '^debugfs ' || true)
    rm -f "$cmds"
    [[ -z $errors ]] || { echo "clamp_times on $fs: $errors" | head -5 >&2; return 1; }
}

# evdev has no aarch64 wheel on PyPI: compile it in the arm64 chroot (qemu-user) into OUT_DIR,
# with a compiler that is removed again afterwards. EVDEV_SDIST and SETUPTOOLS_WHEEL are files
# downloaded on the host (evdev 2's pyproject.toml needs setuptools >= 77; bookworm's venv has 65).
build_evdev_wheel() {
    local root=$1 out=$2
    local build_deps=(gcc libc6-dev python3-dev linux-libc-dev)
    chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${build_deps[@]}"
    mkdir -p "$root/tmp/evdev" "$out"
    cp "$EVDEV_SDIST" "$SETUPTOOLS_WHEEL" "$root/tmp/evdev/"
    chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -ec '
        python3 -m venv /tmp/evdev/venv
        /tmp/evdev/venv/bin/pip install --quiet --no-index /tmp/evdev/setuptools-*.whl
        /tmp/evdev/venv/bin/pip wheel --no-index --no-build-isolation --no-deps -w /tmp/evdev/out \
            /tmp/evdev/evdev-*.tar.gz'
    cp "$root"/tmp/evdev/out/*.whl "$out/"
    rm -rf "$root/tmp/evdev"
    chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get purge -y --autoremove "${build_deps[@]}"
}
