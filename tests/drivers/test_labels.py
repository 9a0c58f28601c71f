"""Price labels: ZPL field by field, the rendered picture's barcode bar by bar, the Brother QL raster
decoded back to pixels, the printers over real sockets on 127.0.0.1, and the simulated printer."""

from __future__ import annotations

import contextlib
import io
import queue
import socket
import threading
from pathlib import Path

import pytest
import usb.core
import zxingcpp
from brother_ql.labels import LabelsManager
from brother_ql.models import ModelsManager
from brother_ql.reader import BrotherQLReader
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops

from drivers import backends
from drivers.printer import label_image
from drivers.printer.brother import (
    brother_label_for,
    brother_raster,
    brother_render_layout,
    decode_raster,
)
from drivers.printer.label import Box, Label, LabelLayout, ean13_check_digit, plan_label
from drivers.printer.label_image import render_label
from drivers.printer.label_printer import (
    BrotherQLPrinter,
    LabelPrinterUnavailable,
    ZebraPrinter,
    open_label_printer,
    open_usb_bulk_out,
)
from drivers.printer.zpl import CHAR_WIDTH, label_zpl, labels_zpl, parse_zpl
from drivers.sim.label_printer import SimLabelPrinter

PRICE_CODE = "2212340024952"  # 22 + PLU 1234 + 24,95 kr in øre + check digit 2
CODES = [PRICE_CODE, "5701234567899", "4006381333931", "2135040039753", "0012345678905"]


def label(name: str = "Rødgrød med fløde", ean13: str = PRICE_CODE, unit: str | None = "Kilopris 99,80 kr/kg",
          price: str = "24,95 kr") -> Label:
    return Label(name=name, price=price, ean13=ean13, unit_price=unit)


def ean13_modules(code: str) -> str:
    """EAN-13 bars written out from the GS1 tables (independent of the renderer's library)."""
    left = ["0001101", "0011001", "0010011", "0111101", "0100011",
            "0110001", "0101111", "0111011", "0110111", "0001011"]
    right = ["".join("1" if b == "0" else "0" for b in c) for c in left]
    g = [c[::-1] for c in right]
    parity = ["LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG", "LGGLLG", "LGGGLL", "LGLGLG", "LGLGGL", "LGGLGL"]
    bars = "101"
    for p, d in zip(parity[int(code[0])], code[1:7], strict=True):
        bars += (left if p == "L" else g)[int(d)]
    bars += "01010"
    for d in code[7:]:
        bars += right[int(d)]
    return bars + "101"


def decoded_ean13(img: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(img.convert("L")) if r.format == zxingcpp.BarcodeFormat.EAN13]


def has_ink(img: Image.Image, box: Box) -> bool:
    return img.crop((box.x, box.y, box.right, box.bottom)).convert("L").getextrema()[0] == 0


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a.convert("L"), b.convert("L")).getbbox() is None


