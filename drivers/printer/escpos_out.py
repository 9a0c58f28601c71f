"""Document -> ESC/POS bytes, built with python-escpos's Dummy printer.

python-escpos's capability database knows each model's code page slots, cutter and barcode
support, so the bytes follow the printer's profile instead of our guesses. One code page is
selected once per job and never switched (python-escpos would otherwise hop between pages to
find a glyph); a character that page lacks prints as "?"."""

from __future__ import annotations

from . import escpos_cache  # noqa: F401  (must come before escpos: see there)

# isort: split

import contextlib
import copy
import io
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from escpos.capabilities import CAPABILITIES, BaseProfile
from escpos.codepages import CodePages
from escpos.magicencode import Encoder
from escpos.printer import Dummy
from PIL import Image, UnidentifiedImageError

from .document import Barcode, Document, Feed, Logo, Text

log = logging.getLogger(__name__)

# Font A is 12 dots wide; these are the usual heads (80 mm: 576 or 512 dots, 58 mm: 384).
FONT_A_DOTS = 12
DOTS_BY_COLUMNS = {48: 576, 42: 512, 32: 384}
DEFAULT_DPI = 203  # 576 dots over 72 mm; the profile's own figure wins when it has one
BARCODE_HEIGHT = 80  # dots, about 10 mm: comfortable for hand scanners
BARCODE_QUIET_MODULES = 20  # 10 modules each side, as Code 128 and EAN-13 require
MAX_FEED = 255  # ESC d n takes one byte
_CONTROL = {c: "?" for c in (*range(0x20), 0x7F)}  # a stray ESC in a name must not become a command
# python-escpos print()s its barcode renderer choice to stdout (the journal, on the Pi). We
# silence it; the lock keeps two threads' redirections from nesting and losing the real stdout.
_STDOUT_LOCK = threading.Lock()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with _STDOUT_LOCK, contextlib.redirect_stdout(io.StringIO()):
        yield


@dataclass(frozen=True)
class PrinterModel:
    """A capability profile made concrete for one paper width: python-escpos needs the media
    width and dpi filled in, or it prints warnings to stdout and cannot bound images."""

    name: str
    profile: BaseProfile
    dots: int
    codepages: dict[str, int]  # code page name -> ESC t slot
    encoder: Encoder  # shared: it caches character maps, and is stateless once a page is forced

    def supports(self, feature: str) -> bool:
        return bool(self.profile.supports(feature))

    def codepage(self, codepage: str) -> str:
        page = codepage.upper()
        if page not in self.codepages:
            raise ValueError(f"printer profile {self.name!r} has no code page {page!r} "
                             f"(it has: {', '.join(sorted(self.codepages))})")
        encoding = CodePages.data.get(page, {})
        if "python_encode" not in encoding and "data" not in encoding:
            raise ValueError(f"code page {page!r} of profile {self.name!r} has no known character table")
        return page

    @property
    def hw_barcodes(self) -> tuple[str, ...]:
        return tuple(f for f in ("barcodeA", "barcodeB") if self.supports(f))


def profile_names() -> list[str]:
    return sorted(CAPABILITIES["profiles"])


@lru_cache(maxsize=64)
def printer_model(profile: str = "default", columns: int = 48) -> PrinterModel:
    """The profile for `columns` of Font A. Cached: copying the profile and building the code
    page table is the slow part of a job, and both are the same for every receipt."""
    profiles = CAPABILITIES["profiles"]
    if profile not in profiles:
        raise ValueError(f"unknown printer profile {profile!r}; "
                         f"python-escpos knows: {', '.join(profile_names())}")
    if not isinstance(columns, int) or columns <= 0:
        raise ValueError(f"columns must be a positive whole number, not {columns!r}")
    data: dict[str, Any] = copy.deepcopy(profiles[profile])
    media = data.setdefault("media", {})
    width = media.get("width") if isinstance(media.get("width"), dict) else {}
    known = width.get("pixels")
    by_columns = DOTS_BY_COLUMNS.get(columns, columns * FONT_A_DOTS)
    dots = min(known, by_columns) if isinstance(known, int) and known > 0 else by_columns
    dpi = media.get("dpi")
    media["width"] = {**width, "pixels": dots}
    media["dpi"] = dpi if isinstance(dpi, int) and dpi > 0 else DEFAULT_DPI
    cls = type(f"Tillbox_{re.sub(r'[^0-9A-Za-z_]', '_', profile)}", (BaseProfile,), {"profile_data": data})
    prof = cls()
    pages = prof.get_code_pages()
    return PrinterModel(profile, prof, dots, pages, Encoder(pages))


