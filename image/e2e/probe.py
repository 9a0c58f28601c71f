#!/usr/bin/python3
"""Guest side of the image's end-to-end test (image/e2e.py puts this in a test copy of the image).

Runs as root from tillbox-e2e.service after first boot, with Debian's python3 (stdlib only, like
first boot), and drives the till through its own `till` command as the service user, exactly as
an installer or the kiosk would. The phase comes from the kernel command line (`tillbox.e2e=`),
so the host decides what each boot does without writing to a data partition it cannot mount:

* `day`: wait for the kiosk's first frame (the PNG its test hook writes), set the shop up if first
  boot did not, connect Dinero (personal integration, the host's fake at 10.0.2.2), sell, close the
  day with transfer on, wait until till-uploader has sent it, then sell in a loop until the host
  pulls the plug (SIGKILL of qemu).
* `verify`: after that power cut, check the journal (`till journal verify`) and that every sale the
  loop reported done is still there, then power off.

Results go two ways: `@@E2E <event> <json>` lines on the serial console (live: the host kills
qemu on `selling`) and JSON files in /data/e2e (read by the host with debugfs after a clean
power-off). No secret is ever printed: the Dinero credentials stay in the environment of `till`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# The paths are the image's; the environment overrides them only to try the probe on a workstation.
TILL = os.environ.get("TILLBOX_E2E_TILL", "/opt/tillbox/.venv/bin/till")
VENV_PY = os.environ.get("TILLBOX_E2E_PYTHON", "/opt/tillbox/.venv/bin/python")
DATA = os.environ.get("TILLBOX_E2E_DATA", "/var/lib/tillbox")
OUT = Path(os.environ.get("TILLBOX_E2E_OUT", "/data/e2e"))
CONFIG = Path(os.environ.get("TILLBOX_E2E_CONFIG", "/etc/tillbox-e2e/dinero.env"))
USER = os.environ.get("TILLBOX_E2E_USER", "till")
CONSOLE = os.environ.get("TILLBOX_E2E_CONSOLE", "/dev/console")
SELL_LOOP = Path(__file__).with_name("sell_loop.py")
FIRST_FRAME = Path(DATA) / "e2e-first-frame.png"
FRAME_TIMEOUT_S = 900         # first boot: first-boot set-up, then the kiosk, all emulated
VERIFY_FRAME_TIMEOUT_S = 600
UPLOAD_TIMEOUT_S = 600
CATALOG = """sku,barcode,name,price,vat_rate,group
MILK,5701234567899,Sødmælk 1 l,12.95,25,Mejeri
BREAD,5701234567912,Rugbrød,22.00,25,Brød
PAPER,5701234567929,Dagblad,30.00,0,Aviser
COFFEE,,Kaffe,49.95,25,Kolonial
"""
ACCOUNTS = {"revenue:default": 1000, "revenue:Aviser": 1010, "cash": 55040, "bank": 55000,
            "differences": 7380, "rounding": 7390, "payment:card": 55100, "payment:mobilepay": 55110,
            "payment:manual_card": 55100, "payment:gift_voucher": 2900}
ANNA_PIN = "1234"  # `till sell` from the shell needs the cashier's PIN (in the request)
DAY_SALES = [
    {"cashier": "anna", "lines": [{"sku": "MILK", "qty": 2}, {"sku": "PAPER"}],
     "payments": [{"type": "card", "amount": "55.90", "brand": "Dankort"}]},
    {"cashier": "anna", "lines": [{"sku": "BREAD"}, {"sku": "COFFEE"}],
     "payments": [{"type": "cash", "amount": "100.00"}]},
    {"cashier": "anna", "lines": [{"barcode": "5701234567899", "qty": 1}],
     "payments": [{"type": "mobilepay", "amount": "12.95"}]},
]
DAY_CASH = "72.00"  # 22.00 + 49.95 = 71.95, paid in cash: rounded to 72.00

_console: Any = None


def say(event: str, **fields: Any) -> None:
    """One line for the host on the serial console (and the unit's log)."""
    global _console
    line = f"@@E2E {event} {json.dumps(fields, sort_keys=True)}\n"
    sys.stdout.write(line)
    sys.stdout.flush()
    if not CONSOLE:
        return
    try:
        if _console is None:
            _console = open(CONSOLE, "w", encoding="utf-8")  # kept open for the whole run
        _console.write(line)
        _console.flush()
    except OSError:
        pass


def uptime() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


def save_journal(phase: str) -> None:
    """This boot's log (it lives in RAM on the appliance) for a look afterwards; the app logs no secrets."""
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / f"journal-{phase}.txt", "w", encoding="utf-8") as f:
        subprocess.run(["journalctl", "-b", "--no-pager", "-o", "short-monotonic"], stdout=f)
        f.flush()
        os.fsync(f.fileno())


