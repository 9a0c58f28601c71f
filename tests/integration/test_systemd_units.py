"""The appliance's systemd side, in seconds and without a Pi: every unit passes `systemd-analyze
verify`, the kiosk and the uploaders are hardened (exposure <= 4.0 in `systemd-analyze security`),
the kiosk speaks the notify protocol (READY=1 after its first frame, WATCHDOG=1 from its main loop,
STOPPING=1 on SIGTERM), the clock gate holds the till shut until the clock is trusted, and the udev
rules parse and give the till user its devices."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from appliance.services import clock_trust, sdnotify
from appliance.services.clock_trust import ClockTrust, check

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = ROOT / "systemd"
UNITS = sorted(p.name for p in SYSTEMD.glob("*.service"))
RULES = SYSTEMD / "udev" / "99-tillbox.rules"
EXPOSURE_MAX = 4.0
KIOSK_GROUPS = {"input", "video", "render", "gpio", "dialout", "lp"}
needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                   reason="systemd-analyze is not installed (apt-get install systemd)")


def host_copy(unit: str, tmp_path: Path) -> Path:
    """The unit as verify can check it here: `verify` wants every Exec binary to exist on this host,
    so the till's (in /opt/tillbox on the Pi) and any other missing one become /bin/true."""
    def swap(m: re.Match) -> str:
        return m.group(1) + (m.group(2) if Path(m.group(2)).exists() else "/bin/true")
    text = re.sub(r"^(Exec\w+=[-+!@:]*)(/\S+)", swap, (SYSTEMD / unit).read_text(), flags=re.M)
    target = tmp_path / (unit.replace("@", "@shop") if "@" in unit else unit)
    target.write_text(text)
    return target


def directives(unit: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in (SYSTEMD / unit).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


# --- the unit files ------------------------------------------------------------------------------------

@needs_analyze
@pytest.mark.parametrize("unit", UNITS)
def test_every_unit_verifies(unit: str, tmp_path: Path) -> None:
    proc = subprocess.run(["systemd-analyze", "verify", str(host_copy(unit, tmp_path))],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    ours = [line for line in proc.stderr.splitlines() if unit.split("@")[0].split(".")[0] in line]
    assert ours == [], proc.stderr  # no warning about our own unit (unknown keys, bad values)


@needs_analyze
@pytest.mark.parametrize("unit", ["till-kiosk.service", "till-uploader.service", "till-uploader@.service"])
def test_exposure_is_4_or_better(unit: str, tmp_path: Path) -> None:
    proc = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(host_copy(unit, tmp_path))],
                          capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert found, proc.stdout + proc.stderr
    exposure = float(found.group(1))
    print(f"systemd-analyze security {unit}: exposure {exposure}")
    assert exposure <= EXPOSURE_MAX
    if "uploader" in unit:
        assert exposure <= 2.0  # the uploader needs nothing but the network and its folder


def test_the_kiosk_unit_contract() -> None:
    d = directives("till-kiosk.service")
    assert d["Type"] == ["notify"] and d["NotifyAccess"] == ["main"] and int(d["WatchdogSec"][0]) >= 30
    assert d["User"] == ["till"] and set(d["SupplementaryGroups"][0].split()) == KIOSK_GROUPS
    assert d["Restart"] == ["always"] and "SDL_VIDEODRIVER=kmsdrm" in d["Environment"]
    assert "TILLBOX_DATA=/var/lib/tillbox" in d["Environment"]
    assert d["ReadWritePaths"] == ["/var/lib/tillbox -/media/tillbox"] and d["PrivateDevices"] == ["no"]
    assert d["DevicePolicy"] == ["closed"] and d["TTYPath"] == ["/dev/tty1"]
    allowed = {v.split()[0] for v in d["DeviceAllow"]}
    assert {"char-drm", "char-input", "char-ttyACM", "char-ttyUSB", "char-usb_device", "char-gpiochip",
            "/dev/tty1"} <= allowed
    # the clock: ordered after time-sync.target, never blocked on NTP (the screen must say why)
    assert "time-sync.target" in " ".join(d["After"]) and "time-sync.target" in " ".join(d["Wants"])
    assert "Requires" not in d and not any("time-wait-sync" in v or "network-online" in v
                                           for v in d["After"] + d["Wants"])
    assert d["CapabilityBoundingSet"] == [""] and d["NoNewPrivileges"] == ["yes"]


@pytest.mark.parametrize("unit", UNITS)
def test_the_service_user_is_till(unit: str) -> None:
    d = directives(unit)
    if unit.startswith("till-"):
        assert d["User"] == ["till"] and d["Group"] == ["till"]
        # the data, and (the kiosk) USB sticks for the SAF-T export
        assert all(p.startswith("/var/lib/tillbox") or p == "-/media/tillbox"
                   for v in d["ReadWritePaths"] for p in v.split())
    assert "tillbox" not in d.get("User", []) and "NoNewPrivileges" in d


def test_the_drivers_behind_device_allow_are_loaded_at_boot() -> None:
    modules = (SYSTEMD / "modules-load.d" / "tillbox.conf").read_text().split()
    assert {"cdc_acm", "usbserial", "usblp", "drm", "hid"} <= set(modules)


# --- the notify protocol -------------------------------------------------------------------------------

def test_sd_notify_reaches_the_socket_and_is_quiet_without_one(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert sdnotify.sd_notify("READY=1\nSTATUS=x")
        assert sock.recv(64) == b"READY=1\nSTATUS=x"
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone.sock"))
    assert sdnotify.sd_notify("WATCHDOG=1") is False  # logged, never raised
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert sdnotify.sd_notify("WATCHDOG=1") is False


def test_watchdog_interval(monkeypatch) -> None:
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "60000000")
    assert sdnotify.watchdog_interval() == 30 and sdnotify.watchdog_interval(fraction=0.25) == 15
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))  # meant for another process
    assert sdnotify.watchdog_interval(7.0) == 7.0
    monkeypatch.delenv("WATCHDOG_PID")
    monkeypatch.setenv("WATCHDOG_USEC", "0")
    assert sdnotify.watchdog_interval() is None


