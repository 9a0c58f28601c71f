"""Brother QL raster through the maintained brother_ql library (brother_ql_next).

The QL prints at 300 dpi across the tape whatever the shop's layout says, and only inside the
label's printable area, so a label is re-planned in those dots (`brother_render_layout`) before it
is drawn. `decode_raster` reads the instructions back into pictures, for tests and for looking at
what was sent."""

from __future__ import annotations

from dataclasses import replace

from brother_ql import BrotherQLError
from brother_ql.conversion import convert
from brother_ql.labels import ALL_LABELS, Color, FormFactor, LabelsManager
from brother_ql.labels import Label as BrotherLabel
from brother_ql.models import ALL_MODELS, Model, ModelsManager
from brother_ql.raster import BrotherQLRaster
from PIL import Image

from .label import MM_PER_INCH, LabelLayout

BROTHER_DPI = 300
DEFAULT_MODEL = "QL-820NWB"
TOLERANCE_MM = 1.0  # brother_ql's die-cut names are rounded ("39x90" is 38 mm wide)
TAPE_TOLERANCE_MM = 0.5


def brother_model(model: str) -> Model:
    try:
        return ModelsManager()[model]
    except KeyError:
        raise ValueError(f"unknown Brother QL model {model!r}") from None


def brother_label_spec(label: str, model: str | None = None) -> BrotherLabel:
    """brother_ql's description of a label id; ValueError if unknown or not for this model."""
    try:
        spec = LabelsManager()[label]
    except KeyError:
        raise ValueError(f"unknown Brother QL label {label!r}") from None
    if model is not None and spec.restricted_to_models and model not in spec.restricted_to_models:
        raise ValueError(f"Brother QL label {label} does not fit a {model}")
    return spec


def _usable(model: str) -> list[BrotherLabel]:
    """Black-on-white rectangles this model takes (red tape and round labels are not price labels)."""
    return [lab for lab in ALL_LABELS
            if lab.color == Color.BLACK_WHITE and lab.form_factor != FormFactor.ROUND_DIE_CUT
            and (not lab.restricted_to_models or model in lab.restricted_to_models)]


def _die_cut_fit(layout: LabelLayout, lab: BrotherLabel) -> tuple[float, bool] | None:
    """(distance in mm, landscape) when the layout matches this die-cut label either way round."""
    tw, th = lab.tape_size
    fits = []
    for landscape, (w, h) in ((False, (tw, th)), (True, (th, tw))):
        dw, dh = abs(layout.width_mm - w), abs(layout.height_mm - h)
        if dw <= TOLERANCE_MM and dh <= TOLERANCE_MM:
            fits.append((dw + dh, landscape))
    return min(fits) if fits else None


def brother_label_for(layout: LabelLayout, model: str = DEFAULT_MODEL) -> str:
    """The die-cut label of the layout's size, else the endless tape as wide as the layout (or as
    high, printed turned). A shop printing fixed lengths off endless tape names the tape itself."""
    min_rows, max_rows = brother_model(model).min_max_length_dots
    usable = _usable(model)
    die_cut = [(fit, lab.identifier) for lab in usable
               if lab.form_factor == FormFactor.DIE_CUT and (fit := _die_cut_fit(layout, lab))]
    if die_cut:
        return min(die_cut)[1]
    endless = [lab for lab in usable if lab.form_factor == FormFactor.ENDLESS]
    for width, length in ((layout.width_mm, layout.height_mm), (layout.height_mm, layout.width_mm)):
        rows = round(length * BROTHER_DPI / MM_PER_INCH)
        for lab in endless:
            if abs(width - lab.tape_size[0]) <= TAPE_TOLERANCE_MM and min_rows <= rows <= max_rows:
                return lab.identifier
    raise ValueError(f"no Brother QL label fits {layout.width_mm:g}x{layout.height_mm:g} mm on a {model}")


def brother_render_layout(layout: LabelLayout, label: str) -> LabelLayout:
    """The layout re-sized to the label's printable area in 300 dpi dots, turned if the label
    is fed the other way round; fonts, margin, barcode height and copies stay as set."""
    spec = brother_label_spec(label)
    pw, ph = spec.dots_printable
    if spec.form_factor == FormFactor.DIE_CUT:
        fit = _die_cut_fit(layout, spec)
        if fit is None:
            raise ValueError(
                f"Brother QL label {label} does not match {layout.width_mm:g}x{layout.height_mm:g} mm")
        w, h = (ph, pw) if fit[1] else (pw, ph)
    elif spec.form_factor == FormFactor.ENDLESS:
        across = spec.tape_size[0]
        if abs(layout.width_mm - across) <= TAPE_TOLERANCE_MM:
            w, h = pw, round(layout.height_mm * BROTHER_DPI / MM_PER_INCH)
        elif abs(layout.height_mm - across) <= TAPE_TOLERANCE_MM:
            w, h = round(layout.width_mm * BROTHER_DPI / MM_PER_INCH), pw
        else:
            raise ValueError(
                f"Brother QL tape {label} is not {layout.width_mm:g} or {layout.height_mm:g} mm wide")
    else:
        raise ValueError(f"Brother QL label {label} is round")
    return replace(layout, dpi=BROTHER_DPI, width_mm=w * MM_PER_INCH / BROTHER_DPI,
                   height_mm=h * MM_PER_INCH / BROTHER_DPI)


