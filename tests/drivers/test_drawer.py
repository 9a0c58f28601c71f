"""Cash drawers: GPIO pulse timing over a fake line port and fake clock, the printer kick bytes, status
polling, the simulated drawer, and GpiodPort's use of libgpiod against a fake module."""

from __future__ import annotations

import os
import queue
import threading
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import gpiod
import pytest

from drivers.drawer.base import MAX_PULSE_MS, MIN_PULSE_MS, DrawerError, DrawerEvent
from drivers.drawer.gpio import CONSUMER, GpiodPort, GpioDrawer, find_chip, list_gpio_chips
from drivers.drawer.kick import KickDrawer, kick_bytes
from drivers.sim.drawer import SimDrawer
from drivers.sim.gpio_port import FakeLinePort

CPH = ZoneInfo("Europe/Copenhagen")
WAIT = 2.0  # generous ceiling for a thread to deliver; the tests finish as soon as it does


class FakeTime:
    """Monotonic time that moves only when someone sleeps, and a record of every sleep."""

    def __init__(self, start: float = 0.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def cph_now() -> datetime:
    return datetime(2026, 11, 20, 9, 30, tzinfo=CPH)


def ms(seconds: float) -> int:
    return round(seconds * 1000)


def pulses_ms(timeline: list[tuple[float, bool]]) -> list[int]:
    """The lengths of the on-periods in a drive timeline, checking it alternates on/off."""
    assert [level for _, level in timeline] == [True, False] * (len(timeline) // 2)
    return [ms(timeline[i + 1][0] - timeline[i][0]) for i in range(0, len(timeline), 2)]


def gpio_drawer(port: FakeLinePort | None = None, clock: FakeTime | None = None, **kw) -> tuple[GpioDrawer, FakeLinePort, FakeTime]:
    clock = clock or FakeTime()
    port = port or FakeLinePort(monotonic=clock.monotonic)
    kw.setdefault("edge_timeout_s", 0.02)
    return GpioDrawer(port, sleep=clock.sleep, monotonic=clock.monotonic, now=cph_now, **kw), port, clock


# --- GpioDrawer -----------------------------------------------------------------------------------


@pytest.mark.parametrize("pulse_ms", [MIN_PULSE_MS, 200, MAX_PULSE_MS])
def test_gpio_pulse_drives_high_then_low_for_the_configured_length(pulse_ms: int) -> None:
    assert (MIN_PULSE_MS, MAX_PULSE_MS) == (50, 500)
    drawer, port, clock = gpio_drawer(pulse_ms=pulse_ms)
    drawer.pulse()
    assert [level for _, level in port.timeline] == [True, False]
    assert pulses_ms(port.timeline) == [pulse_ms]
    assert clock.sleeps == [pulse_ms / 1000]
    assert port.drive is False


@pytest.mark.parametrize("pulse_ms", [MIN_PULSE_MS - 1, MAX_PULSE_MS + 1, 0, -200, 1000])
def test_gpio_pulse_outside_bounds_refused_at_construction(pulse_ms: int) -> None:
    port = FakeLinePort()
    with pytest.raises(ValueError, match=f"drawer pulse {pulse_ms} ms is outside 50-500 ms"):
        GpioDrawer(port, pulse_ms=pulse_ms)
    assert port.timeline == []


def test_gpio_pulse_not_a_whole_number_refused() -> None:
    with pytest.raises(ValueError, match="whole number"):
        GpioDrawer(FakeLinePort(), pulse_ms=200.0)  # type: ignore[arg-type]


def test_second_pulse_waits_out_the_rest_of_the_interval() -> None:
    drawer, port, clock = gpio_drawer(pulse_ms=200, min_interval_ms=1000)
    drawer.pulse()  # on 0.0-0.2; the coil may fire again from 1.2
    clock.t += 0.5  # the cashier asks again at 0.7
    drawer.pulse()
    assert [round(s, 6) for s in clock.sleeps] == [0.2, 0.5, 0.2]
    assert [(round(t, 6), level) for t, level in port.timeline] == [(0.0, True), (0.2, False), (1.2, True), (1.4, False)]


def test_pulse_after_the_interval_does_not_wait() -> None:
    drawer, port, clock = gpio_drawer(pulse_ms=100, min_interval_ms=1000)
    drawer.pulse()
    clock.t += 5.0
    drawer.pulse()
    assert [round(s, 6) for s in clock.sleeps] == [0.1, 0.1]
    assert pulses_ms(port.timeline) == [100, 100]


def test_interval_of_zero_allows_back_to_back_pulses() -> None:
    drawer, _, clock = gpio_drawer(pulse_ms=100, min_interval_ms=0)
    drawer.pulse()
    drawer.pulse()
    assert [round(s, 6) for s in clock.sleeps] == [0.1, 0.1]


def test_negative_interval_refused() -> None:
    with pytest.raises(ValueError, match="interval"):
        GpioDrawer(FakeLinePort(), min_interval_ms=-1)


def test_concurrent_pulses_never_overlap() -> None:
    """Two threads pulse at once: the drive timeline still alternates on/off, one pulse at a time."""
    lock = threading.Lock()
    clock = FakeTime()
    inside = threading.Event()
    release = threading.Event()

    def sleep(seconds: float) -> None:
        with lock:
            clock.sleeps.append(seconds)
            clock.t += seconds
        if len(clock.sleeps) == 1:  # hold the first pulse on until the second thread is queued
            inside.set()
            assert release.wait(WAIT)

    port = FakeLinePort(monotonic=clock.monotonic)
    drawer = GpioDrawer(port, pulse_ms=100, min_interval_ms=300, sleep=sleep, monotonic=clock.monotonic, now=cph_now)
    first = threading.Thread(target=drawer.pulse)
    first.start()
    assert inside.wait(WAIT)
    second = threading.Thread(target=drawer.pulse)
    second.start()
    second.join(0.05)
    assert second.is_alive()  # blocked behind the first pulse
    release.set()
    first.join(WAIT)
    second.join(WAIT)
    assert pulses_ms(port.timeline) == [100, 100]
    assert ms(port.timeline[2][0] - port.timeline[1][0]) == 300


def test_drive_restored_low_when_sleep_raises() -> None:
    clock = FakeTime()
    port = FakeLinePort(monotonic=clock.monotonic)

    def broken_sleep(seconds: float) -> None:
        raise KeyboardInterrupt

    drawer = GpioDrawer(port, sleep=broken_sleep, monotonic=clock.monotonic, now=cph_now)
    with pytest.raises(KeyboardInterrupt):
        drawer.pulse()
    assert [level for _, level in port.timeline] == [True, False]
    assert port.drive is False


def test_line_error_becomes_drawer_error_and_drive_is_still_released() -> None:
    drawer, port, _ = gpio_drawer()
    port.drive_error = OSError(16, "Device or resource busy")
    with pytest.raises(DrawerError, match="drawer pulse failed"):
        drawer.pulse()
    assert port.timeline == [(0.0, False)]  # the release was still attempted


def test_is_open_without_sensor_is_none_and_watch_is_a_noop() -> None:
    drawer, _, _ = gpio_drawer(FakeLinePort(has_sensor=False))
    assert drawer.has_sensor is False
    assert drawer.is_open() is None
    drawer.watch(lambda event: pytest.fail("no sensor, no events"))
    assert not any(t.name == "drawer-gpio" for t in threading.enumerate())
    drawer.close()


def test_is_open_reads_the_sensor() -> None:
    drawer, port, _ = gpio_drawer()
    assert drawer.has_sensor is True
    assert drawer.is_open() is False
    port.set_sensor(True)
    assert drawer.is_open() is True


def test_sensor_events_open_close_with_repeats_ignored_and_aware_times() -> None:
    drawer, port, _ = gpio_drawer()
    events: queue.Queue[DrawerEvent] = queue.Queue()
    drawer.watch(events.put)
    port.push_edges(True, True)  # a repeat of the same level is no news
    port.push_edges(False)
    got = [events.get(timeout=WAIT), events.get(timeout=WAIT)]
    port.push_edges(False)  # still closed
    port.push_edges(True)
    got.append(events.get(timeout=WAIT))
    drawer.close()
    assert events.empty()
    assert [e.opened for e in got] == [True, False, True]
    assert all(e.at == cph_now() and e.at.utcoffset() == timedelta(hours=1) for e in got)
    assert port.closed


def test_first_edge_equal_to_the_level_at_start_is_not_an_event() -> None:
    port = FakeLinePort(sensor_open=True)
    drawer, _, _ = gpio_drawer(port)
    events: queue.Queue[DrawerEvent] = queue.Queue()
    drawer.watch(events.put)
    port.push_edges(True, False)
    assert events.get(timeout=WAIT).opened is False
    drawer.close()
    assert events.empty()


def test_a_failing_callback_does_not_stop_the_watch() -> None:
    drawer, port, _ = gpio_drawer()
    seen: queue.Queue[bool] = queue.Queue()

    def callback(event: DrawerEvent) -> None:
        seen.put(event.opened)
        raise RuntimeError("ui went away")

    drawer.watch(callback)
    port.push_edges(True)
    assert seen.get(timeout=WAIT) is True
    port.push_edges(False)
    assert seen.get(timeout=WAIT) is False
    drawer.close()


def test_watch_twice_refused_and_closed_drawer_refuses_pulses() -> None:
    drawer, _, _ = gpio_drawer()
    drawer.watch(lambda e: None)
    with pytest.raises(DrawerError, match="already"):
        drawer.watch(lambda e: None)
    drawer.close()
    drawer.close()  # idempotent
    with pytest.raises(DrawerError, match="closed"):
        drawer.pulse()


def test_naive_event_time_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        DrawerEvent(opened=True, at=datetime(2026, 11, 20, 9, 30))


# --- KickDrawer -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("pin", "pulse_ms", "expected"), [
    (2, 100, b"\x1b\x70\x00\x32\x32"),
    (2, 200, b"\x1b\x70\x00\x64\x64"),
    (5, 100, b"\x1b\x70\x01\x32\x32"),
    (5, 200, b"\x1b\x70\x01\x64\x64"),
    (2, 500, b"\x1b\x70\x00\xfa\xfa"),
    (2, 51, b"\x1b\x70\x00\x19\x19"),  # rounded down to 50 ms, never longer than asked
])
def test_kick_bytes(pin: int, pulse_ms: int, expected: bytes) -> None:
    assert kick_bytes(pin, pulse_ms) == expected


