"""The label printer's twin: each label becomes `<NNNN>-<ean13>.png` (what a Brother or the
demo screen shows) and `<NNNN>.zpl` (what a Zebra would have been sent), numbered on from the
files already in the folder so a restart never overwrites yesterday's labels."""

from __future__ import annotations

import io
import logging
import os
import re
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from ..printer.base import LabelPrinterUnavailable
from ..printer.label import Label, LabelLayout
from ..printer.label_image import render_label
from ..printer.zpl import label_zpl, parse_zpl

log = logging.getLogger(__name__)

_NUMBERED = re.compile(r"^(\d{4,})(?:-\d{13})?\.(?:png|zpl)$")


def _write_atomic(path: Path, data: bytes) -> None:
    """A crash mid-write leaves no half file for the next start to count or show."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class SimLabelPrinter:
    def __init__(self, dir: str | Path) -> None:
        self.dir = Path(dir)
        self._lock = threading.Lock()

    def _last_number(self) -> int:
        if not self.dir.is_dir():
            return 0
        numbers = [int(m[1]) for p in self.dir.iterdir() if (m := _NUMBERED.match(p.name))]
        return max(numbers, default=0)

    def print_labels(self, labels: Sequence[Label], layout: LabelLayout) -> None:
        with self._lock:
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
                number = self._last_number()
                for label in labels:
                    number += 1
                    zpl = label_zpl(label, layout)
                    _check(zpl, label)
                    png = io.BytesIO()
                    render_label(label, layout).save(png, format="PNG")
                    _write_atomic(self.dir / f"{number:04d}-{label.ean13}.png", png.getvalue())
                    _write_atomic(self.dir / f"{number:04d}.zpl", zpl.encode("utf-8"))
                    log.info("label_printed driver=sim number=%d ean13=%s copies=%d",
                             number, label.ean13, layout.copies)
            except OSError as exc:
                raise LabelPrinterUnavailable(
                    f"simulated label printer folder {self.dir} is not writable: {exc}") from exc


def _check(zpl: str, label: Label) -> None:
    """Read the job back as a printer would: one label, carrying this code."""
    parsed = parse_zpl(zpl)
    codes = [f["data"] for f in parsed[0]["fields"] if f["barcode"]] if len(parsed) == 1 else []
    if codes != [label.ean13[:12]]:
        raise ValueError(f"sim label printer: ZPL for {label.ean13} does not read back as one label with it")
