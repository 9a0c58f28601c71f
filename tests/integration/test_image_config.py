"""Fast checks of the SD image's configuration (image/), for CI: no building, no root, seconds.

They catch the mistakes that otherwise show only after a 20-minute build and a boot: a partition
layout that disagrees with fstab and cmdline.txt, a tillbox.toml the first boot would reject, an
A/B switch that points at the wrong slot, a unit the image enables that systemd/ no longer has."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE = REPO / "image"
LIB = IMAGE / "rootfs/usr/local/lib/tillbox"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"image_{name}", LIB / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


firstboot = _load("firstboot")
ab = _load("ab")


def _partitions() -> list[dict[str, str]]:
    text = (IMAGE / "genimage.cfg.in").read_text()
    parts = []
    for name, body in re.findall(r"partition (\w+) \{(.*?)\}", text, re.S):
        fields = dict(re.findall(r"^\s*([\w-]+) = (.+?)\s*$", body, re.M))
        parts.append({"name": name, **{k: v.strip('"') for k, v in fields.items()}})
    return parts


def test_genimage_layout_boot_two_equal_root_slots_and_data() -> None:
    text = (IMAGE / "genimage.cfg.in").read_text()
    parts = _partitions()
    assert [p["name"] for p in parts] == ["boot", "rootA", "rootB", "data"]
    boot, root_a, root_b, data = parts
    assert boot["partition-type"] == "0x0C" and boot["image"] == "boot.vfat" and boot["bootable"] == "true"
    assert root_a["partition-type"] == root_b["partition-type"] == data["partition-type"] == "0x83"
    assert root_a["size"] == root_b["size"] == "@ROOT_SIZE@"
    assert root_a["image"] == "rootA.ext4" and "image" not in root_b and data["image"] == "data.ext4"
    assert f"disk-signature = 0x{ab.DISK_ID}" in text and 'partition-table-type = "mbr"' in text
    assert ab.SLOTS == {"a": 2, "b": 3}  # partition numbers follow the order above


def test_fstab_root_read_only_data_partition_and_ram_for_the_rest() -> None:
    rows = [line.split() for line in (IMAGE / "rootfs/etc/fstab").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    mounts = {r[1]: r for r in rows}
    assert "ro" in mounts["/"][3].split(",")
    assert mounts["/data"][0] == f"PARTUUID={ab.DISK_ID}-04" and mounts["/data"][2] == "ext4"
    assert mounts["/boot/firmware"][0] == f"PARTUUID={ab.DISK_ID}-01"
    assert mounts["/var/lib/tillbox"][0] == "/data/tillbox" and "bind" in mounts["/var/lib/tillbox"][3]
    for path in ("/tmp", "/var/tmp", "/var/log", "/var/cache"):
        assert mounts[path][2] == "tmpfs", path
    journald = (IMAGE / "rootfs/etc/systemd/journald.conf.d/tillbox.conf").read_text()
    assert "Storage=volatile" in journald


def test_cmdline_boots_slot_a_read_only_and_switches_to_b() -> None:
    cmdline = (IMAGE / "boot/cmdline.txt").read_text()
    assert len(cmdline.splitlines()) == 1 and " ro " in f" {cmdline.strip()} "
    assert ab.slot_of(cmdline) == "a"
    to_b = ab.cmdline_for(cmdline, "b")
    assert ab.slot_of(to_b) == "b" and to_b.replace("-03", "-02") == cmdline
    with pytest.raises(ab.SlotError):
        ab.slot_of("root=/dev/mmcblk0p2 ro")
    config = (IMAGE / "boot/config.txt").read_text()
    assert "kernel=vmlinuz" in config and "initramfs initrd.img followkernel" in config


def test_the_shipped_tillbox_toml_is_accepted(tmp_path: Path) -> None:
    zones = tmp_path / "zoneinfo"
    (zones / "Europe").mkdir(parents=True)
    (zones / "Europe/Copenhagen").write_text("TZif")
    cfg = firstboot.parse_config((IMAGE / "boot/tillbox.toml").read_text(), zones)
    assert cfg.shop_name and cfg.time_zone == "Europe/Copenhagen"
    assert not cfg.ssh_keys and not cfg.cvr  # SSH off and the shop left to the screen by default
    tomllib.loads((IMAGE / "boot/tillbox.toml").read_text())


def _zones(tmp_path: Path) -> Path:
    zones = tmp_path / "zoneinfo"
    (zones / "Europe").mkdir(parents=True, exist_ok=True)
    (zones / "Europe/Copenhagen").write_text("TZif")
    return zones


FULL = """
[shop]
name = "Købmand Hansen"
cvr = "1234 5678"
address = "Hovedgaden 1, 4000 Roskilde"
time_zone = "Europe/Copenhagen"
[wifi]
ssid = "Butikken"
psk = "hemmelig-kode"
[dinero]
relay_url = "https://pair.tillbox.dk"
[ssh]
authorized_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJx support@tillbox"]
"""


def test_a_full_tillbox_toml_is_read(tmp_path: Path) -> None:
    cfg = firstboot.parse_config(FULL, _zones(tmp_path))
    assert (cfg.shop_name, cfg.cvr, cfg.wifi_ssid, cfg.wifi_country) == ("Købmand Hansen", "12345678",
                                                                         "Butikken", "DK")
    assert cfg.relay_url == "https://pair.tillbox.dk" and len(cfg.ssh_keys) == 1
    assert "hemmelig" not in repr(cfg)  # the Wi-Fi key never reaches a log line


@pytest.mark.parametrize(("text", "message"), [
    ("[shop\nname = 1", "not valid TOML"),
    ("[shop]\nname = 'X'\ncolour = 'red'", "unknown key(s) in [shop]: colour"),
    ("[printer]\nx = 1", "unknown section [printer]"),
    ("[shop]\ncvr = '12345678'\naddress = 'Gade 1'", "shop.name is required"),
    ("[shop]\nname = 'X'\ncvr = '1234'\naddress = 'Gade 1'", "shop.cvr must be 8 digits"),
    ("[shop]\nname = 'X'\ncvr = '12345678'", "go together"),
    ("[shop]\nname = 'X'\ntime_zone = 'Mars/Olympus'", "not a known time zone"),
    ("[shop]\nname = 'X'\ntime_zone = '../../etc/passwd'", "not a known time zone"),
    ("[shop]\nname = 'X'\n[wifi]\npsk = 'hemmelig-kode'", "without wifi.ssid"),
    ("[shop]\nname = 'X'\n[wifi]\nssid = 'B'\npsk = 'kort'", "8-63 characters"),
    ("[shop]\nname = 'X'\n[wifi]\nssid = 'a\"b'", "quotes"),
    ("[shop]\nname = 'X'\n[dinero]\nrelay_url = 'http://pair.tillbox.dk'", "https://"),
    ("[shop]\nname = 'X'\n[ssh]\nauthorized_keys = ['hunter2']", "not an SSH public key"),
    ("[shop]\nname = 42", "shop.name must be a string"),
])
def test_a_bad_tillbox_toml_is_refused_with_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(firstboot.ConfigError) as err:
        firstboot.parse_config(text, _zones(tmp_path))
    assert message in str(err.value)


def test_wifi_file_is_private_and_left_out_without_ssid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(firstboot, "SYSTEM", tmp_path)
    firstboot.apply_wifi(firstboot.parse_config(FULL, _zones(tmp_path)))
    conf = tmp_path / "wpa_supplicant-wlan0.conf"
    assert conf.stat().st_mode & 0o777 == 0o600
    assert 'ssid="Butikken"' in conf.read_text() and "country=DK" in conf.read_text()
    firstboot.apply_wifi(firstboot.parse_config("[shop]\nname = 'X'", _zones(tmp_path)))
    assert not conf.exists()


def _boot(tmp_path: Path, state: str = "good=a\ntrying=\n") -> object:
    boot = tmp_path / "boot"
    boot.mkdir(exist_ok=True)
    (boot / "cmdline.txt").write_text((IMAGE / "boot/cmdline.txt").read_text())
    (boot / ab.STATE_FILE).write_text(state)
    return ab.Boot(boot, remount=False)


def test_ab_update_trial_fallback_and_mark_good(tmp_path: Path) -> None:
    boot = _boot(tmp_path)
    # `update` wrote slot b and pointed the firmware at it for one trial
    boot.write(ab.State("a", "b"), ab.cmdline_for(boot.cmdline(), "b"))
    assert ab.slot_of(boot.cmdline()) == "b"
    # the trial boot arms the fall-back at once
    assert "trial boot" in ab.trial(boot, "b")
    assert ab.slot_of(boot.cmdline()) == "a" and boot.read_state().trying == "b"
    # the kiosk came up: b becomes the good slot
    assert ab.mark_good(boot, "b") == "slot b marked good"
    assert ab.slot_of(boot.cmdline()) == "b" and boot.read_state() == ab.State("b", "")


def test_ab_a_trial_that_never_came_up_is_dropped(tmp_path: Path) -> None:
    boot = _boot(tmp_path, "good=a\ntrying=b\n")  # the trial boot armed the fall-back, then died
    assert "did not come up" in ab.trial(boot, "a")
    assert boot.read_state() == ab.State("a", "") and ab.slot_of(boot.cmdline()) == "a"
    assert ab.mark_good(boot, "a") == "slot a is the good slot"
    with pytest.raises(ab.SlotError):
        ab.State.parse("good=c\n")


def test_first_boot_takes_the_wifi_key_off_the_card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (IMAGE / "boot/tillbox.toml").read_text()
    assert firstboot.without_wifi_key(text) is None  # the template has no key
    mine = ('[shop]\nname = "Butik"\n\n[wifi]\nssid = "Butik-net"\npsk = "hemmelig-kode-42"  # the key\n'
            'country = "DK"\n[dinero]\nrelay_url = "https://pair.example"\n')
    scrubbed = firstboot.without_wifi_key(mine)
    assert scrubbed is not None and "hemmelig" not in scrubbed and firstboot.SCRUBBED in scrubbed
    assert 'ssid = "Butik-net"' in scrubbed and 'relay_url = "https://pair.example"' in scrubbed
    assert firstboot.without_wifi_key(scrubbed) is None  # nothing left to take out
    # a psk this cannot take out on one line is left alone rather than half removed
    assert firstboot.without_wifi_key('[wifi]\nssid = "x"\npsk = """hemmelig\nkode"""\n') is None
    # written to the boot partition the one way the image writes there (ab.Boot), atomically
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / "tillbox.toml").write_text(mine)
    monkeypatch.setattr(firstboot, "BOOT_TOML", boot / "tillbox.toml")
    firstboot.scrub_wifi_key(mine, remount=False)  # the image remounts /boot/firmware rw for the write
    assert (boot / "tillbox.toml").read_text() == scrubbed and not list(boot.glob("*.new"))


def _mbr_image(path: Path, root: bytes, start_sector: int = 8) -> None:
    mbr = bytearray(512)
    entry = bytearray(16)
    entry[4] = 0x83
    entry[8:12] = start_sector.to_bytes(4, "little")
    entry[12:16] = (len(root) // 512).to_bytes(4, "little")
    mbr[446 + 16: 446 + 32] = entry
    mbr[510:512] = b"\x55\xaa"
    path.write_bytes(bytes(mbr) + b"\0" * (start_sector * 512 - 512) + root + b"tail" * 300)


def test_ab_copies_exactly_the_images_root_partition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ab, "CHUNK", 1000)  # chunks that do not line up with sectors
    root = bytes(range(256)) * 40  # 10240 bytes = 20 sectors
    image, target = tmp_path / "new.img", tmp_path / "slot"
    _mbr_image(image, root)
    target.write_bytes(b"\xff" * 20000)
    digest = ab.copy_root(image, target)
    assert target.read_bytes()[:len(root)] == root
    assert ab.read_back(target, len(root)) == digest
    if shutil.which("zstd"):
        subprocess.run(["zstd", "-q", str(image)], check=True)
        target.write_bytes(b"\xff" * 20000)
        assert ab.copy_root(image.with_suffix(".img.zst"), target) == digest
    target.write_bytes(b"\xff" * 1000)
    with pytest.raises(ab.SlotError, match="does not fit"):
        ab.copy_root(image, target)
    image.write_bytes(b"\0" * 1024)
    with pytest.raises(ab.SlotError, match="no MBR"):
        ab.copy_root(image, target)


def _sysfs(tmp_path: Path) -> Path:
    """/sys as the kernel shows an SD card (mmcblk0, four partitions) and a USB stick carrying a
    Tillbox image written raw (sda: the same partition ids, which is why slots are not found by id)."""
    sysfs = tmp_path / "sys"
    for disk, parts, major in (("mmcblk0", ["mmcblk0p1", "mmcblk0p2", "mmcblk0p3", "mmcblk0p4"], 179),
                               ("sda", ["sda1", "sda2", "sda3", "sda4"], 8)):
        for n, name in enumerate(parts, 1):
            d = sysfs / "devices/platform/block" / disk / name
            d.mkdir(parents=True)
            (d / "partition").write_text(f"{n}\n")
            link = sysfs / "dev/block" / f"{major}:{n}"
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(d)
    return sysfs


def test_ab_slots_are_partitions_of_the_disk_the_root_runs_from(tmp_path: Path) -> None:
    sysfs = _sysfs(tmp_path)
    on_card = os.makedev(179, 2)  # running from mmcblk0p2 (slot a)
    assert ab.partition_device("b", on_card, sysfs) == Path("/dev/mmcblk0p3")
    assert ab.partition_device("a", os.makedev(179, 3), sysfs) == Path("/dev/mmcblk0p2")
    assert ab.partition_device("b", os.makedev(8, 2), sysfs) == Path("/dev/sda3")  # booted off the stick
    (sysfs / "devices/platform/block/mmcblk0/mmcblk0p3/partition").unlink()
    with pytest.raises(ab.SlotError, match="no partition 3"):
        ab.partition_device("b", on_card, sysfs)
    whole = sysfs / "devices/platform/block/vda"
    whole.mkdir()
    (sysfs / "dev/block/254:0").symlink_to(whole)
    with pytest.raises(ab.SlotError, match="not on a partition"):
        ab.partition_device("b", os.makedev(254, 0), sysfs)


def _ext4_of(tree: Path, out: Path, clamp: bool) -> bytes:
    env = {**os.environ, "E2FSPROGS_FAKE_TIME": "1700000000", "SOURCE_DATE_EPOCH": "1700000000"}
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-U", "7111b0c5-0002-4000-8000-000000000002",
                    "-E", "hash_seed=7111b0c5-0002-4000-8000-00000000000a", "-d", str(tree), str(out), "8M"],
                   check=True, env=env, capture_output=True)
    if clamp:
        subprocess.run(["bash", "-c", f'source {IMAGE}/common.sh && clamp_times "$1" "$2"', "-", str(tree), str(out)],
                       check=True, env=env)
    return out.read_bytes()


@pytest.mark.skipif(not shutil.which("mke2fs") or not shutil.which("debugfs"), reason="needs e2fsprogs")
def test_the_same_tree_gives_the_same_file_system_bytes(tmp_path: Path) -> None:
    """mke2fs -d copies each file's change time, which is when the build made it; the build's
    clamp_times sets it (and access and creation times) to SOURCE_DATE_EPOCH."""
    trees = []
    for n in (1, 2):  # the same content, made a second apart
        tree = tmp_path / f"tree{n}"
        (tree / "etc/with space").mkdir(parents=True)
        (tree / "etc/with space/file").write_text("same\n")
        (tree / "etc/hostname").write_text("tillbox\n")
        (tree / "etc/link").symlink_to("hostname")
        for f in [tree, *tree.rglob("*")]:
            os.utime(f, (1700000000, 1700000000), follow_symlinks=False)
        trees.append(tree)
        time.sleep(1.1)
    plain = [_ext4_of(t, tmp_path / f"plain{n}.ext4", clamp=False) for n, t in enumerate(trees)]
    assert plain[0] != plain[1]  # what the clamp is for
    clamped = [_ext4_of(t, tmp_path / f"clamped{n}.ext4", clamp=True) for n, t in enumerate(trees)]
    assert clamped[0] == clamped[1]


SCRIPTS = sorted([*IMAGE.glob("*.sh"), *(IMAGE / "rootfs/usr/local/sbin").iterdir()])


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shell_scripts_parse(script: Path) -> None:
    shell = "bash" if script.read_text().startswith("#!/bin/bash") else "sh"
    assert subprocess.run([shell, "-n", str(script)], capture_output=True).returncode == 0
    if shutil.which("shellcheck"):
        done = subprocess.run(["shellcheck", "-x", "-S", "warning", str(script)], capture_output=True,
                              text=True, cwd=IMAGE)
        assert done.returncode == 0, done.stdout


def test_units_the_image_relies_on_exist_in_systemd() -> None:
    units = REPO / "systemd"
    drop_ins = IMAGE / "rootfs/etc/systemd/system"
    for d in drop_ins.glob("*.service.d"):
        name = d.name.removesuffix(".d")
        if name.startswith("till"):
            assert (units / name).is_file(), f"the image has a drop-in for {name}, systemd/ has no such unit"
    for own in ("tillbox-firstboot.service", "tillbox-ab-trial.service", "tillbox-boot-ok.service"):
        text = (drop_ins / own).read_text()
        for ref in re.findall(r"\b(till-[\w@-]+\.service)", text):
            assert (units / ref).is_file(), f"{own} names {ref}, not in systemd/"
        exec_start = re.search(r"^ExecStart=(\S+)", text, re.M)
        assert exec_start and (IMAGE / "rootfs" / exec_start.group(1).lstrip("/")).is_file()
    kiosk = (units / "till-kiosk.service").read_text()
    assert "till kiosk" in kiosk


def test_packages_and_pinned_wheels() -> None:
    packages = {line.split("#")[0].strip() for line in (IMAGE / "packages.txt").read_text().splitlines()} - {""}
    for needed in ("linux-image-arm64", "raspi-firmware", "systemd-timesyncd", "python3-venv", "libegl1",
                   "libgles2", "libgl1-mesa-dri", "libgbm1", "libdrm2", "libmtdev1", "libusb-1.0-0",
                   "openssh-server", "cloud-guest-utils"):
        assert needed in packages
    pins = {}
    for name in ("requirements.txt", "requirements-sdist.txt"):
        for line in (IMAGE / name).read_text().splitlines():
            if line and not line.startswith("#"):
                pkg, _, version = line.partition("==")
                assert version, f"{line!r} in {name} is not pinned"
                pins[re.sub(r"[-_.]+", "-", pkg).lower()] = version
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for dep in project["dependencies"]:
        name = re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", dep).group(0)).lower()
        assert name in pins, f"{name} (pyproject.toml) is not pinned in image/requirements*.txt"
