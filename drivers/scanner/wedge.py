"""Turns a keyboard-wedge scanner's raw key events into whole codes, and nothing else.

A code is only delivered when it arrived as one fast burst ending in a terminator key: anything
doubtful (a key we cannot type, a pause a scanner would not make, an unplug mid-code) drops the whole
code with one log line, because a wrong code rings up the wrong item while a dropped one is just
scanned again. Timing comes from the events' own timestamps, so the decoder is deterministic."""

from __future__ import annotations

import logging

from evdev import ecodes as e

from drivers.scanner.keymap import char_for, compose, is_dead

log = logging.getLogger(__name__)

EV_KEY = e.EV_KEY
KEY_DOWN, KEY_UP, KEY_REPEAT = 1, 0, 2

TERMINATOR_KEYS: dict[str, tuple[int, ...]] = {
    "enter": (e.KEY_ENTER, e.KEY_KPENTER),
    "tab": (e.KEY_TAB,),
}
_SHIFT = {e.KEY_LEFTSHIFT, e.KEY_RIGHTSHIFT}
_CTRL = {e.KEY_LEFTCTRL, e.KEY_RIGHTCTRL}
_MODIFIERS = _SHIFT | _CTRL | {e.KEY_LEFTALT, e.KEY_RIGHTALT, e.KEY_LEFTMETA, e.KEY_RIGHTMETA}
_IGNORED = {e.KEY_NUMLOCK, e.KEY_SCROLLLOCK}  # keypad is read as NumLock on whatever the LED says
_FUNCTION_KEYS = {getattr(e, f"KEY_F{n}") for n in range(1, 25)}


def key_name(code: int) -> str:
    name = e.KEY.get(code)
    if isinstance(name, list | tuple):
        name = name[0]
    return str(name) if name else f"KEY_{code}"


class WedgeDecoder:
    """One per device, fed from its reader thread (not thread-safe). CapsLock is tracked from the
    device's own presses, starting off: the scanner, not the host's LED, decides what it means."""

    def __init__(self, layout: str = "us", terminators: tuple[str, ...] = ("enter", "tab"),
                 max_gap_s: float = 0.1, min_length: int = 1, max_length: int = 256):
        char_for(e.KEY_A, False, False, layout)  # unknown layout -> ValueError now, not at the first scan
        unknown = [t for t in terminators if t not in TERMINATOR_KEYS]
        if unknown or not terminators:
            raise ValueError(f"terminators must be some of {sorted(TERMINATOR_KEYS)}, not {terminators!r}")
        if not 1 <= min_length <= max_length:
            raise ValueError(f"need 1 <= min_length <= max_length, got {min_length}, {max_length}")
        self.layout = layout
        self.max_gap_s = max_gap_s
        self.min_length = min_length
        self.max_length = max_length
        self._terminators = {code for t in terminators for code in TERMINATOR_KEYS[t]}
        self._held: set[int] = set()
        self._caps = False
        self._chars: list[str] = []
        self._dead: str | None = None
        self._spoiled: str | None = None  # why the code in progress will be dropped at its end
        self._overflow = 0
        self._last_at: float | None = None

    @property
    def pending(self) -> int:
        """Characters of a code in progress (0 when idle)."""
        return len(self._chars) + self._overflow + (self._dead is not None)

    def feed(self, type: int, code: int, value: int, timestamp: float) -> str | None:
        """Take one input event; return the complete code when this event is its terminator."""
        if type != EV_KEY:
            return None  # EV_SYN/EV_MSC carry nothing we need
        if value == KEY_UP:
            self._held.discard(code)
            return None
        if value != KEY_DOWN:
            return None  # KEY_REPEAT: a scanner never means one
        self._check_gap(timestamp)
        self._last_at = timestamp
        if code in _MODIFIERS:
            self._held.add(code)
        elif code == e.KEY_CAPSLOCK:
            self._caps = not self._caps
        elif code in self._terminators:
            return self._finish()
        elif code not in _IGNORED:
            self._type(code)
        return None

    def reset(self, reason: str) -> None:
        """Forget everything in progress (modifiers too: an unplugged scanner releases all keys)."""
        self._drop_pending(reason)
        self._held.clear()
        self._caps = False
        self._last_at = None

    # --- internals ------------------------------------------------------------------------------

    def _type(self, code: int) -> None:
        shift = bool(self._held & _SHIFT)
        ctrl = bool(self._held & _CTRL)
        left_alt = e.KEY_LEFTALT in self._held
        # Ctrl+Alt is AltGr on Windows, and scanners programmed for it send exactly that.
        altgr = e.KEY_RIGHTALT in self._held or (ctrl and left_alt)
        if (ctrl or left_alt or self._held & {e.KEY_LEFTMETA, e.KEY_RIGHTMETA}) and not (ctrl and left_alt):
            self._spoil(f"modifier key={key_name(code)}")
            return
        plain = char_for(code, False, False, self.layout)
        if self._caps and plain is not None and plain.isalpha():
            shift = not shift
        char = char_for(code, shift, altgr, self.layout)
        if char is None:
            reason = "function_key" if code in _FUNCTION_KEYS else "unmapped_key"
            self._spoil(f"{reason} key={key_name(code)}")
            return
        if is_dead(code, shift, altgr, self.layout):
            if self._dead is not None:
                self._append(self._dead)  # accent, accent: the first is typed as it is
            self._dead = char
            return
        if self._dead is not None:
            char, self._dead = compose(self._dead, char), None
        self._append(char)

    def _append(self, char: str) -> None:
        if len(self._chars) < self.max_length:
            self._chars.append(char)
        else:  # count the rest without keeping it, so a runaway stream cannot grow memory
            self._overflow += 1
            self._spoil(f"too_long max={self.max_length}")

    def _finish(self) -> str | None:
        if self._dead is not None:  # an accent before the terminator is typed as it is
            dead, self._dead = self._dead, None
            self._append(dead)
        if self._spoiled is not None:
            self._drop_pending(self._spoiled)
            return None
        text = "".join(self._chars)
        self._clear()
        if not text:
            self._log_drop("empty", 0)
            return None
        if len(text) < self.min_length:
            self._log_drop(f"too_short min={self.min_length}", len(text))
            return None
        return text

    def _check_gap(self, timestamp: float) -> None:
        # Scanners type a code within milliseconds per key; a pause means a code cut short.
        if self._last_at is not None and timestamp - self._last_at > self.max_gap_s:
            self._drop_pending(f"gap gap_ms={round((timestamp - self._last_at) * 1000)}")

    def _spoil(self, reason: str) -> None:
        # Keep collecting to the terminator: the rest of a spoiled code must not pass as a code.
        if self._spoiled is None:
            self._spoiled = reason

    def _drop_pending(self, reason: str) -> None:
        if self.pending or self._spoiled is not None:
            self._log_drop(reason, self.pending)
        self._clear()

    def _clear(self) -> None:
        self._chars.clear()
        self._overflow = 0
        self._dead = None
        self._spoiled = None

    def _log_drop(self, reason: str, chars: int) -> None:
        log.warning("scanner_drop reason=%s chars=%d layout=%s", reason, chars, self.layout)
