"""What happens at the counter once a sale or return is committed: the receipt prints (through the
queue, so a missing printer never holds the customer up) and, when cash changed hands, the drawer
opens and that opening is journalled. The sale itself is already safe before any of this runs."""

from __future__ import annotations

from typing import Any

from .devices import Devices
from .drawer import open_drawer
from .printing import PrintQueue
from .selling import refund, sell
from .till import Till


def _cash_moved(sale: dict) -> bool:
    return not sale.get("training") and any(p.get("type") == "cash" for p in sale.get("payments", []))


def finish(till: Till, devices: Devices | None, sale: dict, queue: PrintQueue | None,
           background: bool = False) -> dict[str, Any]:
    """Drawer first (the cashier needs it for the change), then the receipt: in the background for
    the kiosk, or one pass right now for the CLI."""
    out: dict[str, Any] = {}
    if _cash_moved(sale) and devices is not None and devices.drawer is not None:
        out["drawer"] = open_drawer(till, devices, sale["cashier"], str(sale["kind"]),
                                    ref=int(sale["receipt_number"]))
    if queue is not None:
        if background:
            queue.wake()
        else:
            out["print"] = queue.pump().to_json()
    return out


def complete_sale(till: Till, devices: Devices | None, queue: PrintQueue | None, request: dict,
                  background: bool = False) -> dict[str, Any]:
    sale = sell(till, request)
    return {**sale, **finish(till, devices, sale, queue, background)}


def complete_return(till: Till, devices: Devices | None, queue: PrintQueue | None,
                    receipt_number: int | None, request: dict, background: bool = False) -> dict[str, Any]:
    if receipt_number is not None:  # card and MobilePay parts go back where they came from, first
        from .payments import give_back_first
        terminal, mobilepay = getattr(devices, "terminal", None), getattr(devices, "mobilepay", None)
        request = give_back_first(till, terminal, mobilepay, receipt_number, request)
    back = refund(till, receipt_number, request)
    return {**back, **finish(till, devices, back, queue, background)}
