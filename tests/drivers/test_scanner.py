"""Barcode scanners: key maps, the keyboard-wedge decoder, the evdev/serial readers and the sim twin.

No hardware: the decoder is fed recorded event sequences, the evdev reader runs its real thread over
a fake device (a real pipe for poll), the serial reader runs over pyserial's own loop:// port and the
simulated scanner over a real FIFO."""

from __future__ import annotations

import errno
import io
import logging
import os
import queue
import re
import threading
from collections import deque
from pathlib import Path

import pytest
import serial
from evdev import InputEvent
from evdev import ecodes as e
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.scanner.base import Scan
from drivers.scanner.evdev_scanner import EvdevScanner, find_scanners
from drivers.scanner.keymap import char_for, compose, is_dead
from drivers.scanner.serial_scanner import LineDecoder, SerialScanner
from drivers.scanner.wedge import WedgeDecoder
from drivers.sim.scanner import SimScanner
from tests.drivers import scanner_recordings as rec

WAIT_S = 5.0  # upper bound for a thread to hand over a scan; never reached when things work


def feed_all(decoder: WedgeDecoder, events: list[rec.Event]) -> list[str]:
    codes = [decoder.feed(*event) for event in events]
    return [c for c in codes if c is not None]


def drops(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("scanner_drop")]


# --- key maps ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("code", "shift", "altgr", "char"), [
    (e.KEY_SEMICOLON, False, False, "æ"), (e.KEY_APOSTROPHE, False, False, "ø"),
    (e.KEY_LEFTBRACE, False, False, "å"), (e.KEY_LEFTBRACE, True, False, "Å"),
    (e.KEY_DOT, True, False, ":"), (e.KEY_7, True, False, "/"), (e.KEY_SLASH, False, False, "-"),
    (e.KEY_MINUS, False, False, "+"), (e.KEY_MINUS, True, False, "?"), (e.KEY_0, True, False, "="),
    (e.KEY_2, False, True, "@"), (e.KEY_2, True, False, '"'), (e.KEY_E, False, True, "€"),
    (e.KEY_102ND, False, True, "\\"), (e.KEY_KPDOT, False, False, ","), (e.KEY_KP7, False, False, "7"),
])
def test_danish_layout(code: int, shift: bool, altgr: bool, char: str) -> None:
    assert char_for(code, shift, altgr, "dk") == char


@pytest.mark.parametrize(("code", "shift", "altgr", "char"), [
    (e.KEY_SEMICOLON, True, False, ":"), (e.KEY_SLASH, False, False, "/"), (e.KEY_SLASH, True, False, "?"),
    (e.KEY_EQUAL, False, False, "="), (e.KEY_2, True, False, "@"), (e.KEY_MINUS, False, False, "-"),
    (e.KEY_KPDOT, False, False, "."), (e.KEY_KPENTER, False, False, None), (e.KEY_F1, False, False, None),
    (e.KEY_2, False, True, None), (e.KEY_KP5, True, False, None), (e.KEY_KPPLUS, False, False, "+"),
])
def test_us_layout(code: int, shift: bool, altgr: bool, char: str | None) -> None:
    assert char_for(code, shift, altgr, "us") == char


@pytest.mark.parametrize("layout", ["us", "dk"])
def test_key_map_agrees_with_the_keycap_rows(layout: str) -> None:
    # Two independent transcriptions of each layout must agree on every key and layer.
    rows = rec.key_table(layout)
    for (name, shift, altgr), char in rows.items():
        assert char_for(getattr(e, f"KEY_{name}"), shift, altgr, layout) == char, (name, shift, altgr)
    for name in ("1", "Q", "A", "Z", "SLASH", "SPACE"):  # and types nothing the rows do not show
        if (name, False, True) not in rows:
            assert char_for(getattr(e, f"KEY_{name}"), False, True, layout) is None


