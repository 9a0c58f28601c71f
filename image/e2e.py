"""The image's end-to-end test, host side (image/e2e.sh runs it; `make image-test` runs that).

Two boots of a test copy of the built image in qemu-system-aarch64 (virt machine, user-mode
network: the host is 10.0.2.2 from the guest), driven by the probe in image/e2e/:

1. first boot, `tillbox.e2e=day`: the kiosk's first frame is exported as a PNG (its test hook,
   switched on by a drop-in in the copy only); the shop sells and closes a day with transfer on and
   the guest's till-uploader posts it to the fake Dinero running here; then the till sells in a loop
   and qemu is SIGKILLed a few seconds into it: a power cut in the middle of a sale.
2. next boot, `tillbox.e2e=verify`: `till journal verify` and every sale reported done still there;
   the probe powers off cleanly, and its results and the PNGs are read back from the data
   partition with debugfs (no mounts: this machine has no vfat and no device-mapper).

Python rather than bash because the host reacts to the console while qemu runs (the kill) and
holds the fake Dinero in-process to ask it what arrived. Files are put into the copy's root with
`debugfs -w` and into its FAT with mtools; the built image is never touched."""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
GUEST = HERE / "e2e"
GUEST_DIR = "/usr/local/lib/tillbox-e2e"
CVR, REGISTER = "12345678", "1"
ORG = 4711
Seen = Callable[[float, str, dict[str, Any]], None]  # (seconds since qemu started, event, fields)
EVENT = re.compile(r"@@E2E (\S+) (\{.*\})")
TILLBOX_TOML = f"""[shop]
name = "Testbutikken"
cvr = "{CVR}"
address = "Testvej 1, 4000 Roskilde"
register_id = "{REGISTER}"
time_zone = "Europe/Copenhagen"
"""


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S', time.gmtime())} [e2e] {message}", file=sys.stderr, flush=True)


