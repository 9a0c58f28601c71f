"""Keyboard-wedge scanner input as raw evdev events: (type, code, value, timestamp) tuples.

Two kinds of data. The RAW_* sequences are written out event by event as `evtest` shows a USB
scanner's output (EV_MSC scan code, EV_KEY, EV_SYN for every press and release, 1-4 ms apart), with
key codes as plain numbers from linux/input-event-codes.h. The `type_text` helper "types" longer
strings the same way, using its own picture of the keyboards (rows of keycaps, below) rather than the
driver's key map, so a mistake in either shows up as a disagreement in the tests."""

from __future__ import annotations

from itertools import cycle

from evdev import ecodes

Event = tuple[int, int, int, float]

EV_SYN, EV_KEY, EV_MSC = 0, 1, 4
SYN_REPORT, MSC_SCAN = 0, 4
T0 = 1763625600.100000  # 2025-11-20 08:00 UTC, CLOCK_REALTIME like the kernel's default

EAN13 = "5701234567899"
EAN13_OTHER = "4006381333931"
EAN8 = "96385074"
MOBILEPAY_URL = "https://qr.vipps.no/28/2/01/031/4512345678?v=1"

# --- hand-written recordings ------------------------------------------------------------------

# A scanner using the numeric keypad (common "keypad emulation" setting): EAN-8 96385074, KPENTER.
# KP9=73 KP6=77 KP3=81 KP8=72 KP5=76 KP0=82 KP7=71 KP4=75 KPENTER=96; HID usages 0x59.. for KP1..
RAW_KEYPAD_EAN8: list[Event] = [
    (4, 4, 0x70061, 1763625600.100000), (1, 73, 1, 1763625600.100000), (0, 0, 0, 1763625600.100000),
    (4, 4, 0x70061, 1763625600.101870), (1, 73, 0, 1763625600.101870), (0, 0, 0, 1763625600.101870),
    (4, 4, 0x7005E, 1763625600.103910), (1, 77, 1, 1763625600.103910), (0, 0, 0, 1763625600.103910),
    (4, 4, 0x7005E, 1763625600.105880), (1, 77, 0, 1763625600.105880), (0, 0, 0, 1763625600.105880),
    (4, 4, 0x7005B, 1763625600.107940), (1, 81, 1, 1763625600.107940), (0, 0, 0, 1763625600.107940),
    (4, 4, 0x7005B, 1763625600.109870), (1, 81, 0, 1763625600.109870), (0, 0, 0, 1763625600.109870),
    (4, 4, 0x70060, 1763625600.111920), (1, 72, 1, 1763625600.111920), (0, 0, 0, 1763625600.111920),
    (4, 4, 0x70060, 1763625600.113890), (1, 72, 0, 1763625600.113890), (0, 0, 0, 1763625600.113890),
    (4, 4, 0x7005D, 1763625600.115930), (1, 76, 1, 1763625600.115930), (0, 0, 0, 1763625600.115930),
    (4, 4, 0x7005D, 1763625600.117880), (1, 76, 0, 1763625600.117880), (0, 0, 0, 1763625600.117880),
    (4, 4, 0x70062, 1763625600.119910), (1, 82, 1, 1763625600.119910), (0, 0, 0, 1763625600.119910),
    (4, 4, 0x70062, 1763625600.121900), (1, 82, 0, 1763625600.121900), (0, 0, 0, 1763625600.121900),
    (4, 4, 0x7005F, 1763625600.123870), (1, 71, 1, 1763625600.123870), (0, 0, 0, 1763625600.123870),
    (4, 4, 0x7005F, 1763625600.125940), (1, 71, 0, 1763625600.125940), (0, 0, 0, 1763625600.125940),
    (4, 4, 0x7005C, 1763625600.127890), (1, 75, 1, 1763625600.127890), (0, 0, 0, 1763625600.127890),
    (4, 4, 0x7005C, 1763625600.129920), (1, 75, 0, 1763625600.129920), (0, 0, 0, 1763625600.129920),
    (4, 4, 0x70058, 1763625600.131880), (1, 96, 1, 1763625600.131880), (0, 0, 0, 1763625600.131880),
    (4, 4, 0x70058, 1763625600.133910), (1, 96, 0, 1763625600.133910), (0, 0, 0, 1763625600.133910),
]