def save(name: str, data: dict[str, Any]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def config() -> dict[str, str]:
    values = {}
    for line in CONFIG.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def as_user(*cmd: str) -> list[str]:
    """As the service user (what the till writes must stay the service's); USER empty: as is."""
    return ["/usr/sbin/runuser", "-u", USER, "--", *cmd] if USER else list(cmd)


def till(*args: str, stdin: str | None = None, env: dict[str, str] | None = None,
         check: bool = True) -> tuple[int, Any]:
    """`till --json ...` as the service user; its JSON answer (None when it printed nothing)."""
    done = subprocess.run(as_user(TILL, "--json", "--data", DATA, *args),
                          input=stdin, capture_output=True, text=True, env={**os.environ, **(env or {})},
                          cwd="/")
    try:
        out = json.loads(done.stdout) if done.stdout.strip() else None
    except json.JSONDecodeError:
        out = done.stdout.strip()
    if check and done.returncode != 0:
        raise RuntimeError(f"till {args[0]} {args[1] if len(args) > 1 else ''} failed "
                           f"({done.returncode}): {done.stderr.strip()[-400:]}")
    return done.returncode, out


def unit_state(unit: str) -> str:
    return subprocess.run(["systemctl", "is-active", unit], capture_output=True, text=True).stdout.strip()


def boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0


def first_frame(phase: str, timeout: float = FRAME_TIMEOUT_S) -> dict[str, Any]:
    """Wait for this boot's first kiosk frame (the PNG the kiosk's test hook writes once per start;
    one left from an earlier boot is older than this boot) and keep a copy per phase. When it was
    written comes from the kiosk's own log line (monotonic time = uptime); the poll is the fallback."""
    deadline = time.monotonic() + timeout
    booted = boot_time() - 1  # btime is whole seconds
    while not (FIRST_FRAME.exists() and FIRST_FRAME.stat().st_mtime >= booted):
        if time.monotonic() > deadline:
            return {"ok": False, "error": f"no new {FIRST_FRAME} after {timeout:.0f} s",
                    "kiosk": unit_state("till-kiosk")}
        time.sleep(0.5)
    seen = uptime()
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(FIRST_FRAME, OUT / f"first-frame-{phase}.png")
    result: dict[str, Any] = {"ok": True, "seen_uptime_s": seen, "png_bytes": FIRST_FRAME.stat().st_size}
    logged = subprocess.run(["journalctl", "-b", "-u", "till-kiosk", "-o", "json", "--no-pager"],
                            capture_output=True, text=True).stdout
    for line in logged.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        message = entry.get("MESSAGE")
        if isinstance(message, str) and "event=kiosk_first_frame" in message:
            key = "png_uptime_s" if "first_frame_png" in message else "frame_uptime_s"
            result.setdefault(key, int(entry["__MONOTONIC_TIMESTAMP"]) / 1e6)
            if key == "frame_uptime_s" and "seconds=" in message:
                result["kiosk_start_to_frame_s"] = float(message.rsplit("seconds=", 1)[1].split()[0])
    return result


def set_up_shop() -> dict[str, Any]:
    """First boot sets the shop up when tillbox.toml has CVR and address; otherwise do it here."""
    code, _out = till("cashier", "list", check=False)
    initialised_by_first_boot = code == 0
    if not initialised_by_first_boot:
        till("init", "--shop-name", "Testbutikken", "--cvr", "12345678",
             "--address", "Testvej 1, 4000 Roskilde")
    OUT.mkdir(parents=True, exist_ok=True)
    catalog = OUT / "catalog.csv"  # readable by the service user (root's /tmp may be private)
    catalog.write_text(CATALOG, encoding="utf-8")
    catalog.chmod(0o644)
    till("catalog", "import", str(catalog))
    for key, number in ACCOUNTS.items():
        till("accounts", "set", key, str(number))
    _code, cashiers = till("cashier", "list")
    if not any(c.get("id") == "anna" for c in cashiers or []):
        till("cashier", "add", "anna", "--name", "Anna", "--pin", ANNA_PIN)
    return {"initialised_by_first_boot": initialised_by_first_boot}


def close_a_day(cfg: dict[str, str]) -> dict[str, Any]:
    api = cfg["TILLBOX_E2E_API"]
    secrets = {k: cfg[k] for k in ("TILLBOX_DINERO_CLIENT_ID", "TILLBOX_DINERO_CLIENT_SECRET",
                                   "TILLBOX_DINERO_API_KEY")}
    _code, connected = till("dinero", "connect", "--personal", "--org", cfg["TILLBOX_E2E_ORG"],
                            "--api-base", api, "--auth-url", f"{api}/dineroapi/oauth/token", env=secrets)
    till("dinero", "auto", "on")
    receipts = []
    for sale in DAY_SALES:
        _code, receipt = till("sell", "--json-in", "-", stdin=json.dumps({**sale, "pin": ANNA_PIN}))
        receipts.append(receipt.get("receipt_number"))
    _code, report = till("close-day", "--counted-cash", DAY_CASH)
    z_number = report["z_number"]
    say("day-closed", z=z_number, receipts=receipts)
    started = time.monotonic()
    state: dict[str, Any] = {}
    while time.monotonic() - started < UPLOAD_TIMEOUT_S:
        _code, reports = till("reports", "list")
        state = next((r for r in reports if r.get("z_number") == z_number), {})
        if state.get("state") in ("sent", "failed"):
            break
        time.sleep(2)
    return {"org_id": (connected or {}).get("org_id"), "receipts": receipts, "z_number": z_number,
            "transfer": state, "upload_s": round(time.monotonic() - started, 1),
            "uploader": unit_state("till-uploader")}


def sell_until_killed() -> None:
    """Sales in a loop (one process, the app's own sell()), each reported once it has returned;
    the host pulls the plug a few seconds after the first."""
    proc = subprocess.Popen(as_user(VENV_PY, str(SELL_LOOP), DATA, "loop"), stdout=subprocess.PIPE,
                            text=True, cwd="/")
    assert proc.stdout is not None
    for line in proc.stdout:
        parts = line.split()
        if parts[:1] == ["ready"]:
            say("selling")
        elif parts[:1] == ["sold"]:
            say("sold", receipt=int(parts[1]))
    say("sell-loop-ended", returncode=proc.wait())


def phase_day() -> None:
    cfg = config()
    frame = first_frame("day")
    save("first-frame-day", frame)
    say("first-frame", **frame)
    units = {u: unit_state(u) for u in ("tillbox-firstboot", "till-kiosk", "till-uploader")}
    try:
        shop = set_up_shop()
        day = {"ok": True, **shop, **close_a_day(cfg), "units": units}
    except (RuntimeError, KeyError, OSError) as exc:
        day = {"ok": False, "error": str(exc), "units": units}
    save("day", day)
    save_journal("day")
    say("day", **day)
    sell_until_killed()


def receipts_state() -> dict[str, Any]:
    """The receipts that survived, from the app's own database (sell_loop.py state)."""
    done = subprocess.run(as_user(VENV_PY, str(SELL_LOOP), DATA, "state"), capture_output=True, text=True,
                          cwd="/")
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        return {"error": done.stderr.strip()[-400:]}


def phase_verify() -> None:
    """First thing after the power cut: the journal and the sales; then the kiosk's first frame on
    this (normal) boot, and only then the services, which take a while to start under emulation."""
    code, verified = till("journal", "verify", check=False)
    receipts = receipts_state()
    say("verified", returncode=code, uptime_s=uptime())
    frame = first_frame("verify", VERIFY_FRAME_TIMEOUT_S)
    save("first-frame-verify", frame)
    say("first-frame", **frame)
    result = {"returncode": code, "verify": verified, "receipts": receipts, "uptime_s": uptime(),
              "units": {u: unit_state(u) for u in ("till-kiosk", "till-uploader")},
              "failed": subprocess.run(["systemctl", "--failed", "--no-legend", "--plain"],
                                       capture_output=True, text=True).stdout.splitlines()[:20]}
    save("verify", result)
    save_journal("verify")
    say("verify", **result)


# --- A/B updates (image/e2e_ab.py) -------------------------------------------------------------
STICK_LABEL = "TILLUPDATE"
MARKER = Path("/etc/tillbox-e2e/release")  # written into the test's update images only
AB_SALE = {"cashier": "anna", "lines": [{"sku": "MILK"}, {"sku": "BREAD"}],
           "payments": [{"type": "card", "amount": "34.95", "brand": "Visa"}]}


def ab_state() -> dict[str, Any]:
    """Which slot runs, what tillbox-ab.txt and cmdline.txt say, which root this is, the trial's
    log line."""
    status = subprocess.run(["/usr/local/sbin/tillbox-ab", "status"], capture_output=True, text=True)
    cmdline = Path("/boot/firmware/cmdline.txt").read_text(encoding="utf-8")
    trial = subprocess.run(["journalctl", "-b", "-u", "tillbox-ab-trial", "-o", "cat", "--no-pager"],
                           capture_output=True, text=True).stdout
    return {"status": status.stdout.strip() or status.stderr.strip(),
            "cmdline_root": next((a for a in cmdline.split() if a.startswith("root=")), ""),
            "release": MARKER.read_text(encoding="utf-8").strip() if MARKER.exists() else "as built",
            "version": Path("/etc/tillbox-version").read_text(encoding="utf-8").strip(),
            "trial_log": [ln for ln in trial.splitlines() if ln.startswith("slot ")]}


def wait_boot_ok(timeout: float = 300) -> dict[str, str]:
    """tillbox-boot-ok ends once it has marked the slot good (or given up)."""
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(["systemctl", "show", "-p", "ActiveState", "-p", "Result", "tillbox-boot-ok"],
                             capture_output=True, text=True).stdout
        values = dict(ln.split("=", 1) for ln in out.splitlines() if "=" in ln)
        if values.get("ActiveState") not in ("active", "activating") or time.monotonic() > deadline:
            return values
        time.sleep(2)


def update_from_stick() -> dict[str, Any]:
    """What an installer does: plug in a stick with the new .img.zst, run tillbox-update, and
    meanwhile the till keeps selling."""
    stick, mnt = Path(f"/dev/disk/by-label/{STICK_LABEL}"), Path("/run/tillbox-stick")
    mnt.mkdir(exist_ok=True)
    subprocess.run(["mount", "-o", "ro", str(stick), str(mnt)], check=True, capture_output=True)
    try:
        image = next(iter(sorted(mnt.glob("*.img.zst"))))
        started = time.monotonic()
        proc = subprocess.Popen(["/usr/local/sbin/tillbox-update", str(image)], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        time.sleep(5)
        _code, during = till("sell", "--json-in", "-", stdin=json.dumps({**AB_SALE, "pin": ANNA_PIN}))
        output = proc.communicate()[0]
        return {"returncode": proc.returncode, "output": output.strip()[-600:], "image": image.name,
                "seconds": round(time.monotonic() - started, 1),
                "sold_during_update": (during or {}).get("receipt_number")}
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def phase_ab(step: str) -> None:
    """ab-update: set the shop up (first boot), sell, update from the stick, reboot.
    ab-check: after an update or a fall-back, the slot is marked good (or not), the journal
    verifies and every sale is there; then sell, and update again from the stick (`ab-check-update`)
    or power off. ab-trial: a trial of a root whose kiosk never comes up: say what the slots are
    and let tillbox-boot-ok give up and reboot."""
    if step == "ab-trial":
        result = {**ab_state(), "kiosk": unit_state("till-kiosk"), "uptime_s": uptime()}
        save("ab-trial", result)
        say("ab-trial", **result)
        return
    frame = first_frame(step)
    say("first-frame", **frame)
    result: dict[str, Any] = {"frame": frame}
    if step == "ab-update":
        result["shop"] = set_up_shop()
        for _ in range(3):
            till("sell", "--json-in", "-", stdin=json.dumps({**AB_SALE, "pin": ANNA_PIN}))
    else:
        result["boot_ok"] = wait_boot_ok()
        code, verified = till("journal", "verify", check=False)
        result["journal"] = {"returncode": code, "verify": verified}
        result["units"] = {u: unit_state(u) for u in ("till-kiosk", "till-uploader")}
    result.update(ab_state())
    result["receipts"] = receipts_state()
    say("ab-checked", **result)
    if step in ("ab-update", "ab-check-update"):
        result["update"] = update_from_stick()
        result["after_update"] = ab_state()
        result["receipts_after_update"] = receipts_state()
        say("ab-updated", **result["update"])
    save(step, result)
    save_journal(step)
    subprocess.run(["sync"])
    if step == "ab-check":
        subprocess.run(["systemctl", "--no-block", "poweroff"])
    elif result.get("update", {}).get("returncode") == 0:
        subprocess.run(["systemctl", "--no-block", "reboot"])


def main() -> int:
    cmdline = Path("/proc/cmdline").read_text().split()
    phase = next((a.split("=", 1)[1] for a in cmdline if a.startswith("tillbox.e2e=")), "")
    say("probe", phase=phase, uptime_s=uptime())
    try:
        if phase == "day":
            phase_day()
        elif phase == "verify":
            phase_verify()
        elif phase.startswith("ab-"):
            phase_ab(phase)
    except Exception as exc:  # the host is waiting: tell it rather than leave it to its timeout
        say("error", phase=phase, error=f"{type(exc).__name__}: {exc}")
        raise
    subprocess.run(["sync"])
    say("done", phase=phase)
    if phase == "verify":
        subprocess.run(["systemctl", "--no-block", "poweroff"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
