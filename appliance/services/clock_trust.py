"""Is the system clock right? The journal's entries carry the time and must never run backwards, and
SKAT's rules want the real time on each sale, so the kiosk takes no sale (and journals nothing)
until the clock is trustworthy.

A Raspberry Pi has no battery clock: it boots at the time fake-hwclock saved at the last shutdown
(or 1970), which is hours or months wrong after a weekend unplugged. The clock is trusted when

* systemd-timesyncd has synchronised it (it touches /run/systemd/timesync/synchronized), or
* the kernel says an NTP daemon keeps it synchronised (adjtimex: STA_UNSYNC clear; true for
  chrony, ntpd and timesyncd alike), or
* a battery-backed RTC module set it at boot (/sys/class/rtc/rtc0/hctosys is 1: the kernel read a
  valid time from rtc0 when its driver registered; Debian's arm64 kernel has CONFIG_RTC_HCTOSYS and
  the DS1307/DS3231 driver built in, and qemu's virt machine has a PL031).

Whatever the source, a clock before 2025 is never trusted: a Pi 5's own RTC without its battery
comes back at 1970 and still counts as "set at boot".

TILLBOX_CLOCK_TRUSTED=1 trusts (development, the demo shop, tests); =0 distrusts, to show the
waiting screen on a machine whose clock is fine."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

OVERRIDE_ENV = "TILLBOX_CLOCK_TRUSTED"
TIMESYNCD_FLAG = "run/systemd/timesync/synchronized"
RTC_HCTOSYS = "sys/class/rtc/rtc0/hctosys"
STA_UNSYNC = 0x0040  # include/uapi/linux/timex.h
TIME_ERROR = 5       # adjtimex's return value while the clock is not synchronised
NOT_BEFORE = 1735686000  # 2025-01-01 00:00 Europe/Copenhagen: older than any till's software


@dataclass(frozen=True)
class ClockTrust:
    trusted: bool
    source: str  # timesyncd | kernel-ntp | rtc | override | none
    detail: str = ""


class _Timex(ctypes.Structure):
    """The head of struct timex (only `status` is read) and room for the rest of it: the kernel
    writes the whole struct (208 bytes on 64-bit), so the buffer must be at least that big."""
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("_rest", ctypes.c_byte * 256)]


def kernel_synchronised() -> bool | None:
    """adjtimex(2) with modes 0 only reads. None when it cannot be asked (not Linux, or a seccomp
    filter such as ProtectClock= refuses the call)."""
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != TIME_ERROR and not tx.status & STA_UNSYNC


def check(env: Mapping[str, str] | None = None, root: Path = Path("/"),
          kernel: Callable[[], bool | None] = kernel_synchronised,
          now: Callable[[], float] = time.time) -> ClockTrust:
    """One look at every source, cheapest first (the kiosk asks every few seconds)."""
    env = os.environ if env is None else env
    override = env.get(OVERRIDE_ENV, "").strip()
    if override in ("1", "0"):
        return ClockTrust(override == "1", "override", f"{OVERRIDE_ENV}={override}")
    if now() < NOT_BEFORE:
        return ClockTrust(False, "none", "the clock is before 2025")
    if (root / TIMESYNCD_FLAG).exists():
        return ClockTrust(True, "timesyncd")
    try:
        if (root / RTC_HCTOSYS).read_text().strip() == "1":
            return ClockTrust(True, "rtc", "set from rtc0 at boot")
    except OSError:
        pass
    synced = kernel()
    if synced:
        return ClockTrust(True, "kernel-ntp")
    detail = "no NTP synchronisation yet and no RTC" if synced is False else "kernel clock state unknown"
    return ClockTrust(False, "none", detail)
