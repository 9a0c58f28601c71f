"""ZPL II for Zebra label printers, and a small parser of the same subset.

Text goes in UTF-8 (^CI28) so æøå print; every text field is hex-escaped (^FH) so a product name
holding ^ or ~ cannot end the label or fire a printer command. The EAN-13 is the printer's own
(^BE): it draws sharper bars than any bitmap and adds the check digit itself."""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Iterable, Iterator
from typing import Any

from .label import Box, Label, LabelLayout, one_line, plan_label

# ^A0's average advance as a share of its height, on the wide side: the printer's font metrics
# are not known here, so text is fitted to a width it will surely not exceed.
CHAR_WIDTH = 0.6
ELLIPSIS = "..."
_ESCAPED = "^~_"


def _escape(text: str) -> str:
    """^FH_ hex escapes for the ZPL prefixes and the escape itself; \\ doubled for ^FB."""
    out = []
    for ch in text:
        if ch in _ESCAPED:
            out.append(f"_{ord(ch):02X}")
        elif ch == "\\":
            out.append("\\\\")
        else:
            out.append(ch)
    return "".join(out)


def _fit_height(text: str, width: int, height: int) -> int:
    """The largest font height (<= height) at which text surely fits in width dots."""
    if not text or len(text) * CHAR_WIDTH * height <= width:
        return height
    return max(1, math.floor(width / (len(text) * CHAR_WIDTH)))


def wrap_name(name: str, width: int, line: int) -> list[str]:
    """At most two lines; the printer's ^FB would otherwise print the rest over the last line."""
    per_line = max(1, math.floor(width / (CHAR_WIDTH * line)))
    if per_line <= len(ELLIPSIS):
        return [name[:per_line]]
    return textwrap.wrap(name, width=per_line, max_lines=2, placeholder=ELLIPSIS)


def _text_field(box: Box, height: int, lines: list[str], max_lines: int = 1) -> str:
    data = "\\&".join(_escape(s) for s in lines)
    return (f"^FO{box.x},{box.y}^A0N,{height},{height}^FB{box.w},{max_lines},0,L,0"
            f"^FH_^FD{data}^FS")


def label_zpl(label: Label, layout: LabelLayout) -> str:
    plan = plan_label(layout)
    out = ["^XA", "^CI28", f"^PW{plan.width}", f"^LL{plan.height}", "^LH0,0"]
    name = wrap_name(one_line(label.name), plan.name.w, plan.name_line)
    out.append(_text_field(plan.name, plan.name_line, name, max_lines=2))
    price = one_line(label.price)
    out.append(_text_field(plan.price, _fit_height(price, plan.price.w, plan.price.h), [price]))
    unit = one_line(label.unit_price or "")
    if unit:
        out.append(_text_field(plan.unit, _fit_height(unit, plan.unit.w, plan.unit.h), [unit]))
    out.append(f"^FO{plan.bars_x},{plan.barcode.y}^BY{plan.module}^BEN,{plan.bar_height},Y,N"
               f"^FD{label.ean13[:12]}^FS")
    out += [f"^PQ{layout.copies}", "^XZ"]
    return "\n".join(out) + "\n"


def labels_zpl(labels: Iterable[Label], layout: LabelLayout) -> str:
    return "".join(label_zpl(label, layout) for label in labels)


# --- parsing -----------------------------------------------------------------------------------

_PREFIX = re.compile(r"[\^~]")
_FB_ESCAPE = re.compile(r"\\([\\&])")


def _tokens(text: str) -> Iterator[tuple[str, str]]:
    """(command, argument) pairs, e.g. ("^FO", "12,18"); ^A's font letter goes to the argument."""
    starts = [m.start() for m in _PREFIX.finditer(text)]
    if text[: starts[0] if starts else len(text)].strip():
        raise ValueError("ZPL: text before the first command")
    for start, end in zip(starts, [*starts[1:], len(text)], strict=True):
        chunk = text[start:end].replace("\r", "").replace("\n", "")
        code = chunk[1:3].upper()
        if len(code) < 2:
            raise ValueError(f"ZPL: truncated command {chunk!r}")
        if code[0] == "A" and chunk[0] == "^":
            yield "^A", chunk[2:]
        else:
            yield chunk[0] + code, chunk[3:]


