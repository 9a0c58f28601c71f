"""First boot of a Tillbox SD card: make the card's free space the data partition's, apply the
installer's tillbox.toml, and leave the kiosk to start at its set-up screens.

Why a script and not a pile of units: the steps depend on each other (the data partition must be
grown before anything is written to it; SSH is on only if a key was given) and the whole thing is
retried on the next boot until it has succeeded once (the marker is written last). It runs with
Debian's python3 (tomllib, no third-party packages); the shop is initialised through the app's own
`till init` so the signing key is made exactly as on any other till.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

BOOT_TOML = Path("/boot/firmware/tillbox.toml")
DATA = Path("/data")
SYSTEM = DATA / "system"
TILL_DATA = Path("/var/lib/tillbox")
MARKER = SYSTEM / "firstboot.done"
ERROR_FILE = SYSTEM / "firstboot.error"
TILL = "/opt/tillbox/.venv/bin/till"
ZONEINFO = Path("/usr/share/zoneinfo")
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/", "LANG": "C.UTF-8"}
SSH_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                 "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")
KNOWN = {"shop": {"name", "cvr", "address", "register_id", "time_zone"},
         "wifi": {"ssid", "psk", "country"}, "dinero": {"relay_url"}, "ssh": {"authorized_keys"}}


class ConfigError(ValueError):
    """tillbox.toml is missing, unreadable or wrong; the message says what to fix, in English."""


@dataclass(frozen=True)
class Config:
    shop_name: str
    cvr: str = ""
    address: str = ""
    register_id: str = "1"
    time_zone: str = "Europe/Copenhagen"
    wifi_ssid: str = ""
    wifi_psk: str = field(default="", repr=False)  # never printed
    wifi_country: str = "DK"
    relay_url: str = ""
    ssh_keys: tuple[str, ...] = ()


def _text(table: dict, key: str, where: str, default: str = "") -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key} must be a string in quotes")
    return value.strip()


def parse_config(text: str, zoneinfo: Path = ZONEINFO) -> Config:
    """Read and check tillbox.toml; every mistake is reported with the key to fix."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"tillbox.toml is not valid TOML: {exc}") from exc
    for section, value in doc.items():
        if section not in KNOWN or not isinstance(value, dict):
            raise ConfigError(f"unknown section [{section}] (known: {', '.join(sorted(KNOWN))})")
        unknown = set(value) - KNOWN[section]
        if unknown:
            raise ConfigError(f"unknown key(s) in [{section}]: {', '.join(sorted(unknown))}")
    shop, wifi = doc.get("shop", {}), doc.get("wifi", {})
    dinero, ssh = doc.get("dinero", {}), doc.get("ssh", {})
    name = _text(shop, "name", "shop")
    if not name:
        raise ConfigError("shop.name is required (the shop's name as it stands on the receipt)")
    cvr = _text(shop, "cvr", "shop").replace(" ", "")
    if cvr and not re.fullmatch(r"\d{8}", cvr):
        raise ConfigError("shop.cvr must be 8 digits")
    address = _text(shop, "address", "shop")
    if bool(cvr) != bool(address):
        raise ConfigError("shop.cvr and shop.address go together: give both, or neither and set the shop "
                          "up on the screen")
    register_id = _text(shop, "register_id", "shop", "1")
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,36}", register_id):
        raise ConfigError("shop.register_id must be 1-36 letters, digits, '.', '_' or '-'")
    tz = _text(shop, "time_zone", "shop", "Europe/Copenhagen")
    if ".." in tz or tz.startswith("/") or not (zoneinfo / tz).is_file():
        raise ConfigError(f"shop.time_zone {tz!r} is not a known time zone (e.g. Europe/Copenhagen)")
    ssid, psk = _text(wifi, "ssid", "wifi"), _text(wifi, "psk", "wifi")
    if psk and not ssid:
        raise ConfigError("wifi.psk is given without wifi.ssid")
    if ssid and not 1 <= len(ssid.encode()) <= 32:
        raise ConfigError("wifi.ssid must be 1-32 bytes")
    if psk and not (8 <= len(psk) <= 63 or re.fullmatch(r"[0-9a-fA-F]{64}", psk)):
        raise ConfigError("wifi.psk must be 8-63 characters (or 64 hex digits)")
    if any(c in ssid + psk for c in '"\n\r\\'):
        raise ConfigError("wifi.ssid and wifi.psk cannot contain quotes, backslashes or line breaks")
    country = _text(wifi, "country", "wifi", "DK").upper()
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise ConfigError("wifi.country must be a two-letter country code such as DK")
    relay = _text(dinero, "relay_url", "dinero")
    if relay and not re.fullmatch(r"https://[^\s/]+(/\S*)?", relay):
        raise ConfigError("dinero.relay_url must be an https:// address")
    keys = ssh.get("authorized_keys", [])
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ConfigError("ssh.authorized_keys must be a list of public keys in quotes")
    keys = [k.strip() for k in keys if k.strip()]
    for k in keys:
        if k.split(" ", 1)[0] not in SSH_KEY_TYPES or "\n" in k or len(k.split()) < 2:
            raise ConfigError("ssh.authorized_keys holds something that is not an SSH public key "
                              "(a line like 'ssh-ed25519 AAAA... name')")
    return Config(name, cvr, address, register_id, tz, ssid, psk, country, relay, tuple(keys))