@pytest.mark.parametrize(("pin", "pulse_ms", "message"), [
    (2, 510, "outside 50-500 ms"),
    (2, 49, "outside 50-500 ms"),
    (3, 200, "pin must be 2 or 5"),
    (1, 200, "pin must be 2 or 5"),
])
def test_kick_refuses_bad_pin_or_pulse(pin: int, pulse_ms: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        kick_bytes(pin, pulse_ms)
    with pytest.raises(ValueError, match=message):
        KickDrawer(lambda data: None, pin=pin, pulse_ms=pulse_ms)


def test_kick_pulse_sends_the_command_and_keeps_the_interval() -> None:
    sent: list[bytes] = []
    clock = FakeTime()
    drawer = KickDrawer(sent.append, pin=5, pulse_ms=200, min_interval_ms=1000, sleep=clock.sleep,
                        monotonic=clock.monotonic, now=cph_now)
    drawer.pulse()
    clock.t += 0.5
    drawer.pulse()
    assert sent == [b"\x1b\x70\x01\x64\x64"] * 2
    # the printer holds the coil 0.2 s after receiving, then 1.0 s rest: 0.7 s left at t=0.5
    assert [round(s, 6) for s in clock.sleeps] == [0.7]


def test_kick_send_error_becomes_drawer_error() -> None:
    def send(data: bytes) -> None:
        raise OSError("USB write timed out")

    drawer = KickDrawer(send)
    with pytest.raises(DrawerError, match="USB write timed out"):
        drawer.pulse()


def test_kick_without_status_has_no_sensor() -> None:
    drawer = KickDrawer(lambda data: None)
    assert drawer.has_sensor is False
    assert drawer.is_open() is None
    drawer.watch(lambda e: pytest.fail("no status, no events"))
    assert not any(t.name == "drawer-kick" for t in threading.enumerate())
    drawer.close()


def test_kick_status_polling_emits_changes_only() -> None:
    readings: queue.Queue[bool | Exception | None] = queue.Queue()
    for r in (False, False, True, True, None, OSError("printer offline"), True, False):
        readings.put(r)
    last = [False]

    def status() -> bool | None:
        try:
            r = readings.get_nowait()
        except queue.Empty:
            return last[0]  # the printer keeps answering its last state
        if isinstance(r, Exception):
            raise r
        if r is not None:
            last[0] = r
        return r

    events: queue.Queue[DrawerEvent] = queue.Queue()
    drawer = KickDrawer(lambda data: None, status=status, poll_s=0.001, now=cph_now)
    assert drawer.has_sensor is True
    drawer.watch(events.put)
    got = [events.get(timeout=WAIT), events.get(timeout=WAIT)]
    drawer.close()
    assert readings.empty()
    assert [e.opened for e in got] == [True, False]
    assert events.empty()
    assert got[0].at.tzinfo is CPH


def test_kick_status_unknown_at_start_then_first_reading_is_not_an_event() -> None:
    """Nobody knows whether the drawer moved while the printer was silent: no invented event."""
    readings = iter([None, True, True, False])
    events: queue.Queue[DrawerEvent] = queue.Queue()
    drawer = KickDrawer(lambda data: None, status=lambda: next(readings, False), poll_s=0.001, now=cph_now)
    drawer.watch(events.put)
    got = events.get(timeout=WAIT)
    drawer.close()
    assert got.opened is False
    assert events.empty()


def test_kick_status_outage_is_logged_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    readings = iter([False, OSError("offline"), OSError("offline"), OSError("offline"), True])
    events: queue.Queue[DrawerEvent] = queue.Queue()

    def status() -> bool:
        r = next(readings, True)
        if isinstance(r, Exception):
            raise r
        return r

    drawer = KickDrawer(lambda data: None, status=status, poll_s=0.001, now=cph_now)
    with caplog.at_level("INFO", logger="drivers.drawer.kick"):
        drawer.watch(events.put)
        assert events.get(timeout=WAIT).opened is True
        drawer.close()
    messages = [r.getMessage() for r in caplog.records if r.name == "drivers.drawer.kick"]
    assert [m.split()[0] for m in messages] == ["drawer_status_failed", "drawer_status_recovered"]
    assert "offline" in messages[0]


def test_kick_is_open_reports_status_and_wraps_errors() -> None:
    state: list[bool | None] = [True]
    drawer = KickDrawer(lambda data: None, status=lambda: state[0])
    assert drawer.is_open() is True
    state[0] = None
    assert drawer.is_open() is None

    def broken() -> bool:
        raise OSError("no reply to DLE EOT")

    with pytest.raises(DrawerError, match="DLE EOT"):
        KickDrawer(lambda data: None, status=broken).is_open()


# --- SimDrawer ------------------------------------------------------------------------------------


def test_sim_pulse_logs_and_opens_and_shut_closes(tmp_path: Path) -> None:
    log_path = tmp_path / "sim" / "drawer.log"
    drawer = SimDrawer(log_path, pulse_ms=150, now=cph_now, poll_s=0.005)
    events: queue.Queue[DrawerEvent] = queue.Queue()
    drawer.watch(events.put)
    assert drawer.is_open() is False
    drawer.pulse()
    assert drawer.is_open() is True
    opened = events.get(timeout=WAIT)
    drawer.shut()
    closed = events.get(timeout=WAIT)
    drawer.close()
    assert (opened.opened, closed.opened) == (True, False)
    assert opened.at == cph_now()
    assert log_path.read_text(encoding="utf-8") == "2026-11-20T09:30:00+01:00 pulse_ms=150\n"


def test_sim_closes_when_the_close_file_is_touched(tmp_path: Path) -> None:
    drawer = SimDrawer(tmp_path / "drawer.log", now=cph_now, poll_s=0.005)
    events: queue.Queue[DrawerEvent] = queue.Queue()
    drawer.watch(events.put)
    drawer.pulse()
    drawer.pulse()  # already open: logged, but no second "opened"
    assert events.get(timeout=WAIT).opened is True
    (tmp_path / "close").touch()
    assert events.get(timeout=WAIT).opened is False
    drawer.close()
    assert events.empty()
    assert not (tmp_path / "close").exists()
    assert len((tmp_path / "drawer.log").read_text(encoding="utf-8").splitlines()) == 2


def test_sim_stale_close_file_does_not_close_a_new_opening(tmp_path: Path) -> None:
    (tmp_path / "close").touch()
    drawer = SimDrawer(tmp_path / "drawer.log", now=cph_now)
    drawer.pulse()
    assert drawer.is_open() is True
    (tmp_path / "close").touch()
    assert drawer.is_open() is False


def test_sim_refuses_bad_pulse(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SimDrawer(tmp_path / "drawer.log", pulse_ms=600)


# --- GpiodPort over a fake libgpiod ---------------------------------------------------------------


class FakeRequest:
    def __init__(self, config: dict, consumer: str) -> None:
        self.config = config
        self.consumer = consumer
        self.values: list[tuple[int, gpiod.line.Value]] = []
        self.levels: dict[int, gpiod.line.Value] = {}
        self.events: list[object] = []
        self.released = False

    def set_value(self, line: int, value: gpiod.line.Value) -> None:
        self.values.append((line, value))

    def get_value(self, line: int) -> gpiod.line.Value:
        return self.levels[line]

    def wait_edge_events(self, timeout: float) -> bool:
        return bool(self.events)

    def read_edge_events(self) -> list[object]:
        events, self.events = self.events, []
        return events

    def release(self) -> None:
        self.released = True


def fake_gpiod(chips: dict[str, tuple[str, int]], busy: bool = False) -> types.SimpleNamespace:
    """A stand-in for the gpiod module: chips by device name -> (label, lines); real settings classes."""
    requests: list[tuple[str, FakeRequest]] = []

    class Chip:
        def __init__(self, path: str) -> None:
            self.path = path

        def __enter__(self) -> Chip:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def get_info(self) -> gpiod.ChipInfo:
            label, lines = chips[os.path.basename(os.path.realpath(self.path))]
            return gpiod.ChipInfo(name=os.path.basename(self.path), label=label, num_lines=lines)

        def request_lines(self, config: dict, consumer: str) -> FakeRequest:
            if busy:
                raise OSError(16, "Device or resource busy")
            request = FakeRequest(config, consumer)
            requests.append((self.path, request))
            return request

    return types.SimpleNamespace(
        is_gpiochip_device=lambda path: os.path.basename(os.path.realpath(path)) in chips,
        Chip=Chip, LineSettings=gpiod.LineSettings, line=gpiod.line, EdgeEvent=gpiod.EdgeEvent,
        requests=requests)


@pytest.fixture
def pi5_dev(tmp_path: Path) -> Path:
    """A /dev like an older Pi 5 kernel's: the header on gpiochip4, other chips around it."""
    for name in ("gpiochip0", "gpiochip4", "gpiochip10", "gpiochip_notes"):
        (tmp_path / name).touch()
    (tmp_path / "null").touch()
    return tmp_path


PI5_CHIPS = {"gpiochip0": ("gpio-brcmstb@107d508500", 32), "gpiochip4": ("pinctrl-rp1", 54),
             "gpiochip10": ("gpio-brcmstb@107d517c00", 15)}


def test_no_chips_gives_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "gpiochip0").touch()  # a plain file: the real gpiod says it is no chip device
    with pytest.raises(DrawerError, match=r"no GPIO chip labelled 'pinctrl-rp1' in .*; found: none"):
        GpiodPort("pinctrl-rp1", drive_line=17, chips_dir=str(tmp_path))
    assert list_gpio_chips(str(tmp_path)) == []


def test_this_machine_has_no_gpio_chip_and_says_so() -> None:
    if list_gpio_chips("/dev"):
        pytest.skip("this machine has GPIO chips")
    with pytest.raises(DrawerError, match="found: none"):
        find_chip("pinctrl-rp1", "/dev")


def test_chips_listed_in_number_order_with_labels(pi5_dev: Path) -> None:
    g = fake_gpiod(PI5_CHIPS)
    assert list_gpio_chips(str(pi5_dev), g) == [
        (f"{pi5_dev}/gpiochip0", "gpio-brcmstb@107d508500", 32),
        (f"{pi5_dev}/gpiochip4", "pinctrl-rp1", 54),
        (f"{pi5_dev}/gpiochip10", "gpio-brcmstb@107d517c00", 15),
    ]


def test_a_compatibility_symlink_is_listed_once(tmp_path: Path) -> None:
    (tmp_path / "gpiochip0").touch()
    (tmp_path / "gpiochip4").symlink_to(tmp_path / "gpiochip0")
    g = fake_gpiod({"gpiochip0": ("pinctrl-rp1", 54)})
    assert list_gpio_chips(str(tmp_path), g) == [(f"{tmp_path}/gpiochip0", "pinctrl-rp1", 54)]


def test_wrong_label_lists_what_was_found(pi5_dev: Path) -> None:
    with pytest.raises(DrawerError, match=r"found: gpio-brcmstb@107d508500 \(.*gpiochip0\), pinctrl-rp1 \(.*gpiochip4\)"):
        find_chip("pinctrl-bcm2711", str(pi5_dev), fake_gpiod(PI5_CHIPS))


def test_port_picks_the_chip_by_label_not_number_and_requests_the_right_settings(pi5_dev: Path) -> None:
    g = fake_gpiod(PI5_CHIPS)
    port = GpiodPort("pinctrl-rp1", drive_line=17, sensor_line=27, debounce_ms=30, chips_dir=str(pi5_dev), gpiod_module=g)
    [(path, request)] = g.requests
    assert path == f"{pi5_dev}/gpiochip4"
    assert request.consumer == CONSUMER == "tillbox-drawer"
    assert request.config == {
        17: gpiod.LineSettings(direction=gpiod.line.Direction.OUTPUT, active_low=False,
                               output_value=gpiod.line.Value.INACTIVE),
        27: gpiod.LineSettings(direction=gpiod.line.Direction.INPUT, bias=gpiod.line.Bias.PULL_UP,
                               active_low=True, edge_detection=gpiod.line.Edge.BOTH,
                               debounce_period=timedelta(milliseconds=30)),
    }
    assert port.has_sensor is True


def test_port_follows_the_label_when_the_kernel_renumbers(tmp_path: Path) -> None:
    (tmp_path / "gpiochip0").touch()
    (tmp_path / "gpiochip1").touch()
    g = fake_gpiod({"gpiochip0": ("pinctrl-rp1", 54), "gpiochip1": ("gpio-brcmstb@107d508500", 32)})
    GpiodPort("pinctrl-rp1", drive_line=17, chips_dir=str(tmp_path), gpiod_module=g)
    [(path, request)] = g.requests
    assert path == f"{tmp_path}/gpiochip0"
    assert list(request.config) == [17]  # no sensor line asked for


def test_port_drives_reads_and_releases(pi5_dev: Path) -> None:
    g = fake_gpiod(PI5_CHIPS)
    port = GpiodPort("pinctrl-rp1", drive_line=17, sensor_line=27, active_low_drive=True,
                     chips_dir=str(pi5_dev), gpiod_module=g)
    [(_, request)] = g.requests
    assert request.config[17].active_low is True
    port.set_drive(True)
    port.set_drive(False)
    request.levels[27] = gpiod.line.Value.ACTIVE
    assert port.read_sensor() is True
    assert port.wait_sensor_edge(0.01) == []
    rising, falling = gpiod.EdgeEvent.Type.RISING_EDGE.value, gpiod.EdgeEvent.Type.FALLING_EDGE.value
    request.events = [gpiod.EdgeEvent(rising, 1000, 27, 1, 1), gpiod.EdgeEvent(falling, 2000, 27, 2, 2)]
    assert port.wait_sensor_edge(0.01) == [(True, 1000), (False, 2000)]
    port.close()
    assert request.values == [(17, gpiod.line.Value.ACTIVE), (17, gpiod.line.Value.INACTIVE),
                              (17, gpiod.line.Value.INACTIVE)]
    assert request.released


def test_port_busy_line_is_a_drawer_error(pi5_dev: Path) -> None:
    with pytest.raises(DrawerError, match=r"cannot claim GPIO lines \[17\] on .*gpiochip4 \(pinctrl-rp1\)"):
        GpiodPort("pinctrl-rp1", drive_line=17, chips_dir=str(pi5_dev), gpiod_module=fake_gpiod(PI5_CHIPS, busy=True))


def test_port_refuses_drive_and_sensor_on_one_line(pi5_dev: Path) -> None:
    with pytest.raises(ValueError, match="share"):
        GpiodPort("pinctrl-rp1", drive_line=17, sensor_line=17, chips_dir=str(pi5_dev), gpiod_module=fake_gpiod(PI5_CHIPS))


def test_gpio_drawer_over_gpiod_port_pulses_the_real_line_calls(pi5_dev: Path) -> None:
    g = fake_gpiod(PI5_CHIPS)
    clock = FakeTime()
    port = GpiodPort("pinctrl-rp1", drive_line=17, chips_dir=str(pi5_dev), gpiod_module=g)
    drawer = GpioDrawer(port, pulse_ms=120, sleep=clock.sleep, monotonic=clock.monotonic, now=cph_now)
    drawer.pulse()
    [(_, request)] = g.requests
    assert request.values == [(17, gpiod.line.Value.ACTIVE), (17, gpiod.line.Value.INACTIVE)]
    assert clock.sleeps == [0.12]
    assert drawer.is_open() is None


def test_default_clock_is_aware_utc() -> None:
    drawer = GpioDrawer(FakeLinePort(), edge_timeout_s=0.02)
    events: queue.Queue[DrawerEvent] = queue.Queue()
    port = drawer._port
    assert isinstance(port, FakeLinePort)
    drawer.watch(events.put)
    port.push_edges(True)
    event = events.get(timeout=WAIT)
    drawer.close()
    assert event.at.tzinfo is UTC