# A scanner set to the Danish layout typing "æ:/-+@" then Enter. Keys: SEMICOLON=39 (æ),
# LEFTSHIFT=42 + DOT=52 (:), LEFTSHIFT + 7=8 (/), SLASH=53 (-), MINUS=12 (+), RIGHTALT=100 + 2=3 (@).
RAW_DK_SYMBOLS: list[Event] = [
    (4, 4, 0x70033, 1763625601.200000), (1, 39, 1, 1763625601.200000), (0, 0, 0, 1763625601.200000),
    (4, 4, 0x70033, 1763625601.201950), (1, 39, 0, 1763625601.201950), (0, 0, 0, 1763625601.201950),
    (4, 4, 0x700E1, 1763625601.203900), (1, 42, 1, 1763625601.203900), (0, 0, 0, 1763625601.203900),
    (4, 4, 0x70037, 1763625601.205880), (1, 52, 1, 1763625601.205880), (0, 0, 0, 1763625601.205880),
    (4, 4, 0x70037, 1763625601.207910), (1, 52, 0, 1763625601.207910), (0, 0, 0, 1763625601.207910),
    (4, 4, 0x700E1, 1763625601.209870), (1, 42, 0, 1763625601.209870), (0, 0, 0, 1763625601.209870),
    (4, 4, 0x700E1, 1763625601.211940), (1, 42, 1, 1763625601.211940), (0, 0, 0, 1763625601.211940),
    (4, 4, 0x70024, 1763625601.213890), (1, 8, 1, 1763625601.213890), (0, 0, 0, 1763625601.213890),
    (4, 4, 0x70024, 1763625601.215920), (1, 8, 0, 1763625601.215920), (0, 0, 0, 1763625601.215920),
    (4, 4, 0x700E1, 1763625601.217880), (1, 42, 0, 1763625601.217880), (0, 0, 0, 1763625601.217880),
    (4, 4, 0x70038, 1763625601.219930), (1, 53, 1, 1763625601.219930), (0, 0, 0, 1763625601.219930),
    (4, 4, 0x70038, 1763625601.221900), (1, 53, 0, 1763625601.221900), (0, 0, 0, 1763625601.221900),
    (4, 4, 0x7002D, 1763625601.223870), (1, 12, 1, 1763625601.223870), (0, 0, 0, 1763625601.223870),
    (4, 4, 0x7002D, 1763625601.225940), (1, 12, 0, 1763625601.225940), (0, 0, 0, 1763625601.225940),
    (4, 4, 0x700E6, 1763625601.227890), (1, 100, 1, 1763625601.227890), (0, 0, 0, 1763625601.227890),
    (4, 4, 0x7001F, 1763625601.229920), (1, 3, 1, 1763625601.229920), (0, 0, 0, 1763625601.229920),
    (4, 4, 0x7001F, 1763625601.231880), (1, 3, 0, 1763625601.231880), (0, 0, 0, 1763625601.231880),
    (4, 4, 0x700E6, 1763625601.233910), (1, 100, 0, 1763625601.233910), (0, 0, 0, 1763625601.233910),
    (4, 4, 0x70028, 1763625601.235870), (1, 28, 1, 1763625601.235870), (0, 0, 0, 1763625601.235870),
    (4, 4, 0x70028, 1763625601.237900), (1, 28, 0, 1763625601.237900), (0, 0, 0, 1763625601.237900),
]
RAW_DK_SYMBOLS_TEXT = "æ:/-+@"

# "123" + Enter where the 2 key is held long enough for the kernel to autorepeat it (value 2): the
# repeat must not type a second 2. KEY_1=2, KEY_2=3, KEY_3=4, ENTER=28.
RAW_REPEAT: list[Event] = [
    (4, 4, 0x7001E, 1763625602.300000), (1, 2, 1, 1763625602.300000), (0, 0, 0, 1763625602.300000),
    (4, 4, 0x7001E, 1763625602.302010), (1, 2, 0, 1763625602.302010), (0, 0, 0, 1763625602.302010),
    (4, 4, 0x7001F, 1763625602.303990), (1, 3, 1, 1763625602.303990), (0, 0, 0, 1763625602.303990),
    (1, 3, 2, 1763625602.336000), (0, 0, 1, 1763625602.336000),
    (1, 3, 2, 1763625602.369000), (0, 0, 1, 1763625602.369000),
    (4, 4, 0x7001F, 1763625602.371020), (1, 3, 0, 1763625602.371020), (0, 0, 0, 1763625602.371020),
    (4, 4, 0x70020, 1763625602.373000), (1, 4, 1, 1763625602.373000), (0, 0, 0, 1763625602.373000),
    (4, 4, 0x70020, 1763625602.374980), (1, 4, 0, 1763625602.374980), (0, 0, 0, 1763625602.374980),
    (4, 4, 0x70028, 1763625602.377010), (1, 28, 1, 1763625602.377010), (0, 0, 0, 1763625602.377010),
    (4, 4, 0x70028, 1763625602.378990), (1, 28, 0, 1763625602.378990), (0, 0, 0, 1763625602.378990),
]