def test_dead_keys_and_composition() -> None:
    assert is_dead(e.KEY_RIGHTBRACE, True, False, "dk") and char_for(e.KEY_RIGHTBRACE, True, False, "dk") == "^"
    assert not is_dead(e.KEY_RIGHTBRACE, False, False, "us")
    assert (compose("´", "e"), compose("¨", "u"), compose("~", " "), compose("^", "7")) == ("é", "ü", "~", "^7")


def test_unknown_layout_is_refused() -> None:
    with pytest.raises(ValueError, match="sv"):
        char_for(e.KEY_A, False, False, "sv")
    with pytest.raises(ValueError):
        WedgeDecoder(layout="sv")
    with pytest.raises(ValueError):
        WedgeDecoder(terminators=("space",))


# --- the wedge decoder -------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["us", "dk"])
def test_ean13_with_enter(layout: str) -> None:
    assert feed_all(WedgeDecoder(layout), rec.type_text(rec.EAN13, layout)) == [rec.EAN13]


def test_only_the_terminator_event_returns_the_code() -> None:
    decoder = WedgeDecoder()
    events = rec.type_text(rec.EAN13)
    results = [decoder.feed(*ev) for ev in events]
    enter_down = next(i for i, ev in enumerate(events) if ev[1] == e.KEY_ENTER and ev[2] == 1)
    assert results[enter_down] == rec.EAN13
    assert [r for i, r in enumerate(results) if i != enter_down] == [None] * (len(events) - 1)


def test_tab_terminator_and_terminator_choice() -> None:
    events = rec.type_text(rec.EAN13, terminator="TAB")
    assert feed_all(WedgeDecoder(), events) == [rec.EAN13]
    assert feed_all(WedgeDecoder(terminators=("enter",)), events) == []  # Tab is then a stray key


def test_keypad_digits_and_kpenter() -> None:
    assert feed_all(WedgeDecoder(), rec.RAW_KEYPAD_EAN8) == [rec.EAN8]
    assert feed_all(WedgeDecoder("dk"), rec.RAW_KEYPAD_EAN8) == [rec.EAN8]
    typed = rec.type_text(rec.EAN13, keypad=True, terminator="KPENTER")
    assert feed_all(WedgeDecoder(), typed) == [rec.EAN13]


@pytest.mark.parametrize("layout", ["us", "dk"])
def test_mobilepay_url(layout: str) -> None:
    assert feed_all(WedgeDecoder(layout), rec.type_text(rec.MOBILEPAY_URL, layout)) == [rec.MOBILEPAY_URL]


def test_url_decoded_on_the_wrong_layout_is_not_the_url() -> None:
    # Why the layout setting matters: a DK scanner read with the US map gives a different string.
    assert feed_all(WedgeDecoder("us"), rec.type_text(rec.MOBILEPAY_URL, "dk")) == ["https>&&qr.vipps.no&28&2&01&031&4512345678_v)1"]


def test_hand_recorded_danish_symbols() -> None:
    assert feed_all(WedgeDecoder("dk"), rec.RAW_DK_SYMBOLS) == [rec.RAW_DK_SYMBOLS_TEXT]


def test_altgr_sent_as_ctrl_alt() -> None:
    text = "kasse@butik.dk/{1}\\"
    events = rec.type_text(text, "dk", altgr_keys=("LEFTCTRL", "LEFTALT"))
    assert feed_all(WedgeDecoder("dk"), events) == [text]


def test_danish_dead_keys() -> None:
    text = "a^b~c´d¨e`"
    assert feed_all(WedgeDecoder("dk"), rec.type_text(text, "dk")) == [text]
    typist = rec.Typist()
    typist.tap("EQUAL")  # ´ then e: é, as a desktop would type it
    typist.tap("E")
    typist.tap("ENTER")
    assert feed_all(WedgeDecoder("dk"), typist.events) == ["é"]


def test_caps_lock_inverts_letters_only() -> None:
    typist = rec.Typist()
    typist.tap("CAPSLOCK")
    rec.type_into(typist, "abc-1", "us")
    typist.tap("CAPSLOCK")
    rec.type_into(typist, "d", "us")
    typist.tap("ENTER")
    assert feed_all(WedgeDecoder(), typist.events) == ["ABC-1d"]