def run(*cmd: str, **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


# --- the disk ---------------------------------------------------------------------------------------


@dataclass
class Disk:
    """A test copy of the image and its partitions' byte offsets (1 boot, 2 root A, 4 data)."""

    path: Path
    starts: dict[int, int] = field(default_factory=dict)

    def read_table(self) -> None:
        table = json.loads(run("sfdisk", "-J", str(self.path)).stdout)["partitiontable"]
        self.starts = {i + 1: int(p["start"]) * 512 for i, p in enumerate(table["partitions"])}

    def fat(self, number: int = 1) -> str:
        return f"{self.path}@@{self.starts[number]}"

    def ext4(self, number: int) -> str:
        return f"{self.path}?offset={self.starts[number]}"


def prepare_disk(image: Path, work: Path, size: str) -> Disk:
    """Sparse copy, grown like a bigger SD card (first boot grows the data partition into it)."""
    disk = Disk(work / "disk.img")
    run("cp", "--sparse=always", str(image), str(disk.path))
    run("truncate", "-s", size, str(disk.path))
    disk.read_table()
    return disk


def boot_files(disk: Disk, work: Path) -> None:
    """tillbox.toml onto the FAT; kernel and initrd out of it (an update never changes them)."""
    toml = work / "tillbox.toml"
    toml.write_text(TILLBOX_TOML, encoding="utf-8")
    run("mcopy", "-o", "-i", disk.fat(), str(toml), "::tillbox.toml")
    run("mcopy", "-o", "-i", disk.fat(), "::vmlinuz", str(work / "vmlinuz"))
    run("mcopy", "-o", "-i", disk.fat(), "::initrd.img", str(work / "initrd.img"))


def firmware_cmdline(disk: Disk) -> str:
    """What the Pi's firmware does at every power-on: read cmdline.txt from the boot partition (so
    an A/B switch written by the guest takes effect on the next boot), with the serial console of
    qemu's virt machine."""
    cmdline = run("mtype", "-i", disk.fat(), "::cmdline.txt").stdout.replace("\r", " ").split()
    kept = [a for a in cmdline if not a.startswith(("console=", "quiet", "loglevel="))]
    return " ".join(["console=ttyAMA0", *kept, "loglevel=4"])


def boot_file(disk: Disk, name: str) -> str:
    return run("mtype", "-i", disk.fat(), f"::{name}").stdout.replace("\r", "")


def debugfs(target: str, commands: list[str], write: bool = False) -> str:
    """Run debugfs commands; it exits 0 even when a command fails, so its errors are looked for."""
    done = subprocess.run(["debugfs", *(["-w"] if write else []), "-f", "-", target],
                          input="\n".join(commands) + "\n", capture_output=True, text=True)
    errors = [ln for ln in done.stderr.splitlines()
              if ln.strip() and not ln.startswith("debugfs ") and "Allocated inode" not in ln]
    if done.returncode != 0 or errors:
        raise RuntimeError(f"debugfs on {target}: {'; '.join(errors) or done.returncode}")
    return done.stdout


def exists(target: str, path: str) -> bool:
    done = subprocess.run(["debugfs", "-R", f"stat {path}", target], capture_output=True, text=True)
    return "File not found" not in done.stderr and done.returncode == 0 and "Inode:" in done.stdout


def probe_files(dinero_env: str = "") -> dict[str, tuple[Path | str, int]]:
    """The probe, its unit, the kiosk's test drop-in and (for the day) the fake Dinero's address and
    credentials (0600, root): path in the guest -> (source file or text, mode)."""
    files: dict[str, tuple[Path | str, int]] = {
        f"{GUEST_DIR}/probe.py": (GUEST / "probe.py", 0o755),
        f"{GUEST_DIR}/sell_loop.py": (GUEST / "sell_loop.py", 0o644),
        "/etc/systemd/system/tillbox-e2e.service": (GUEST / "tillbox-e2e.service", 0o644),
        "/etc/systemd/system/till-kiosk.service.d/zz-e2e.conf": (GUEST / "till-kiosk-e2e.conf", 0o644),
    }
    if dinero_env:
        files["/etc/tillbox-e2e/dinero.env"] = (dinero_env, 0o600)
    return files


def inject(root: str, files: dict[str, tuple[Path | str, int]], staging: Path,
           enable: tuple[str, ...] = ("tillbox-e2e.service",)) -> None:
    """Files (owned by root) into an ext4 root, their directories made, units enabled."""
    commands: list[str] = []
    wanted = {Path(f).parent for f in files} | {Path("/etc/systemd/system/multi-user.target.wants")}
    for directory in sorted({str(p) for d in wanted for p in (d, *d.parents) if p != Path("/")}):
        if not exists(root, directory):
            commands.append(f"mkdir {directory}")
    for n, (guest_path, (source, mode)) in enumerate(files.items()):
        local = staging / f"file{n}"
        if isinstance(source, Path):
            shutil.copyfile(source, local)
        else:
            local.write_text(source, encoding="utf-8")
        local.chmod(mode)
        if exists(root, guest_path):
            commands.append(f"rm {guest_path}")
        commands += [f"write {local} {guest_path}", f"sif {guest_path} uid 0", f"sif {guest_path} gid 0"]
    wants = [f"/etc/systemd/system/multi-user.target.wants/{unit}" for unit in enable]
    for link, unit in zip(wants, enable, strict=True):
        if not exists(root, link):
            commands.append(f"symlink {link} /etc/systemd/system/{unit}")
    debugfs(root, commands, write=True)
    for guest_path in [*files, *wants]:
        if not exists(root, guest_path):
            raise RuntimeError(f"debugfs did not write {guest_path}")


def read_back(disk: Disk, out: Path) -> None:
    """The probe's results and the PNGs, from the data partition after a clean power-off."""
    disk.read_table()  # first boot grew partition 4 (its start stays)
    out.mkdir(parents=True, exist_ok=True)
    listing = debugfs(disk.ext4(4), ["ls -l /e2e"])
    names = sorted({w for w in listing.split() if w.endswith((".json", ".png", ".txt"))})
    debugfs(disk.ext4(4), [f"dump /e2e/{name} {out / name}" for name in names])


# --- qemu -----------------------------------------------------------------------------------------


class Guest:
    """One boot in qemu: the console is logged to a file and scanned for the probe's events."""

    def __init__(self, work: Path, cmdline: str, phase: str, disk: Disk, sticks: tuple[Path, ...] = ()):
        self.console = (work / f"console-{phase}.log").open("w", encoding="utf-8", errors="replace")
        self.events: Queue[tuple[float, str, dict[str, Any]]] = Queue()
        cmd = ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72", "-smp", "2", "-m", "2048",
               "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
               "-kernel", str(work / "vmlinuz"), "-initrd", str(work / "initrd.img"),
               "-append", f"{cmdline} tillbox.e2e={phase}",
               "-drive", f"file={disk.path},if=virtio,format=raw",
               *(a for stick in sticks for a in ("-drive", f"file={stick},if=virtio,format=raw,readonly=on")),
               "-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0,romfile="]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", errors="replace")
            self.console.write(line)
            self.console.flush()
            found = EVENT.search(line)
            if found:
                try:
                    fields = json.loads(found.group(2))
                except json.JSONDecodeError:  # a kernel message cut into the line
                    continue
                self.events.put((time.monotonic() - self.started, found.group(1), fields))

    def wait_for(self, event: str, timeout: float, seen: Seen | None = None,
                 fail_on: tuple[str, ...] = ()) -> tuple[float, dict[str, Any]]:
        """Events in order until `event` (each also handed to `seen`); TimeoutError if qemu ends
        first or an event in `fail_on` comes instead."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            ended = self.proc.poll() is not None
            if left <= 0 or (ended and self.events.empty() and not self._reader.is_alive()):
                why = "qemu ended" if ended else f"{timeout:.0f} s"
                raise TimeoutError(f"no '{event}' from the guest ({why})")
            try:
                at, name, fields = self.events.get(timeout=min(left, 1.0))
            except Empty:
                continue
            if seen is not None:
                seen(at, name, fields)
            if name == event:
                return at, fields
            if name in fail_on:
                raise TimeoutError(f"'{name}' {fields} instead of '{event}'")

    def pull_the_plug(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.finish(30)

    def finish(self, timeout: float) -> float:
        """Wait for qemu to end (the guest powers off); kill it after `timeout`. Wall seconds run."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=10)
        self.console.close()
        return time.monotonic() - self.started