def _ints(arg: str) -> list[int]:
    try:
        return [int(p) for p in arg.split(",") if p.strip() != ""]
    except ValueError:
        raise ValueError(f"ZPL: expected numbers, got {arg!r}") from None


def _decode(raw: str, field: dict[str, Any], utf8: bool) -> str:
    data = raw.encode("utf-8" if utf8 else "latin-1")
    if field["hex"] is not None:
        mark = re.escape(field["hex"].encode("ascii"))
        data = re.sub(mark + rb"([0-9A-Fa-f]{2})", lambda m: bytes([int(m[1], 16)]), data)
    text = data.decode("utf-8" if utf8 else "latin-1")
    if field["block"] is not None:
        text = _FB_ESCAPE.sub(lambda m: "\n" if m[1] == "&" else "\\", text)
    return text


def _new_field() -> dict[str, Any]:
    return {"x": 0, "y": 0, "font": None, "block": None, "hex": None, "barcode": None, "data": None}


def parse_zpl(text: str) -> list[dict[str, Any]]:
    """One dict per ^XA...^XZ: `commands` [(cmd, arg)] in order, the PW/LL/PQ/CI values, and
    `fields` with position, font, field block, barcode and the decoded data (^FH and ^FB escapes
    undone, ^FB line breaks as newlines)."""
    labels: list[dict[str, Any]] = []
    label: dict[str, Any] | None = None
    field: dict[str, Any] | None = None
    module = 2  # the printer's power-on ^BY
    for cmd, arg in _tokens(text):
        if cmd == "^XA":
            if label is not None:
                raise ValueError("ZPL: ^XA inside a label")
            label = {"commands": [], "fields": [], "PW": None, "LL": None, "PQ": None, "CI": None}
            continue
        if label is None:
            raise ValueError(f"ZPL: {cmd} outside ^XA...^XZ")
        if cmd == "^XZ":
            if field is not None:
                raise ValueError("ZPL: field without ^FS")
            labels.append(label)
            label = None
            continue
        label["commands"].append((cmd, arg))
        name = cmd[1:]
        if name in ("PW", "LL", "PQ", "CI"):
            label[name] = _ints(arg)[0]
        elif name == "BY":
            module = _ints(arg)[0]
        elif name == "FO":
            field = _new_field()
            field["x"], field["y"] = _ints(arg)[:2]
        elif name in ("A", "FB", "FH", "BE", "FD"):
            field = field or _new_field()
            if name == "A":
                parts = arg[1:].split(",")
                field["font"] = {"name": arg[:1], "orientation": parts[0] or "N",
                                 "height": int(parts[1]) if len(parts) > 1 else None,
                                 "width": int(parts[2]) if len(parts) > 2 else None}
            elif name == "FB":
                p = arg.split(",")
                field["block"] = {"width": int(p[0]), "lines": int(p[1]) if len(p) > 1 else 1,
                                  "spacing": int(p[2]) if len(p) > 2 else 0,
                                  "justify": p[3] if len(p) > 3 else "L",
                                  "indent": int(p[4]) if len(p) > 4 else 0}
            elif name == "FH":
                field["hex"] = arg or "_"
            elif name == "BE":
                p = arg.split(",")
                field["barcode"] = {"type": "BE", "orientation": p[0] or "N", "height": int(p[1]),
                                    "line": p[2] if len(p) > 2 else "Y",
                                    "above": p[3] if len(p) > 3 else "N", "module": module}
            else:
                field["data"] = arg
        elif name == "FS":
            if field is None or field["data"] is None:
                raise ValueError("ZPL: ^FS without field data")
            field["data"] = _decode(field["data"], field, label["CI"] == 28)
            label["fields"].append(field)
            field = None
    if label is not None:
        raise ValueError("ZPL: label without ^XZ")
    return labels
