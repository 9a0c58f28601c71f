"""What every printer back end shares, real or simulated: the status a receipt printer reports, the
errors a job fails with, and the Protocols the till holds printers to. The simulated twins import
this, never the real drivers, so no driver and its twin import each other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .document import Document
from .label import Label, LabelLayout


@dataclass(frozen=True)
class PrinterStatus:
    online: bool
    paper_low: bool | None  # None: the printer did not say
    paper_out: bool | None
    cover_open: bool | None
    drawer_open: bool | None


UNREACHABLE = PrinterStatus(online=False, paper_low=None, paper_out=None, cover_open=None, drawer_open=None)


class PrinterUnavailable(Exception):
    """The job did not reach the printer (the till shows its own Danish message)."""


class LabelPrinterUnavailable(Exception):
    """The labels did not reach the printer."""


class ReceiptPrinterPort(Protocol):
    """A receipt printer as the till uses it: the ESC/POS driver and the simulated one alike."""

    def render(self, doc: Document) -> bytes: ...

    def send(self, job: bytes) -> None: ...

    def status(self) -> PrinterStatus: ...

    def close(self) -> None: ...


class LabelPrinter(Protocol):
    def print_labels(self, labels: list[Label], layout: LabelLayout) -> None: ...
