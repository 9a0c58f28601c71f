"""Shelf and product labels: which products, and what each label says (in Danish).

Labels are picked by SKU, by product group, or by price changed (or product added) since a date,
so after a price import the shop prints exactly the labels that went stale. A product with no
13-digit code gets no label and is named in the result, rather than a label that cannot scan."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from ..domain.barcodes import make_price_code, rcn_kind
from ..domain.catalog import Product
from ..domain.money import format_dkk
from ..domain.units import parse_content, unit_price_text
from ..store.catalog import select_products
from .devices import Devices, label_layout
from .till import Till

if TYPE_CHECKING:
    from drivers.printer.label import Label, LabelLayout

log = logging.getLogger(__name__)


class LabelError(ValueError):
    pass


@dataclass(frozen=True)
class LabelPlan:
    labels: list[Label]
    skipped: list[str]  # SKUs without a 13-digit code


def product_label(product: Product) -> Label | None:
    from drivers.printer.label import Label

    code = next((c for c in product.barcodes if len(c) == 13 and c.isdigit()), None)
    if code is None:
        return None
    kind = rcn_kind(code)
    if kind == "price":  # our own in-store price code: the label's code carries today's price
        code = make_price_code(code[:2], code[2:6], product.price)
    by_weight = kind == "weight"
    content = parse_content(product.content) if product.content else None
    price = format_dkk(product.price, suffix=False) + (" kr/kg" if by_weight else " kr")
    return Label(name=product.name, price=price, ean13=code,
                 unit_price=None if by_weight else unit_price_text(product.price, content),
                 sku=product.sku)


def plan_labels(till: Till, *, sku: str | None = None, group: str | None = None,
                changed_since: date | None = None) -> LabelPlan:
    if sku is None and group is None and changed_since is None:
        raise LabelError("say which labels: a SKU, a product group or a date")
    products = select_products(till.conn, sku=sku, group=group,
                               changed_since=changed_since.isoformat() if changed_since else None)
    if sku is not None and not products:
        raise LabelError(f"unknown SKU {sku}")
    if group is not None and sku is None and not products:
        raise LabelError(f"no products in group {group!r}")
    labels, skipped = [], []
    for p in products:
        label = product_label(p)
        if label is None:
            skipped.append(p.sku)
        else:
            labels.append(label)
    return LabelPlan(labels, skipped)


def print_labels(till: Till, devices: Devices, plan: LabelPlan,
                 layout: LabelLayout | None = None) -> dict[str, Any]:
    from drivers.printer.base import LabelPrinterUnavailable

    if devices.labels is None:
        raise LabelError("no label printer is set up (till hw set labels ...)")
    layout = layout or label_layout(till)
    if plan.labels:
        try:
            devices.labels.print_labels(plan.labels, layout)
        except LabelPrinterUnavailable as exc:
            raise LabelError(f"the label printer did not answer: {exc}") from exc
        except ValueError as exc:  # a layout this printer's media cannot hold
            raise LabelError(f"the label layout does not fit this printer: {exc}") from exc
    log.info("event=labels_printed count=%d skipped=%d", len(plan.labels), len(plan.skipped))
    return {"printed": len(plan.labels), "skipped": plan.skipped,
            "skus": [lb.sku for lb in plan.labels]}