def dot_width(profile: str = "default", columns: int = 48) -> int:
    """Dots across the printable width: from the columns, capped by the profile's head width."""
    return printer_model(profile, columns).dots


def profile_columns(profile: str, paper_columns: int) -> int:
    """Columns of Font A this model really prints on paper that nominally takes `paper_columns`:
    a 512-dot head (TM-T88V) prints 42 on 80 mm paper, not 48."""
    known = CAPABILITIES["profiles"].get(profile, {}).get("media", {}).get("width", {})
    pixels = known.get("pixels") if isinstance(known, dict) else None
    if isinstance(pixels, int) and pixels > 0:
        return min(paper_columns, pixels // FONT_A_DOTS)
    return paper_columns


def check_printer(profile: str, codepage: str, columns: int = 48) -> None:
    """Raise ValueError now (at set-up) for a profile or code page that cannot work."""
    printer_model(profile, columns).codepage(codepage)


def codepage_slots(profile: str = "default") -> dict[int, str]:
    """ESC t slot -> code page name for a profile, so a parser can decode what we encoded."""
    if profile not in CAPABILITIES["profiles"]:
        raise ValueError(f"unknown printer profile {profile!r}")
    return {int(k): v for k, v in CAPABILITIES["profiles"][profile]["codePages"].items()}


def ean13_check_digit(body: str) -> int:
    odd = sum(int(d) for d in body[-1::-2])
    even = sum(int(d) for d in body[-2::-2])
    return (10 - (odd * 3 + even) % 10) % 10


def normalise_ean13(data: str) -> str:
    """12 or 13 digits -> 13 digits; a wrong 13th digit is refused (it would scan as another
    product, or not at all)."""
    if not re.fullmatch(r"\d{12,13}", data):
        raise ValueError(f"EAN-13 needs 12 or 13 digits, got {data!r}")
    check = ean13_check_digit(data[:12])
    if len(data) == 13 and int(data[12]) != check:
        raise ValueError(f"EAN-13 {data} has check digit {data[12]}, expected {check}")
    return data[:12] + str(check)


def _code128_modules(data: str) -> int:
    return 11 * (len(data) + 3) + 2  # start, data (code set B), check, stop (13)


def _module_width(modules: int, dots: int, what: str) -> int:
    """Widest module (2-3 dots) that still leaves quiet zones on the paper; 2 with short quiet
    zones (most scanners cope) rather than no receipt at all."""
    width = min(3, dots // (modules + BARCODE_QUIET_MODULES))
    if width >= 2:
        return width
    if 2 * modules <= dots:
        log.warning("barcode_quiet_zone_short what=%r dots=%d", what, dots)
        return 2
    raise ValueError(f"{what} is too long for a {dots}-dot wide printer")


@lru_cache(maxsize=8)
def _logo_image(png: bytes, dots: int) -> Image.Image:
    """The logo, scaled down to the paper. Cached: the same logo heads every receipt."""
    try:
        img: Image.Image = Image.open(io.BytesIO(png))
        img.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"logo is not a readable image: {exc}") from exc
    if img.width > dots:
        img = img.resize((dots, max(1, round(img.height * dots / img.width))), Image.Resampling.LANCZOS)
    return img


class _Job:
    """One document on one Dummy printer, tracking the style so only changes are sent."""

    def __init__(self, model: PrinterModel, codepage: str) -> None:
        self.model = model
        self.p = Dummy(profile=model.name, magic_encode_args={"encoder": model.encoder})
        self.p.profile = model.profile
        self.p.hw("INIT")  # ESC @: left, not bold, normal size, whatever the last job left
        self.p.charcode(codepage)  # ESC t n, once; magic encoding is off from here on
        self.align, self.bold, self.large = "left", False, False

    def text(self, block: Text) -> None:
        if block.large != self.large:
            size = 2 if block.large else 1
            self.p.set(custom_size=True, width=size, height=size)  # GS ! n; leaves bold alone
            self.large = block.large
        if block.bold != self.bold:
            self.p.set(bold=block.bold)
            self.bold = block.bold
        self.set_align(block.align)
        self.p.textln(block.text.translate(_CONTROL))

    def set_align(self, align: str) -> None:
        if align != self.align:
            self.p.set(align=align)
            self.align = align

    def barcode(self, block: Barcode) -> None:
        dots = self.model.dots
        if block.symbology == "EAN13":
            data = normalise_ean13(block.data)
            width = _module_width(95, dots, f"EAN-13 {data}")
            hw = bool(self.model.hw_barcodes)
            code = data
        elif block.symbology == "CODE128":
            data = block.data
            if not data or not all(" " <= c <= "~" for c in data):
                raise ValueError(f"CODE128 (code set B) takes printable ASCII only, got {data!r}")
            width = _module_width(_code128_modules(data), dots, f"CODE128 {data!r}")
            hw = self.model.supports("barcodeB")
            code = "{B" + data.replace("{", "{{")  # Epson: "{B" selects code set B, "{{" is a brace
            if len(code) > 255:
                raise ValueError(f"CODE128 data is too long ({len(data)} characters)")
        else:
            raise ValueError(f"unsupported barcode symbology {block.symbology!r}")
        if hw:
            with _quiet():
                self.p.barcode(code, block.symbology, height=BARCODE_HEIGHT, width=width, pos="BELOW",
                               font="A", align_ct=True)
            self.align = "center"  # GS k is centred with ESC a 1
            return
        if not self.model.supports("bitImageRaster"):
            raise ValueError(f"printer profile {self.model.name!r} can print neither hardware barcodes "
                             "nor raster images")
        with _quiet():
            self.p.barcode(data, block.symbology, height=BARCODE_HEIGHT, width=width, align_ct=True,
                           force_software="bitImageRaster")

    def logo(self, block: Logo) -> None:
        if not self.model.supports("bitImageRaster"):
            raise ValueError(f"printer profile {self.model.name!r} cannot print raster images (logo)")
        self.set_align("center")  # ESC a applies to GS v 0, so the raster stays the logo's own size
        self.p.image(_logo_image(block.png, self.model.dots), impl="bitImageRaster", center=False)

    def feed(self, block: Feed) -> None:
        left = block.lines
        while left > 0:
            self.p.print_and_feed(min(left, MAX_FEED))
            left -= MAX_FEED


def render_escpos(doc: Document, profile: str = "default", columns: int = 48,
                  codepage: str = "CP865") -> bytes:
    """The whole job for `doc`: ESC @, one code page, the blocks, cut, then the drawer kick."""
    model = printer_model(profile, columns)
    job = _Job(model, model.codepage(codepage))
    for block in doc.blocks:
        if isinstance(block, Text):
            job.text(block)
        elif isinstance(block, Barcode):
            job.barcode(block)
        elif isinstance(block, Logo):
            job.logo(block)
        elif isinstance(block, Feed):
            job.feed(block)
        else:
            raise TypeError(f"unknown document block {block!r}")
    if doc.cut:
        job.p.cut(mode="PART")  # feeds past the cutter, then GS V 1 (or GS V 0 without a partial cutter)
    if doc.kick_drawer is not None:
        if doc.kick_drawer not in (2, 5):
            raise ValueError(f"kick_drawer must be pin 2 or 5, not {doc.kick_drawer!r}")
        job.p.cashdraw(doc.kick_drawer)  # ESC p m 50 50: 100 ms on, 100 ms off
    return job.p.output
