"""The back ends a device spec names, the simulated ones among them. The real drivers take their
simulated twin as a factory from here (as gpiozero takes a pin factory), so a driver never imports
its twin and the twin imports only the base types (drivers/printer/base.py)."""

from __future__ import annotations

from collections.abc import Mapping

from .printer import label_printer, receipt
from .printer.base import LabelPrinter, ReceiptPrinterPort
from .sim.label_printer import SimLabelPrinter
from .sim.receipt_printer import SimReceiptPrinter


def open_receipt_printer(spec: Mapping[str, object]) -> ReceiptPrinterPort:
    return receipt.open_receipt_printer(spec, simulated=SimReceiptPrinter)


def open_label_printer(spec: Mapping[str, object]) -> LabelPrinter:
    return label_printer.open_label_printer(spec, simulated=SimLabelPrinter)