# A mis-programmed scanner that sends F12 (code 88) as a prefix before "123" and Enter.
RAW_F12_PREFIX: list[Event] = [
    (4, 4, 0x70045, 1763625603.400000), (1, 88, 1, 1763625603.400000), (0, 0, 0, 1763625603.400000),
    (4, 4, 0x70045, 1763625603.401980), (1, 88, 0, 1763625603.401980), (0, 0, 0, 1763625603.401980),
    (4, 4, 0x7001E, 1763625603.404010), (1, 2, 1, 1763625603.404010), (0, 0, 0, 1763625603.404010),
    (4, 4, 0x7001E, 1763625603.405990), (1, 2, 0, 1763625603.405990), (0, 0, 0, 1763625603.405990),
    (4, 4, 0x7001F, 1763625603.408020), (1, 3, 1, 1763625603.408020), (0, 0, 0, 1763625603.408020),
    (4, 4, 0x7001F, 1763625603.410000), (1, 3, 0, 1763625603.410000), (0, 0, 0, 1763625603.410000),
    (4, 4, 0x70020, 1763625603.411980), (1, 4, 1, 1763625603.411980), (0, 0, 0, 1763625603.411980),
    (4, 4, 0x70020, 1763625603.414010), (1, 4, 0, 1763625603.414010), (0, 0, 0, 1763625603.414010),
    (4, 4, 0x70028, 1763625603.415990), (1, 28, 1, 1763625603.415990), (0, 0, 0, 1763625603.415990),
    (4, 4, 0x70028, 1763625603.418020), (1, 28, 0, 1763625603.418020), (0, 0, 0, 1763625603.418020),
]

# A lone Enter (a scanner's "no read" beep on some models): nothing to deliver.
RAW_LONE_ENTER: list[Event] = [
    (4, 4, 0x70028, 1763625604.500000), (1, 28, 1, 1763625604.500000), (0, 0, 0, 1763625604.500000),
    (4, 4, 0x70028, 1763625604.502030), (1, 28, 0, 1763625604.502030), (0, 0, 0, 1763625604.502030),
]

# --- the keyboards, as rows of keycaps ---------------------------------------------------------
# (evdev key names without KEY_, plain layer, Shift layer, AltGr layer with " " where a key has none)

US_ROWS = (
    ("GRAVE 1 2 3 4 5 6 7 8 9 0 MINUS EQUAL", "`1234567890-=", "~!@#$%^&*()_+", ""),
    ("Q W E R T Y U I O P LEFTBRACE RIGHTBRACE BACKSLASH", "qwertyuiop[]\\", "QWERTYUIOP{}|", ""),
    ("A S D F G H J K L SEMICOLON APOSTROPHE", "asdfghjkl;'", 'ASDFGHJKL:"', ""),
    ("Z X C V B N M COMMA DOT SLASH", "zxcvbnm,./", "ZXCVBNM<>?", ""),
)
DK_ROWS = (
    ("GRAVE 1 2 3 4 5 6 7 8 9 0 MINUS EQUAL", "½1234567890+´", '§!"#¤%&/()=?`', "¾¡@£$€ {[]} |"),
    ("Q W E R T Y U I O P LEFTBRACE RIGHTBRACE", "qwertyuiopå¨", "QWERTYUIOPÅ^", "  €        ~"),
    ("A S D F G H J K L SEMICOLON APOSTROPHE BACKSLASH", "asdfghjklæø'", "ASDFGHJKLÆØ*", ""),
    ("102ND Z X C V B N M COMMA DOT SLASH", "<zxcvbnm,.-", ">ZXCVBNM;:_", "\\      µ   "),
)
DK_DEAD = "´`¨^~"  # typed as the key then Space, as scanners do
ROWS = {"us": US_ROWS, "dk": DK_ROWS}