class RawPort:
    """A label printer's raw TCP port on 127.0.0.1: one job per connection, read to EOF."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.jobs: queue.Queue[bytes] = queue.Queue()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                chunks = []
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
                self.jobs.put(b"".join(chunks))

    def job(self) -> bytes:
        return self.jobs.get(timeout=5)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.sock.close()
        self.thread.join(timeout=5)


@pytest.fixture
def raw_port():
    server = RawPort()
    yield server
    server.close()


@pytest.fixture
def closed_port() -> int:
    s = socket.create_server(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --- Label and LabelLayout ---------------------------------------------------------------------


@pytest.mark.parametrize("code", CODES)
def test_valid_ean13_codes_are_accepted(code):
    assert ean13_check_digit(code[:12]) == int(code[12])
    assert label(ean13=code).ean13 == code


@pytest.mark.parametrize("code, why", [
    ("2212340024950", "check digit"),  # the in-store code with a wrong check digit (right one: 2)
    ("5701234567898", "check digit"),
    ("221234002495", "13 digits"),  # 12 digits: the till always passes the check digit
    ("22123400249520", "13 digits"),
    ("22123400249a2", "13 digits"),
    (" 221234002495", "13 digits"),
    ("２２１２３４００２４９５２", "13 digits"),  # full-width digits pass str.isdigit()
])
def test_bad_ean13_is_refused(code, why):
    with pytest.raises(ValueError, match=why):
        label(ean13=code)


def test_label_needs_a_name_and_a_price():
    with pytest.raises(ValueError, match="name"):
        label(name="  ")
    with pytest.raises(ValueError, match="price"):
        label(price="\n")


def test_layout_defaults_and_dots():
    layout = LabelLayout()
    assert (layout.width_mm, layout.height_mm, layout.dpi, layout.copies) == (62, 29, 300, 1)
    assert layout.dots(25.4) == 300 and LabelLayout(dpi=203).dots(25.4) == 203
    assert layout.dots(62) == 732 and LabelLayout(dpi=203).dots(62) == 496


def test_layout_from_settings_takes_numbers_and_database_text():
    layout = LabelLayout.from_settings({"width_mm": "102", "height_mm": 51, "dpi": "203", "copies": "2",
                                        "price_pt": "20,5"})
    assert layout == LabelLayout(width_mm=102.0, height_mm=51, dpi=203, copies=2, price_pt=20.5)
    assert isinstance(layout.dpi, int) and isinstance(layout.copies, int)
    assert LabelLayout.from_settings({}) == LabelLayout()


@pytest.mark.parametrize("key, value", [
    ("width_mm", 14.9), ("width_mm", 121), ("height_mm", 9), ("height_mm", 201), ("dpi", 250),
    ("dpi", 300.5), ("copies", 0), ("copies", 1000), ("copies", 1.5), ("margin_mm", -1),
    ("margin_mm", 11), ("name_pt", True), ("price_pt", "abc"), ("unit_pt", None),
    ("barcode_height_mm", float("nan")), ("barcode_height_mm", 4), ("colour", "red"),
])
def test_layout_settings_out_of_range_name_the_key(key, value):
    with pytest.raises(ValueError, match=key):
        LabelLayout.from_settings({key: value})


def test_layout_that_cannot_hold_the_label_is_refused_on_entry():
    with pytest.raises(ValueError, match="too small"):
        LabelLayout.from_settings({"width_mm": 30, "height_mm": 15})
    with pytest.raises(ValueError, match="too small"):
        LabelLayout.from_settings({"width_mm": 62, "height_mm": 29, "price_pt": 60})


@settings(max_examples=60, deadline=None)
@given(w=st.integers(15, 120), h=st.integers(10, 200), dpi=st.sampled_from([203, 300, 600]),
       margin=st.sampled_from([0, 1.5, 3]))
def test_plan_keeps_everything_on_the_label_and_off_the_barcode(w, h, dpi, margin):
    layout = LabelLayout(width_mm=w, height_mm=h, dpi=dpi, margin_mm=margin)
    try:
        plan = plan_label(layout)
    except ValueError:
        return
    label_box = Box(0, 0, layout.dots(w), layout.dots(h))
    module_mm = plan.module * 25.4 / dpi
    assert 0.24 <= module_mm <= 0.4  # about 75-120 % of the 0.33 mm nominal
    assert plan.barcode.w == 113 * plan.module
    for box in (plan.name, plan.price, plan.unit, plan.barcode):
        assert label_box.x <= box.x and box.right <= label_box.right
        assert label_box.y <= box.y and box.bottom <= label_box.bottom
        if box is not plan.barcode:
            assert not box.overlaps(plan.barcode)
    assert not plan.name.overlaps(plan.price) and not plan.price.overlaps(plan.unit)


# --- ZPL ---------------------------------------------------------------------------------------


def fields_by_data(parsed: dict) -> dict[str, dict]:
    return {f["data"]: f for f in parsed["fields"]}


@pytest.mark.parametrize("dpi, pw, ll", [(203, 496, 232), (300, 732, 343)])
def test_zpl_fields_sizes_and_positions(dpi, pw, ll):
    layout = LabelLayout(dpi=dpi)
    text = label_zpl(label(), layout)
    [parsed] = parse_zpl(text)
    assert parsed["commands"][0] == ("^CI", "28")  # UTF-8 before any field
    assert (parsed["CI"], parsed["PW"], parsed["LL"], parsed["PQ"]) == (28, pw, ll, 1)

    fields = fields_by_data(parsed)
    assert set(fields) == {"Rødgrød med fløde", "24,95 kr", "Kilopris 99,80 kr/kg", PRICE_CODE[:12]}
    name, price, unit = fields["Rødgrød med fløde"], fields["24,95 kr"], fields["Kilopris 99,80 kr/kg"]
    bars = fields[PRICE_CODE[:12]]

    # name: font 0 at 9 pt, in a two-line field block; price large; unit small
    assert name["font"] == {"name": "0", "orientation": "N", "height": round(9 * dpi / 72),
                            "width": round(9 * dpi / 72)}
    assert name["block"]["lines"] == 2 and name["hex"] == "_"
    assert price["font"]["height"] > 3 * unit["font"]["height"] // 2
    assert round(18 * dpi / 72) * 0.9 <= price["font"]["height"] <= round(18 * dpi / 72)
    assert unit["font"]["height"] == round(7 * dpi / 72)
    assert name["y"] < price["y"] < unit["y"]

    # EAN-13 native: the printer gets the first 12 digits and adds the check digit
    assert bars["barcode"]["type"] == "BE" and bars["barcode"]["line"] == "Y"
    assert ("^BE", f"N,{round(9 * dpi / 25.4)},Y,N") in parsed["commands"]
    module = bars["barcode"]["module"]
    assert isinstance(module, int) and 0.24 <= module * 25.4 / dpi <= 0.4
    quiet = Box(bars["x"] - 11 * module, bars["y"], (11 + 95 + 7) * module, bars["barcode"]["height"])

    label_box = Box(0, 0, pw, ll)
    for f in (name, price, unit):
        block = f["block"]
        box = Box(f["x"], f["y"], block["width"], block["lines"] * f["font"]["height"])
        assert label_box.x <= box.x and box.right <= label_box.right, f
        assert label_box.y <= box.y and box.bottom <= label_box.bottom, f
        assert not box.overlaps(quiet), f
    for f in (price, unit):  # the text surely fits its block, even at a wide average advance
        assert len(f["data"]) * CHAR_WIDTH * f["font"]["height"] <= f["block"]["width"]
    assert 0 <= quiet.x and quiet.right <= pw and quiet.bottom + 9 * module <= ll


def test_zpl_without_unit_price_has_no_unit_field():
    [parsed] = parse_zpl(label_zpl(label(unit=None), LabelLayout()))
    assert [f["data"] for f in parsed["fields"]] == ["Rødgrød med fløde", "24,95 kr", PRICE_CODE[:12]]


def test_zpl_escapes_caret_tilde_and_underscore_in_names():
    name = "^XZ^XA ~JA _øko_ a\\&b"  # short enough for one line
    text = label_zpl(label(name=name), LabelLayout())
    assert text.count("^XA") == 1 and text.count("^XZ") == 1
    assert "~" not in text
    assert "^FD_5EXZ_5EXA _7EJA _5Føko_5F a\\\\&b^FS" in text
    [parsed] = parse_zpl(text)
    assert parsed["fields"][0]["data"] == name


def test_zpl_danish_letters_go_as_utf8():
    data = label_zpl(label(name="Æbleskiver, Øl & Ål"), LabelLayout()).encode("utf-8")
    assert "Æbleskiver, Øl & Ål".encode() in data
    assert b"\xc6bleskiver" not in data  # not Latin-1
    [parsed] = parse_zpl(data.decode("utf-8"))
    assert parsed["fields"][0]["data"] == "Æbleskiver, Øl & Ål"


def test_zpl_long_name_is_cut_to_two_lines_that_fit():
    name = "Økologisk hjemmelavet jordbærsyltetøj med rabarber og vanilje fra Lolland-Falster, stort glas"
    [parsed] = parse_zpl(label_zpl(label(name=name), LabelLayout(dpi=203)))
    field = parsed["fields"][0]
    lines = field["data"].split("\n")
    assert len(lines) == 2 and lines[1].endswith("...")
    assert " ".join(lines).startswith("Økologisk hjemmelavet jordbærsyltetøj")
    for line in lines:
        assert len(line) * CHAR_WIDTH * field["font"]["height"] <= field["block"]["width"]


def test_zpl_copies_and_one_label_per_xa_xz():
    labels = [label(ean13=c) for c in CODES[:3]]
    text = labels_zpl(labels, LabelLayout(copies=3))
    assert text.count("^XA") == text.count("^XZ") == 3
    parsed = parse_zpl(text)
    assert [p["PQ"] for p in parsed] == [3, 3, 3]
    assert all(p["commands"][-1] == ("^PQ", "3") for p in parsed)
    assert [[f["data"] for f in p["fields"] if f["barcode"]] for p in parsed] == [[c[:12]] for c in CODES[:3]]


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet="abcæøåÆØÅ€^~_\\&%,.-/", min_size=1, max_size=25))
def test_zpl_name_round_trips_through_escaping(name):
    [parsed] = parse_zpl(label_zpl(label(name=name), LabelLayout()))
    assert parsed["fields"][0]["data"] == name


@pytest.mark.parametrize("bad", ["^FDx^FS", "^XA^FO1,1^FDx^XZ", "^XA^FO1,1", "junk^XA^XZ", "^XA^XA^XZ"])
def test_parse_zpl_refuses_broken_input(bad):
    with pytest.raises(ValueError):
        parse_zpl(bad)


# --- render_label ------------------------------------------------------------------------------

LAYOUTS = [LabelLayout(dpi=203), LabelLayout(dpi=300), LabelLayout(width_mm=102, height_mm=51, dpi=300),
           LabelLayout(width_mm=62, height_mm=100, dpi=600)]


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda lay: f"{lay.width_mm}x{lay.height_mm}@{lay.dpi}")
@pytest.mark.parametrize("code", CODES)
def test_rendered_barcode_decodes_and_has_whole_dot_modules_and_quiet_zones(layout, code):
    img = render_label(label(name="Æblegrød med flødeskum", ean13=code, price="1.249,95 kr"), layout)
    assert img.mode == "1"
    assert img.size == (layout.dots(layout.width_mm), layout.dots(layout.height_mm))
    assert decoded_ean13(img) == [code]

    plan = plan_label(layout)
    m = plan.module
    white = [b == "0" for b in "0" * 11 + ean13_modules(code) + "0" * 7 for _ in range(m)]
    x0 = plan.bars_x - 11 * m
    for y in range(plan.barcode.y, plan.barcode.y + plan.bar_height):  # every bar row, quiet zones too
        assert [img.getpixel((x, y)) != 0 for x in range(x0, x0 + 113 * m)] == white, f"row {y}"


def test_rendered_text_lands_in_its_boxes():
    layout = LabelLayout()
    plan = plan_label(layout)
    with_unit = render_label(label(), layout)
    without = render_label(label(unit=None), layout)
    assert has_ink(with_unit, plan.name) and has_ink(with_unit, plan.price) and has_ink(with_unit, plan.unit)
    assert not has_ink(without, plan.unit)
    assert same_pixels(with_unit.crop((0, 0, plan.width, plan.unit.y)), without.crop((0, 0, plan.width, plan.unit.y)))
    # ink only inside the margin
    margin = layout.dots(layout.margin_mm)
    inverted = Image.eval(with_unit.convert("L"), lambda v: 255 - v)
    left, top, right, bottom = inverted.getbbox()
    assert left >= margin and top >= margin and right <= plan.width - margin and bottom <= plan.height - margin


def test_render_falls_back_to_the_default_font(monkeypatch, tmp_path):
    monkeypatch.setattr(label_image, "FONT_ROOT", tmp_path)  # no DejaVu here
    img = render_label(label(name="Smørrebrød"), LabelLayout())
    assert decoded_ean13(img) == [PRICE_CODE]
    plan = plan_label(LabelLayout())
    assert has_ink(img, plan.name)


# --- Brother QL raster ---------------------------------------------------------------------------


def media_command(data: bytes) -> tuple[int, int, int]:
    at = data.index(b"\x1biz")
    return data[at + 4], data[at + 5], data[at + 6]


@pytest.mark.parametrize("size, model, expected", [
    ((62, 29), "QL-820NWB", "62x29"), ((62, 100), "QL-820NWB", "62x100"), ((90, 29), "QL-820NWB", "29x90"),
    ((39, 48), "QL-700", "39x48"), ((62, 40), "QL-820NWB", "62"), ((50, 30), "QL-820NWB", "50"),
    ((102, 51), "QL-1100", "102x51"), ((40, 62), "QL-820NWB", "62"),
])
def test_brother_label_for_picks_the_label_of_the_layout(size, model, expected):
    assert brother_label_for(LabelLayout(width_mm=size[0], height_mm=size[1]), model) == expected


@pytest.mark.parametrize("size, model", [
    ((102, 51), "QL-820NWB"), ((70, 40), "QL-820NWB"), ((110, 70), "QL-1100"), ((62, 29), "QL-9"),
])
def test_brother_label_for_refuses_what_does_not_fit(size, model):
    with pytest.raises(ValueError):
        brother_label_for(LabelLayout(width_mm=size[0], height_mm=size[1]), model)


ROUND_TRIPS = [  # (width, height, layout dpi, model)
    (62, 29, 203, "QL-820NWB"), (62, 29, 300, "QL-820NWB"), (62, 100, 300, "QL-820NWB"),
    (90, 29, 300, "QL-820NWB"), (62, 40, 203, "QL-820NWB"), (62, 29, 300, "QL-700"), (102, 51, 300, "QL-1100"),
]


@pytest.mark.parametrize("w, h, dpi, model", ROUND_TRIPS)
def test_brother_raster_decodes_back_to_the_same_pixels(w, h, dpi, model):
    layout = LabelLayout(width_mm=w, height_mm=h, dpi=dpi)
    label_id = brother_label_for(layout, model)
    spec = LabelsManager()[label_id]
    page = brother_render_layout(layout, label_id)
    assert page.dpi == 300  # the QL's head, whatever the Zebra layout said
    img = render_label(label(), page)
    printable_w, printable_h = spec.dots_printable
    turned = w > h and spec.tape_size[0] < spec.tape_size[1]  # a landscape label on portrait die-cuts
    if spec.tape_size[1]:
        assert img.size == ((printable_h, printable_w) if turned else (printable_w, printable_h))
    else:
        assert img.size == (printable_w, round(h * 300 / 25.4))

    data = brother_raster([img], model, label_id)
    mtype, mwidth, mlength = media_command(data)
    assert (mtype, mwidth, mlength) == ((0x0B, *spec.tape_size) if spec.tape_size[1] else (0x0A, w, 0))
    [out] = decode_raster(data)
    expected = img.rotate(90, expand=True) if turned else img  # brother_ql feeds turned labels that way
    assert same_pixels(out, expected)
    assert decoded_ean13(out) == [PRICE_CODE]

    # the whole head width: the label sits where brother_ql's offsets put it, nothing outside it
    [full] = decode_raster(data, crop=False)
    head = ModelsManager()[model].number_bytes_per_row * 8
    assert full.size == (head, out.height)
    right = spec.offset_r + ModelsManager()[model].additional_offset_r
    assert same_pixels(full.crop((head - right - out.width, 0, head - right, out.height)), out)
    ink = Image.eval(full.convert("L"), lambda v: 255 - v).getbbox()
    assert ink[0] >= head - right - out.width and ink[2] <= head - right


def test_decode_raster_agrees_with_brother_ql_reader(monkeypatch, tmp_path):
    layout = LabelLayout()
    page = brother_render_layout(layout, "62x29")
    data = brother_raster([render_label(label(), page)], "QL-820NWB", "62x29")
    monkeypatch.chdir(tmp_path)
    # one page: brother_ql's reader only clears its rows on ESC @, so its page 2 would hold page 1 too
    BrotherQLReader(io.BytesIO(data)).analyse()  # writes label0001.png
    [mine] = decode_raster(data, crop=False)
    assert same_pixels(Image.open(tmp_path / "label0001.png"), mine)


def test_brother_raster_pages_decode_in_order():
    page = brother_render_layout(LabelLayout(), "62x29")
    data = brother_raster([render_label(label(ean13=c), page) for c in CODES[:3]], "QL-820NWB", "62x29")
    assert [decoded_ean13(p) for p in decode_raster(data)] == [[c] for c in CODES[:3]]


def test_brother_raster_refuses_pictures_it_would_resize():
    with pytest.raises(ValueError, match="does not fit"):
        brother_raster([Image.new("1", (732, 343), 1)], "QL-820NWB", "62x29")
    with pytest.raises(ValueError, match="does not fit"):
        brother_raster([Image.new("1", (700, 300), 1)], "QL-820NWB", "62")
    with pytest.raises(ValueError, match="unknown"):
        brother_raster([Image.new("1", (696, 271), 1)], "QL-820NWB", "63x30")


# --- printers ----------------------------------------------------------------------------------


def test_zebra_over_tcp_sends_the_zpl_bytes(raw_port):
    labels = [label(), label(name="Æblemost", ean13=CODES[1], unit="Literpris 30,00 kr/l")]
    layout = LabelLayout(dpi=203, copies=2)
    ZebraPrinter(f"tcp://127.0.0.1:{raw_port.port}").print_labels(labels, layout)
    job = raw_port.job()
    assert job == labels_zpl(labels, layout).encode("utf-8")
    assert "Æblemost".encode() in job
    parsed = parse_zpl(job.decode("utf-8"))
    assert len(parsed) == 2 and [p["PQ"] for p in parsed] == [2, 2]


def test_zebra_printer_down_is_unavailable(closed_port):
    printer = ZebraPrinter(f"tcp://127.0.0.1:{closed_port}", timeout=2)
    with pytest.raises(LabelPrinterUnavailable, match="not reachable"):
        printer.print_labels([label()], LabelLayout())


class FakeBulkOut:
    def __init__(self, fail: Exception | None = None) -> None:
        self.data = b""
        self.closed = False
        self.fail = fail

    def write(self, data: bytes) -> None:
        if self.fail:
            raise self.fail
        self.data += data

    def close(self) -> None:
        self.closed = True


def test_zebra_over_usb_writes_to_the_bulk_endpoint():
    out, asked = FakeBulkOut(), []

    def opener(vendor: int, product: int) -> FakeBulkOut:
        asked.append((vendor, product))
        return out

    ZebraPrinter("usb://0a5f:0181", usb_open=opener).print_labels([label()], LabelLayout())
    assert asked == [(0x0A5F, 0x0181)]
    assert out.data == label_zpl(label(), LabelLayout()).encode("utf-8") and out.closed


@pytest.mark.parametrize("opener", [
    lambda v, p: None,
    lambda v, p: (_ for _ in ()).throw(usb.core.USBError("Access denied")),
    lambda v, p: (_ for _ in ()).throw(usb.core.NoBackendError("No backend available")),
])
def test_zebra_usb_missing_or_failing_is_unavailable(opener):
    with pytest.raises(LabelPrinterUnavailable):
        ZebraPrinter("usb://0a5f:0181", usb_open=opener).print_labels([label()], LabelLayout())


def test_zebra_usb_write_error_is_unavailable_and_closes():
    out = FakeBulkOut(fail=usb.core.USBError("Pipe error"))
    with pytest.raises(LabelPrinterUnavailable, match="Pipe error"):
        ZebraPrinter("usb://0a5f:0181", usb_open=lambda v, p: out).print_labels([label()], LabelLayout())
    assert out.closed


def test_usb_opener_returns_none_when_nothing_is_plugged_in(monkeypatch):
    seen = {}
    monkeypatch.setattr(usb.core, "find", lambda **kw: seen.update(kw))
    assert open_usb_bulk_out(0x0A5F, 0x0181) is None
    assert seen == {"idVendor": 0x0A5F, "idProduct": 0x0181}


@pytest.mark.parametrize("target", ["http://127.0.0.1:9100", "tcp://", "tcp://host:port", "usb://zz:01",
                                    "usb://0a5f", "/dev/usb/lp0"])
def test_zebra_target_is_checked(target):
    with pytest.raises(ValueError):
        ZebraPrinter(target)


def test_brother_over_network_backend_prints_pages_that_decode(raw_port):
    labels = [label(), label(name="Øko mælk", ean13=CODES[1], unit=None)]
    BrotherQLPrinter(f"tcp://127.0.0.1:{raw_port.port}", "QL-820NWB").print_labels(
        labels, LabelLayout(dpi=203, copies=2))
    pages = decode_raster(raw_port.job())
    assert [p.size for p in pages] == [LabelsManager()["62x29"].dots_printable] * 4
    assert [decoded_ean13(p) for p in pages] == [[PRICE_CODE], [PRICE_CODE], [CODES[1]], [CODES[1]]]
    page = brother_render_layout(LabelLayout(dpi=203), "62x29")
    assert same_pixels(pages[2], render_label(labels[1], page))


def test_brother_endless_tape_named_in_the_spec(raw_port):
    printer = open_label_printer({"kind": "brother_ql", "target": f"tcp://127.0.0.1:{raw_port.port}",
                                  "model": "QL-820NWB", "label": "62"})
    printer.print_labels([label()], LabelLayout())
    data = raw_port.job()
    assert media_command(data) == (0x0A, 62, 0)
    [page] = decode_raster(data)
    assert page.size == (696, 343) and decoded_ean13(page) == [PRICE_CODE]


@pytest.mark.parametrize("target", ["closed", "file:///nonexistent/usb/lp0", "usb://0x04f9:0x209b"])
def test_brother_unreachable_is_unavailable(target, closed_port):
    if target == "closed":
        target = f"tcp://127.0.0.1:{closed_port}"
    with pytest.raises(LabelPrinterUnavailable):
        BrotherQLPrinter(target, "QL-820NWB").print_labels([label()], LabelLayout())


def test_brother_printer_errors_are_unavailable():
    def send(data, **kw):
        assert kw == {"printer_identifier": "usb://0x04f9:0x209b", "backend_identifier": "pyusb", "blocking": True}
        return {"outcome": "error", "printer_state": {"errors": ["No media when printing"]}}

    printer = BrotherQLPrinter("usb://0x04f9:0x209b", "QL-820NWB", send=send)
    with pytest.raises(LabelPrinterUnavailable, match="No media"):
        printer.print_labels([label()], LabelLayout())


def test_open_label_printer_kinds_and_bad_specs(tmp_path):
    assert isinstance(open_label_printer({"kind": "zpl", "target": "tcp://10.0.0.5:9100"}), ZebraPrinter)
    brother = open_label_printer({"kind": "brother_ql", "target": "file:///dev/usb/lp0", "model": "QL-700"})
    assert isinstance(brother, BrotherQLPrinter) and brother.model == "QL-700"
    assert isinstance(backends.open_label_printer({"kind": "sim", "dir": str(tmp_path)}), SimLabelPrinter)
    for spec, key in [({"kind": "dymo", "target": "x"}, "kind"), ({"kind": "zpl"}, "target"),
                      ({"kind": "zpl", "target": "tcp://h", "speed": 3}, "speed"), ({"kind": "sim"}, "dir"),
                      ({"kind": "brother_ql", "target": "tcp://h", "model": "QL-9"}, "QL-9"),
                      ({"kind": "brother_ql", "target": "tcp://h", "label": "102x51"}, "102x51")]:
        with pytest.raises(ValueError, match=key):
            open_label_printer(spec)


# --- simulated printer ---------------------------------------------------------------------------


def test_sim_printer_writes_png_and_zpl_and_counts_on_after_restart(tmp_path):
    folder = tmp_path / "labels"
    layout = LabelLayout(dpi=203)
    first = [label(), label(name="Ærø røget ål", ean13=CODES[1])]
    backends.open_label_printer({"kind": "sim", "dir": str(folder)}).print_labels(first, layout)
    assert sorted(p.name for p in folder.iterdir()) == [
        f"0001-{PRICE_CODE}.png", "0001.zpl", f"0002-{CODES[1]}.png", "0002.zpl"]
    png = Image.open(folder / f"0002-{CODES[1]}.png")
    assert png.size == (496, 232) and decoded_ean13(png) == [CODES[1]]
    assert same_pixels(png, render_label(first[1], layout))
    [parsed] = parse_zpl((folder / "0002.zpl").read_text(encoding="utf-8"))
    assert parsed["fields"][0]["data"] == "Ærø røget ål" and parsed["PW"] == 496

    SimLabelPrinter(folder).print_labels([label(ean13=CODES[2])], layout)  # a restart
    assert (folder / f"0003-{CODES[2]}.png").exists() and (folder / "0003.zpl").exists()
    assert not list(folder.glob(".*"))  # no temporary files left behind


def test_sim_printer_unwritable_folder_is_unavailable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(LabelPrinterUnavailable):
        SimLabelPrinter(blocker / "labels").print_labels([label()], LabelLayout())


def test_sim_printer_folder_is_the_one_given(tmp_path):
    assert SimLabelPrinter(tmp_path).dir == Path(tmp_path)