def run(*cmd: str, **kw: object) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]


def grow_data_partition() -> None:
    """The image's data partition is small; give it the rest of the card, online."""
    source = subprocess.run(["findmnt", "-no", "SOURCE", str(DATA)], check=True, capture_output=True,
                            text=True).stdout.strip()
    part = Path(source).name
    number = Path(f"/sys/class/block/{part}/partition").read_text().strip()
    disk = "/dev/" + Path(os.path.realpath(f"/sys/class/block/{part}/..")).name
    grown = subprocess.run(["growpart", disk, number], capture_output=True, text=True)
    if grown.returncode not in (0, 1):  # 1: nothing to grow (already fills the card)
        raise RuntimeError(f"growpart {disk} {number} failed: {grown.stderr.strip()}")
    run("resize2fs", source)
    print(f"tillbox-firstboot: data partition {source} fills the card", flush=True)


def apply_time_zone(cfg: Config) -> None:
    """/etc/localtime is a link to /data/system/localtime (the root is read-only)."""
    link = SYSTEM / "localtime"
    tmp = link.with_suffix(".new")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(ZONEINFO / cfg.time_zone)
    tmp.replace(link)
    (SYSTEM / "timezone").write_text(cfg.time_zone + "\n")


def apply_wifi(cfg: Config) -> None:
    conf = SYSTEM / "wpa_supplicant-wlan0.conf"
    if not cfg.wifi_ssid:
        conf.unlink(missing_ok=True)
        return
    key = f'psk="{cfg.wifi_psk}"' if len(cfg.wifi_psk) < 64 else f"psk={cfg.wifi_psk}"
    secured = key if cfg.wifi_psk else "key_mgmt=NONE"
    body = (f"ctrl_interface=DIR=/run/wpa_supplicant GROUP=netdev\ncountry={cfg.wifi_country}\n"
            f'network={{\n    ssid="{cfg.wifi_ssid}"\n    {secured}\n}}\n')
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(body)
    print(f"tillbox-firstboot: Wi-Fi network {cfg.wifi_ssid!r} set", flush=True)


