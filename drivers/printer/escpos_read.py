"""ESC/POS bytes -> what the paper shows: the simulated printer's eyes, and the tests'.

Understands the commands escpos_out emits (and a few harmless neighbours) and refuses anything
else with the byte offset, so a renderer bug shows up as a failing test, not a strange receipt.
render_text and render_png then show the paper: as text for a person or a diff, and as a picture
whose barcodes are drawn module by module, so a barcode reader can check them."""

from __future__ import annotations

from . import escpos_cache  # noqa: F401  (must come before escpos: see there)

# isort: split

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import barcode
from barcode.charsets import code128 as code128_charset
from escpos.capabilities import CAPABILITIES
from escpos.codepages import CodePages
from PIL import Image, ImageDraw, ImageFont

ESC, GS, DLE, LF, CR, HT, NUL = 0x1B, 0x1D, 0x10, 0x0A, 0x0D, 0x09, 0x00
EOT = 0x04
ALIGNS = {0: "left", 1: "center", 2: "right", 48: "left", 49: "center", 50: "right"}
# GS k m: function A (m 0-6, data ends with NUL) and function B (m 65-78, length byte first)
SYMBOLOGIES = {0: "UPC-A", 1: "UPC-E", 2: "EAN13", 3: "EAN8", 4: "CODE39", 5: "ITF", 6: "CODABAR",
               65: "UPC-A", 66: "UPC-E", 67: "EAN13", 68: "EAN8", 69: "CODE39", 70: "ITF", 71: "CODABAR",
               72: "CODE93", 73: "CODE128", 74: "GS1-128", 75: "GS1 DATABAR OMNIDIRECTIONAL",
               76: "GS1 DATABAR TRUNCATED", 77: "GS1 DATABAR LIMITED", 78: "GS1 DATABAR EXPANDED"}
# One-byte-argument style commands that change nothing we show (underline, font, double strike,
# upside down, line spacing; reverse and smoothing under GS).
_ESC_IGNORED = {ord("-"): "underline", ord("M"): "font", ord("G"): "double_strike", ord("{"): "upside_down",
                ord("3"): "line_spacing"}
_GS_IGNORED = {ord("B"): "reverse", ord("b"): "smoothing"}
_INVERT = bytes(255 - b for b in range(256))


