"""Waking the uploader service: a datagram on its socket in the data folder (best effort: it also
looks on its own schedule). Closing a day and connecting to Dinero both wake it."""

from __future__ import annotations

import socket
from pathlib import Path

WAKE_SOCKET = "run/uploader.sock"


def wake_uploader(data_dir: Path) -> bool:
    path = Path(data_dir) / WAKE_SOCKET
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(b"wake", str(path))
        return True
    except OSError:
        return False