def apply_ssh(cfg: Config) -> None:
    """SSH runs only when this file exists (ssh.service drop-in); host keys are this card's own."""
    ssh = SYSTEM / "ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    keys = ssh / "authorized_keys"
    if not cfg.ssh_keys:
        keys.unlink(missing_ok=True)
        return
    host_key = ssh / "ssh_host_ed25519_key"
    if not host_key.exists():
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tillbox", "-f", str(host_key))
    fd = os.open(keys, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("".join(k + "\n" for k in cfg.ssh_keys))
    print(f"tillbox-firstboot: SSH on for {len(cfg.ssh_keys)} key(s)", flush=True)


def till_user() -> str:
    return TILL_DATA.owner()


def as_till(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", till_user(), "--", TILL, "--data", str(TILL_DATA), *args],
                          capture_output=True, text=True, env=ENV)


def init_shop(cfg: Config) -> None:
    """With CVR and address the shop is set up here (signing key + certificate + the journal's
    first entry, by `till init`); without them the kiosk's installer screens do it."""
    if not cfg.cvr or (TILL_DATA / "keys").exists():
        print("tillbox-firstboot: shop left for the installer screen", flush=True)
        return
    done = as_till("init", "--shop-name", cfg.shop_name, "--cvr", cfg.cvr, "--address", cfg.address,
                   "--register-id", cfg.register_id)
    if done.returncode != 0 and "already holds" not in done.stderr:
        raise RuntimeError(f"till init failed: {done.stderr.strip()}")
    print("tillbox-firstboot: shop initialised, signing key created", flush=True)


def set_relay(cfg: Config) -> None:
    if not cfg.relay_url or not cfg.cvr:
        return
    code = ("import sys; from pathlib import Path; from appliance.services.till import open_till\n"
            "from appliance.store.db import transaction; from appliance.store.settings import set_meta\n"
            "with open_till(Path(sys.argv[1])) as t, transaction(t.conn):\n"
            "    set_meta(t.conn, 'dinero.relay_url', sys.argv[2])\n"
            "    t.journal.append('settings_change', 'installer',\n"
            "                     {'key': 'dinero.relay_url', 'value': sys.argv[2]})")
    done = subprocess.run(["runuser", "-u", till_user(), "--", "/opt/tillbox/.venv/bin/python", "-c", code,
                           str(TILL_DATA), cfg.relay_url], capture_output=True, text=True,
                          env=ENV)
    if done.returncode != 0:
        raise RuntimeError(f"saving the relay URL failed: {done.stderr.strip()[-400:]}")


SCRUBBED = "# psk: moved into the till at first boot and removed from this card"


def without_wifi_key(text: str) -> str | None:
    """tillbox.toml with [wifi] psk taken out (the card's FAT can be read by anyone holding it), or
    None when it has no key, or one this cannot take out on a single line."""
    lines, section, found = text.splitlines(keepends=True), "", False
    for i, line in enumerate(lines):
        head = re.match(r"\s*\[\s*([A-Za-z_]+)\s*\]", line)
        if head:
            section = head.group(1)
        elif section == "wifi" and re.match(r"\s*psk\s*=", line):
            lines[i], found = SCRUBBED + ("\n" if line.endswith("\n") else ""), True
    if not found:
        return None
    scrubbed = "".join(lines)
    try:
        before, after = tomllib.loads(text), tomllib.loads(scrubbed)
    except tomllib.TOMLDecodeError:
        return None
    before.get("wifi", {}).pop("psk", None)
    return scrubbed if before == after else None  # the key gone, and nothing else changed


def scrub_wifi_key(text: str, remount: bool = True) -> None:
    """After a first boot that went through: the Wi-Fi key lives on in /data/system (root only)."""
    scrubbed = without_wifi_key(text)
    if scrubbed is None:
        return
    sys.path.insert(0, str(Path(__file__).parent))
    from ab import Boot  # the one way to write to the boot partition
    try:
        Boot(BOOT_TOML.parent, remount).replace((BOOT_TOML.name, scrubbed))
        print("tillbox-firstboot: the Wi-Fi key was removed from tillbox.toml", flush=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"tillbox-firstboot: could not remove the Wi-Fi key from tillbox.toml: {exc}",
              file=sys.stderr, flush=True)


def main() -> int:
    SYSTEM.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        grow_data_partition()
        try:
            text = BOOT_TOML.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read {BOOT_TOML}: {exc.strerror}") from exc
        cfg = parse_config(text)
        apply_time_zone(cfg)
        apply_wifi(cfg)
        apply_ssh(cfg)
        init_shop(cfg)
        set_relay(cfg)
    except (ConfigError, RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        ERROR_FILE.write_text(f"{exc}\n")
        print(f"tillbox-firstboot: FAILED, fix and reboot: {exc}", file=sys.stderr, flush=True)
        return 1
    ERROR_FILE.unlink(missing_ok=True)
    MARKER.write_text("done\n")
    print("tillbox-firstboot: done", flush=True)
    scrub_wifi_key(text)  # only now: a retried first boot still needs the key
    return 0


if __name__ == "__main__":
    sys.exit(main())