class TruncatedError(ValueError):
    """The data ends inside a command: a job cut off mid-way (the printer vanished)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Op:
    """One command or text run, where it starts in the data, and its decoded argument."""

    name: str
    offset: int
    raw: bytes
    value: object = None


@dataclass(frozen=True)
class Line:
    text: str
    align: str = "left"
    bold: bool = False
    large: bool = False


@dataclass(frozen=True)
class PrintedBarcode:
    symbology: str
    data: str  # as a scanner reads it (CODE128: without the {B code set marks)
    raw: bytes  # as sent, code set marks included: the renderer draws exactly these symbols
    align: str = "center"
    module: int = 3  # GS w
    height: int = 162  # GS h
    hri: int = 0  # GS H: 0 none, 1 above, 2 below, 3 both


@dataclass(frozen=True)
class PrintedImage:
    image: Image.Image  # mode "1", black (0) where the printer burns a dot
    align: str = "left"


@dataclass(frozen=True)
class PaperFeed:
    lines: int


@dataclass(frozen=True)
class PaperCut:
    partial: bool


Paper = Line | PrintedBarcode | PrintedImage | PaperFeed | PaperCut


@dataclass
class Parsed:
    ops: list[Op] = field(default_factory=list)
    paper: list[Paper] = field(default_factory=list)  # in order, as it leaves the printer
    kicks: list[tuple[int, int, int]] = field(default_factory=list)  # (pin 2|5, on ms, off ms)
    codepages: list[str] = field(default_factory=list)  # every ESC t, in order
    status_queries: list[int] = field(default_factory=list)  # DLE EOT n

    @property
    def lines(self) -> list[Line]:
        return [p for p in self.paper if isinstance(p, Line)]

    @property
    def barcodes(self) -> list[tuple[str, str]]:
        return [(p.symbology, p.data) for p in self.paper if isinstance(p, PrintedBarcode)]

    @property
    def images(self) -> list[Image.Image]:
        return [p.image for p in self.paper if isinstance(p, PrintedImage)]

    @property
    def cuts(self) -> int:
        return sum(1 for p in self.paper if isinstance(p, PaperCut))

    @property
    def codepage(self) -> str | None:
        """The code page the text was printed in (the last one selected)."""
        return self.codepages[-1] if self.codepages else None


@lru_cache(maxsize=1)
def default_codepages() -> dict[int, str]:
    """Epson's slot numbers, from python-escpos's default profile (5 = CP865, 16 = CP1252...)."""
    return {int(k): v for k, v in CAPABILITIES["profiles"]["default"]["codePages"].items()}


@lru_cache(maxsize=32)
def _decode_table(page: str) -> dict[int, str]:
    """Latin-1 code point -> character of `page`, for str.translate over bytes decoded as Latin-1."""
    encoding = CodePages.data.get(page, {})
    if "python_encode" in encoding:
        high = bytes(range(128, 256)).decode(encoding["python_encode"], errors="replace")
    elif "data" in encoding:
        high = "".join(encoding["data"])
    else:
        raise ValueError(f"no character table for code page {page!r}")
    return {128 + i: ch for i, ch in enumerate(high)}


def code128_symbols(raw: bytes) -> tuple[str, list[int]]:
    """Epson CODE128 data ("{B..." with "{" escapes) -> (text a scanner reads, symbol values
    from the start symbol up to, not including, the check symbol)."""
    if len(raw) < 2 or raw[0] != ord("{") or raw[1] not in b"ABC":
        raise ValueError(f"CODE128 data must start with a code set ({{A, {{B or {{C}}), got {raw[:2]!r}")
    start = {ord("A"): 103, ord("B"): 104, ord("C"): 105}
    switch = {ord("A"): 101, ord("B"): 100, ord("C"): 99}
    codeset, values, text, i = raw[1], [start[raw[1]]], [], 2
    while i < len(raw):
        b = raw[i]
        if b == ord("{"):
            if i + 1 >= len(raw):
                raise ValueError("CODE128 data ends with a lone '{'")
            c = raw[i + 1]
            i += 2
            if c in switch:
                values.append(switch[c])
                codeset = c
            elif c == ord("{"):
                if codeset == ord("C"):
                    raise ValueError("CODE128 '{{' in code set C")
                values.append(ord("{") - 32)
                text.append("{")
            elif c in b"S1234":
                fnc4 = 101 if codeset == ord("A") else 100
                values.append({ord("S"): 98, ord("1"): 102, ord("2"): 97, ord("3"): 96, ord("4"): fnc4}[c])
            else:
                raise ValueError(f"CODE128 unknown function {{{chr(c)}")
            continue
        if codeset == ord("C"):
            if b > 99:
                raise ValueError(f"CODE128 code set C value {b} is over 99")
            values.append(b)
            text.append(f"{b:02d}")
        elif codeset == ord("B"):
            if not 0x20 <= b <= 0x7F:
                raise ValueError(f"CODE128 code set B cannot hold byte 0x{b:02x}")
            values.append(b - 32)
            text.append(chr(b))
        else:
            if b > 0x5F:
                raise ValueError(f"CODE128 code set A cannot hold byte 0x{b:02x}")
            values.append(b - 32 if b >= 0x20 else b + 64)
            text.append(chr(b))
        i += 1
    return "".join(text), values


class _Parser:
    def __init__(self, data: bytes, codepages: Mapping[int, str]) -> None:
        self.data = data
        self.slots = codepages
        self.out = Parsed()
        self.pos = 0
        self.stripes: list[Image.Image] = []  # ESC * bands printed so far, stacked into one image
        self.reset()

    def reset(self) -> None:
        """ESC @ (and power on): everything back to the printer's defaults."""
        self.page = self.slots.get(0, "CP437")
        self.align, self.bold, self.width, self.height = "left", False, 1, 1
        self.bc_height, self.bc_module, self.hri = 162, 3, 0
        self.text: list[str] = []
        self.line_style: tuple[str, bool, bool] | None = None
        self.stripe: Image.Image | None = None  # an ESC * band waiting for its LF

    # --- reading helpers ------------------------------------------------------------------

    def need(self, n: int, what: str, start: int) -> bytes:
        if self.pos + n > len(self.data):
            raise TruncatedError(f"ESC/POS data ends inside {what} at offset {start}", start)
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def op(self, name: str, start: int, value: object = None) -> None:
        self.out.ops.append(Op(name, start, self.data[start:self.pos], value))

    def bad(self, start: int, what: str) -> ValueError:
        return ValueError(f"unknown ESC/POS command {what} at offset {start}")

    # --- paper ----------------------------------------------------------------------------

    @property
    def large(self) -> bool:
        return self.width >= 2 and self.height >= 2

    def put(self, item: Paper) -> None:
        self.close_stripes()
        self.out.paper.append(item)

    def close_stripes(self) -> None:
        if self.stripes:
            width = max(s.width for s in self.stripes)
            img = Image.new("1", (width, sum(s.height for s in self.stripes)), 1)
            y = 0
            for s in self.stripes:
                img.paste(s, (0, y))
                y += s.height
            self.stripes = []
            self.out.paper.append(PrintedImage(img, self.align))

    def add_text(self, text: str) -> None:
        if self.line_style is None:
            self.line_style = (self.align, self.bold, self.large)
        self.text.append(text)

    def print_line(self) -> None:
        """LF: print the buffer. Style is the first character's (alignment applies per line)."""
        if self.stripe is not None and not self.text:
            self.stripes.append(self.stripe)
            self.stripe = None
            return
        self.stripe = None
        align, bold, large = self.line_style or (self.align, self.bold, self.large)
        self.put(Line("".join(self.text), align, bold, large))
        self.text, self.line_style = [], None

    # --- the loop -------------------------------------------------------------------------

    def run(self) -> Parsed:
        data = self.data
        while self.pos < len(data):
            start, b = self.pos, data[self.pos]
            self.pos += 1
            if b >= 0x20:
                while self.pos < len(data) and data[self.pos] >= 0x20:
                    self.pos += 1
                chunk = data[start:self.pos]
                text = chunk.decode("latin-1").translate(_decode_table(self.page))
                self.add_text(text)
                self.op("text", start, text)
            elif b == LF:
                self.print_line()
                self.op("lf", start)
            elif b == CR:
                self.op("cr", start)
            elif b == HT:
                self.add_text(" " * (8 - sum(map(len, self.text)) % 8))
                self.op("ht", start)
            elif b == ESC:
                self.esc(start)
            elif b == GS:
                self.gs(start)
            elif b == DLE:
                self.dle(start)
            else:
                raise self.bad(start, f"control byte 0x{b:02x}")
        self.close_stripes()
        return self.out

    def esc(self, start: int) -> None:
        c = self.need(1, "ESC", start)[0]
        if c == ord("@"):
            self.close_stripes()
            self.reset()
            self.op("init", start)
        elif c == ord("t"):
            n = self.need(1, "ESC t", start)[0]
            if n not in self.slots:
                raise ValueError(f"ESC t selects unknown code page slot {n} at offset {start}")
            self.page = self.slots[n]
            self.out.codepages.append(self.page)
            self.op("codepage", start, self.page)
        elif c == ord("a"):
            n = self.need(1, "ESC a", start)[0]
            if n not in ALIGNS:
                raise ValueError(f"ESC a with bad justification {n} at offset {start}")
            self.align = ALIGNS[n]
            self.op("align", start, self.align)
        elif c == ord("E"):
            self.bold = bool(self.need(1, "ESC E", start)[0] & 1)
            self.op("bold", start, self.bold)
        elif c == ord("!"):
            n = self.need(1, "ESC !", start)[0]
            self.bold = bool(n & 0x08)
            self.height = 2 if n & 0x10 else 1
            self.width = 2 if n & 0x20 else 1
            self.op("print_mode", start, n)
        elif c == ord("d"):
            n = self.need(1, "ESC d", start)[0]
            blank = n
            if self.text or self.stripe is not None:  # prints the pending line as the first of n
                self.print_line()
                blank -= 1
            if blank > 0:
                self.put(PaperFeed(blank))
            self.op("feed", start, n)
        elif c == ord("p"):
            m, t1, t2 = self.need(3, "ESC p", start)
            pins = {0: 2, 48: 2, 1: 5, 49: 5}
            if m not in pins:
                raise ValueError(f"ESC p with bad connector {m} at offset {start}")
            kick = (pins[m], t1 * 2, t2 * 2)
            self.out.kicks.append(kick)
            self.op("kick", start, kick)
        elif c == ord("*"):
            self.column_image(start)
        elif c == ord("2"):
            self.op("line_spacing", start, None)
        elif c in _ESC_IGNORED:
            n = self.need(1, f"ESC {chr(c)}", start)[0]
            self.op(_ESC_IGNORED[c], start, n)
        else:
            raise self.bad(start, f"ESC 0x{c:02x}")

    def column_image(self, start: int) -> None:
        """ESC * m nL nH d1..dk: one band of column-format image, printed by the LF after it."""
        m, nl, nh = self.need(3, "ESC *", start)
        n = nl + nh * 256
        if m in (0, 1):
            rows = 1
        elif m in (32, 33):
            rows = 3
        else:
            raise ValueError(f"ESC * with bad mode {m} at offset {start}")
        blob = self.need(n * rows, "ESC * data", start)
        # Each column is `rows` bytes top to bottom, MSB first: that is a raster of the
        # transposed band, so read it as one and transpose back.
        band = Image.frombytes("1", (8 * rows, n), blob.translate(_INVERT)).transpose(
            Image.Transpose.TRANSPOSE)
        self.stripe = band
        self.op("column_image", start, band.size)

    def gs(self, start: int) -> None:
        c = self.need(1, "GS", start)[0]
        if c == ord("!"):
            n = self.need(1, "GS !", start)[0]
            self.width, self.height = (n >> 4) + 1, (n & 0x0F) + 1
            self.op("char_size", start, (self.width, self.height))
        elif c == ord("k"):
            self.barcode(start)
        elif c in (ord("h"), ord("w"), ord("H"), ord("f")):
            n = self.need(1, f"GS {chr(c)}", start)[0]
            if c == ord("h"):
                self.bc_height = n
            elif c == ord("w"):
                self.bc_module = n
            elif c == ord("H"):
                self.hri = n & 3
            name = {ord("h"): "barcode_height", ord("w"): "barcode_module", ord("H"): "hri_position",
                    ord("f"): "hri_font"}[c]
            self.op(name, start, n)
        elif c == ord("v"):
            self.raster(start)
        elif c == ord("V"):
            m = self.need(1, "GS V", start)[0]
            if m in (65, 66, 97, 98, 103, 104):
                self.need(1, "GS V n", start)
            elif m not in (0, 1, 48, 49):
                raise ValueError(f"GS V with bad mode {m} at offset {start}")
            if self.text:
                self.print_line()
            partial = m in (1, 49, 66, 98, 104)
            self.put(PaperCut(partial))
            self.op("cut", start, "partial" if partial else "full")
        elif c in _GS_IGNORED:
            n = self.need(1, f"GS {chr(c)}", start)[0]
            self.op(_GS_IGNORED[c], start, n)
        else:
            raise self.bad(start, f"GS 0x{c:02x}")

    def barcode(self, start: int) -> None:
        m = self.need(1, "GS k", start)[0]
        if m not in SYMBOLOGIES:
            raise ValueError(f"GS k with unknown barcode type {m} at offset {start}")
        if m <= 6:
            end = self.data.find(b"\x00", self.pos)
            if end < 0:
                raise TruncatedError(f"ESC/POS data ends inside GS k (no NUL) at offset {start}", start)
            raw = self.data[self.pos:end]
            self.pos = end + 1
        else:
            n = self.need(1, "GS k", start)[0]
            raw = self.need(n, "GS k data", start)
        symbology = SYMBOLOGIES[m]
        if symbology in ("CODE128", "GS1-128"):
            data, _ = code128_symbols(raw)
        else:
            data = raw.decode("ascii", errors="replace")
        if self.text:
            self.print_line()
        self.put(PrintedBarcode(symbology, data, raw, self.align, self.bc_module, self.bc_height, self.hri))
        self.op("barcode", start, (symbology, data))

    def raster(self, start: int) -> None:
        """GS v 0 m xL xH yL yH d1..dk: a raster image, xL+xH*256 bytes wide, 1 bits black."""
        zero, m, xl, xh, yl, yh = self.need(6, "GS v", start)
        if zero != ord("0") or m not in (0, 1, 2, 3, 48, 49, 50, 51):
            raise self.bad(start, f"GS v 0x{zero:02x} 0x{m:02x}")
        width_bytes, height = xl + xh * 256, yl + yh * 256
        blob = self.need(width_bytes * height, "GS v 0 data", start)
        img = Image.frombytes("1", (width_bytes * 8, height), blob.translate(_INVERT))
        if self.text:
            self.print_line()
        self.put(PrintedImage(img, self.align))
        self.op("raster", start, img.size)

    def dle(self, start: int) -> None:
        c, n = self.need(2, "DLE", start)
        if c != EOT or n not in (1, 2, 3, 4):
            raise self.bad(start, f"DLE 0x{c:02x} 0x{n:02x}")
        self.out.status_queries.append(n)
        self.op("status_query", start, n)