# --- the checks -----------------------------------------------------------------------------------


@dataclass
class Report:
    checks: list[tuple[bool, str]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def check(self, ok: bool, what: str) -> bool:
        self.checks.append((bool(ok), what))
        print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
        return bool(ok)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(ok for ok, _ in self.checks)

    def finish(self, work: Path, what: str, scratch: tuple[Path, ...]) -> int:
        """result.json and the figures; the big scratch files (sparse disk copies, sticks) go when
        every check passed, and stay for a look with debugfs when one failed. The exit code."""
        (work / "result.json").write_text(json.dumps({"ok": self.ok, "checks": self.checks,
                                                      "figures": self.figures}, indent=2) + "\n")
        for key, value in self.figures.items():
            print(f"  {key}: {value}")
        print(f"{what} {'passed' if self.ok else 'FAILED'}: {work / 'result.json'}", flush=True)
        if self.ok:
            for f in scratch:
                f.unlink()
        return 0 if self.ok else 1


def png_problem(path: Path) -> str | None:
    """None when the PNG is a real screen: readable, screen-sized, more than a few colours and
    real contrast (an all-black or one-colour frame is what a failed GL read gives)."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            im.load()
            rgb = im.convert("RGB")
    except (OSError, ValueError) as exc:
        return f"unreadable: {exc}"
    width, height = rgb.size
    colours = rgb.getcolors(maxcolors=1 << 16)
    count = len(colours) if colours is not None else 1 << 16
    low, high = rgb.convert("L").getextrema()
    if width < 320 or height < 200:
        return f"too small: {width}x{height}"
    if count < 16 or high - low < 64:
        return f"blank: {count} colours, grey levels {low}-{high}"
    return None


def check_png(report: Report, path: Path, what: str) -> None:
    if not path.exists():
        report.check(False, f"{what}: no PNG read back ({path.name})")
        return
    problem = png_problem(path)
    from PIL import Image
    with Image.open(path) as im:
        size = f"{im.size[0]}x{im.size[1]}"
    report.check(problem is None, f"{what}: {path.name} {size} {problem or 'drawn (not blank)'}")


def expected_ledger_id(z_number: int) -> str:
    from appliance.dinero.ledger import ledger_id
    return ledger_id(CVR, REGISTER, z_number, 1)


# --- the run --------------------------------------------------------------------------------------


def boot_day(work: Path, cmdline: str, disk: Disk, report: Report, kill_after: float,
             timeout: float) -> dict[str, Any]:
    """First boot: first frame, a day into Dinero, then a sale loop with the plug pulled."""
    log("boot 1 (first boot): first frame, a day to Dinero, then a power cut while selling")
    guest = Guest(work, cmdline, "day", disk)
    state: dict[str, Any] = {"last_sold": 0}

    def seen(at: float, name: str, fields: dict[str, Any]) -> None:
        if name == "sold":
            state["last_sold"] = max(state["last_sold"], int(fields.get("receipt", 0)))
        else:
            log(f"guest at {at:.1f} s: {name}")
    try:
        at, frame = guest.wait_for("first-frame", timeout, seen, fail_on=("error",))
        state["frame"], state["frame_host_s"] = frame, at
        at, day = guest.wait_for("day", timeout, seen, fail_on=("error",))
        state["day"] = day
        at, _ = guest.wait_for("selling", 300, seen, fail_on=("sell-loop-ended",))
        selling_at = at
        delay = kill_after + random.uniform(0, 2)
        try:
            guest.wait_for("never", delay, seen)
        except TimeoutError:
            pass
        log(f"pulling the plug {time.monotonic() - guest.started - selling_at:.1f} s into selling "
            f"(last sale reported done: receipt {state['last_sold']})")
        guest.pull_the_plug()
        state["killed"] = True
    except TimeoutError as exc:
        report.check(False, f"boot 1: {exc} (console: {work / 'console-day.log'})")
        guest.finish(0)
        state["killed"] = False
    state["wall_s"] = time.monotonic() - guest.started
    return state


def boot_verify(work: Path, cmdline: str, disk: Disk, report: Report, timeout: float) -> dict[str, Any]:
    log("boot 2: after the power cut, verify the journal; then a clean power-off")
    guest = Guest(work, cmdline, "verify", disk)
    state: dict[str, Any] = {}
    try:
        at, state["frame"] = guest.wait_for("first-frame", timeout, fail_on=("error",))
        state["frame_host_s"] = at
        _at, state["verify"] = guest.wait_for("verify", timeout, fail_on=("error",))
        guest.wait_for("done", 120)
        state["wall_s"] = guest.finish(120)
    except TimeoutError as exc:
        report.check(False, f"boot 2: {exc} (console: {work / 'console-verify.log'})")
        state["wall_s"] = guest.finish(0)
    return state


def main(argv: list[str] | None = None) -> int:
    p = arguments(__doc__, "e2e")
    p.add_argument("--disk-size", default="4G")
    p.add_argument("--kill-after", type=float, default=float(os.environ.get("E2E_KILL_AFTER", "5")),
                   help="seconds of selling before the plug is pulled (plus up to 2 s at random)")
    args = p.parse_args(argv)
    image, work = image_and_work(args)
    started = time.monotonic()
    report = Report()
    sys.path.insert(0, str(REPO))
    from tests.fakes.dinero import FakeDinero

    log(f"test copy of {image.name} in {work}")
    disk = prepare_disk(image, work, args.disk_size)
    boot_files(disk, work)
    client_id, secret, api_key = "tillbox-e2e", secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    with FakeDinero(host="127.0.0.1") as fake, tempfile.TemporaryDirectory() as staging:
        fake.add_org(ORG, "Testbutikken ApS", pro=True)
        fake.add_personal_client(client_id, secret, api_key, ORG)
        api = f"http://10.0.2.2:{fake.port}"  # user-mode networking: the host's loopback, from the guest
        log(f"fake Dinero on {fake.url}, the guest reaches it as {api}")
        env = (f"TILLBOX_E2E_API={api}\nTILLBOX_E2E_ORG={ORG}\nTILLBOX_DINERO_CLIENT_ID={client_id}\n"
               f"TILLBOX_DINERO_CLIENT_SECRET={secret}\nTILLBOX_DINERO_API_KEY={api_key}\n")
        inject(disk.ext4(2), probe_files(env), Path(staging))
        day = boot_day(work, firmware_cmdline(disk), disk, report, args.kill_after, args.timeout)
        check_dinero(report, fake, day.get("day") or {})
        for token in (secret, api_key, *fake.issued_tokens()):  # no secret on the console
            if token in (work / "console-day.log").read_text(errors="replace"):
                report.check(False, "a Dinero secret appeared on the guest's console")
    verify = boot_verify(work, firmware_cmdline(disk), disk, report, args.timeout)
    results = work / "results"
    try:
        read_back(disk, results)
    except RuntimeError as exc:
        report.check(False, f"reading the data partition back: {exc}")
    check_all(report, results, day, verify)
    report.figures.update(figures(day, verify, time.monotonic() - started))
    return report.finish(work, "e2e", (disk.path,))


def arguments(doc: str | None, work: str) -> argparse.ArgumentParser:
    """The options every image e2e script takes: the image, its work directory, the boot timeout."""
    p = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    p.add_argument("image", type=Path, nargs="?", help="tillbox-<version>-arm64.img (default: the built one)")
    p.add_argument("--work", type=Path, default=REPO / "build/image" / work)
    p.add_argument("--timeout", type=float, default=float(os.environ.get("E2E_TIMEOUT", "1500")),
                   help="seconds each boot may take to reach its next step")
    return p


def image_and_work(args: argparse.Namespace) -> tuple[Path, Path]:
    """The image to test (default: the built one) and an emptied work directory; exit 1 (saying
    why) when there is no image."""
    image: Path = args.image or default_image()
    if not image.is_file():
        print(f"no image at {image}: run make image first", file=sys.stderr)
        raise SystemExit(1)
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    return image, args.work


def default_image() -> Path:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    return REPO / "build/image" / f"tillbox-{version}-arm64.img"


def check_dinero(report: Report, fake: Any, day: dict[str, Any]) -> None:
    z = day.get("z_number")
    report.check(day.get("ok") is True, f"the guest sold and closed Z {z}: {day.get('error') or 'ok'}")
    transfer = day.get("transfer") or {}
    report.check(transfer.get("state") == "sent",
                 f"the guest's till-uploader sent it (state {transfer.get('state')}, "
                 f"{day.get('upload_s')} s after the close; error {transfer.get('error')})")
    items = fake.ledger_items(ORG)
    report.check(len(items) == 1, f"the fake Dinero holds exactly one ledger item (has {len(items)})")
    if z is not None and items:
        report.check(items[0]["Id"] == expected_ledger_id(int(z)), f"it is Z {z}'s ({items[0]['Id']})")
        report.check(any(f["FileGuid"] == items[0].get("FileGuid") for f in fake.files(ORG)),
                     "with the Z report's PDF attached")
    report.check(fake.spec_violations == [], f"no spec violations ({fake.spec_violations[:3]})")


def check_all(report: Report, results: Path, day: dict[str, Any], verify: dict[str, Any]) -> None:
    frame = day.get("frame") or {}
    report.check(frame.get("ok") is True,
                 f"the kiosk drew its first screen on first boot: {frame.get('error', 'ok')}")
    check_png(report, results / "first-frame-day.png", "first boot's first frame")
    check_png(report, results / "first-frame-verify.png", "the next boot's first frame")
    report.check(day.get("killed") is True and day.get("last_sold", 0) > 0,
                 f"power cut while selling (last sale reported done: receipt {day.get('last_sold')})")
    v = verify.get("verify") or {}
    journal = v.get("verify") or {}
    report.check(v.get("returncode") == 0 and journal.get("ok") is True,
                 f"after the power cut the journal verifies: rc {v.get('returncode')}, "
                 f"{journal.get('entries')} entries, problem {journal.get('problem')}")
    receipts = v.get("receipts") or {}
    report.check(receipts.get("max", 0) >= day.get("last_sold", 1) and receipts.get("gap_free") is True,
                 f"every sale reported done survived ({receipts.get('count')} receipts, gap-free "
                 f"{receipts.get('gap_free')}, last reported {day.get('last_sold')})")
    units = v.get("units") or {}
    report.check(units.get("till-kiosk") == "active" and units.get("till-uploader") == "active",
                 f"after the power cut till-kiosk and till-uploader are up again ({units})")


def figures(day: dict[str, Any], verify: dict[str, Any], total: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, state in (("first boot", day), ("next boot", verify)):
        if state.get("wall_s") is not None:
            out[f"{label}: qemu wall time"] = f"{state['wall_s']:.1f} s"
        frame = state.get("frame") or {}
        if not frame.get("ok"):
            continue
        # READY=1 goes at the kiosk's first Clock tick; the PNG after the first flip, i.e. drawn
        if frame.get("frame_uptime_s") is not None:
            out[f"{label}: kiosk READY=1 (guest uptime)"] = f"{frame['frame_uptime_s']:.1f} s"
        guest = frame.get("png_uptime_s") or frame.get("seen_uptime_s")
        if guest is not None:
            out[f"{label}: boot to first kiosk frame drawn (guest uptime)"] = f"{guest:.1f} s"
        if state.get("frame_host_s") is not None:
            out[f"{label}: qemu start to first frame seen (host wall)"] = f"{state['frame_host_s']:.1f} s"
    if (day.get("day") or {}).get("upload_s") is not None:
        out["close-day to sent to Dinero (guest)"] = f"{day['day']['upload_s']} s"
    out["last receipt reported done before the power cut"] = day.get("last_sold")
    out["total e2e time (host wall)"] = f"{total:.0f} s"
    return out


if __name__ == "__main__":
    sys.exit(main())
