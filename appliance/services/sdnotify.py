"""systemd's notify protocol, shared by the kiosk and the uploader (both Type=notify with a watchdog).

No libsystemd binding: the protocol is one datagram of `KEY=value` lines to the AF_UNIX socket named
in NOTIFY_SOCKET, and a dependency for ten lines would have to be built for aarch64 as well. Outside
systemd (a shell, the tests without a socket) every call is a cheap no-op."""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def sd_notify(message: str) -> bool:
    """Send READY=1, WATCHDOG=1, STATUS=..., STOPPING=1 (one or more lines); False when not under
    systemd or the socket is gone. Never raises: a lost notification must not take the till down."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(address)
            s.sendall(message.encode())
        return True
    except OSError as exc:
        log.warning("event=sd_notify_failed error=%s", exc)
        return False


def watchdog_interval(default: float | None = None, fraction: float = 0.5) -> float | None:
    """How often to send WATCHDOG=1: a `fraction` of WatchdogSec (systemd asks for at least every
    half), or `default` when systemd wants no watchdog or one for another process (WATCHDOG_PID)."""
    pid = os.environ.get("WATCHDOG_PID")
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return default
    try:
        usec = int(os.environ.get("WATCHDOG_USEC", "0"))
    except ValueError:
        return default
    return usec / 1e6 * fraction if usec > 0 else default
