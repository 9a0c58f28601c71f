"""The image's end-to-end test scripts, in seconds and without qemu: the booting itself is
`make image-test` (image/e2e.sh). Checked here: the scripts parse, the guest probe uses only what
Debian's python3 has, the probe unit verifies, the host's disk handling (mtools on the FAT,
`debugfs` at a partition's offset) on a small disk made here, the PNG check, and the guest's
day against the fake Dinero with the till on this machine, so a change in the `till` command or the
uploader that would break the image test shows up in `make test`."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import py_compile
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = ROOT / "image"
GUEST = IMAGE / "e2e"
DISK_TOOLS = ("mke2fs", "mkfs.vfat", "mcopy", "mtype", "debugfs", "sfdisk")
needs_disk_tools = pytest.mark.skipif(any(shutil.which(t) is None for t in DISK_TOOLS),
                                      reason="needs e2fsprogs, dosfstools, mtools and fdisk")


def load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    keep, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ in image/
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = keep
    return module


def test_the_scripts_parse(tmp_path: Path) -> None:
    subprocess.run(["bash", "-n", str(IMAGE / "e2e.sh")], check=True)
    assert os.access(IMAGE / "e2e.sh", os.X_OK)
    for script in (IMAGE / "e2e.py", GUEST / "probe.py", GUEST / "sell_loop.py"):
        py_compile.compile(str(script), cfile=str(tmp_path / f"{script.stem}.pyc"), doraise=True)
    if shutil.which("shellcheck"):
        subprocess.run(["shellcheck", str(IMAGE / "e2e.sh")], check=True)


def test_the_guest_probe_needs_only_debians_python() -> None:
    """probe.py runs with the image's /usr/bin/python3 (no venv): standard library only."""
    tree = ast.parse((GUEST / "probe.py").read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert imported - {"__future__"} <= set(sys.stdlib_module_names), imported


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_probe_unit_verifies() -> None:
    done = subprocess.run(["systemd-analyze", "verify", str(GUEST / "tillbox-e2e.service")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    dropin = (GUEST / "till-kiosk-e2e.conf").read_text()
    assert "TILLBOX_FIRST_FRAME_PNG=/var/lib/tillbox/" in dropin  # the kiosk may write only there


def test_the_png_check_tells_a_screen_from_a_blank_frame(tmp_path: Path) -> None:
    from PIL import Image, ImageDraw
    e2e = load(IMAGE / "e2e.py", "image_e2e")
    Image.new("RGB", (800, 480), "black").save(tmp_path / "black.png")
    drawn = Image.new("RGB", (800, 480), (245, 245, 240))
    draw = ImageDraw.Draw(drawn)
    for i in range(40):
        draw.rectangle((10 + i * 19, 40, 25 + i * 19, 60 + i * 9), fill=(40 + i * 5, 80, 140))
    draw.text((20, 10), "Opret den første leder", fill=(20, 20, 20))
    drawn.save(tmp_path / "drawn.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n")
    assert e2e.png_problem(tmp_path / "drawn.png") is None
    assert "blank" in e2e.png_problem(tmp_path / "black.png")
    assert "unreadable" in e2e.png_problem(tmp_path / "broken.png")


def make_disk(tmp_path: Path) -> Path:
    """A small disk laid out like the image: FAT boot, ext4 root A, empty root B, ext4 data."""
    boot, root, data = tmp_path / "boot", tmp_path / "root", tmp_path / "data"
    for d in (boot, root / "etc/systemd/system/till-kiosk.service.d", root / "usr/local/lib",
              data / "e2e", data / "tillbox"):
        d.mkdir(parents=True)
    (boot / "cmdline.txt").write_text("console=ttyS1,115200 console=tty3 root=PARTUUID=7111b0c5-02 ro quiet "
                                      "loglevel=3 rootwait\n")
    (boot / "vmlinuz").write_bytes(b"kernel")
    (boot / "initrd.img").write_bytes(b"initrd")
    (data / "e2e/day.json").write_text('{"ok": true}\n')
    (data / "e2e/first-frame-day.png").write_bytes(b"png")
    sectors = {1: 16384, 2: 32768, 3: 8192, 4: 16384}
    subprocess.run(["mkfs.vfat", "-C", str(tmp_path / "p1"), str(sectors[1] // 2)], check=True,
                   capture_output=True)
    for name in ("cmdline.txt", "vmlinuz", "initrd.img"):
        subprocess.run(["mcopy", "-i", str(tmp_path / "p1"), str(boot / name), f"::{name}"], check=True)
    for n, src in ((2, root), (4, data)):
        subprocess.run(["mke2fs", "-q", "-t", "ext4", "-d", str(src), str(tmp_path / f"p{n}"),
                        f"{sectors[n] // 2}k"], check=True)
    disk = tmp_path / "tillbox-test-arm64.img"
    start, layout = 2048, ["label: dos"]
    for n in (1, 2, 3, 4):
        layout.append(f"start={start}, size={sectors[n]}, type={'c' if n == 1 else '83'}")
        if n != 3:
            with disk.open("r+b" if disk.exists() else "wb") as f:
                f.seek(start * 512)
                f.write((tmp_path / f"p{n}").read_bytes())
        start += sectors[n]
    os.truncate(disk, start * 512)
    subprocess.run(["sfdisk", "-q", str(disk)], input="\n".join(layout) + "\n", text=True, check=True)
    return disk


@needs_disk_tools
def test_disk_handling_on_a_small_image(tmp_path: Path) -> None:
    e2e = load(IMAGE / "e2e.py", "image_e2e")
    image = make_disk(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    disk = e2e.prepare_disk(image, work, "64M")
    assert disk.path.stat().st_size == 64 << 20 and set(disk.starts) == {1, 2, 3, 4}
    e2e.boot_files(disk, work)
    cmdline = e2e.firmware_cmdline(disk)
    assert cmdline.split()[0] == "console=ttyAMA0" and "console=tty3" not in cmdline and "quiet" not in cmdline
    assert "root=PARTUUID=7111b0c5-02" in cmdline
    assert (work / "vmlinuz").read_bytes() == b"kernel"
    toml = subprocess.run(["mtype", "-i", disk.fat(), "::tillbox.toml"], capture_output=True, text=True).stdout
    assert 'cvr = "12345678"' in toml
    staging = tmp_path / "staging"
    staging.mkdir()
    root = disk.ext4(2)
    e2e.inject(root, e2e.probe_files("TILLBOX_E2E_API=http://10.0.2.2:1\n"), staging)
    e2e.inject(root, e2e.probe_files("TILLBOX_E2E_API=http://10.0.2.2:2\n"), staging)  # again: replaces
    e2e.inject(root, {"/etc/a/b/c/deep.conf": ("x=1\n", 0o644)}, staging, enable=())  # parents made

    def cat(path: str) -> str:
        return subprocess.run(["debugfs", "-R", f"cat {path}", root], capture_output=True, text=True).stdout

    assert cat("/etc/tillbox-e2e/dinero.env") == "TILLBOX_E2E_API=http://10.0.2.2:2\n"
    assert cat("/usr/local/lib/tillbox-e2e/probe.py") == (GUEST / "probe.py").read_text()
    assert "TILLBOX_FIRST_FRAME_PNG" in cat("/etc/systemd/system/till-kiosk.service.d/zz-e2e.conf")
    stat = subprocess.run(["debugfs", "-R", "stat /etc/tillbox-e2e/dinero.env", root],
                          capture_output=True, text=True).stdout
    assert "Mode:  0600" in stat and "User:     0   Group:     0" in stat  # root's, whoever ran it
    link = subprocess.run(["debugfs", "-R", "stat /etc/systemd/system/multi-user.target.wants/tillbox-e2e.service",
                           root], capture_output=True, text=True).stdout
    assert 'Fast link dest: "/etc/systemd/system/tillbox-e2e.service"' in link
    assert cat("/etc/a/b/c/deep.conf") == "x=1\n"
    check = subprocess.run(["e2fsck", "-fn", root], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    e2e.read_back(disk, tmp_path / "results")
    assert json.loads((tmp_path / "results/day.json").read_text()) == {"ok": True}
    assert (tmp_path / "results/first-frame-day.png").read_bytes() == b"png"


def test_the_guest_day_against_the_fake_dinero(tmp_path: Path) -> None:
    """probe.py's day (shop, Dinero personal login, sales, close with transfer) run here with the
    till of this checkout and `till uploader run` standing in for the guest's service; then a short
    sale loop is killed and what survived verifies."""
    from tests.fakes.dinero import FakeDinero
    e2e = load(IMAGE / "e2e.py", "image_e2e")
    env = {**os.environ, "TILLBOX_E2E_TILL": str(Path(sys.executable).with_name("till")),
           "TILLBOX_E2E_PYTHON": sys.executable, "TILLBOX_E2E_DATA": str(tmp_path / "data"),
           "TILLBOX_E2E_OUT": str(tmp_path / "out"), "TILLBOX_E2E_CONFIG": str(tmp_path / "dinero.env"),
           "TILLBOX_E2E_USER": "", "TILLBOX_E2E_CONSOLE": "", "TILLBOX_DATA": "",
           "PYTHONDONTWRITEBYTECODE": "1",  # no __pycache__ left in image/e2e/
           "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))}
    code = ("import sys, json, subprocess\n"
            f"sys.path.insert(0, {str(GUEST)!r})\n"
            "import probe\n"
            "shop = probe.set_up_shop()\n"
            "up = subprocess.Popen([probe.TILL, '--data', probe.DATA, 'uploader', 'run'])\n"
            "try:\n"
            "    day = probe.close_a_day(probe.config())\n"
            "finally:\n"
            "    up.terminate(); up.wait(timeout=30)\n"
            "print('RESULT', json.dumps({**shop, **day}))\n")
    with FakeDinero() as fake:
        fake.add_org(e2e.ORG, "Testbutikken ApS", pro=True)
        fake.add_personal_client("cid", "e2e-secret-1", "e2e-apikey-2", e2e.ORG)
        (tmp_path / "dinero.env").write_text(
            f"TILLBOX_E2E_API={fake.url}\nTILLBOX_E2E_ORG={e2e.ORG}\nTILLBOX_DINERO_CLIENT_ID=cid\n"
            "TILLBOX_DINERO_CLIENT_SECRET=e2e-secret-1\nTILLBOX_DINERO_API_KEY=e2e-apikey-2\n")
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                              timeout=240)
        assert done.returncode == 0, done.stderr[-2000:]
        day = json.loads(done.stdout.split("RESULT ", 1)[1])
        items = fake.ledger_items(e2e.ORG)
        assert day["transfer"]["state"] == "sent" and day["receipts"] == [1, 2, 3]
        assert [i["Id"] for i in items] == [e2e.expected_ledger_id(day["z_number"])]
        assert fake.spec_violations == []
        assert "e2e-secret-1" not in done.stdout + done.stderr
    loop = subprocess.Popen([sys.executable, str(GUEST / "sell_loop.py"), str(tmp_path / "data"), "loop"],
                            env=env, stdout=subprocess.PIPE, text=True)
    assert loop.stdout is not None
    assert loop.stdout.readline().strip() == "ready"
    last = 0
    for _ in range(5):
        last = int(loop.stdout.readline().split()[1])
    loop.kill()
    loop.wait()
    state = subprocess.run([sys.executable, str(GUEST / "sell_loop.py"), str(tmp_path / "data"), "state"],
                           env=env, capture_output=True, text=True, check=True)
    survived = json.loads(state.stdout)
    assert survived["gap_free"] and survived["max"] >= last > 3
    verify = subprocess.run([env["TILLBOX_E2E_TILL"], "--json", "--data", str(tmp_path / "data"), "journal",
                             "verify"], capture_output=True, text=True, env=env)
    assert verify.returncode == 0 and json.loads(verify.stdout)["ok"] is True


@needs_disk_tools
def test_the_ab_harness_boots_what_cmdline_txt_names(tmp_path: Path) -> None:
    """e2e_ab.py plays the Pi firmware: each power-on boots the root that cmdline.txt names now."""
    e2e = load(IMAGE / "e2e.py", "image_e2e")
    sys.path.insert(0, str(IMAGE))  # e2e_ab imports e2e as a sibling, as when run as a script
    try:
        ab = load(IMAGE / "e2e_ab.py", "image_e2e_ab")
    finally:
        sys.path.remove(str(IMAGE))
    disk = e2e.prepare_disk(make_disk(tmp_path), tmp_path, "64M")
    (tmp_path / "ab.txt").write_text("good=a\ntrying=b\n")
    (tmp_path / "cmdline.txt").write_text("console=tty3 root=PARTUUID=7111b0c5-03 ro rootwait\n")
    for name in ("ab.txt", "cmdline.txt"):
        target = "tillbox-ab.txt" if name == "ab.txt" else name
        subprocess.run(["mcopy", "-o", "-i", disk.fat(), str(tmp_path / name), f"::{target}"], check=True)
    assert ab.slots_on_card(disk) == {"root": "03", "good": "a", "trying": "b"}
    assert "root=PARTUUID=7111b0c5-03" in e2e.firmware_cmdline(disk)


def test_a_report_keeps_its_scratch_files_when_a_check_failed(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Both e2e scripts end through Report.finish: result.json, the figures, the exit code, and the
    big scratch files removed only when every check passed."""
    e2e = load(IMAGE / "e2e.py", "image_e2e")
    for ok in (False, True):
        work = tmp_path / f"run-{ok}"
        work.mkdir()
        scratch = (work / "disk.img", work / "stick.img")
        for f in scratch:
            f.write_bytes(b"x")
        report = e2e.Report()
        report.check(True, "first")
        report.check(ok, "second")
        report.figures["boot"] = "12.5 s"
        assert report.finish(work, "A/B e2e", scratch) == (0 if ok else 1)
        result = json.loads((work / "result.json").read_text())
        assert result == {"ok": ok, "checks": [[True, "first"], [ok, "second"]], "figures": {"boot": "12.5 s"}}
        assert all(f.exists() for f in scratch) is not ok
        assert f"A/B e2e {'passed' if ok else 'FAILED'}" in capsys.readouterr().out
