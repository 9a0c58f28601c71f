"""The `till hw`, `till labels` and `till print` commands, and the devices a CLI command uses.

`hw list` shows what is set up and what is plugged in; `hw set ROLE JSON` saves a device (checked
first); `hw sim` sets every role to its simulated twin; `hw test ROLE` prints a test receipt, pulses
the drawer, waits for a scan or prints a test label."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from drivers.printer.document import Barcode, Document, Feed, Text

from .services import devices as dev
from .services.drawer import open_drawer
from .services.labels import plan_labels, print_labels
from .services.printing import LOGO_FILE, PrintQueue, pending_jobs, queue_job
from .services.till import Till
from .store import settings
from .store.db import transaction


class DeviceCommandError(ValueError):
    pass


@contextmanager
def counter(till: Till, roles: tuple[str, ...] = ("printer", "drawer")) -> Iterator[
        tuple[dev.Devices, PrintQueue | None]]:
    """The devices at the counter for one CLI command, closed afterwards."""
    devices = dev.open_devices(till, roles)
    queue = PrintQueue(till, devices.printer) if devices.specs.get("printer") else None
    try:
        yield devices, queue
    finally:
        devices.close()


def print_job(till: Till, kind: str, ref: int | None = None, document: Document | None = None) -> dict:
    """Queue one job and give the printer one pass at the queue (the CLI does not linger)."""
    with counter(till, ("printer",)) as (_devices, queue):
        if queue is None:
            raise DeviceCommandError("no receipt printer is set up (till hw set printer ... or till hw sim)")
        job = queue_job(till, kind, ref, document)
        return {"job": job, **queue.pump().to_json()}


def test_document(till: Till) -> Document:
    shop = settings.shop(till.conn)
    return Document((
        Text("TESTBON", "center", bold=True, large=True),
        Text(shop.get("shop_name", ""), "center"),
        Text(till.now().strftime("%d-%m-%Y %H:%M"), "center"),
        Feed(),
        Text("Æ Ø Å æ ø å é  1.234,50 kr"),
        Text("Rødgrød med fløde: 49,95 kr", bold=True),
        Barcode("R0"),
        Barcode("5701234567899", "EAN13"),
    ), meta={"kind": "test"})


def cmd_hw(args: argparse.Namespace, till: Till) -> Any:
    if args.action == "list":
        return hw_list(till)
    if args.action == "set":
        spec = None if args.spec in ("none", "") else _spec(args.spec)
        return {"role": args.role, "spec": dev.set_device(till, args.role, spec, "system")}
    if args.action == "sim":
        base = till.data_dir / "sim"
        return {role: dev.set_device(till, role, spec, "system")
                for role, spec in dev.sim_specs(base).items()}
    if args.action == "layout":
        return vars(dev.set_label_layout(till, _spec(args.spec), "system"))
    if args.action == "logo":
        return set_logo(till, args.file)
    if args.action == "terminal-key":
        return set_terminal_key(till)
    return hw_test(till, args.role, args.timeout)


def set_logo(till: Till, file: str) -> dict[str, Any]:
    """The receipt's logo: any PNG (the printer dithers and scales it); `none` removes it."""
    from PIL import Image, UnidentifiedImageError

    target = till.data_dir / LOGO_FILE
    if file == "none":
        target.unlink(missing_ok=True)
        return {"logo": None}
    try:
        data = Path(file).read_bytes()
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
            fmt, size = img.format, img.size
    except (OSError, UnidentifiedImageError) as exc:
        raise DeviceCommandError(f"cannot use {file} as the logo: {exc}") from exc
    if fmt != "PNG" or not (8 <= size[0] <= 4000 and 8 <= size[1] <= 4000):
        raise DeviceCommandError(f"the logo must be a PNG of 8 to 4000 pixels a side (got {fmt} {size})")
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    with transaction(till.conn):
        till.journal.append("settings_change", "system",
                            {"key": "receipt.logo", "value": f"{size[0]}x{size[1]} PNG"})
    return {"logo": str(target), "width": size[0], "height": size[1]}


def set_terminal_key(till: Till) -> dict[str, Any]:
    """The card terminal's shared-key passphrase, from TILLBOX_TERMINAL_PASSPHRASE or stdin (never
    the command line), into secrets/terminal.json (0600); journalled without the secret."""
    import os
    import sys

    from drivers.terminal.security import PassphraseError, check_passphrase

    from .dinero.tokens import TokenStore
    # Only the line's end comes off: Adyen derives the key from the passphrase exactly as given.
    passphrase = os.environ.get("TILLBOX_TERMINAL_PASSPHRASE") or sys.stdin.readline().rstrip("\r\n")
    if len(passphrase) < 8:
        raise DeviceCommandError("the terminal passphrase must be at least 8 characters "
                                 "(TILLBOX_TERMINAL_PASSPHRASE or one line on stdin)")
    try:
        check_passphrase(passphrase)
    except PassphraseError as exc:
        raise DeviceCommandError(f"{exc}. Nothing was stored") from exc
    TokenStore(till.data_dir, "terminal").update(passphrase=passphrase)
    with transaction(till.conn):
        till.journal.append("settings_change", "system", {"key": "terminal.passphrase", "value": "set"})
    return {"terminal_key": "set"}


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number a device takes")


