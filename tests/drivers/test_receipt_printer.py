"""The receipt printer: Document -> ESC/POS bytes -> parsed back, the PNG's barcodes read by a
real decoder, the status bytes, and the transports (a fake TCP printer, pyserial's loop://, a
USB printer that is not there) and the simulated twin."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
import usb.core
import zxingcpp
from escpos.printer import Dummy, Network, Usb
from PIL import Image, ImageDraw

from drivers import backends
from drivers.printer.document import Barcode, Document, Feed, Logo, Text
from drivers.printer.escpos_out import codepage_slots, dot_width, render_escpos
from drivers.printer.escpos_read import (
    Line,
    TruncatedError,
    parse_escpos,
    render_png,
    render_text,
)
from drivers.printer.receipt import (
    UNREACHABLE,
    PrinterStatus,
    PrinterUnavailable,
    ReceiptPrinter,
    UrlSerial,
    open_receipt_printer,
    parse_status,
)
from drivers.sim.receipt_printer import SimReceiptPrinter
from tests.fakes.network_printer import FakeNetworkPrinter

ESC, GS = b"\x1b", b"\x1d"
DANISH = "æøåÆØÅé"
CUT_FEED = ESC + b"d\x06"  # python-escpos feeds past the cutter before GS V


def receipt(kick: int | None = 2, ean: str = "5701234567899") -> Document:
    return Document((
        Text("Købmand Ærø", align="center", bold=True, large=True),
        Text("Østergade 5, 5970 Ærøskøbing", align="center"),
        Text(f"Smørrebrød med {DANISH}"),
        Text("Rødgrød med fløde                          29,95"),
        Text("Blåbær 2 x 12,50                           25,00"),
        Feed(1),
        Text("I ALT                                      54,95", bold=True),
        Text("Heraf moms 25%                             10,99", align="right"),
        Barcode("R123"),
        Barcode(ean, symbology="EAN13"),
    ), cut=True, kick_drawer=kick)  # type: ignore[arg-type]


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def read_barcodes(img: Image.Image) -> set[tuple[str, str]]:
    return {(r.format.name, r.text) for r in zxingcpp.read_barcodes(img)}


# --- Document -> bytes -> Parsed ------------------------------------------------------------

@pytest.mark.parametrize(("codepage", "slot"), [("CP865", 5), ("CP1252", 16), ("CP858", 19)])
def test_danish_letters_go_out_in_the_selected_code_page(codepage: str, slot: int) -> None:
    out = render_escpos(receipt(), codepage=codepage)
    assert out.startswith(ESC + b"@" + ESC + b"t" + bytes((slot,)))
    assert out.count(ESC + b"t") == 1  # selected once, never switched mid-job
    assert DANISH.encode(codepage) in out
    parsed = parse_escpos(out)
    assert parsed.codepages == [codepage]
    assert parsed.lines[2].text == f"Smørrebrød med {DANISH}"
    assert parsed.lines[0].text == "Købmand Ærø"


def test_the_paper_reads_like_the_document() -> None:
    doc = receipt()
    text = render_text(parse_escpos(render_escpos(doc)))
    assert text.splitlines() == [*doc.lines(), *[""] * 6, "[cut]"]


def test_characters_outside_the_code_page_print_as_question_marks() -> None:
    out = render_escpos(Document((Text("5 € – 中 ñ"),), cut=False))
    assert out == ESC + b"@" + ESC + b"t\x05" + b"5 ? ? ? \xa4\n"  # ñ is in CP865 (0xa4)
    assert parse_escpos(out).lines == [Line("5 ? ? ? ñ")]


def test_control_characters_in_text_cannot_become_commands() -> None:
    out = render_escpos(Document((Text("A\x1bd\x05B\nC\x1dV"),), cut=False))
    assert out.endswith(b"A?d\x05B?C?V\n".replace(b"\x05", b"?"))
    assert [ln.text for ln in parse_escpos(out).lines] == ["A?d?B?C?V"]


def test_unknown_profile_and_missing_code_page_are_refused() -> None:
    with pytest.raises(ValueError, match="'NoSuchPrinter'"):
        render_escpos(receipt(), profile="NoSuchPrinter")
    with pytest.raises(ValueError, match=r"'TM-T88II'.*'CP858'"):
        render_escpos(receipt(), profile="TM-T88II", codepage="CP858")


def test_align_bold_and_large_are_sent_and_read_back() -> None:
    doc = receipt()
    out = render_escpos(doc)
    texts = [b for b in doc.blocks if isinstance(b, Text)]
    parsed = parse_escpos(out)
    assert [(ln.text, ln.align, ln.bold, ln.large) for ln in parsed.lines if ln.text] == \
        [(t.text, t.align, t.bold, t.large) for t in texts]
    head = ESC + b"@" + ESC + b"t\x05"
    assert out.startswith(head + GS + b"!\x11" + ESC + b"E\x01" + ESC + b"a\x01" + "Købmand Ærø\n".encode("cp865"))
    # back to normal size for line 2; bold off; still centred, so no ESC a
    assert GS + b"!\x00" + ESC + b"E\x00" + "Østergade".encode("cp865") in out


def test_nothing_is_printed_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    render_escpos(receipt())  # python-escpos print()s its barcode renderer choice
    render_escpos(receipt(), profile="POS-5890", columns=32)
    assert capsys.readouterr().out == ""


def test_each_document_is_a_complete_job() -> None:
    first = render_escpos(receipt())
    second = render_escpos(receipt())
    assert first == second
    assert second.startswith(ESC + b"@" + ESC + b"t\x05")


def test_barcodes_use_the_printers_own_barcode_command() -> None:
    out = render_escpos(receipt())
    # CODE128 in function B (length first, code set B), EAN-13 in function A (NUL-terminated)
    assert GS + b"kI\x06{BR123" in out
    assert GS + b"k\x025701234567899\x00" in out
    assert out.count(GS + b"H\x02") == 2  # human-readable text below
    assert parse_escpos(out).barcodes == [("CODE128", "R123"), ("EAN13", "5701234567899")]


def test_ean13_gets_its_check_digit_and_a_wrong_one_is_refused() -> None:
    out = render_escpos(Document((Barcode("570123456789", "EAN13"),), cut=False))
    assert parse_escpos(out).barcodes == [("EAN13", "5701234567899")]
    with pytest.raises(ValueError, match="check digit"):
        render_escpos(Document((Barcode("5701234567890", "EAN13"),)))
    with pytest.raises(ValueError, match="12 or 13 digits"):
        render_escpos(Document((Barcode("57012345", "EAN13"),)))


def test_a_brace_in_code128_data_is_escaped_and_comes_back() -> None:
    out = render_escpos(Document((Barcode("A{1"),), cut=False))
    assert b"{BA{{1" in out
    assert parse_escpos(out).barcodes == [("CODE128", "A{1")]


@pytest.mark.parametrize(("profile", "columns", "dots"), [("default", 48, 576), ("TM-T88V", 42, 512),
                                                          ("RP-F10-58mm", 32, 384)])
def test_the_png_barcodes_scan_back_to_the_same_digits(profile: str, columns: int, dots: int) -> None:
    assert dot_width(profile, columns) == dots
    doc = Document((Text("Tak for besøget"), Barcode("R2026000123"), Barcode("2135040039753", "EAN13")))
    img = render_png(parse_escpos(render_escpos(doc, profile, columns)), dots)
    assert read_barcodes(img) == {("Code128", "R2026000123"), ("EAN13", "2135040039753")}


def test_without_hardware_barcodes_the_software_fallback_prints_a_raster_that_scans() -> None:
    out = render_escpos(Document((Barcode("R123"),)), profile="POS-5890", columns=32)
    assert GS + b"k" not in out
    parsed = parse_escpos(out, codepages=codepage_slots("POS-5890"))
    assert parsed.barcodes == []
    (img,) = parsed.images
    assert img.width == 384
    assert read_barcodes(img.convert("L")) == {("Code128", "R123")}


def test_a_wide_logo_is_scaled_to_the_paper_and_comes_back_as_a_raster() -> None:
    logo = Image.new("RGB", (800, 200), "white")
    ImageDraw.Draw(logo).rectangle((0, 0, 399, 199), fill="black")  # left half black
    out = render_escpos(Document((Logo(png_bytes(logo)),), cut=False))
    assert GS + b"v0\x00" + (72).to_bytes(2, "little") + (144).to_bytes(2, "little") in out
    (img,) = parse_escpos(out).images
    assert img.size == (576, 144)
    assert img.getpixel((10, 70)) == 0 and img.getpixel((566, 70)) == 255  # black left, white right


def test_a_narrow_logo_keeps_its_size_and_is_centred() -> None:
    logo = Image.new("L", (100, 40), 0)
    out = render_escpos(Document((Logo(png_bytes(logo)),), cut=False), profile="POS-5890", columns=32)
    assert ESC + b"a\x01" + GS + b"v0\x00" + b"\x0d\x00\x28\x00" in out  # 13 bytes (104 dots) x 40
    parsed = parse_escpos(out, codepages=codepage_slots("POS-5890"))
    assert parsed.images[0].size == (104, 40)
    assert parsed.paper[0].align == "center"


def test_cut_then_kick_at_the_end() -> None:
    out = render_escpos(receipt(kick=2))
    assert out.endswith(CUT_FEED + GS + b"V\x01" + ESC + b"p\x00\x32\x32")
    assert render_escpos(receipt(kick=5)).endswith(GS + b"V\x01" + ESC + b"p\x01\x32\x32")
    parsed = parse_escpos(out)
    assert (parsed.cuts, parsed.kicks) == (1, [(2, 100, 100)])
    uncut = render_escpos(Document((Text("x"),), cut=False))
    assert parse_escpos(uncut).cuts == 0 and GS + b"V" not in uncut


def test_feeds_become_esc_d_and_blank_lines() -> None:
    out = render_escpos(Document((Text("a"), Feed(3), Text("b")), cut=False))
    assert out.endswith(b"a\n" + ESC + b"d\x03" + b"b\n")
    assert render_text(parse_escpos(out)) == "a\n\n\n\nb\n"


def test_render_text_indents_as_on_paper() -> None:
    doc = Document((Text("Ærø", align="center", large=True), Text("10,00", align="right")), cut=False)
    assert render_text(parse_escpos(render_escpos(doc)), columns=20) == "       Ærø\n               10,00\n"


# --- the parser on its own ------------------------------------------------------------------

def test_parser_reads_python_escpos_column_images_print_modes_and_status_queries() -> None:
    p = Dummy(profile="TM-T88V")
    p.hw("INIT")
    img = Image.new("1", (30, 48), 1)
    ImageDraw.Draw(img).rectangle((0, 0, 14, 23), fill=0)  # top-left quarter black
    p.image(img, impl="bitImageColumn")
    p.set(double_width=True, double_height=True, bold=True)
    p.text("BIG\n")
    p._raw(b"\x10\x04\x01")
    parsed = parse_escpos(p.output)
    (back,) = parsed.images
    assert back.size == (30, 48)
    assert back.convert("L").tobytes() == img.convert("L").tobytes()
    assert parsed.lines == [Line("BIG", "left", bold=True, large=True)]
    assert parsed.status_queries == [1]


@pytest.mark.parametrize(("data", "message"), [
    (b"\x1b@\x1bZ", "ESC 0x5a at offset 2"),
    (b"abc\x07", "control byte 0x07 at offset 3"),
    (b"\x1b@\x1d\x99", "GS 0x99 at offset 2"),
    (b"\x1bt\x63", "code page slot 99 at offset 0"),
    (b"\x1dk\x63\x01A", "barcode type 99 at offset 0"),
    (b"\x10\x05\x01", "DLE 0x05 0x01 at offset 0"),
])
def test_parser_refuses_garbage_naming_the_offset(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_escpos(data)


def test_parser_says_where_a_job_was_cut_off() -> None:
    job = render_escpos(Document((Logo(png_bytes(Image.new("L", (64, 64), 0))),), cut=False))
    with pytest.raises(TruncatedError) as err:
        parse_escpos(job[:-10])
    assert err.value.offset == job.index(GS + b"v0")


# --- status ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("replies", "expected"), [
    ((0x12, 0x12, 0x12), PrinterStatus(True, False, False, False, False)),
    ((0x16, 0x12, 0x12), PrinterStatus(True, False, False, False, True)),  # drawer pin 3 high
    ((0x12, 0x12, 0x1E), PrinterStatus(True, True, False, False, False)),  # near end
    ((0x1A, 0x16, 0x12), PrinterStatus(False, False, False, True, False)),  # cover open
    ((0x1A, 0x32, 0x7E), PrinterStatus(False, True, True, False, False)),  # paper end
    ((0x1A, 0x32, None), PrinterStatus(False, None, True, False, False)),  # end seen in n=2 only
    ((0x12, None, None), PrinterStatus(True, None, None, None, False)),
    ((None, None, None), UNREACHABLE),
    ((0x01, 0x00, 0xFF), UNREACHABLE),  # not status bytes (an echo, noise)
])
def test_status_bytes(replies: tuple[int | None, int | None, int | None], expected: PrinterStatus) -> None:
    assert parse_status(*replies) == expected


def test_drawer_polarity_can_be_flipped() -> None:
    assert parse_status(0x16, 0x12, 0x12, drawer_open_high=False).drawer_open is False
    assert parse_status(0x12, 0x12, 0x12, drawer_open_high=False).drawer_open is True


# --- network printer ------------------------------------------------------------------------

@pytest.fixture
def fake() -> FakeNetworkPrinter:
    with FakeNetworkPrinter() as f:
        yield f


def network(fake: FakeNetworkPrinter, **kw: object) -> ReceiptPrinter:
    printer = open_receipt_printer({"kind": "network", "host": "127.0.0.1", "port": fake.port, **kw})
    assert isinstance(printer, ReceiptPrinter)
    return printer


def test_network_job_arrives_whole_then_one_status_query(fake: FakeNetworkPrinter) -> None:
    printer = network(fake)
    job = printer.render(receipt())
    printer.send(job)
    assert fake.received == job + b"\x10\x04\x01"
    assert fake.jobs() == [job]
    assert fake.connections_accepted == 1


def test_network_status(fake: FakeNetworkPrinter) -> None:
    printer = network(fake)
    assert printer.status() == PrinterStatus(True, False, False, False, False)
    fake.set_status(paper_out=True, paper_low=True)
    assert printer.status() == PrinterStatus(False, True, True, False, False)
    fake.set_status(paper_out=False, paper_low=False, cover_open=True)
    assert printer.status() == PrinterStatus(False, False, False, True, False)
    fake.set_status(cover_open=False, drawer_open=True)
    assert printer.status() == PrinterStatus(True, False, False, False, True)
    assert fake.queries == [1, 2, 4] * 4


def test_network_printer_down_then_back(fake: FakeNetworkPrinter) -> None:
    printer = network(fake)
    job = printer.render(receipt())
    printer.send(job)
    fake.go_down()
    assert printer.status() == UNREACHABLE
    with pytest.raises(PrinterUnavailable):
        printer.send(job)
    fake.come_back()
    printer.send(job)
    assert fake.jobs() == [job, job]


def test_network_printer_vanishing_mid_job_then_coming_back(fake: FakeNetworkPrinter) -> None:
    printer = network(fake)
    first, second, third = (printer.render(Document((Text(f"Kvittering {n}"),))) for n in (1, 2, 3))
    printer.send(first)
    fake.drop_after(10)
    with pytest.raises(PrinterUnavailable, match=r"network:127\.0\.0\.1"):
        printer.send(second)
    printer.send(third)  # a new connection
    assert fake.connections == [first + b"\x10\x04\x01" + second[:10], third + b"\x10\x04\x01"]
    assert fake.jobs() == [first, second[:10], third]


def test_network_printer_that_never_answers_still_prints(fake: FakeNetworkPrinter) -> None:
    fake.set_status(answer=False)
    printer = network(fake)
    printer.status_timeout = 0.05
    job = printer.render(receipt())
    printer.send(job)
    assert fake.jobs() == [job]
    assert printer.status() == UNREACHABLE


def test_nothing_listening_is_unavailable() -> None:
    with FakeNetworkPrinter() as f:
        port = f.port
    printer = open_receipt_printer({"kind": "network", "host": "127.0.0.1", "port": port})
    with pytest.raises(PrinterUnavailable):
        printer.send(b"\x1b@")
    assert printer.status() == UNREACHABLE


# --- serial and USB -------------------------------------------------------------------------

def test_serial_loop_url_gets_the_bytes() -> None:
    printer = open_receipt_printer({"kind": "serial", "device": "loop://", "baudrate": 38400})
    assert isinstance(printer, ReceiptPrinter) and isinstance(printer.transport, UrlSerial)
    job = printer.render(receipt())
    printer.send(job)
    assert printer.transport.device.read(len(job)) == job
    assert printer.transport.device.in_waiting == 0  # no status query after a job on serial
    printer.status_timeout = 0.05
    assert printer.status() == UNREACHABLE  # the loop echoes our query: not a status byte
    printer.close()


def test_serial_device_missing_is_unavailable() -> None:
    printer = open_receipt_printer({"kind": "serial", "device": "/dev/ttyNoSuchPrinter"})
    with pytest.raises(PrinterUnavailable):
        printer.send(b"\x1b@")


class _Backend:  # python-escpos asks the backend's module name (libusb1 or not)
    pass


class FakeUsbDevice:
    """Just enough of a pyusb Device for python-escpos's Usb (open, write, dispose), whose writes
    fail: a printer unplugged after it was found."""

    backend = _Backend()  # not libusb1: python-escpos skips the kernel-driver dance
    _ctx = SimpleNamespace(dispose=lambda device: None)

    def __init__(self) -> None:
        self.writes = 0

    def set_configuration(self) -> None:
        pass

    def reset(self) -> None:
        pass

    def write(self, ep: int, data: bytes, timeout: int) -> int:
        self.writes += 1
        raise usb.core.USBError("No such device (it may have been disconnected)")


def test_usb_printer_is_built_without_touching_usb(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_usb(**kw: object) -> None:
        raise AssertionError("USB touched while constructing")

    monkeypatch.setattr(usb.core, "find", no_usb)
    printer = open_receipt_printer({"kind": "usb", "vendor_id": "04b8", "product_id": "0e15"})
    assert isinstance(printer, ReceiptPrinter) and isinstance(printer.transport, Usb)
    assert printer.transport.usb_args == {"idVendor": 0x04B8, "idProduct": 0x0E15}
    assert printer.name == "usb:04b8:0e15"


def test_usb_printer_missing_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    printer = open_receipt_printer({"kind": "usb", "vendor_id": "04b8", "product_id": "0e15"})
    with pytest.raises(PrinterUnavailable):  # whatever this machine has: no libusb, or no printer
        printer.send(b"\x1b@")
    found: list[dict[str, object]] = []
    monkeypatch.setattr(usb.core, "find", lambda **kw: found.append(kw))
    with pytest.raises(PrinterUnavailable, match="usb:04b8:0e15"):
        printer.send(b"\x1b@")
    assert found == [{"idVendor": 0x04B8, "idProduct": 0x0E15}]
    assert printer.status() == UNREACHABLE


def test_usb_write_failure_closes_and_the_next_send_looks_again(monkeypatch: pytest.MonkeyPatch) -> None:
    devices: list[FakeUsbDevice] = []

    def find(**kw: object) -> FakeUsbDevice:
        devices.append(FakeUsbDevice())
        return devices[-1]

    monkeypatch.setattr(usb.core, "find", find)
    printer = open_receipt_printer({"kind": "usb", "vendor_id": "0x04b8", "product_id": "0e15"})
    for _ in range(2):
        with pytest.raises(PrinterUnavailable, match="No such device"):
            printer.send(b"\x1b@")
    assert [d.writes for d in devices] == [1, 1]


# --- settings -------------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "key"), [
    ({"kind": "laser"}, "'kind'"),
    ({"kind": "usb", "vendor_id": "04b8"}, "'product_id'"),
    ({"kind": "usb", "vendor_id": "xyz", "product_id": "0e15"}, "'vendor_id'"),
    ({"kind": "network", "host": "10.0.0.5", "port": 70000}, "'port'"),
    ({"kind": "network", "host": ""}, "'host'"),
    ({"kind": "serial", "device": "/dev/ttyUSB0", "baudrate": "fast"}, "'baudrate'"),
    ({"kind": "network", "host": "10.0.0.5", "paper_mm": 72}, "'paper_mm'"),
    ({"kind": "network", "host": "10.0.0.5", "profile": "NoSuch"}, "'profile'"),
    ({"kind": "network", "host": "10.0.0.5", "codepage": "CP999"}, "'codepage'"),
    ({"kind": "network", "host": "10.0.0.5", "vendorid": "04b8"}, "'vendorid'"),
    ({"kind": "sim"}, "'dir'"),
])
def test_bad_specs_name_the_key(spec: dict[str, object], key: str) -> None:
    with pytest.raises(ValueError, match=key):
        open_receipt_printer(spec)


@pytest.mark.parametrize(("extra", "columns"), [({}, 48), ({"paper_mm": 58}, 32),
                                                ({"profile": "TM-T88V"}, 42), ({"columns": 42}, 42)])
def test_columns_follow_the_paper_and_the_head(extra: dict[str, object], columns: int) -> None:
    printer = open_receipt_printer({"kind": "network", "host": "10.0.0.5", **extra})
    assert printer.columns == columns
    assert isinstance(printer.transport, Network) and printer.transport._device is False  # not connected


# --- the simulated printer ------------------------------------------------------------------

def test_sim_printer_writes_text_picture_and_kicks(tmp_path: Path) -> None:
    sim = backends.open_receipt_printer({"kind": "sim", "dir": str(tmp_path / "paper")})
    assert isinstance(sim, SimReceiptPrinter)
    sim.send(sim.render(receipt(kick=2)))
    sim.send(sim.render(receipt(kick=None)))
    text = (tmp_path / "paper" / "0001.txt").read_text("utf-8")
    assert "     Købmand Ærø" in text and "[CODE128 R123]" in text and text.endswith("[cut]\n")
    with Image.open(tmp_path / "paper" / "0002.png") as img:
        assert img.width == 576
        assert read_barcodes(img) == {("Code128", "R123"), ("EAN13", "5701234567899")}
    assert (tmp_path / "paper" / "kicks.log").read_text().splitlines()[0].endswith(
        " job=0001 pin=2 on_ms=100 off_ms=100")
    again = SimReceiptPrinter(tmp_path / "paper", clock=lambda: datetime(2026, 11, 20, 9, 30, tzinfo=UTC))
    again.send(b"\x1bp\x01\x19\x19")  # a drawer kick alone prints nothing
    again.send(again.render(receipt(kick=None)))  # a restart carries on counting
    assert sorted(p.name for p in (tmp_path / "paper").iterdir() if p.suffix == ".txt") == \
        ["0001.txt", "0002.txt", "0003.txt"]
    assert (tmp_path / "paper" / "kicks.log").read_text().splitlines()[1] == \
        "2026-11-20T09:30:00+00:00 job=none pin=5 on_ms=50 off_ms=50"


def test_sim_printer_state_by_attribute_and_by_state_json(tmp_path: Path) -> None:
    sim = SimReceiptPrinter(tmp_path)
    job = sim.render(receipt(kick=None))
    sim.cover_open = True
    with pytest.raises(PrinterUnavailable, match="cover open"):
        sim.send(job)
    assert sim.status() == PrinterStatus(False, False, False, True, False)
    sim.cover_open = False
    (tmp_path / "state.json").write_text(json.dumps({"paper_out": True, "paper_low": True}))
    with pytest.raises(PrinterUnavailable, match="paper out"):
        sim.send(job)
    assert sim.status() == PrinterStatus(False, True, True, False, False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # nothing printed
    (tmp_path / "state.json").write_text(json.dumps({"paper_out": False, "online": False}))
    with pytest.raises(PrinterUnavailable, match="offline"):
        sim.send(job)
    sim.online = True  # the file has not changed since, so the attribute holds
    sim.send(job)
    assert (tmp_path / "0001.png").exists() and (tmp_path / "0001.txt").exists()
    (tmp_path / "state.json").write_text("{not json")
    sim.send(job)  # a broken file is ignored, not fatal
    assert (tmp_path / "0002.txt").exists()
