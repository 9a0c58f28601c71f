"""A/B root slots for Tillbox: the box boots root A or root B, named by `root=PARTUUID=...-02|03` in
/boot/firmware/cmdline.txt. An update writes the other slot while the till keeps selling, then
points cmdline.txt at it for one trial boot; the data partition is never touched.

Why this scheme and not the Pi firmware's `tryboot`: tryboot needs the Raspberry Pi kernel's reboot
hook and the Pi 4/5 EEPROM; Debian's kernel on a Pi 3 or 4 has neither. Instead:

1. `update IMAGE` copies the image's root partition into the inactive slot, checks it (read back
   and compared by SHA-256, `e2fsck -n`, same kernel as the running boot partition), records
   `trying=<slot>` in /boot/firmware/tillbox-ab.txt and points cmdline.txt at the new slot.
2. On the trial boot `trial` (early, before sysinit) sees it runs on the slot being tried and at
   once points cmdline.txt back at the good slot: any failure from here on (kiosk never comes up,
   hang caught by the hardware watchdog, power cut) boots the old slot next time.
3. `mark-good` (tillbox-boot-ok.service) waits for till-kiosk to be active and then makes the new
   slot the good one. If the kiosk is not up within the timeout it reboots into the old slot.

What runs before step 2 (firmware, kernel, initramfs on the boot partition) is not changed by an
update, which is why `update` refuses a root built for another kernel.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DISK_ID = "7111b0c5"
SLOTS = {"a": 2, "b": 3}
BOOT = Path("/boot/firmware")
STATE_FILE = "tillbox-ab.txt"
CHUNK = 4 << 20
ROOT_RE = re.compile(r"root=PARTUUID=([0-9a-f]{8})-0([23])\b")


class SlotError(RuntimeError):
    """An update or a slot switch that must not go ahead; the message says why."""


@dataclass
class State:
    good: str = "a"
    trying: str = ""

    @staticmethod
    def parse(text: str) -> State:
        values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        good, trying = values.get("good", "a").strip(), values.get("trying", "").strip()
        if good not in SLOTS or trying not in ("", *SLOTS):
            raise SlotError(f"{STATE_FILE} is damaged: {text!r}")
        return State(good, trying)

    def render(self) -> str:
        return f"good={self.good}\ntrying={self.trying}\n"


def other(slot: str) -> str:
    return "b" if slot == "a" else "a"


def slot_of(cmdline: str) -> str:
    m = ROOT_RE.search(cmdline)
    if not m or m.group(1) != DISK_ID:
        raise SlotError(f"cannot tell the root slot from the kernel command line: {cmdline.strip()!r}")
    return "a" if m.group(2) == "2" else "b"


def cmdline_for(cmdline: str, slot: str) -> str:
    """The same command line, booting `slot`."""
    slot_of(cmdline)
    return ROOT_RE.sub(f"root=PARTUUID={DISK_ID}-0{SLOTS[slot]}", cmdline)


def partition_device(slot: str, root_dev: int | None = None, sysfs: Path = Path("/sys")) -> Path:
    """The slot's partition on the disk the running root is on. Not /dev/disk/by-partuuid: a USB
    stick with a Tillbox image written to it raw carries the very same partition ids."""
    dev = os.stat("/").st_dev if root_dev is None else root_dev
    running = (sysfs / "dev/block" / f"{os.major(dev)}:{os.minor(dev)}").resolve()
    if not (running / "partition").is_file():
        raise SlotError(f"the root file system is not on a partition ({running.name})")
    for child in sorted(running.parent.iterdir()):
        number = child / "partition"
        if number.is_file() and number.read_text().strip() == str(SLOTS[slot]):
            return Path("/dev") / child.name
    raise SlotError(f"the boot disk {running.parent.name} has no partition {SLOTS[slot]} for slot {slot}")


class Boot:
    """The boot partition, mounted read-only; writes remount it read-write for a moment."""

    def __init__(self, path: Path = BOOT, remount: bool = True):
        self.path, self.remount = path, remount

    def read_state(self) -> State:
        f = self.path / STATE_FILE
        return State.parse(f.read_text()) if f.exists() else State()

    def cmdline(self) -> str:
        return (self.path / "cmdline.txt").read_text()

    def write(self, state: State, cmdline: str) -> None:
        # cmdline.txt last: it is what the firmware acts on.
        self.replace((STATE_FILE, state.render()), ("cmdline.txt", cmdline))

    def replace(self, *files: tuple[str, str]) -> None:
        """Replace whole files, in order, each one atomically (written aside, synced, renamed)."""
        if self.remount:
            subprocess.run(["mount", "-o", "remount,rw", str(self.path)], check=True)
        try:
            for name, text in files:
                tmp = self.path / (name + ".new")
                with open(tmp, "w", encoding="utf-8") as f:
                    f.write(text)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path / name)
            os.sync()
        finally:
            if self.remount:
                subprocess.run(["mount", "-o", "remount,ro", str(self.path)], check=False)


def trial(boot: Boot, running: str) -> str:
    """Early on every boot: arm the fall-back of a trial, or notice a trial that failed."""
    state = boot.read_state()
    if not state.trying:
        return f"slot {running}: normal boot"
    if state.trying == running:
        boot.write(state, cmdline_for(boot.cmdline(), state.good))
        return f"slot {running}: trial boot, the next boot falls back to {state.good} unless marked good"
    boot.write(State(state.good), cmdline_for(boot.cmdline(), state.good))
    return f"slot {running}: the update in slot {state.trying} did not come up; it was dropped"


def mark_good(boot: Boot, running: str) -> str:
    state = boot.read_state()
    if state.trying != running:
        return f"slot {running} is the good slot"
    boot.write(State(running), cmdline_for(boot.cmdline(), running))
    return f"slot {running} marked good"


def _unit(unit: str) -> tuple[str, str]:
    out = subprocess.run(["systemctl", "show", "-p", "ActiveState", "-p", "NRestarts", unit],
                         capture_output=True, text=True).stdout
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return values.get("ActiveState", ""), values.get("NRestarts", "")


def wait_active(unit: str, timeout: float, settle: float = 30) -> bool:
    """Active, and still active without a restart `settle` seconds later (not a crash loop)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        state, restarts = _unit(unit)
        if state == "active":
            time.sleep(settle)
            if _unit(unit) == ("active", restarts):
                return True
        time.sleep(2)
    return False