def _spec(text: str) -> dict[str, Any]:
    try:
        spec = json.loads(text, parse_constant=_no_constant)  # NaN and infinities are refused
    except ValueError as exc:  # JSONDecodeError, and _no_constant's
        raise DeviceCommandError(f"the device spec is not JSON: {exc}") from exc
    except RecursionError:
        raise DeviceCommandError("the device spec is not JSON: nested too deeply") from None
    if not isinstance(spec, dict):
        raise DeviceCommandError('the device spec must be a JSON object, e.g. {"kind": "sim", ...}')
    return spec


def hw_list(till: Till) -> dict[str, Any]:
    from drivers.detect import detect

    configured = dev.device_settings(till)
    out: dict[str, Any] = {"configured": configured, "found": [
        {"kind": f.kind, "name": f.name, "spec": f.spec, "detail": f.detail} for f in detect()]}
    if configured.get("printer"):
        with counter(till, ("printer",)) as (devices, _queue):
            status = devices.printer.status() if devices.printer is not None else None
        out["printer_status"] = vars(status) if status is not None else None
        out["print_queue"] = pending_jobs(till.conn)
    return out


def hw_test(till: Till, role: str, timeout: float) -> dict[str, Any]:
    if role == "printer":
        return print_job(till, "document", document=test_document(till))
    if role == "drawer":
        with counter(till, ("printer", "drawer")) as (devices, _queue):
            if devices.drawer is None:
                raise DeviceCommandError("no cash drawer is set up")
            return open_drawer(till, devices, "system", "test")
    if role == "scanner":
        with counter(till, ("scanner",)) as (devices, _queue):
            if devices.scanner is None:
                raise DeviceCommandError("no scanner is set up")
            devices.start_watching()
            scan = dev.wait_scan(devices, timeout)
        if scan is None:
            raise DeviceCommandError(f"no scan within {timeout:g} s")
        from .domain.basket import Basket
        from .services.scanning import scan_into_basket

        outcome = scan_into_basket(till, Basket(), scan)
        return {"code": scan.code, "source": scan.source,
                "product": outcome.line.name if outcome.line else None,
                "receipt_number": outcome.receipt_number, "message": outcome.message}
    if role == "labels":
        from drivers.printer.label import Label

        with counter(till, ("labels",)) as (devices, _queue):
            label = Label(name="Testetiket æøå ÆØÅ", price="12,50 kr", ean13="5701234567899",
                          unit_price="Kilopris 25,00 kr/kg")
            from .services.labels import LabelPlan
            return print_labels(till, devices, LabelPlan([label], []))
    raise DeviceCommandError(f"unknown device {role!r}")


def cmd_labels(args: argparse.Namespace, till: Till) -> Any:
    since = None
    if args.changed_since:
        try:
            since = date.fromisoformat(args.changed_since)
        except ValueError as exc:
            raise DeviceCommandError(f"--changed-since needs a date like 2026-11-22: {exc}") from exc
    plan = plan_labels(till, sku=args.sku, group=args.group, changed_since=since)
    with counter(till, ("labels",)) as (devices, _queue):
        return print_labels(till, devices, plan)


def cmd_print(args: argparse.Namespace, till: Till) -> Any:
    """Print the queue again after a printer came back (`till print retry`), or show it."""
    if args.action == "status":
        return {"pending": pending_jobs(till.conn)}
    with counter(till, ("printer",)) as (_devices, queue):
        if queue is None:
            raise DeviceCommandError("no receipt printer is set up")
        return queue.pump().to_json()


def add_parsers(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("hw", help="devices: list, set, sim, test")
    hs = s.add_subparsers(dest="action", required=True)
    hs.add_parser("list", help="what is set up and what is plugged in")
    a = hs.add_parser("set", help="set a device: ROLE JSON-spec (or none)")
    a.add_argument("role", choices=dev.ROLES)
    a.add_argument("spec")
    hs.add_parser("sim", help="use simulated devices for every role (under DATA/sim)")
    a = hs.add_parser("layout", help="label size and layout, as JSON")
    a.add_argument("spec")
    hs.add_parser("terminal-key",
                  help="the card terminal's passphrase (env TILLBOX_TERMINAL_PASSPHRASE or stdin)")
    a = hs.add_parser("logo", help="the receipt logo: a PNG file, or none")
    a.add_argument("file")
    a = hs.add_parser("test", help="test one device")
    a.add_argument("role", choices=dev.ROLES)
    a.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a scan")

    s = sub.add_parser("labels", help="print shelf labels")
    s.add_argument("action", choices=("print",))
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--sku")
    g.add_argument("--group")
    g.add_argument("--changed-since", help="price changed or product added on or after this date")

    s = sub.add_parser("print", help="the receipt printer's queue")
    s.add_argument("action", choices=("status", "retry"))


COMMANDS = {"hw": cmd_hw, "labels": cmd_labels, "print": cmd_print}
