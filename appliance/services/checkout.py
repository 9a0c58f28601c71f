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


def complete_sale_through_terminal(till: Till, devices: Devices | None, queue: PrintQueue | None,
                                   request: dict) -> dict[str, Any]:
    """`till sell` on a till with an integrated card terminal: each card payment in the request is
    taken on the terminal first, as the kiosk takes it, and the sale records the approved payment
    (brand, the terminal's transaction id). A card payment is never recorded as paid without the
    terminal: a decline, an unknown outcome or a sale that cannot be completed gives back what was
    approved and writes no sale. A card payment naming a `reference` must be one the terminal
    approved that no sale carries yet (`payments.unsold_payments`). Without an integrated terminal
    (or in training) card payments are recorded as given: a stand-alone terminal, as before."""
    from drivers.terminal.client import TerminalError

    from ..domain.money import MoneyError, parse_kroner
    from ..domain.tenders import PaymentError
    from ..domain.tenders import settle as settle_tenders
    from .payments import UNKNOWN, CardOutcome, new_service_id, pay_by_card, reverse, settle, unsold_payments
    from .selling import SaleError, build_basket, parse_payments

    terminal = getattr(devices, "terminal", None)
    specs = request.get("payments")
    if terminal is None or request.get("training") or not isinstance(specs, list) or not any(
            isinstance(p, dict) and p.get("type") == "card" for p in specs):
        return complete_sale(till, devices, queue, request)
    who = till.cashier(request.get("cashier", ""), request.get("pin"))
    basket, _actions = build_basket(till, request, who)  # refused here, before a card is charged
    try:
        settle_tenders(sum(p.total for p in basket.priced()), parse_payments(request))
    except PaymentError as exc:
        raise SaleError(str(exc)) from exc
    unsold = {o.poi_transaction_id: o for o in unsold_payments(till)}
    sale_ref = f"CLI-{new_service_id()}"
    taken: list[CardOutcome] = []

    def give_back(why: str) -> SaleError:
        failed = [o for o in taken if not reverse(till, terminal, o, who.id, sale_ref).approved]
        if failed:
            why += ("; giving back the approved card payment failed too: the kiosk offers it for the next "
                    "sale, or give it back from there")
        return SaleError(why)

    paid = []
    for spec in specs:
        if not isinstance(spec, dict) or spec.get("type") != "card":
            paid.append(spec)
            continue
        try:
            amount = parse_kroner(spec.get("amount", ""))
        except MoneyError as exc:
            raise give_back(str(exc)) from exc
        if spec.get("reference"):
            known = unsold.get(str(spec["reference"]))
            if known is None or known.amount != amount:
                raise give_back(f"card payment {spec['reference']} is not an approved terminal payment of "
                                f"{spec.get('amount')} that no sale carries; leave out the reference and the "
                                "terminal takes the payment")
            paid.append(known.payment())
            continue
        outcome = pay_by_card(till, terminal, amount, who.id, sale_ref)
        if outcome.state == UNKNOWN:  # abort what may still run, then ask once more
            try:
                terminal.abort(outcome.service_id)
            except TerminalError:  # the status below decides
                pass
            outcome = settle(till, terminal, outcome.service_id, who.id) or outcome
        if outcome.approved:
            taken.append(outcome)
        if outcome.approved and outcome.signature:
            raise give_back("the card asks for a signature, which the cashier checks at the kiosk; "
                            "take this payment there")
        if not outcome.approved:
            state = "unknown (it is settled at the next start)" if outcome.state == UNKNOWN else "declined"
            raise give_back(f"the card payment of {spec.get('amount')} was {state}; nothing was sold")
        paid.append(outcome.payment())
    try:
        return complete_sale(till, devices, queue, {**request, "payments": paid})
    except (ValueError, PermissionError) as exc:  # SaleError, AuthError, ...: refused, nothing written
        raise give_back(f"{exc} (the card payment was given back)") from exc
    except BaseException:
        give_back("")
        raise


def complete_return(till: Till, devices: Devices | None, queue: PrintQueue | None,
                    receipt_number: int | None, request: dict, background: bool = False,
                    rest_tender: str | None = None) -> dict[str, Any]:
    """A return: card and MobilePay parts go back where they came from first. When one of them is
    declined (`payments.RefundIncomplete`), the cashier chooses how the customer gets the rest and
    calls again with `rest_tender` (e.g. "cash"): the return is then written with what went back."""
    forced = False
    if receipt_number is not None:
        from .payments import give_back_first
        terminal, mobilepay = getattr(devices, "terminal", None), getattr(devices, "mobilepay", None)
        request, forced = give_back_first(till, terminal, mobilepay, receipt_number, request, rest_tender)
    back = refund(till, receipt_number, request, after_failed_refund=forced)
    return {**back, **finish(till, devices, back, queue, background)}