def root_partition(header: bytes) -> tuple[int, int]:
    """(offset, length) in bytes of partition 2 (root A) in an image's MBR."""
    if len(header) < 512 or header[510:512] != b"\x55\xaa":
        raise SlotError("not a disk image (no MBR)")
    entry = header[446 + 16: 446 + 32]
    start, sectors = int.from_bytes(entry[8:12], "little"), int.from_bytes(entry[12:16], "little")
    if entry[4] != 0x83 or not sectors:
        raise SlotError("the image has no Linux root in partition 2")
    return start * 512, sectors * 512


def open_image(path: Path) -> Iterator[bytes]:
    """The image's bytes, decompressing .zst and .xz on the fly."""
    tool = {".zst": ["zstd", "-dc"], ".xz": ["xz", "-dc"]}.get(path.suffix)
    if tool is None:
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk
        return
    proc = subprocess.Popen([*tool, str(path)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    while chunk := proc.stdout.read(CHUNK):
        yield chunk
    if proc.wait() != 0:
        raise SlotError(f"{path.name} could not be decompressed")


def copy_root(image: Path, target: Path) -> str:
    """Stream the image's root partition into `target`; returns its SHA-256."""
    stream, buf, pos = open_image(image), b"", 0
    for chunk in stream:
        buf += chunk
        if len(buf) >= 512:
            break
    offset, length = root_partition(buf[:512])
    room = target_size(target)
    if length > room:
        raise SlotError(f"the new root ({length >> 20} MiB) does not fit the slot ({room >> 20} MiB)")
    digest, written = hashlib.sha256(), 0
    with open(target, "r+b", buffering=0) as out:
        for chunk in _chain(buf, stream):
            lo, hi = max(offset - pos, 0), min(offset + length - pos, len(chunk))
            pos += len(chunk)
            if lo < hi:
                piece = chunk[lo:hi]
                out.write(piece)
                digest.update(piece)
                written += len(piece)
            if written == length:
                break
        os.fsync(out.fileno())
    if written != length:
        raise SlotError("the image ended before its root partition did")
    return digest.hexdigest() + f":{length}"


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def target_size(target: Path) -> int:
    with open(target, "rb") as f:
        return f.seek(0, os.SEEK_END)


def read_back(target: Path, length: int) -> str:
    subprocess.run(["blockdev", "--flushbufs", str(target)], check=False)
    digest, left = hashlib.sha256(), length
    with open(target, "rb") as f:
        while left:
            chunk = f.read(min(CHUNK, left))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest() + f":{length - left}"


def check_kernel(target: Path) -> None:
    release = os.uname().release
    listing = subprocess.run(["debugfs", "-R", "ls -p /usr/lib/modules", str(target)], capture_output=True,
                             text=True).stdout
    if f"/{release}/" not in listing:
        raise SlotError(f"the new root has no modules for the running kernel {release}: updating the "
                        "kernel needs a new SD card image (see image/README.md)")


def update(boot: Boot, running: str, image: Path) -> str:
    state = boot.read_state()
    if state.trying:
        raise SlotError(f"an update to slot {state.trying} is still on trial; reboot first")
    slot = other(running)
    target = partition_device(slot)
    print(f"writing {image.name} into slot {slot} ({os.path.realpath(target)})", flush=True)
    written = copy_root(image, target)
    if read_back(target, int(written.split(":")[1])) != written:
        raise SlotError(f"slot {slot} does not read back as written: the SD card may be failing")
    fsck = subprocess.run(["e2fsck", "-fn", str(target)], capture_output=True, text=True)
    if fsck.returncode != 0:
        raise SlotError(f"the new root does not check clean: {fsck.stdout.strip()[-300:]}")
    check_kernel(target)
    boot.write(State(running, slot), cmdline_for(boot.cmdline(), slot))
    return f"slot {slot} written and checked; it is tried on the next reboot"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tillbox-ab", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("status")
    sub.add_parser("trial")
    g = sub.add_parser("mark-good")
    g.add_argument("--wait-for", default="")
    g.add_argument("--timeout", type=float, default=600)
    u = sub.add_parser("update")
    u.add_argument("image", type=Path)
    args = p.parse_args(argv)
    boot = Boot()
    try:
        running = slot_of(Path("/proc/cmdline").read_text())
        if args.cmd == "status":
            state = boot.read_state()
            print(f"running={running} good={state.good} trying={state.trying or '-'}")
        elif args.cmd == "trial":
            print(trial(boot, running))
        elif args.cmd == "mark-good":
            if args.wait_for and not wait_active(args.wait_for, args.timeout):
                if boot.read_state().trying == running:
                    print(f"{args.wait_for} did not come up: rebooting into the previous slot", flush=True)
                    subprocess.run(["systemctl", "reboot"], check=False)
                return 1
            print(mark_good(boot, running))
        else:
            print(update(boot, running, args.image))
    except (SlotError, OSError, subprocess.CalledProcessError) as exc:
        print(f"tillbox-ab: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
