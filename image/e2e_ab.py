"""The image's A/B update test, host side (image/e2e.sh runs it after e2e.py; `make image-test`).

Four boots of a test copy of the built image in qemu-system-aarch64. qemu's virt machine has no
Raspberry Pi firmware, so this script plays its part: before every power-on it reads cmdline.txt
from the copy's boot partition and boots the root it names, as the firmware would. The update
media are FAT "USB sticks" (label TILLUPDATE) holding a `.img.zst`, attached as a second disk.

1. slot A, first boot (`ab-update`): the shop is set up and sells; `tillbox-update` writes update 1
   (the built image plus a marker file) from the stick into slot B while the till sells one more;
   reboot.
2. slot B, its trial (`ab-check-update`): tillbox-boot-ok marks B good once the kiosk has been up
   30 s; the marker says this is update 1's root, the journal verifies, every sale is there. Then
   update 2, whose kiosk can never start, goes into slot A; reboot.
3. slot A, update 2's trial (`ab-trial`): the kiosk fails over and over; tillbox-boot-ok gives up
   and reboots (after 120 s: update 2 carries a shorter patience than the 600 s shipped).
4. slot B again (`ab-check`): the failed trial was dropped, B is still the good slot, nothing of
   the data partition was lost, the kiosk is up; power off.

The built image is never touched. Results are read back from the data partition with debugfs."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from e2e import (  # image/ is on sys.path when run as a script
    Disk,
    Guest,
    Report,
    arguments,
    boot_file,
    boot_files,
    check_png,
    firmware_cmdline,
    image_and_work,
    inject,
    log,
    prepare_disk,
    probe_files,
    read_back,
    run,
)

STICK_LABEL = "TILLUPDATE"
MARKER = "/etc/tillbox-e2e/release"
BROKEN_KIOSK = "[Service]\nExecStart=\nExecStart=/bin/false\n"
SHORT_PATIENCE = ("[Service]\nExecStart=\nExecStart=/usr/local/sbin/tillbox-ab mark-good "
                  "--wait-for till-kiosk.service --timeout 120\n")


def update_stick(image: Path, work: Path, name: str, extra: dict[str, tuple[Path | str, int]]) -> Path:
    """A new image (the built one, its root given the probe, a marker and `extra`), compressed as
    `make image` ships it, on a FAT stick."""
    new = work / f"{name}.img"
    run("cp", "--sparse=always", str(image), str(new))
    disk = Disk(new)
    disk.read_table()
    with tempfile.TemporaryDirectory() as staging:
        inject(disk.ext4(2), {**probe_files(), MARKER: (f"{name}\n", 0o644), **extra}, Path(staging))
    zst = work / f"{name}.img.zst"
    run("zstd", "-q", "-f", "-T0", "-3", str(new), "-o", str(zst))
    new.unlink()
    stick = work / f"stick-{name}.img"
    size_kib = (zst.stat().st_size >> 10) + 64 * 1024
    run("mkfs.vfat", "-C", "-n", STICK_LABEL, str(stick), str(size_kib))
    run("mcopy", "-i", str(stick), str(zst), f"::{image.stem.replace('-arm64', '')}-{name}-arm64.img.zst")
    zst.unlink()
    return stick


def slots_on_card(disk: Disk) -> dict[str, str]:
    """What the firmware would see now: the root cmdline.txt names and tillbox-ab.txt."""
    root = next((a for a in boot_file(disk, "cmdline.txt").split() if a.startswith("root=")), "")
    state = dict(ln.split("=", 1) for ln in boot_file(disk, "tillbox-ab.txt").splitlines() if "=" in ln)
    return {"root": root.rsplit("-", 1)[-1], "good": state.get("good", ""), "trying": state.get("trying", "")}


def boot(work: Path, disk: Disk, phase: str, report: Report, until: str, timeout: float,
         sticks: tuple[Path, ...] = (), end_timeout: float = 300) -> dict[str, Any]:
    """One power-on: wait for the probe's `until` event, then for qemu to end (reboot or power-off,
    both end it: -no-reboot)."""
    cmdline = firmware_cmdline(disk)
    log(f"{phase}: firmware boots {next(a for a in cmdline.split() if a.startswith('root='))}")
    guest = Guest(work, cmdline, phase, disk, sticks)
    state: dict[str, Any] = {}
    try:
        at, state["event"] = guest.wait_for(until, timeout, fail_on=("error",))
        log(f"{phase}: '{until}' at {at:.1f} s")
        state["event_at_s"] = round(at, 1)
    except TimeoutError as exc:
        report.check(False, f"{phase}: {exc} (console: {work / f'console-{phase}.log'})")
        state["wall_s"] = guest.finish(0)
        return state
    state["wall_s"] = round(guest.finish(end_timeout), 1)
    state["console"] = (work / f"console-{phase}.log").read_text(errors="replace")
    return state


def main(argv: list[str] | None = None) -> int:
    args = arguments(__doc__, "e2e-ab").parse_args(argv)
    image, work = image_and_work(args)
    started = time.monotonic()
    report = Report()
    figures = report.figures

    log(f"test copy of {image.name} and two update sticks in {work}")
    disk = prepare_disk(image, work, "4G")
    boot_files(disk, work)
    with tempfile.TemporaryDirectory() as staging:
        inject(disk.ext4(2), probe_files(), Path(staging))
    good = update_stick(image, work, "update1", {})
    bad = update_stick(image, work, "update2-broken", {
        "/etc/systemd/system/till-kiosk.service.d/zz-broken.conf": (BROKEN_KIOSK, 0o644),
        "/etc/systemd/system/tillbox-boot-ok.service.d/zz-e2e.conf": (SHORT_PATIENCE, 0o644)})
    figures["update stick"] = f"{good.stat().st_size >> 20} MiB FAT image"

    # 1. slot A: sell, update into B, reboot
    one = boot(work, disk, "ab-update", report, "ab-updated", args.timeout, (good,))
    updated = (one.get("event") or {})
    report.check(updated.get("returncode") == 0,
                 f"boot 1 (slot A): tillbox-update wrote slot B from the stick in {updated.get('seconds')} s "
                 f"while the till sold receipt {updated.get('sold_during_update')}: "
                 f"{(updated.get('output') or '').splitlines()[-1:] }")
    card = slots_on_card(disk)
    report.check(card == {"root": "03", "good": "a", "trying": "b"},
                 f"after the update the card boots slot B once, on trial: {card}")
    figures["boot 1: tillbox-update in the guest (write, read back, fsck)"] = f"{updated.get('seconds')} s"

    # 2. slot B: marked good; then the broken update into A
    two = boot(work, disk, "ab-check-update", report, "ab-updated", args.timeout, (bad,))
    card_after_trial = slots_on_card(disk)
    report.check(card_after_trial == {"root": "02", "good": "b", "trying": "a"},
                 f"update 2 written into slot A and on trial: {card_after_trial}")

    # 3. slot A: the kiosk never comes up; tillbox-boot-ok reboots into B
    three = boot(work, disk, "ab-trial", report, "ab-trial", args.timeout, end_timeout=600)
    trial = three.get("event") or {}
    report.check("running=a good=b trying=a" in trial.get("status", "")
                 and trial.get("cmdline_root", "").endswith("-03")
                 and trial.get("release") == "update2-broken",
                 f"boot 3 runs update 2 in slot A on trial, cmdline.txt already back on B: "
                 f"{trial.get('status')}, {trial.get('cmdline_root')}, root {trial.get('release')}")
    console = three.get("console", "")
    report.check("did not come up: rebooting into the previous slot" in console
                 and "reboot: Restarting system" in console,
                 f"tillbox-boot-ok gave up on the kiosk and rebooted (qemu ended {three.get('wall_s')} s "
                 "after power-on)")
    card = slots_on_card(disk)
    report.check(card["root"] == "03", f"the firmware's next boot is slot B again: {card}")

    # 4. slot B again: the failed trial dropped, data intact
    four = boot(work, disk, "ab-check", report, "done", args.timeout)
    card = slots_on_card(disk)
    report.check(card == {"root": "03", "good": "b", "trying": ""}, f"at the end: {card}")
    figures["boot 3: power-on to the reboot into the good slot"] = f"{three.get('wall_s')} s"
    for phase, state in (("boot 1", one), ("boot 2", two), ("boot 4", four)):
        figures[f"{phase}: qemu wall time"] = f"{state.get('wall_s')} s"

    results = work / "results"
    try:
        read_back(disk, results)
    except RuntimeError as exc:
        report.check(False, f"reading the data partition back: {exc}")
    check_results(report, results)
    figures["total A/B e2e time (host wall)"] = f"{time.monotonic() - started:.0f} s"
    return report.finish(work, "A/B e2e", (disk.path, good, bad))


def _load(results: Path, name: str) -> dict[str, Any]:
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def check_results(report: Report, results: Path) -> None:
    first, second, last = (_load(results, n) for n in ("ab-update", "ab-check-update", "ab-check"))
    sold_before = (first.get("receipts_after_update") or {}).get("count", 0)
    report.check(first.get("status") == "running=a good=a trying=-" and sold_before >= 4,
                 f"boot 1 ran slot A as built ({first.get('status')}, {first.get('release')}) and sold "
                 f"{sold_before} receipts, one of them during the update")
    check_png(report, results / "first-frame-ab-update.png", "boot 1's first frame (slot A)")
    check_png(report, results / "first-frame-ab-check-update.png", "boot 2's first frame (slot B, update 1)")
    boot_ok = second.get("boot_ok") or {}
    report.check(second.get("status") == "running=b good=b trying=-" and second.get("release") == "update1"
                 and boot_ok.get("Result") == "success",
                 f"boot 2 runs update 1 from slot B and marked it good: {second.get('status')}, root "
                 f"{second.get('release')}, boot-ok {boot_ok}, trial said {second.get('trial_log')}")
    sold_on_b = (second.get("receipts_after_update") or {}).get("count", sold_before + 1)
    for label, state, at_least in (("boot 2 (new root)", second, sold_before),
                                   ("boot 4 (after the fall-back)", last, sold_on_b)):
        journal, receipts = state.get("journal") or {}, state.get("receipts") or {}
        verified = journal.get("verify") or {}
        report.check(journal.get("returncode") == 0 and verified.get("ok") is True
                     and receipts.get("count", 0) >= at_least and receipts.get("gap_free") is True,
                     f"{label}: the journal verifies ({verified.get('entries')} entries) and all "
                     f"{receipts.get('count')} receipts are there (at least {at_least}, gap-free "
                     f"{receipts.get('gap_free')})")
    report.check(last.get("status") == "running=b good=b trying=-" and last.get("release") == "update1"
                 and any("did not come up; it was dropped" in ln for ln in last.get("trial_log") or []),
                 f"boot 4 is back on update 1 in slot B, the failed trial dropped: {last.get('status')}, "
                 f"root {last.get('release')}, trial said {last.get('trial_log')}")
    report.check((last.get("units") or {}).get("till-kiosk") == "active"
                 and (last.get("boot_ok") or {}).get("Result") == "success",
                 f"boot 4: the kiosk is up and the slot stays good ({last.get('units')}, "
                 f"{last.get('boot_ok')})")
    check_png(report, results / "first-frame-ab-check.png", "boot 4's first frame (slot B, fallen back)")


if __name__ == "__main__":
    sys.exit(main())
