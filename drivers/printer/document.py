"""A printable document: what the till wants on paper, before any printer language.

The till builds a Document (it knows the shop, the sale and the paper's columns); a receipt
printer turns it into ESC/POS bytes and the simulated printer into text and a picture. Each Text
is one line that already fits: `columns` for normal text, `columns // 2` for large (double
width) text."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Literal

Align = Literal["left", "center", "right"]
Symbology = Literal["CODE128", "EAN13"]


@dataclass(frozen=True)
class Text:
    text: str
    align: Align = "left"
    bold: bool = False
    large: bool = False  # double width and height: COPY and TRAINING marks, the shop name


@dataclass(frozen=True)
class Barcode:
    data: str
    symbology: Symbology = "CODE128"


@dataclass(frozen=True)
class Logo:
    png: bytes  # any PNG; the printer dithers it to 1 bit and scales it to the paper


@dataclass(frozen=True)
class Feed:
    lines: int = 1


Block = Text | Barcode | Logo | Feed


@dataclass(frozen=True)
class Document:
    blocks: tuple[Block, ...]
    cut: bool = True
    kick_drawer: Literal[2, 5] | None = None  # ESC p on this connector pin, after the cut
    meta: dict[str, str] = field(default_factory=dict, compare=False)  # e.g. {"kind": "receipt"}

    def lines(self, columns: int | None = None) -> list[str]:
        """The text of the document as it reads on paper (barcodes as their data); with `columns`,
        centred and right-aligned text is placed as the printer would place it."""
        out: list[str] = []
        for b in self.blocks:
            if isinstance(b, Text):
                out.append(_place(b, columns))
            elif isinstance(b, Barcode):
                out.append(f"[{b.symbology} {b.data}]")
            elif isinstance(b, Logo):
                out.append("[logo]")
            else:
                out.extend([""] * b.lines)
        return out


    def to_json(self) -> dict[str, Any]:
        """A plain dict (for a queued print job); Logo bytes go as base64."""
        blocks: list[dict[str, Any]] = []
        for b in self.blocks:
            if isinstance(b, Text):
                blocks.append({"t": "text", "text": b.text, "align": b.align, "bold": b.bold,
                               "large": b.large})
            elif isinstance(b, Barcode):
                blocks.append({"t": "barcode", "data": b.data, "symbology": b.symbology})
            elif isinstance(b, Logo):
                blocks.append({"t": "logo", "png": base64.b64encode(b.png).decode("ascii")})
            else:
                blocks.append({"t": "feed", "lines": b.lines})
        return {"blocks": blocks, "cut": self.cut, "kick_drawer": self.kick_drawer, "meta": dict(self.meta)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Document:
        blocks: list[Block] = []
        for b in data["blocks"]:
            kind = b["t"]
            if kind == "text":
                blocks.append(Text(b["text"], b["align"], bool(b["bold"]), bool(b["large"])))
            elif kind == "barcode":
                blocks.append(Barcode(b["data"], b["symbology"]))
            elif kind == "logo":
                blocks.append(Logo(base64.b64decode(b["png"])))
            elif kind == "feed":
                blocks.append(Feed(int(b["lines"])))
            else:
                raise ValueError(f"unknown document block {kind!r}")
        return cls(tuple(blocks), bool(data.get("cut", True)), data.get("kick_drawer"),
                   dict(data.get("meta") or {}))


def _place(block: Text, columns: int | None) -> str:
    if columns is None or block.align == "left":
        return block.text
    if block.align == "center":
        return block.text.center(columns).rstrip()
    return block.text.rjust(columns)


# Columns of Font A (12x24) on common paper widths; 80 mm heads print 48 or 42 (Font A at 576 or
# 512 dots), 58 mm heads 32.
COLUMNS_BY_PAPER = {58: 32, 80: 48}