def test_repeats_ignored() -> None:
    assert feed_all(WedgeDecoder(), rec.RAW_REPEAT) == ["123"]
    events = []
    for ev in rec.type_text(rec.EAN13):  # a repeat after every press
        events.append(ev)
        if ev[0] == rec.EV_KEY and ev[2] == 1:
            events.append((rec.EV_KEY, ev[1], 2, ev[3]))
    assert feed_all(WedgeDecoder(), events) == [rec.EAN13]


def test_syn_and_msc_alone_do_nothing() -> None:
    decoder = WedgeDecoder()
    noise = [ev for ev in rec.type_text(rec.EAN13) if ev[0] != rec.EV_KEY]
    assert feed_all(decoder, noise) == [] and decoder.pending == 0


def test_function_key_drops_the_code_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    decoder = WedgeDecoder()
    assert feed_all(decoder, rec.RAW_F12_PREFIX) == []
    assert drops(caplog) == ["scanner_drop reason=function_key key=KEY_F12 chars=3 layout=us"]
    later = rec.type_text(rec.EAN13, start=rec.end_time(rec.RAW_F12_PREFIX) + 1)
    assert feed_all(decoder, later) == [rec.EAN13]


def test_unmapped_key_mid_code_drops_the_whole_code(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    typist = rec.Typist()
    rec.type_into(typist, "57012", "us")
    typist.tap("ESC")
    rec.type_into(typist, "34567899", "us")
    typist.tap("ENTER")
    decoder = WedgeDecoder()
    assert feed_all(decoder, typist.events) == []  # not "34567899": the tail of a bad code is no code
    assert drops(caplog) == ["scanner_drop reason=unmapped_key key=KEY_ESC chars=13 layout=us"]


def test_ctrl_combination_is_a_stray(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    typist = rec.Typist()
    typist.tap("J", "LEFTCTRL")
    rec.type_into(typist, "123", "us")
    typist.tap("ENTER")
    assert feed_all(WedgeDecoder(), typist.events) == []
    assert drops(caplog) == ["scanner_drop reason=modifier key=KEY_J chars=3 layout=us"]


def test_half_code_then_long_gap_then_full_code(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    half = rec.type_text("57012", terminator=None)
    full = rec.type_text(rec.EAN13, start=rec.end_time(half) + 2.0)
    assert feed_all(WedgeDecoder(), half + full) == [rec.EAN13]
    [line] = drops(caplog)
    assert re.fullmatch(r"scanner_drop reason=gap gap_ms=200\d chars=5 layout=us", line), line


def test_slow_keys_within_max_gap_are_one_code() -> None:
    typist = rec.Typist(steps=(0.045,))
    rec.type_into(typist, rec.EAN8, "us")
    typist.tap("ENTER")
    assert feed_all(WedgeDecoder(max_gap_s=0.1), typist.events) == [rec.EAN8]
    assert feed_all(WedgeDecoder(max_gap_s=0.04), typist.events) == []


def test_terminator_alone_gives_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    assert feed_all(WedgeDecoder(), rec.RAW_LONE_ENTER) == []
    assert drops(caplog) == ["scanner_drop reason=empty chars=0 layout=us"]


def test_length_limits(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    decoder = WedgeDecoder(min_length=8, max_length=13)
    assert feed_all(decoder, rec.type_text("1234567")) == []
    assert feed_all(decoder, rec.type_text("12345678901234", start=rec.T0 + 1)) == []
    assert feed_all(decoder, rec.type_text(rec.EAN13, start=rec.T0 + 2)) == [rec.EAN13]
    assert drops(caplog) == ["scanner_drop reason=too_short min=8 chars=7 layout=us",
                             "scanner_drop reason=too_long max=13 chars=14 layout=us"]


def test_reset_mid_scan_drops_half_code_and_releases_modifiers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    decoder = WedgeDecoder()
    typist = rec.Typist()
    rec.type_into(typist, "abc", "us")
    typist.key("LEFTSHIFT", 1)  # unplugged while Shift is down: its release never comes
    feed_all(decoder, typist.events)
    decoder.reset("unplug")
    assert drops(caplog) == ["scanner_drop reason=unplug chars=3 layout=us"]
    after = rec.type_text("x" + rec.EAN13, start=typist.t + 0.001)  # even right after: not a gap
    assert feed_all(decoder, after) == ["x" + rec.EAN13]


@settings(max_examples=60, deadline=None)
@given(layout=st.sampled_from(["us", "dk"]), data=st.data())
def test_any_typable_text_round_trips(layout: str, data: st.DataObject) -> None:
    alphabet = sorted(set(rec.key_table(layout).values()))
    text = data.draw(st.text(alphabet=alphabet, min_size=1, max_size=60))
    assert feed_all(WedgeDecoder(layout), rec.type_text(text, layout)) == [text]


# --- evdev reader ------------------------------------------------------------------------------

class FakeDevice:
    """An evdev.InputDevice stand-in: a real pipe makes it pollable; unplug() makes reads fail ENODEV."""

    def __init__(self, events: list[rec.Event] = ()) -> None:
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        self._queue: deque[InputEvent] = deque()
        self._lock = threading.Lock()
        self.grabs = 0
        self.closed = False
        self.unplugged = False
        if events:
            self.push(events)

    def push(self, events: list[rec.Event]) -> None:
        with self._lock:
            for type_, code, value, ts in events:
                sec = int(ts)
                self._queue.append(InputEvent(sec, round((ts - sec) * 1_000_000), type_, code, value))
        os.write(self._w, b"x")

    def unplug(self) -> None:
        self.unplugged = True
        os.close(self._w)  # the read end now polls readable for good, like a vanished device

    def fileno(self) -> int:
        return self._r

    def grab(self) -> None:
        self.grabs += 1

    def read(self) -> list[InputEvent]:
        try:
            os.read(self._r, 4096)
        except BlockingIOError:
            pass
        with self._lock:
            events = list(self._queue)
            self._queue.clear()
        if events:
            return events
        if self.unplugged:
            raise OSError(errno.ENODEV, "No such device")
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")

    def close(self) -> None:
        if self.closed:  # a second close must not close whatever file now has these numbers
            return
        self.closed = True
        os.close(self._r)
        if not self.unplugged:
            os.close(self._w)


def test_evdev_scanner_survives_unplug_and_replug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    half = rec.type_text("40063", terminator=None, start=rec.T0 + 1)
    first = FakeDevice(rec.type_text(rec.EAN13) + half)
    second = FakeDevice(rec.type_text(rec.EAN13_OTHER, start=rec.T0 + 20))
    devices = iter([first, second])
    present = threading.Event()
    present.set()
    seen_absent = threading.Event()
    connected_while_absent: list[bool] = []

    def exists(path: str) -> bool:
        if not present.is_set():
            connected_while_absent.append(scanner.connected)
            seen_absent.set()
        return present.is_set()

    scans: queue.Queue[Scan] = queue.Queue()
    scanner = EvdevScanner("/dev/input/by-id/usb-Scanner-event-kbd", opener=lambda p: next(devices),
                           exists=exists, retry_s=0.001, clock=lambda: 42.0)
    scanner.start(scans.put)
    try:
        assert scans.get(timeout=WAIT_S) == Scan(rec.EAN13, "evdev:/dev/input/by-id/usb-Scanner-event-kbd", 42.0)
        present.clear()
        first.unplug()
        assert seen_absent.wait(WAIT_S)
        present.set()
        assert scans.get(timeout=WAIT_S).code == rec.EAN13_OTHER
        assert scanner.connected
    finally:
        scanner.stop()
    assert not scanner.running and not scanner.connected
    assert scans.empty()  # the half code "40063" never came out
    assert (first.grabs, second.grabs, first.closed, second.closed) == (1, 1, True, True)
    assert connected_while_absent and not any(connected_while_absent)
    assert "scanner_drop reason=disconnect chars=5 layout=us" in drops(caplog)
    assert any("scanner_disconnected" in m and "errno=19" in m for m in caplog.messages)


def test_evdev_scanner_explains_permission_problem_and_retries(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    device = FakeDevice(rec.type_text(rec.EAN8))
    attempts: list[str] = []

    def opener(path: str) -> FakeDevice:
        attempts.append(path)
        if len(attempts) <= 3:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return device

    scans: queue.Queue[Scan] = queue.Queue()
    scanner = EvdevScanner("/dev/input/by-id/x-event-kbd", opener=opener, exists=lambda p: True, retry_s=0.001)
    scanner.start(scans.put)
    try:
        assert scans.get(timeout=WAIT_S).code == rec.EAN8
    finally:
        scanner.stop()
    failures = [m for m in caplog.messages if m.startswith("scanner_open_failed")]
    assert len(failures) == 1 and "errno=13" in failures[0] and "'input' group" in failures[0]
    assert len(attempts) == 4 and device.grabs == 1


def test_evdev_scanner_does_not_read_without_the_grab(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    class Busy(FakeDevice):
        def grab(self) -> None:
            raise OSError(errno.EBUSY, "Device or resource busy")

    busy, good = Busy(rec.type_text("111")), FakeDevice(rec.type_text("222"))
    devices = iter([busy, good])
    scans: queue.Queue[Scan] = queue.Queue()
    scanner = EvdevScanner("/dev/input/by-id/x-event-kbd", opener=lambda p: next(devices),
                           exists=lambda p: True, retry_s=0.001)
    scanner.start(scans.put)
    try:
        assert scans.get(timeout=WAIT_S).code == "222"
    finally:
        scanner.stop()
    assert busy.closed and any("scanner_grab_failed" in m and "errno=16" in m for m in caplog.messages)


@pytest.mark.parametrize("path_present", [True, False])
def test_evdev_stop_is_prompt_when_idle_or_waiting(path_present: bool) -> None:
    # retry_s of an hour: stop() only returns if it interrupts the wait rather than sitting it out.
    device = FakeDevice()
    scanner = EvdevScanner("/dev/input/by-id/x-event-kbd", opener=lambda p: device,
                           exists=lambda p: path_present, retry_s=3600)
    scanner.start(lambda scan: None)
    scanner.stop(timeout_s=WAIT_S)
    assert not scanner.running
    assert device.closed == path_present


def test_callback_error_does_not_kill_the_reader(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    device = FakeDevice(rec.type_text("111") + rec.type_text("222", start=rec.T0 + 1))
    got: list[str] = []
    done = threading.Event()

    def on_scan(scan: Scan) -> None:
        got.append(scan.code)
        if scan.code == "111":
            raise RuntimeError("till busy")
        done.set()

    scanner = EvdevScanner("/dev/x", opener=lambda p: device, exists=lambda p: True)
    scanner.start(on_scan)
    try:
        assert done.wait(WAIT_S)
    finally:
        scanner.stop()
    assert got == ["111", "222"]
    assert any(m.startswith("scanner_callback_failed") for m in caplog.messages)


def test_find_scanners(tmp_path: Path) -> None:
    for name in ("usb-Honeywell_1900-event-kbd", "usb-Datalogic-if01-event-kbd", "usb-Logitech_Mouse-event-mouse",
                 "usb-Honeywell_1900-if02-event-joystick"):
        (tmp_path / name).symlink_to("../event3")
    assert find_scanners(str(tmp_path)) == [str(tmp_path / "usb-Datalogic-if01-event-kbd"),
                                            str(tmp_path / "usb-Honeywell_1900-event-kbd")]
    assert find_scanners(str(tmp_path / "missing")) == []


def test_evdev_scanner_refuses_unknown_layout() -> None:
    with pytest.raises(ValueError):
        EvdevScanner("/dev/x", layout="xx")


# --- serial reader -----------------------------------------------------------------------------

def test_line_decoder_splits_and_cleans(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    d = LineDecoder(max_length=20, max_gap_s=0.5)
    assert d.feed(b"5701234567899\r\n4006", 0.0) == ["5701234567899"]
    assert d.feed(b"381333931\r96385074\t ABC-123 \n\n", 0.01) == ["4006381333931", "96385074", "ABC-123"]
    assert drops(caplog) == []  # the LF of CRLF and blank lines lose nothing
    assert d.feed(b"57\x1b[2J01\r\n", 0.02) == []
    assert d.feed(b"\xc3\x28bad\r", 0.03) == []
    assert d.feed(b"1" * 25, 0.04) == [] and d.feed(b"234\r", 0.05) == []
    assert d.feed("blåbær\n".encode(), 0.06) == ["blåbær"]
    assert d.feed(b"570", 0.07) == [] and d.feed(b"1234567899\r", 1.0) == ["1234567899"]
    assert drops(caplog) == ["scanner_drop reason=non_printable chars=8", "scanner_drop reason=bad_utf8 chars=5",
                             "scanner_drop reason=too_long max=20 chars=28", "scanner_drop reason=gap gap_ms=930 chars=3"]


def test_serial_scanner_over_loop(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    port = serial.serial_for_url("loop://", timeout=None)  # reads block: only cancel_read ends them
    opened: list[tuple[str, dict[str, object]]] = []

    def opener(url: str, **kwargs: object) -> serial.SerialBase:
        opened.append((url, kwargs))
        return port

    scans: queue.Queue[Scan] = queue.Queue()
    scanner = SerialScanner("/dev/ttyACM0", baudrate=115200, opener=opener, clock=lambda: 7.0)
    scanner.start(scans.put)
    try:
        port.write(b"5701234567899\r\n")
        port.write(b"\x00\x07\xfe\x9d\r\n")  # garbage
        port.write(b"4006381333931\n")
        assert scans.get(timeout=WAIT_S) == Scan(rec.EAN13, "serial:/dev/ttyACM0", 7.0)
        assert scans.get(timeout=WAIT_S) == Scan(rec.EAN13_OTHER, "serial:/dev/ttyACM0", 7.0)
        assert scanner.connected
    finally:
        scanner.stop(timeout_s=WAIT_S)
    assert not scanner.running and not port.is_open
    assert opened == [("/dev/ttyACM0", {"baudrate": 115200, "timeout": 1.0})]
    assert drops(caplog) == ["scanner_drop reason=bad_utf8 chars=4"]


class UnpluggablePort:
    """pyserial's loop:// port that can be unplugged: once drained, reads fail as a vanished ttyACM does."""

    def __init__(self) -> None:
        self.port = serial.serial_for_url("loop://", timeout=None)
        self._unplugged = False

    def unplug(self) -> None:
        self._unplugged = True
        self.port.cancel_read()

    def read(self, size: int) -> bytes:
        if self._unplugged and self.port.in_waiting == 0:
            raise serial.SerialException("device reports readiness to read but returned no data")
        return self.port.read(size)

    def __getattr__(self, name: str):
        return getattr(self.port, name)


def test_serial_scanner_reconnects(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    ports = [UnpluggablePort(), UnpluggablePort()]
    calls: list[int] = []
    second_open = threading.Event()

    def opener(url: str, **kwargs: object) -> UnpluggablePort:
        calls.append(1)
        if len(calls) == 1:
            raise serial.SerialException(errno.ENOENT, f"could not open port {url}: No such file or directory")
        if len(calls) == 2:
            raise serial.SerialException(errno.EACCES, f"could not open port {url}: Permission denied")
        if len(calls) == 4:
            second_open.set()
        return ports[len(calls) - 3]

    scans: queue.Queue[Scan] = queue.Queue()
    scanner = SerialScanner("/dev/ttyACM0", opener=opener, retry_s=0.001)
    scanner.start(scans.put)
    try:
        ports[0].write(b"96385074\r\n57012")
        assert scans.get(timeout=WAIT_S).code == rec.EAN8
        ports[0].unplug()
        assert second_open.wait(WAIT_S)
        ports[1].write(b"5701234567899\r\n")
        assert scans.get(timeout=WAIT_S).code == rec.EAN13
    finally:
        scanner.stop()
    assert scans.empty() and not scanner.running
    assert "scanner_drop reason=disconnect chars=5" in drops(caplog)
    opens = [m for m in caplog.messages if m.startswith("scanner_open_failed")]
    assert len(opens) == 2 and "errno=2" in opens[0] and "'dialout' group" in opens[1]


# --- simulated scanner -------------------------------------------------------------------------

def test_sim_scanner_reads_the_fifo_across_writers(tmp_path: Path) -> None:
    fifo = tmp_path / "scanner.fifo"
    scans: queue.Queue[Scan] = queue.Queue()
    scanner = SimScanner(str(fifo), clock=lambda: 1.5)
    scanner.start(scans.put)
    try:
        assert fifo.is_fifo()
        with open(fifo, "w") as writer:
            writer.write("5701234567899\n  \n 4006381333931 \n")
        with open(fifo, "w") as writer:  # a second writer after the first closed: needs the reopen
            writer.write("ABC-123")  # no newline: the close ends the line
        got = [scans.get(timeout=WAIT_S) for _ in range(3)]
    finally:
        scanner.stop()
    assert got == [Scan(rec.EAN13, "sim", 1.5), Scan(rec.EAN13_OTHER, "sim", 1.5), Scan("ABC-123", "sim", 1.5)]
    assert not scanner.running and scans.empty()


def test_sim_scanner_keyboard(tmp_path: Path) -> None:
    r, w = os.pipe()
    scans: queue.Queue[Scan] = queue.Queue()
    with os.fdopen(r) as stdin:
        scanner = SimScanner(None, keyboard=True, stdin=stdin)
        scanner.start(scans.put)
        try:
            os.write(w, b"9638")
            os.write(w, b"5074\n")
            assert scans.get(timeout=WAIT_S).code == rec.EAN8
            os.close(w)  # end of input: the scanner stops reading stdin but keeps running
        finally:
            scanner.stop(timeout_s=WAIT_S)
    assert not scanner.running


def test_sim_scanner_without_a_real_stdin_still_reads_the_fifo(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    fifo = tmp_path / "scan"
    scans: queue.Queue[Scan] = queue.Queue()
    scanner = SimScanner(str(fifo), keyboard=True, stdin=io.StringIO())
    scanner.start(scans.put)
    try:
        fifo.write_text("2135040039753\n")
        assert scans.get(timeout=WAIT_S).code == "2135040039753"
    finally:
        scanner.stop()
    assert any(m.startswith("scanner_keyboard_unavailable") for m in caplog.messages)


def test_sim_scanner_stops_promptly_with_no_writer_and_refuses_a_plain_file(tmp_path: Path) -> None:
    scanner = SimScanner(str(tmp_path / "idle.fifo"))
    scanner.start(lambda scan: None)
    scanner.stop(timeout_s=WAIT_S)
    assert not scanner.running
    plain = tmp_path / "plain"
    plain.write_text("")
    with pytest.raises(ValueError, match="not a named pipe"):
        SimScanner(str(plain)).start(lambda scan: None)


def test_stop_from_the_callback_ends_the_reader() -> None:
    device = FakeDevice(rec.type_text("111") + rec.type_text("222", start=rec.T0 + 1))
    got: list[str] = []
    scanner = EvdevScanner("/dev/x", opener=lambda p: device, exists=lambda p: True)

    def on_scan(scan: Scan) -> None:
        got.append(scan.code)
        scanner.stop()  # e.g. `till hw test scanner` after its first scan

    scanner.start(on_scan)
    scanner._thread.join(WAIT_S)
    assert got == ["111"] and not scanner._thread.is_alive() and device.closed
    scanner.stop()
    assert not scanner.running
