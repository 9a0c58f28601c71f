"""Key maps from evdev key codes to characters, for scanners that pretend to be a keyboard.

A keyboard-wedge scanner sends key positions, not characters: it presses whatever key would type the
character on the layout it was programmed for. We decode with our own tables instead of the host's
(xkb/console) keymap because the scanner is grabbed, so no keymap of the system ever sees its keys,
and the till must read the same code whatever the shop's desktop layout is. The Danish table follows
the Windows/X11 "dk" layout that scanners emulate when set to Danish.

Dead keys (Danish ´ ` ¨ ^ ~) are reported by `char_for` as their spacing character; `is_dead` says
which keys those are, and `compose` applies one to the next character the way a desktop would.
"""

from __future__ import annotations

import unicodedata

from evdev import ecodes as e

LAYOUTS = ("us", "dk")

# code -> (plain, shift, altgr); None where the layer types nothing.
Layers = tuple[str | None, str | None, str | None]


def _letters() -> dict[int, Layers]:
    return {getattr(e, f"KEY_{c.upper()}"): (c, c.upper(), None) for c in "abcdefghijklmnopqrstuvwxyz"}


_US: dict[int, Layers] = {
    **_letters(),
    e.KEY_GRAVE: ("`", "~", None),
    e.KEY_1: ("1", "!", None),
    e.KEY_2: ("2", "@", None),
    e.KEY_3: ("3", "#", None),
    e.KEY_4: ("4", "$", None),
    e.KEY_5: ("5", "%", None),
    e.KEY_6: ("6", "^", None),
    e.KEY_7: ("7", "&", None),
    e.KEY_8: ("8", "*", None),
    e.KEY_9: ("9", "(", None),
    e.KEY_0: ("0", ")", None),
    e.KEY_MINUS: ("-", "_", None),
    e.KEY_EQUAL: ("=", "+", None),
    e.KEY_LEFTBRACE: ("[", "{", None),
    e.KEY_RIGHTBRACE: ("]", "}", None),
    e.KEY_BACKSLASH: ("\\", "|", None),
    e.KEY_SEMICOLON: (";", ":", None),
    e.KEY_APOSTROPHE: ("'", '"', None),
    e.KEY_COMMA: (",", "<", None),
    e.KEY_DOT: (".", ">", None),
    e.KEY_SLASH: ("/", "?", None),
    e.KEY_102ND: ("<", ">", None),  # the ISO key left of Z; xkb "us" types <> on it
    e.KEY_SPACE: (" ", " ", None),
}

_DK: dict[int, Layers] = {
    **_letters(),
    e.KEY_E: ("e", "E", "€"),
    e.KEY_M: ("m", "M", "µ"),
    e.KEY_GRAVE: ("½", "§", "¾"),
    e.KEY_1: ("1", "!", "¡"),
    e.KEY_2: ("2", '"', "@"),
    e.KEY_3: ("3", "#", "£"),
    e.KEY_4: ("4", "¤", "$"),
    e.KEY_5: ("5", "%", "€"),
    e.KEY_6: ("6", "&", None),
    e.KEY_7: ("7", "/", "{"),
    e.KEY_8: ("8", "(", "["),
    e.KEY_9: ("9", ")", "]"),
    e.KEY_0: ("0", "=", "}"),
    e.KEY_MINUS: ("+", "?", None),
    e.KEY_EQUAL: ("´", "`", "|"),  # ´ and ` are dead keys
    e.KEY_LEFTBRACE: ("å", "Å", None),
    e.KEY_RIGHTBRACE: ("¨", "^", "~"),  # all three dead
    e.KEY_SEMICOLON: ("æ", "Æ", None),
    e.KEY_APOSTROPHE: ("ø", "Ø", None),
    e.KEY_BACKSLASH: ("'", "*", None),  # the key left of Enter (HID "non-US #")
    e.KEY_102ND: ("<", ">", "\\"),
    e.KEY_COMMA: (",", ";", None),
    e.KEY_DOT: (".", ":", None),
    e.KEY_SLASH: ("-", "_", None),
    e.KEY_SPACE: (" ", " ", None),
}

_DEAD: dict[str, frozenset[tuple[int, bool, bool]]] = {
    "us": frozenset(),
    "dk": frozenset({
        (e.KEY_EQUAL, False, False), (e.KEY_EQUAL, True, False),
        (e.KEY_RIGHTBRACE, False, False), (e.KEY_RIGHTBRACE, True, False), (e.KEY_RIGHTBRACE, False, True),
    }),
}

_COMBINING = {"´": "\u0301", "`": "\u0300", "¨": "\u0308", "^": "\u0302", "~": "\u0303"}

# Keypad, read as if NumLock is on (scanners that use the keypad assume it). The decimal key types
# the layout's decimal separator: xkb "dk" includes kpdl(comma).
_KP_DIGITS = {getattr(e, f"KEY_KP{d}"): str(d) for d in range(10)}
_KP_OPERATORS = {
    e.KEY_KPSLASH: "/", e.KEY_KPASTERISK: "*", e.KEY_KPMINUS: "-", e.KEY_KPPLUS: "+",
    e.KEY_KPEQUAL: "=", e.KEY_KPCOMMA: ",",
}
_KP_DECIMAL = {"us": ".", "dk": ","}

_TABLES = {"us": _US, "dk": _DK}


def _table(layout: str) -> dict[int, Layers]:
    try:
        return _TABLES[layout]
    except KeyError:
        raise ValueError(f"unknown keyboard layout {layout!r}; known: {', '.join(LAYOUTS)}") from None


def char_for(code: int, shift: bool, altgr: bool, layout: str) -> str | None:
    """The character `code` types with these modifiers on `layout`, or None if it types none."""
    table = _table(layout)
    if code in _KP_DIGITS or code == e.KEY_KPDOT:
        if shift:
            return None  # Shift with NumLock on gives the navigation keys (End, Down, ...)
        return _KP_DIGITS.get(code, _KP_DECIMAL[layout])
    if code in _KP_OPERATORS:
        return _KP_OPERATORS[code]
    layers = table.get(code)
    if layers is None:
        return None
    if altgr:
        return layers[2]
    return layers[1] if shift else layers[0]


def is_dead(code: int, shift: bool, altgr: bool, layout: str) -> bool:
    """Whether this key waits for the next key before typing (a Danish accent key)."""
    _table(layout)
    return (code, shift, altgr) in _DEAD[layout]


def compose(dead: str, base: str) -> str:
    """What a dead key followed by `base` types: the accented letter where one exists, the accent
    alone before a space, otherwise both characters (as desktops do)."""
    if base == " ":
        return dead
    combined = unicodedata.normalize("NFC", base + _COMBINING.get(dead, ""))
    return combined if len(combined) == 1 and dead in _COMBINING else dead + base