def kiosk_env(notify: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "NOTIFY_SOCKET": str(notify), "WATCHDOG_USEC": "1000000",
            "SDL_VIDEODRIVER": "offscreen", "KIVY_NO_ARGS": "1", "TILLBOX_DATA": "", "TILLBOX_LOG": "info",
            **extra}


def test_the_kiosk_notifies_ready_pings_the_watchdog_and_stops(tmp_path: Path) -> None:
    notify_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(60)
    proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", "--data", str(tmp_path / "shop"), "kiosk",
                             "--simulate", "--size", "800x480"], cwd=ROOT, env=kiosk_env(notify_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        messages: list[str] = []
        while sum(m.startswith("WATCHDOG=1") for m in messages) < 3:
            messages.append(notify.recv(512).decode())
        ready = [m for m in messages if m.startswith("READY=1")]
        assert ready and "STATUS=till open" in ready[0]
        assert messages.index(ready[0]) < next(i for i, m in enumerate(messages) if m.startswith("WATCHDOG"))
        proc.send_signal(signal.SIGTERM)  # systemctl stop
        _out, err = proc.communicate(timeout=30)
        while not notify.recv(512).decode().startswith("STOPPING=1"):
            pass
        assert proc.returncode == 0, err
        assert "event=kiosk_first_frame" in err
    finally:
        if proc.poll() is None:
            proc.kill()
        notify.close()


# --- the trustworthy clock -----------------------------------------------------------------------------

def test_clock_sources(tmp_path: Path) -> None:
    def never() -> bool:
        return False
    assert check({}, tmp_path, never) == ClockTrust(False, "none", "no NTP synchronisation yet and no RTC")
    assert check({}, tmp_path, lambda: None).detail == "kernel clock state unknown"
    assert check({}, tmp_path, lambda: True).source == "kernel-ntp"
    rtc = tmp_path / clock_trust.RTC_HCTOSYS
    rtc.parent.mkdir(parents=True)
    rtc.write_text("0\n")
    assert not check({}, tmp_path, never).trusted
    rtc.write_text("1\n")
    assert check({}, tmp_path, never) == ClockTrust(True, "rtc", "set from rtc0 at boot")
    flag = tmp_path / clock_trust.TIMESYNCD_FLAG
    flag.parent.mkdir(parents=True)
    flag.touch()
    assert check({}, tmp_path, never).source == "timesyncd"
    assert check({"TILLBOX_CLOCK_TRUSTED": "0"}, tmp_path, never).trusted is False  # the override wins
    assert check({}, tmp_path, never, now=lambda: 86400.0).detail == "the clock is before 2025"  # a 1970 RTC
    assert check({"TILLBOX_CLOCK_TRUSTED": "1"}, Path("/nonexistent"), never).source == "override"


def test_the_kernel_can_be_asked() -> None:
    assert clock_trust.kernel_synchronised() in (True, False)  # adjtimex read-only, no privileges


GATE_SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from appliance.ui.driver import prepare
    prepare(offscreen=True, size=(800, 480))
    from appliance.services.clock_trust import ClockTrust
    from appliance.ui.simulate import ensure_demo_shop
    from appliance.ui.app import TillApp
    from appliance.ui.driver import Driver
    data, flag, shot = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    ensure_demo_shop(data)
    app = TillApp(data, kiosk=False, clock_gate=lambda: ClockTrust(flag.exists(), "test"))
    d = Driver(app)
    d.step(3)
    screen = app.manager.current_screen
    app.show("login")  # a touch that would lead to the login: refused while the gate is shut
    d.step(2)
    app.root.export_to_png(shot)
    waiting = {"screen": app.manager.current, "opened": app.opened, "text": screen.title + " " + screen.body,
               "has_login": app.manager.has_screen("login"), "backend": app.backend.till is not None}
    flag.touch()
    app.gate.poll()  # the next look (every 3 s on its own)
    d.until(lambda: app.manager.current == "login", what="the login after the clock is trusted")
    print(json.dumps({"waiting": waiting, "after": app.manager.current, "opened": app.opened}))
    d.close()
""")


def test_the_clock_gate_holds_the_till_shut_until_the_clock_is_right(tmp_path: Path) -> None:
    import json
    data, flag, shot = tmp_path / "shop", tmp_path / "trusted", tmp_path / "clockwait.png"
    proc = subprocess.run([sys.executable, "-c", GATE_SCRIPT, str(data), str(flag), str(shot)], cwd=ROOT,
                          env={**os.environ, "SDL_VIDEODRIVER": "offscreen", "KIVY_NO_ARGS": "1"},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    waiting = result["waiting"]
    assert waiting["screen"] == "clockwait" and not waiting["opened"] and not waiting["backend"]
    assert not waiting["has_login"]
    assert "Venter på korrekt tid fra internettet (NTP)" in waiting["text"] and "Salget venter." in waiting["text"]
    assert result["after"] == "login" and result["opened"]
    from PIL import Image
    image = Image.open(shot).convert("L")
    assert image.getextrema()[0] < 100  # the message was drawn on the light background


# --- udev ------------------------------------------------------------------------------------------------

MATCH_KEYS = {"ACTION", "DEVPATH", "KERNEL", "NAME", "SYMLINK", "SUBSYSTEM", "DRIVER", "ATTR", "SYSCTL",
              "KERNELS", "SUBSYSTEMS", "DRIVERS", "ATTRS", "TAGS", "ENV", "CONST", "TAG", "TEST", "PROGRAM",
              "RESULT"}
ASSIGN_KEYS = {"NAME", "SYMLINK", "OWNER", "GROUP", "MODE", "SECLABEL", "ATTR", "SYSCTL", "ENV", "TAG", "RUN",
               "LABEL", "GOTO", "IMPORT", "OPTIONS"}
TOKEN = re.compile(r'\s*([A-Z]+)(?:\{([^}]*)\})?\s*(==|!=|\+=|-=|:=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')


def parse_rules(text: str) -> list[tuple[int, list[tuple[str, str | None, str, str]]]]:
    """udev's rule grammar (udev(7)): comma-separated KEY[{attr}] OP "value" pairs, one rule a line."""
    rules = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        assert not line.endswith("\\"), f"line {number}: no continued lines here"
        tokens, pos = [], 0
        while pos < len(line):
            m = TOKEN.match(line, pos)
            assert m, f"line {number}: cannot parse from {line[pos:]!r}"
            tokens.append(m.group(1, 2, 3, 4))
            pos = m.end()
        rules.append((number, tokens))
    return rules


def test_the_udev_rules_parse_and_reach_the_till_user() -> None:
    rules = parse_rules(RULES.read_text())
    labels = {v for _n, toks in rules for k, _a, _o, v in toks if k == "LABEL"}
    symlinks: set[str] = set()
    for number, tokens in rules:
        for key, attr, op, value in tokens:
            if op in ("==", "!="):
                assert key in MATCH_KEYS, f"line {number}: {key} cannot be matched"
            else:
                assert key in ASSIGN_KEYS, f"line {number}: {key} cannot be assigned"
            if key in ("ATTR", "ATTRS", "ENV", "IMPORT", "TEST") and op in ("==", "!="):
                assert attr, f"line {number}: {key} needs {{name}}"
            if key == "GOTO":
                assert value in labels, f"line {number}: no LABEL {value}"
            if key == "GROUP":
                assert value in KIOSK_GROUPS, f"line {number}: {value} is not one of the till user's groups"
            if key == "MODE":
                assert value == "0660", f"line {number}: owner and group only"
            if key == "SYMLINK":
                assert value.startswith("tillbox/"), f"line {number}: our names live under /dev/tillbox"
                symlinks.add(value)
            for sub in re.findall(r"[%$](\w+)(?:\{([^}]*)\})?", value):
                assert sub[0] in ("s", "env", "attr", "k", "n"), f"line {number}: unknown substitution {sub}"
        keys = {k for k, _a, _o, _v in tokens}
        assert keys & {"SUBSYSTEM", "ENV", "ACTION", "ATTR", "LABEL"}, f"line {number}: matches everything"
        if "ATTRS" in keys:  # all ATTRS of one rule must match one parent device
            assert sum(k == "ATTRS" for k, *_ in tokens) == 1, f"line {number}: one ATTRS per rule"
    names = {s.split("-")[0] for s in symlinks}
    assert {"tillbox/printer", "tillbox/labels", "tillbox/scanner"} <= names
    text = RULES.read_text()
    for vid in ("04b8", "0519", "1504", "04f9", "0a5f", "0c2e", "05e0", "05f9", "1eab"):
        assert vid in text
    assert '"*:0701??:*"' in text and 'SUBSYSTEM=="gpio"' in text


def test_the_parser_refuses_broken_rules() -> None:
    with pytest.raises(AssertionError):
        parse_rules('SUBSYSTEM=="usb", GROUP=lp')
    with pytest.raises(AssertionError):
        parse_rules('SUBSYSTEM=="usb" GROUP="lp"')


def udevadm_test_possible() -> bool:
    return (shutil.which("udevadm") is not None and shutil.which("unshare") is not None and os.geteuid() == 0
            and Path("/etc/udev/rules.d").is_dir() and Path("/sys/class/tty/tty1").exists())


@pytest.mark.skipif(not udevadm_test_possible(), reason="needs root, unshare, udevadm and /sys/class/tty/tty1")
def test_udevadm_reads_the_rules_without_complaint(tmp_path: Path) -> None:
    """systemd 252 has no `udevadm verify`; `udevadm test` loads every rules file and names each bad
    line. Our file goes in place of /etc/udev/rules.d in a private mount namespace (the host's udev
    never sees it)."""
    shutil.copy(RULES, tmp_path / RULES.name)
    script = f"mount --bind {tmp_path} /etc/udev/rules.d && udevadm test --action=add /sys/class/tty/tty1"
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    if "Reading rules file: /etc/udev/rules.d/99-tillbox.rules" not in proc.stderr + proc.stdout:
        pytest.skip(f"unshare/mount not allowed here: {proc.stderr.strip()[-200:]}")
    complaints = [line for line in (proc.stderr + proc.stdout).splitlines()
                  if "99-tillbox.rules:" in line and "Unknown group 'gpio'" not in line]
    assert complaints == []
