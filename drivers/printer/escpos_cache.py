"""Where python-escpos keeps its parsed printer database; import this before escpos itself.

python-escpos parses its printer database at import and, unless told where to keep the parsed
copy, makes a new temporary directory for it on every start (175 ms, and a leaked /tmp dir per
process). We point it at one cache directory: systemd's CacheDirectory when run as a service,
else the user's cache. python-escpos 3.1 calls mkdtemp() even when told the directory (it is the
default argument of environ.get), so that stray empty directory is made in our cache and removed."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _escpos_cache() -> str:
    for base in (os.environ.get("CACHE_DIRECTORY"), os.environ.get("XDG_CACHE_HOME"),
                 str(Path.home() / ".cache"), tempfile.gettempdir()):
        if not base:
            continue
        path = Path(base.split(":")[0]) / f"tillbox-escpos-{os.getuid()}"
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(path, os.W_OK):
            return str(path)
    return tempfile.mkdtemp()


def _import_escpos_capabilities() -> None:
    cache = os.environ.setdefault("ESCPOS_CAPABILITIES_PICKLE_DIR", _escpos_cache())
    saved = tempfile.tempdir
    tempfile.tempdir = cache
    try:
        import escpos.capabilities  # noqa: F401
    finally:
        tempfile.tempdir = saved
    for stray in Path(cache).glob("tmp*"):
        try:
            stray.rmdir()  # only empty ones go; another process's may be in use by it
        except OSError:
            pass


_import_escpos_capabilities()
