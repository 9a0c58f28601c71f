"""Everything `till` writes under DATA is private (0600 files in 0700 folders), whatever the umask
of whoever runs it: the journal, its WAL, keys, exports and the simulated devices' output."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path


def till(data: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appliance.cli", "--data", str(data), *args],
                          capture_output=True, text=True, timeout=300, preexec_fn=lambda: os.umask(0o022),
                          env={**os.environ, "TILLBOX_DATA": ""})


def test_everything_under_data_is_private_under_a_loose_umask(tmp_path: Path) -> None:
    data = tmp_path / "shop"
    for args in (("demo", "--days", "1"), ("hw", "sim"), ("journal", "verify"),
                 ("saft", "export", "--from", "2020-01-01", "--to", "2030-12-31")):
        proc = till(data, *args)
        assert proc.returncode == 0, proc.stderr[-2000:]
    loose = []
    for path in [data, *data.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            loose.append(f"{path.relative_to(tmp_path)} {oct(mode)}")
    assert loose == []
    assert list((data / "exports").glob("*.xml")) and (data / "till.db").exists()