# HID keyboard-page usages, reported in MSC_SCAN before each key event.
_HID = {
    "ENTER": 0x28, "ESC": 0x29, "TAB": 0x2B, "SPACE": 0x2C, "MINUS": 0x2D, "EQUAL": 0x2E,
    "LEFTBRACE": 0x2F, "RIGHTBRACE": 0x30, "BACKSLASH": 0x32, "SEMICOLON": 0x33, "APOSTROPHE": 0x34,
    "GRAVE": 0x35, "COMMA": 0x36, "DOT": 0x37, "SLASH": 0x38, "CAPSLOCK": 0x39, "KPENTER": 0x58,
    "KPDOT": 0x63, "102ND": 0x64, "LEFTCTRL": 0xE0, "LEFTSHIFT": 0xE1, "LEFTALT": 0xE2, "RIGHTALT": 0xE6,
    **{chr(ord("A") + i): 0x04 + i for i in range(26)},
    **{str(d): 0x1E + (d - 1) for d in range(1, 10)}, "0": 0x27,
    **{f"KP{d}": 0x59 + (d - 1) for d in range(1, 10)}, "KP0": 0x62,
    **{f"F{n}": 0x3A + (n - 1) for n in range(1, 13)},
}


def key_table(layout: str) -> dict[tuple[str, bool, bool], str]:
    """(key name, shift, altgr) -> character, from the rows of keycaps."""
    table: dict[tuple[str, bool, bool], str] = {}
    for names, plain, shifted, altgr in ROWS[layout]:
        keys = names.split()
        assert len(keys) == len(plain) == len(shifted), names
        assert altgr == "" or len(altgr) == len(keys), names
        for i, key in enumerate(keys):
            table[(key, False, False)] = plain[i]
            table[(key, True, False)] = shifted[i]
            if altgr and altgr[i] != " ":
                table[(key, False, True)] = altgr[i]
    table[("SPACE", False, False)] = " "
    return table


def _keys_for(layout: str) -> dict[str, tuple[str, bool, bool]]:
    reverse: dict[str, tuple[str, bool, bool]] = {}
    for (key, shift, altgr), char in key_table(layout).items():
        best = reverse.get(char)
        if best is None or (shift, altgr) < (best[1], best[2]):  # prefer the plain layer
            reverse[char] = (key, shift, altgr)
    return reverse


class Typist:
    """Types like a scanner: MSC_SCAN + EV_KEY + EV_SYN per press and release, 1-4 ms apart."""

    def __init__(self, start: float = T0, steps: tuple[float, ...] = (0.0019, 0.0031, 0.0012, 0.0038, 0.0024)):
        self.t = start
        self._steps = cycle(steps)
        self.events: list[Event] = []

    def key(self, name: str, value: int) -> None:
        code = getattr(ecodes, f"KEY_{name}")
        self.events += [(EV_MSC, MSC_SCAN, 0x70000 | _HID[name], self.t), (EV_KEY, code, value, self.t),
                        (EV_SYN, SYN_REPORT, 0, self.t)]
        self.t = round(self.t + next(self._steps), 6)

    def tap(self, name: str, *held: str) -> None:
        for mod in held:
            self.key(mod, 1)
        self.key(name, 1)
        self.key(name, 0)
        for mod in reversed(held):
            self.key(mod, 0)

    def pause(self, seconds: float) -> None:
        self.t = round(self.t + seconds, 6)


def type_text(text: str, layout: str = "us", *, start: float = T0, terminator: str | None = "ENTER",
              keypad: bool = False, altgr_keys: tuple[str, ...] = ("RIGHTALT",)) -> list[Event]:
    """The events of a scanner typing `text` on `layout`, then the terminator key (None: cut short).

    keypad: digits on the numeric keypad. altgr_keys: what the scanner holds for AltGr (some send
    LEFTCTRL+LEFTALT, the Windows spelling)."""
    typist = Typist(start)
    type_into(typist, text, layout, keypad=keypad, altgr_keys=altgr_keys)
    if terminator:
        typist.tap(terminator)
    return typist.events


def type_into(typist: Typist, text: str, layout: str, *, keypad: bool = False,
              altgr_keys: tuple[str, ...] = ("RIGHTALT",)) -> None:
    keys = _keys_for(layout)
    for char in text:
        if keypad and char.isdigit():
            typist.tap(f"KP{char}")
            continue
        key, shift, altgr = keys[char]
        typist.tap(key, *(("LEFTSHIFT",) if shift else ()), *(altgr_keys if altgr else ()))
        if layout == "dk" and char in DK_DEAD:
            typist.tap("SPACE")


def end_time(events: list[Event]) -> float:
    return events[-1][3]
