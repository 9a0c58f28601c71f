"""A label as a 1-bit picture in printer dots: what the Brother QL prints and the simulator shows.

Drawn straight in mode "1" (no anti-aliasing, no thresholding afterwards) so every bar is a whole
number of dots wide and the picture is exactly what the print head will burn."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from barcode.ean import EAN13
from PIL import Image, ImageDraw, ImageFont

from .label import Box, Label, LabelLayout, LabelPlan, one_line, plan_label

FONT_ROOT = Path("/usr/share/fonts")
ELLIPSIS = "…"
_HEIGHT_REF = "ÅÆØÉgjpq"  # tallest capitals and deepest descenders a Danish label shows
_MIN_SIZE = 6

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@lru_cache(maxsize=8)
def _font_file(root: str, bold: bool) -> str | None:
    names = ("DejaVuSans-Bold.ttf", "DejaVuSans.ttf") if bold else ("DejaVuSans.ttf",)
    for name in names:
        for path in sorted(Path(root).rglob(name)):
            return str(path)
    return None


@lru_cache(maxsize=512)
def _load(path: str | None, size: int) -> Font:
    if path is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(path, size)


def _font(size: int, bold: bool = False) -> Font:
    return _load(_font_file(str(FONT_ROOT), bold), size)


def _height(font: Font, text: str = _HEIGHT_REF) -> tuple[int, int]:
    """(top offset, height) of text's ink when drawn at y=0."""
    _, top, _, bottom = font.getbbox(text)
    return int(top), int(bottom - top)


def _font_for_height(h: int, bold: bool = False) -> Font:
    size = max(_MIN_SIZE, h)
    while size > _MIN_SIZE and _height(_font(size, bold))[1] > h:
        size -= 1
    return _font(size, bold)


def _shorten(text: str, font: Font, width: int) -> str:
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + ELLIPSIS) > width:
        text = text[:-1].rstrip()
    return text + ELLIPSIS


def _fit(text: str, box: Box, bold: bool = False) -> tuple[Font, str]:
    """Shrink the font until the text fits the box's width; cut it short if even that fails."""
    font = _font_for_height(box.h, bold)
    size = int(getattr(font, "size", box.h))
    while size > _MIN_SIZE and font.getlength(text) > box.w:
        size -= 1
        font = _font(size, bold)
    return font, _shorten(text, font, box.w)


def _wrap(text: str, font: Font, width: int, max_lines: int = 2) -> list[str]:
    lines: list[str] = []
    words = text.split(" ")
    while words and len(lines) < max_lines:
        line = words.pop(0)
        if font.getlength(line) > width and len(line) > 1:  # a word longer than the line: break it
            cut = len(line) - 1
            while cut > 1 and font.getlength(line[:cut]) > width:
                cut -= 1
            words.insert(0, line[cut:])
            line = line[:cut]
        else:
            while words and font.getlength(f"{line} {words[0]}") <= width:
                line = f"{line} {words.pop(0)}"
        lines.append(line)
    if words:
        lines[-1] = _shorten(f"{lines[-1]} {' '.join(words)}", font, width)
    return lines


def _draw_text(draw: ImageDraw.ImageDraw, x: int, y: int, text: str, font: Font) -> None:
    top, _ = _height(font)
    draw.text((x, y - top), text, font=font, fill=0)


def _draw_ean13(draw: ImageDraw.ImageDraw, plan: LabelPlan, code: str) -> None:
    pattern = EAN13(code).build()[0]  # 95 modules; the check digit was validated by Label
    mod, x0, y0 = plan.module, plan.bars_x, plan.barcode.y
    guard_extra = plan.digits_height // 2
    for i, bit in enumerate(pattern):
        if bit == "1":
            guard = i < 3 or 45 <= i < 50 or i >= 92
            bottom = y0 + plan.bar_height - 1 + (guard_extra if guard else 0)
            draw.rectangle((x0 + i * mod, y0, x0 + (i + 1) * mod - 1, bottom), fill=0)
    # digits: the first in the left quiet zone, then 6 under each half (7 modules per digit)
    font = _font_for_height(plan.digits_height - 2 * mod)
    size = int(getattr(font, "size", 0))
    while size > _MIN_SIZE and font.getlength("0") > 6 * mod:
        size -= 1
        font = _font(size)
    top = y0 + plan.bar_height + mod
    centres = [x0 - 5 * mod]
    centres += [x0 + (3 + 7 * i) * mod + 7 * mod // 2 for i in range(6)]
    centres += [x0 + (50 + 7 * i) * mod + 7 * mod // 2 for i in range(6)]
    for digit, cx in zip(code, centres, strict=True):
        _draw_text(draw, round(cx - font.getlength(digit) / 2), top, digit, font)


def render_label(label: Label, layout: LabelLayout) -> Image.Image:
    plan = plan_label(layout)
    img = Image.new("1", (plan.width, plan.height), 1)
    draw = ImageDraw.Draw(img)
    name_font = _font_for_height(plan.name_line)
    for i, line in enumerate(_wrap(one_line(label.name), name_font, plan.name.w)):
        _draw_text(draw, plan.name.x, plan.name.y + i * plan.name_line, line, name_font)
    font, text = _fit(one_line(label.price), plan.price, bold=True)
    _draw_text(draw, plan.price.x, plan.price.y, text, font)
    unit = one_line(label.unit_price or "")
    if unit:
        font, text = _fit(unit, plan.unit)
        _draw_text(draw, plan.unit.x, plan.unit.y, text, font)
    _draw_ean13(draw, plan, label.ean13)
    return img
