"""Handing freed heap memory back to the system, for a kiosk that runs all day.

glibc's malloc keeps what the process frees inside its heap and only gives back the top of it, so
the short-lived buffers of a busy moment (the GL driver binning a screen's first frames, SQLite,
Python) leave tens of MB of free but resident pages behind. malloc_trim(0) returns every whole
free page (madvise); the memory stays available to malloc, it just stops counting as resident.
It takes a few ms, so the kiosk calls it after a screen change has been drawn and on a slow timer,
never inside a touch or a scan. On a libc without malloc_trim (musl, macOS) it does nothing."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from typing import Any

log = logging.getLogger(__name__)
_trim: Any = None


def release_free_memory() -> bool:
    """Give the heap's free pages back to the system; False where the libc cannot."""
    global _trim
    if _trim is None:
        try:
            _trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
            _trim.argtypes, _trim.restype = [ctypes.c_size_t], ctypes.c_int
        except (OSError, AttributeError):
            _trim = False
            log.info("event=malloc_trim_unavailable")
    return bool(_trim) and bool(_trim(0))
