"""Where the kiosk can put an export: a USB stick that is plugged in and mounted (udev mounts it
under /media/tillbox, systemd/udev/99-tillbox.rules), or the data partition's `exports` folder."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

MEDIA_ROOTS = (Path("/media"), Path("/run/media"), Path("/mnt"))
MOUNTS = Path("/proc/self/mounts")


@dataclass(frozen=True)
class Target:
    kind: str  # "usb" | "data"
    label: str
    path: Path
    free: int  # bytes


def _unescape(field: str) -> str:
    """/proc/mounts escapes spaces and the like as octal (\\040)."""
    return field.encode().decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")


def removable_mounts(roots: tuple[Path, ...] = MEDIA_ROOTS, mounts: Path = MOUNTS) -> list[Path]:
    """Mount points under the media roots that the till may write to."""
    found = []
    try:
        lines = mounts.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    for line in lines:
        parts = line.split()
        if len(parts) < 4:
            continue
        point = Path(_unescape(parts[1]))
        options = parts[3].split(",")
        if "ro" in options or not any(point.is_relative_to(r) and point != r for r in roots):
            continue
        if os.access(point, os.W_OK):
            found.append(point)
    return sorted(set(found))


def targets(data_dir: Path, roots: tuple[Path, ...] = MEDIA_ROOTS, mounts: Path = MOUNTS) -> list[Target]:
    out = []
    for point in removable_mounts(roots, mounts):
        out.append(Target("usb", point.name, point / "tillbox-saft", _free(point)))
    exports = Path(data_dir) / "exports"
    out.append(Target("data", "exports", exports, _free(Path(data_dir))))
    return out


def _free(path: Path) -> int:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return 0