def parse_escpos(data: bytes, *, codepages: Mapping[int, str] | None = None) -> Parsed:
    """Parse a job. `codepages` maps ESC t slots to code pages (default: Epson's numbering; the
    simulated printer passes its profile's). Raises ValueError naming the offset of anything it
    does not understand, TruncatedError (a ValueError) if the data stops inside a command."""
    return _Parser(bytes(data), codepages if codepages is not None else default_codepages()).run()


# --- the paper, as text and as a picture --------------------------------------------------------

CELL_W, CELL_H, LINE_GAP = 12, 24, 6  # Font A is 12 x 24 dots; ESC 2 spacing is about 30 dots
FONT_DIRS = (Path("/usr/share/fonts"),)
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _pad(text: str, width: int, align: str, columns: int | None) -> str:
    if columns is None or width >= columns or align == "left":
        return text
    return " " * ((columns - width) // (2 if align == "center" else 1)) + text


def render_text(parsed: Parsed, columns: int | None = None) -> str:
    """The paper as a person reads it, one printed line per line; with `columns`, centred and
    right-aligned lines are indented as on paper. Barcodes, images and cuts show as [marks]."""
    out: list[str] = []
    for item in parsed.paper:
        if isinstance(item, Line):
            out.append(_pad(item.text, len(item.text) * (2 if item.large else 1), item.align, columns))
        elif isinstance(item, PrintedBarcode):
            mark = f"[{item.symbology} {item.data}]"
            out.append(_pad(mark, len(mark), item.align, columns))
        elif isinstance(item, PrintedImage):
            mark = f"[image {item.image.width}x{item.image.height}]"
            out.append(_pad(mark, len(mark), item.align, columns))
        elif isinstance(item, PaperFeed):
            out.extend([""] * item.lines)
        else:
            out.append("[cut]")
    return "\n".join(out) + "\n" if out else ""


@lru_cache(maxsize=2)
def _font_path(bold: bool) -> Path | None:
    name = "DejaVuSansMono-Bold.ttf" if bold else "DejaVuSansMono.ttf"
    for root in FONT_DIRS:
        if root.is_dir():
            hits = sorted(root.rglob(name))
            if hits:
                return hits[0]
    return None


@lru_cache(maxsize=8)
def _font(size: int, bold: bool) -> tuple[Font, int]:
    """(font, stroke width): a real bold face if installed, else the regular one stroked."""
    path = _font_path(bold)
    if path is not None:
        return ImageFont.truetype(str(path), size), 0
    regular = _font_path(False)
    font = ImageFont.truetype(str(regular), size) if regular else ImageFont.load_default(size=size)
    return font, 1 if bold else 0


def barcode_modules(item: PrintedBarcode) -> str | None:
    """The bars as "1"/"0" modules, as the printer would draw them; None if we cannot draw it."""
    try:
        if item.symbology in ("CODE128", "GS1-128"):
            _, values = code128_symbols(item.raw)
            check = (values[0] + sum(i * v for i, v in enumerate(values[1:], start=1))) % 103
            return "".join(code128_charset.CODES[v] for v in [*values, check]) + code128_charset.STOP + "11"
        data = item.data
        makers: dict[str, Callable[[], barcode.base.Barcode]] = {
            "EAN13": lambda: barcode.EAN13(data[:12]),
            "EAN8": lambda: barcode.EAN8(data[:7]),
            "UPC-A": lambda: barcode.UPCA(data[:11]),
            "CODE39": lambda: barcode.Code39(data.strip("*"), add_checksum=False),
            "ITF": lambda: barcode.ITF(data),
        }
        maker = makers.get(item.symbology)
        return maker().build()[0].replace("G", "1") if maker else None
    except (ValueError, KeyError, IndexError, barcode.errors.BarcodeError):
        return None


def _hri_text(item: PrintedBarcode) -> str:
    if item.symbology == "EAN13" and len(item.data) == 12 and item.data.isdigit():
        return str(barcode.EAN13(item.data))  # the printer prints the check digit it added
    return item.data


def _x(width: int, dots: int, align: str) -> int:
    if align == "center":
        return max(0, (dots - width) // 2)
    if align == "right":
        return max(0, dots - width)
    return 0


def _draw_chars(draw: ImageDraw.ImageDraw, x: int, y: int, text: str, scale: int, bold: bool) -> None:
    """One character per Font A cell, so columns line up as on the printer whatever the font."""
    font, stroke = _font(20 * scale, bold)
    for i, ch in enumerate(text):
        if ch != " ":
            draw.text((x + i * CELL_W * scale, y), ch, font=font, fill=0, stroke_width=stroke, stroke_fill=0)


Painter = Callable[[Image.Image, ImageDraw.ImageDraw, int], None]


def _line_rows(item: Line, dots: int) -> list[tuple[int, Painter]]:
    scale = 2 if item.large else 1
    per_row = max(1, dots // (CELL_W * scale))
    chunks = [item.text[i:i + per_row] for i in range(0, len(item.text), per_row)] or [""]
    rows: list[tuple[int, Painter]] = []
    for chunk in chunks:
        def paint(img: Image.Image, draw: ImageDraw.ImageDraw, y: int, chunk: str = chunk) -> None:
            x = _x(len(chunk) * CELL_W * scale, dots, item.align)
            _draw_chars(draw, x, y, chunk, scale, item.bold)
        rows.append(((CELL_H + LINE_GAP) * scale, paint))
    return rows


def _barcode_rows(item: PrintedBarcode, dots: int) -> list[tuple[int, Painter]]:
    modules = barcode_modules(item)
    hri = _hri_text(item)
    if modules is None:  # a symbology we cannot draw: say so on the paper rather than guess
        return _line_rows(Line(f"[{item.symbology} {item.data}]", item.align), dots)
    module = max(1, item.module)
    width = len(modules) * module
    text_h = CELL_H + LINE_GAP

    def bars(img: Image.Image, draw: ImageDraw.ImageDraw, y: int) -> None:
        x0 = _x(width, dots, item.align)
        start = None
        for i, m in enumerate(modules + "0"):
            if m == "1" and start is None:
                start = i
            elif m != "1" and start is not None:
                draw.rectangle((x0 + start * module, y, x0 + i * module - 1, y + item.height - 1), fill=0)
                start = None

    def text(img: Image.Image, draw: ImageDraw.ImageDraw, y: int) -> None:
        center = _x(width, dots, item.align) + width // 2
        _draw_chars(draw, max(0, center - len(hri) * CELL_W // 2), y + 2, hri, 1, False)

    rows: list[tuple[int, Painter]] = []
    if item.hri in (1, 3):
        rows.append((text_h, text))
    rows.append((item.height + 4, bars))
    if item.hri in (2, 3):
        rows.append((text_h, text))
    return rows


def _paper_rows(item: Paper, dots: int) -> list[tuple[int, Painter]]:
    if isinstance(item, Line):
        return _line_rows(item, dots)
    if isinstance(item, PrintedBarcode):
        return _barcode_rows(item, dots)
    if isinstance(item, PrintedImage):
        def paste(img: Image.Image, draw: ImageDraw.ImageDraw, y: int, item: PrintedImage = item) -> None:
            img.paste(item.image.convert("L"), (_x(item.image.width, dots, item.align), y))
        return [(item.image.height, paste)]
    if isinstance(item, PaperFeed):
        return [((CELL_H + LINE_GAP) * item.lines, lambda img, draw, y: None)]

    def cut(img: Image.Image, draw: ImageDraw.ImageDraw, y: int) -> None:
        for x in range(0, dots, 16):
            draw.line((x, y + 12, x + 7, y + 12), fill=0, width=2)
    return [(CELL_H, cut)]


def render_png(parsed: Parsed, dots: int = 576) -> Image.Image:
    """A picture of the paper roll, `dots` wide (grey-scale; save it as PNG)."""
    rows = [row for item in parsed.paper for row in _paper_rows(item, dots)]
    margin = LINE_GAP
    img = Image.new("L", (dots, max(1, margin * 2 + sum(h for h, _ in rows))), 255)
    draw = ImageDraw.Draw(img)
    y = margin
    for height, paint in rows:
        paint(img, draw, y)
        y += height
    return img
