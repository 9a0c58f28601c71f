"""A QR code on the screen: the pairing screen's Visma login, the customer's MobilePay payment."""

from __future__ import annotations

from typing import Any

from kivy.graphics import Color, Rectangle
from kivy.graphics.texture import Texture
from kivy.properties import StringProperty
from kivy.uix.widget import Widget


def qr_matrix(text: str, border: int = 4) -> list[list[bool]]:
    """The QR code's modules (True = dark), quiet zone included."""
    import qrcode
    qr = qrcode.QRCode(border=border, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(text)
    qr.make(fit=True)
    return [list(row) for row in qr.get_matrix()]


def qr_pixels(matrix: list[list[bool]], scale: int) -> bytes:
    """RGBA bytes, bottom row first (a Kivy texture's origin), each module scale x scale pixels."""
    dark, light = b"\x00\x00\x00\xff" * scale, b"\xff\xff\xff\xff" * scale
    rows = []
    for row in reversed(matrix):
        line = b"".join(dark if cell else light for cell in row)
        rows.append(line * scale)
    return b"".join(rows)


class QRCodeView(Widget):
    """The QR code as large as the widget allows, at a whole number of pixels per module (a
    scaled, smoothed code does not scan), on a white quiet zone."""
    data = StringProperty("")

    def __init__(self, **kw: Any):
        self._matrix: list[list[bool]] = []
        super().__init__(**kw)
        self.bind(pos=self._redraw, size=self._redraw)

    def on_data(self, *_args: Any) -> None:
        self._matrix = qr_matrix(self.data) if self.data else []
        self._redraw()

    def _redraw(self, *_args: Any) -> None:
        self.canvas.clear()
        if not self._matrix:
            return
        n = len(self._matrix)
        scale = int(min(self.width, self.height) // n)
        if scale < 1:
            return
        side = n * scale
        texture = Texture.create(size=(side, side), colorfmt="rgba")
        texture.blit_buffer(qr_pixels(self._matrix, scale), colorfmt="rgba", bufferfmt="ubyte")
        texture.mag_filter = texture.min_filter = "nearest"
        x = int(self.x + (self.width - side) / 2)
        y = int(self.y + (self.height - side) / 2)
        with self.canvas:
            Color(1, 1, 1, 1)
            Rectangle(texture=texture, pos=(x, y), size=(side, side))