def brother_raster(images: list[Image.Image], model: str = DEFAULT_MODEL, label: str = "62x29",
                   cut: bool = True, dpi_600: bool = False) -> bytes:
    """One page per image. Images must already be the printable area in dots (300 dpi across;
    600x600 with dpi_600): brother_ql would otherwise resize them and blur the bars. Die-cut
    pictures may come turned (brother_ql turns them); turned endless ones are turned here."""
    spec, qlr_model = brother_label_spec(label, model), brother_model(model)
    if not images:
        raise ValueError("no images to print")
    scale = 2 if dpi_600 else 1
    pw, ph = (scale * d for d in spec.dots_printable)
    prepared = []
    for im in images:
        if spec.form_factor == FormFactor.ENDLESS:
            if im.width != pw and im.height == pw:
                im = im.rotate(90, expand=True)  # the way brother_ql turns die-cut labels
            if im.width != pw:
                raise ValueError(f"image {im.width}x{im.height} does not fit tape {label} ({pw} dots across)")
        elif im.size not in ((pw, ph), (ph, pw)):
            raise ValueError(f"image {im.width}x{im.height} does not fit label {label} ({pw}x{ph} dots)")
        prepared.append(im)
    qlr = BrotherQLRaster(model)
    qlr.exception_on_warning = True  # convert() skips commands this model lacks instead of logging
    try:
        return bytes(convert(qlr, prepared, label, cut=cut, dpi_600=dpi_600, compress=qlr_model.compression,
                             rotate="auto", dither=False))
    except BrotherQLError as exc:
        raise ValueError(f"Brother QL raster: {exc}") from exc


# --- decoding ----------------------------------------------------------------------------------

# ESC i <sub> argument lengths (Brother QL raster command reference)
_ESC_I_ARGS = {0x21: 1, 0x41: 1, 0x4B: 1, 0x4D: 1, 0x53: 0, 0x61: 1, 0x64: 2, 0x7A: 10}
_INVERT = bytes(255 - b for b in range(256))


def _unpackbits(data: bytes) -> bytes:
    """TIFF PackBits, as the QL's compression mode (M 0x02) sends rows."""
    out = bytearray()
    i = 0
    while i < len(data):
        n = data[i]
        if n < 128:
            out += data[i + 1:i + 2 + n]
            i += 2 + n
        elif n > 128:
            out += data[i + 1:i + 2] * (257 - n)
            i += 2
        else:
            i += 1
    return bytes(out)


def _page(rows: list[bytes | None], media: tuple[int, int, int] | None, crop: bool) -> Image.Image:
    lengths = {len(r) for r in rows if r is not None}
    if len(lengths) != 1:
        raise ValueError(f"raster rows of differing or no lengths: {sorted(lengths)}")
    row_len = lengths.pop()
    raw = b"".join(bytes(row_len) if r is None else r for r in rows).translate(_INVERT)  # 1 = burn = black
    im = Image.frombytes("1", (row_len * 8, len(rows)), raw).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if not crop:
        return im
    if media is None:
        raise ValueError("raster page without a media/quality command")
    kind, width_mm, length_mm = media
    form = FormFactor.ENDLESS if kind == 0x0A else FormFactor.DIE_CUT
    spec = next((lab for lab in ALL_LABELS if lab.tape_size == (width_mm, length_mm)
                 and lab.form_factor == form and lab.color == Color.BLACK_WHITE), None)
    if spec is None:
        raise ValueError(f"no Brother QL label of {width_mm}x{length_mm} mm")
    extra = next((m.additional_offset_r for m in ALL_MODELS if m.number_bytes_per_row == row_len), 0)
    left = im.width - spec.dots_printable[0] - spec.offset_r - extra
    return im.crop((left, 0, left + spec.dots_printable[0], im.height))


def decode_raster(data: bytes, crop: bool = True) -> list[Image.Image]:
    """The printed pages as pictures the way the image went in (white = 1), cropped to the
    label's printable area unless crop=False (then the full print head width)."""
    pages: list[Image.Image] = []
    rows: list[bytes | None] = []
    compressed = False
    media: tuple[int, int, int] | None = None
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b == 0x00:  # invalidate
            i += 1
        elif b in (0x67, 0x77):  # g 0x00 n row / w colour n row
            if i + 3 > n or i + 3 + data[i + 2] > n:
                raise ValueError(f"truncated raster row at byte {i}")
            payload = data[i + 3:i + 3 + data[i + 2]]
            if b == 0x67 or data[i + 1] == 0x01:  # the red layer of two-colour rows is not black
                rows.append(_unpackbits(payload) if compressed else payload)
            i += 3 + data[i + 2]
        elif b == 0x5A:  # Z: an empty row
            rows.append(None)
            i += 1
        elif b == 0x4D:  # M: compression mode
            compressed = data[i + 1] == 0x02
            i += 2
        elif b in (0x0C, 0x1A):  # print (more to come / last page)
            pages.append(_page(rows, media, crop))
            rows = []
            i += 1
        elif data.startswith(b"\x1b@", i):
            rows = []
            i += 2
        elif data.startswith(b"\x1bi", i) and i + 2 < n and data[i + 2] in _ESC_I_ARGS:
            sub, args = data[i + 2], data[i + 3:i + 3 + _ESC_I_ARGS[data[i + 2]]]
            if sub == 0x7A:  # ESC i z: flags, media type, width mm, length mm, rows (LE32), page, 0
                media = (args[1], args[2], args[3])
            i += 3 + len(args)
        else:
            raise ValueError(f"unknown Brother QL command {data[i:i + 3].hex(' ')} at byte {i}")
    if rows:
        raise ValueError("raster rows after the last print command")
    return pages
