"""The X/Z report as a one-page A4 PDF: the voucher (bilag) the day's postings carry into Dinero.

A voucher is one page, so the layout shrinks the font, flows the sections over two columns and,
when even that is not enough, cuts the longest lists short with a "… og N flere" line."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from fpdf import FPDF

from ..domain.anchors import Anchor
from .formatting import dk_date, kr
from .report_text import LISTS, Row, account, meta_rows, report_sections, report_title, vat_code

ENCODING = "cp1252"  # what fpdf2's core fonts are written with (WinAnsi): latin-1 plus … – € “ ”
PAGE_W, PAGE_H, MARGIN, GUTTER = 210.0, 297.0, 12.0, 8.0
COL_W = (PAGE_W - 2 * MARGIN - GUTTER) / 2
FOOTER_H = 7.0
SIZES = (9.0, 8.5, 8.0, 7.5, 7.0, 6.5, 6.0)  # points; 6 is about the smallest a scan keeps legible
MIN_CAP = 3
POSTING_COLS = (("Konto", 17.0, "L"), ("Moms", 12.0, "L"), ("Modkonto", 17.0, "L"), ("Beløb", 24.0, "R"))
HEAD_FILL = (228, 228, 228)
ANCHOR_SIZE = 6.0  # the anchor block's font (points): read by a bookkeeper rarely, by a program always


def safe(text: object) -> str:
    """Text the core font can write: accents stripped where that helps (Č -> C), else '?'."""
    out = []
    for ch in str(text):
        try:
            ch.encode(ENCODING)
            out.append(ch)
        except UnicodeEncodeError:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out.append(base if base and base.isascii() else "?")
    return "".join(out)


@dataclass(frozen=True)
class Item:
    """One row in the two-column flow; a heading also takes half a line of space above it."""

    kind: str  # "head" or "row"
    row: Row

    @property
    def units(self) -> float:
        return 1.5 if self.kind == "head" else 1.0


def _line_h(size: float) -> float:
    return size * 0.3528 * 1.3


def _flow(report: Mapping, caps: Mapping[str, int]) -> list[Item]:
    items: list[Item] = []
    for s in report_sections(report, caps):
        items.append(Item("head", Row(s.title)))
        items += [Item("row", r) for r in s.rows]
    return items


def _split(items: list[Item]) -> tuple[list[Item], list[Item]]:
    """Two columns of about equal height, broken between sections when one is near the middle,
    otherwise mid-section with the heading repeated as "(fortsat)"."""
    units = [i.units for i in items]
    total = sum(units)
    best, best_h = len(items), total
    acc = 0.0
    for idx, item in enumerate(items):
        if item.kind == "head" and idx:
            height = max(acc, total - acc)
            if height < best_h:
                best, best_h = idx, height
        acc += units[idx]
    acc, mid = 0.0, len(items)
    for idx, u in enumerate(units):
        if acc + u > total / 2:
            mid = idx
            break
        acc += u
    if best_h <= total / 2 + 3 or mid >= len(items):
        return items[:best], items[best:]
    if items[mid - 1].kind == "head":
        mid -= 1
        return items[:mid], items[mid:]
    if items[mid].kind == "head":
        return items[:mid], items[mid:]
    title = next(i.row.label for i in reversed(items[:mid]) if i.kind == "head")
    return items[:mid], [Item("head", Row(f"{title} (fortsat)")), *items[mid:]]


@dataclass(frozen=True)
class Posting:
    """A row of the posting table; a note or warning has no cells, only text."""

    cells: tuple[str, ...]
    text: str
    style: str = ""


def _postings(report: Mapping, cap: int | None) -> list[Posting]:
    if report.get("kind") != "Z":
        return []
    rows = [Posting((account(p.get("account")), vat_code(p.get("vat_code")),
                     account(p.get("balancing_account")), kr(p.get("amount"))), str(p.get("text", "")))
            for p in report.get("posting_plan") or []]
    if cap is not None and len(rows) > cap:
        keep = max(cap - 1, 1)
        rows = [*rows[:keep], Posting((), f"… og {len(rows) - keep} flere", "note")]
    missing = report.get("posting_missing_accounts") or []
    if missing:
        rows.append(Posting((), f"Mangler konto: {', '.join(map(str, missing))}", "warn"))
    return rows


@dataclass
class Layout:
    size: float
    left: list[Item]
    right: list[Item]
    postings: list[Posting]
    meta: list[Row]
    reserve: float = 0.0  # mm kept free above the footer (the anchor block)

    @property
    def lh(self) -> float:
        return _line_h(self.size)

    def header_h(self) -> float:
        return 2.6 * self.lh + max(3, len(self.meta)) * self.lh + 3

    def height(self) -> float:
        body = max(sum(i.units for i in self.left), sum(i.units for i in self.right)) * self.lh
        posts = (len(self.postings) + 2.5) * self.lh if self.postings else 0.0
        return self.header_h() + body + posts

    def fits(self) -> bool:
        return self.height() <= PAGE_H - 2 * MARGIN - FOOTER_H - self.reserve


def _layout(report: Mapping, size: float, caps: Mapping[str, int], reserve: float = 0.0) -> Layout:
    left, right = _split(_flow(report, caps))
    return Layout(size, left, right, _postings(report, caps.get("postings")), meta_rows(report), reserve)


def choose_layout(report: Mapping, reserve: float = 0.0) -> Layout:
    """The largest font that fits; failing that, the smallest font with every long list cut to
    the same, largest length that fits (found by halving)."""
    for size in SIZES:
        layout = _layout(report, size, {}, reserve)
        if layout.fits():
            return layout
    lengths = [len(report.get(key) or []) for key in ("groups", "cashiers", "card_brands", "posting_plan")]
    lo, hi = MIN_CAP, max(MIN_CAP, *lengths)  # lo is taken even if it does not fit: nothing shorter helps
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _layout(report, SIZES[-1], dict.fromkeys(LISTS, mid), reserve).fits():
            lo = mid
        else:
            hi = mid - 1
    return _layout(report, SIZES[-1], dict.fromkeys(LISTS, lo), reserve)


class _Voucher(FPDF):
    def __init__(self, layout: Layout) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.core_fonts_encoding = ENCODING
        self.set_auto_page_break(False)
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.layout = layout
        self.size = layout.size
        self.lh = layout.lh

    def font(self, style: str = "", scale: float = 1.0, grey: int = 0) -> None:
        self.set_font("helvetica", style, self.size * scale)
        self.set_text_color(grey, grey, grey)

    def note_font(self, style: str) -> None:
        """Notes ("… og N flere") in grey italics; warnings (missing accounts) in bold red."""
        if style == "warn":
            self.font("B")
            self.set_text_color(170, 0, 0)
        else:
            self.font("I", grey=90)

    def text_at(self, x: float, y: float, w: float, text: str, align: str = "L", h: float = 0) -> None:
        """One cell of text, shortened with … so it never runs into the next column."""
        text = safe(text)
        full = self.get_string_width(text)
        if full > w:
            text = text[:int(len(text) * w / full) + 1]  # near the cut at once, then trim to fit
            while text and self.get_string_width(text + "…") > w:
                text = text[:-1]
            text += "…"
        self.set_xy(x, y)
        self.cell(w, h or self.lh, text, align=align)

    def item(self, x: float, y: float, it: Item) -> float:
        r = it.row
        if it.kind == "head":
            y += 0.5 * self.lh
            self.set_fill_color(*HEAD_FILL)
            self.rect(x, y, COL_W, self.lh, style="F")
            self.font("B")
            self.text_at(x + 1, y, COL_W - 2, r.label)
            return y + self.lh
        if r.style in ("note", "warn"):
            self.note_font(r.style)
            self.text_at(x + 4, y, COL_W - 4, r.label)
            return y + self.lh
        indent = 4.0 if r.style == "sub" else 0.0
        self.font("B" if r.style == "total" else "")
        value_w = self.get_string_width("-999.999.999,99") if r.value else 0.0
        self.text_at(x + indent, y, COL_W - indent - value_w - 2, r.label)
        if r.value:
            self.text_at(x + COL_W - value_w, y, value_w, r.value, "R")
        if r.style == "total":
            self.set_draw_color(0, 0, 0)
            self.line(x + COL_W - value_w, y + 0.2, x + COL_W, y + 0.2)
        return y + self.lh


def _header(pdf: _Voucher, report: Mapping, shop: Mapping) -> float:
    lh, y = pdf.lh, MARGIN
    pdf.font("B", 2.0)
    pdf.text_at(MARGIN, y, 120, report_title(report), h=2.2 * lh)
    pdf.text_at(PAGE_W - MARGIN - 60, y, 60, dk_date(report.get("business_date")), "R", h=2.2 * lh)
    y += 2.6 * lh
    shop_lines = [shop.get("shop_name", ""), shop.get("address", ""),
                  f"CVR: {shop['cvr']}" if shop.get("cvr") else ""]
    for i, text in enumerate(shop_lines):
        pdf.font("B" if i == 0 else "", 1.15 if i == 0 else 1.0)
        pdf.text_at(MARGIN, y + i * lh, COL_W, text)
    meta_x = MARGIN + COL_W + GUTTER
    for i, r in enumerate(pdf.layout.meta):
        if r.style == "note":
            pdf.font("I", grey=90)
            pdf.text_at(meta_x, y + i * lh, COL_W, r.label, "R")
            continue
        pdf.font()
        pdf.text_at(meta_x, y + i * lh, 30, r.label)
        pdf.text_at(meta_x + 30, y + i * lh, COL_W - 30, r.value, "R")
    y += max(3, len(pdf.layout.meta)) * lh + 1
    pdf.set_draw_color(0, 0, 0)
    pdf.set_line_width(0.4)
    pdf.line(MARGIN, y, PAGE_W - MARGIN, y)
    pdf.set_line_width(0.2)
    return y + 2


def _postings_table(pdf: _Voucher, y: float) -> float:
    lh, width = pdf.lh, PAGE_W - 2 * MARGIN
    y += 0.5 * lh
    pdf.set_fill_color(*HEAD_FILL)
    pdf.rect(MARGIN, y, width, lh, style="F")
    pdf.font("B")
    pdf.text_at(MARGIN + 1, y, width - 2, "Posteringer (konto, momskode, modkonto, beløb, tekst)")
    y += lh
    text_x = MARGIN + sum(w for _, w, _ in POSTING_COLS) + 4
    x = MARGIN
    for title, w, align in POSTING_COLS:
        pdf.text_at(x, y, w, title, align)
        x += w
    pdf.text_at(text_x, y, PAGE_W - MARGIN - text_x, "Tekst")
    y += lh
    for r in pdf.layout.postings:
        if r.style:
            pdf.note_font(r.style)
            pdf.text_at(MARGIN + 1, y, width - 1, r.text)
        else:
            pdf.font()
            x = MARGIN
            for (_, w, align), cell in zip(POSTING_COLS, r.cells, strict=True):
                pdf.text_at(x, y, w, cell, align)
                x += w
            pdf.text_at(text_x, y, PAGE_W - MARGIN - text_x, r.text)
        y += lh
    return y


def _footer(pdf: _Voucher, report: Mapping, shop: Mapping) -> None:
    y = PAGE_H - MARGIN - 3
    pdf.set_draw_color(150, 150, 150)
    pdf.line(MARGIN, y - 1, PAGE_W - MARGIN, y - 1)
    pdf.set_font("helvetica", "", 6.5)
    pdf.set_text_color(100, 100, 100)
    parts = [report_title(report), f"kasse {report.get('register_id', '')}",
             dk_date(report.get("business_date")), shop.get("shop_name", ""),
             f"CVR {shop['cvr']}" if shop.get("cvr") else ""]
    pdf.text_at(MARGIN, y, 150, "Bilag: " + " · ".join(p for p in parts if p), h=4)
    pdf.text_at(PAGE_W - MARGIN - 30, y, 30, "Side 1 af 1", "R", h=4)


def _anchor_lines(anchor: Anchor) -> list[str]:
    """The anchor in full, as lines for the block above the footer: what a bookkeeper can compare
    with the till by eye (`till journal verify --against-dinero` reads the keywords instead)."""
    lines = [f"Kontrolspor: kasse {anchor.register_id} · Z {anchor.z_number} · "
             f"journalpost {anchor.journal_nr} · nøgle v{anchor.key_version}",
             f"Journalpostens signatur (SHA-256): {anchor.journal_signature_sha256}",
             f"Certifikat (SHA-256): {anchor.certificate_sha256 or 'ikke registreret'}",
             f"Grand total salg {kr(anchor.grand_total_sales)} · retur {kr(anchor.grand_total_returns)}"]
    if anchor.last_tx_nr is not None:
        lines.append(f"Sidste transaktion nr. {anchor.last_tx_nr}, signatur:")
        measure = FPDF(unit="mm")
        measure.set_font("helvetica", "", ANCHOR_SIZE)
        width = PAGE_W - 2 * MARGIN
        rest = anchor.last_tx_signature or ""
        while rest:  # base64 has no spaces: break where the line is full
            n = len(rest)
            while measure.get_string_width(rest[:n]) > width:
                n -= 4
            lines.append(rest[:n])
            rest = rest[n:]
    return lines


def _anchor_block(pdf: _Voucher, lines: list[str]) -> None:
    lh, width = _line_h(ANCHOR_SIZE), PAGE_W - 2 * MARGIN
    y = PAGE_H - MARGIN - FOOTER_H - len(lines) * lh
    pdf.set_draw_color(150, 150, 150)
    pdf.line(MARGIN, y - 1, PAGE_W - MARGIN, y - 1)
    pdf.set_text_color(60, 60, 60)
    for i, text in enumerate(lines):
        pdf.set_font("helvetica", "B" if i == 0 else "", ANCHOR_SIZE)
        pdf.set_xy(MARGIN, y + i * lh)
        pdf.cell(width, lh, safe(text))


def _metadata(pdf: FPDF, report: Mapping, shop: Mapping, anchor: Anchor | None) -> None:
    title = report_title(report)
    pdf.set_title(title)
    pdf.set_subject(f"{title}, kasse {report.get('register_id', '')}, {dk_date(report.get('business_date'))}")
    pdf.set_author(str(shop.get("shop_name", "")))
    pdf.set_creator("Tillbox")
    pdf.set_lang("da")
    if anchor is not None:  # read back from Dinero by `till journal verify --against-dinero`
        pdf.set_keywords(anchor.keywords())
    try:  # the same report gives the same bytes
        pdf.set_creation_date(datetime.fromisoformat(str(report.get("period_end"))))
    except ValueError:
        pass


def render_z_pdf(report: dict, shop: dict, anchor: Anchor | None = None) -> bytes:
    """One A4 page, whatever the size of the day; a closed Z's anchor in a block above the footer."""
    anchor_lines = _anchor_lines(anchor) if anchor is not None else []
    layout = choose_layout(report, len(anchor_lines) * _line_h(ANCHOR_SIZE) + 2 if anchor_lines else 0.0)
    pdf = _Voucher(layout)
    _metadata(pdf, report, shop, anchor)
    pdf.add_page()
    y = _header(pdf, report, shop)
    x_right = MARGIN + COL_W + GUTTER
    yl = yr = y
    for it in layout.left:
        yl = pdf.item(MARGIN, yl, it)
    for it in layout.right:
        yr = pdf.item(x_right, yr, it)
    if layout.postings:
        _postings_table(pdf, max(yl, yr))
    if anchor_lines:
        _anchor_block(pdf, anchor_lines)
    _footer(pdf, report, shop)
    return bytes(pdf.output())
