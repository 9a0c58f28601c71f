"""The `till` command: set-up, selling, cash, reports and journal checks from a shell.

Global options go before the subcommand: `till --data DIR --json close-day --counted-cash 1234.50`.
Errors print one English line on stderr (and {"error": ...} with --json) and exit non-zero."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

from . import cli_dinero, cli_mobilepay, cli_saft
from .cli_devices import COMMANDS as DEVICE_COMMANDS
from .cli_devices import DeviceCommandError, add_parsers, counter, print_job
from .dinero.errors import DineroError
from .domain.catalog import CatalogError
from .domain.money import MoneyError, format_dkk, format_kroner, parse_kroner
from .domain.roles import PermissionDenied
from .requests import pin_text
from .requests.close import close_day_request
from .requests.sale import return_request, sale_request
from .services import cash, checkout, closing, payment_types, selling, setup
from .services.devices import DeviceError, open_devices
from .services.labels import LabelError
from .services.reconciliation import reconcile_before_close
from .services.startup_check import check_on_start
from .services.till import AuthError, Till, data_dir, open_till
from .store import catalog, settings
from .store.db import StoreError
from .store.journal import last_nr, verify

EXIT_ERROR = 1
EXIT_JOURNAL_BROKEN = 3
KNOWN_ERRORS: tuple[type[Exception], ...] = (
    CatalogError, setup.SetupError, selling.SaleError, cash.CashError, closing.CloseError,
    StoreError, AuthError, PermissionDenied, MoneyError, FileNotFoundError, sqlite3.DatabaseError,
    ValueError, PermissionError, DeviceCommandError, DeviceError, LabelError, *cli_dinero.KNOWN_ERRORS,
    *cli_saft.KNOWN_ERRORS,
    DineroError, *cli_mobilepay.KNOWN_ERRORS,
)


class CliError(Exception):
    pass


# what a command refuses with one line on stderr and exit 1 (never a traceback)
REFUSALS: tuple[type[Exception], ...] = (CliError, *KNOWN_ERRORS)


MAX_JSON_IN = 1_000_000  # characters: a sale of MAX_LINES lines is far below this


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number the till takes")


def _read_json(path: str) -> dict:
    """A JSON object from a file or stdin ('-'); NaN and infinities are refused, not read."""
    try:
        text = sys.stdin.read(MAX_JSON_IN + 1) if path == "-" else Path(path).read_text(encoding="utf-8")
        if len(text) > MAX_JSON_IN:
            raise CliError(f"cannot read JSON from {path}: more than {MAX_JSON_IN} characters")
        data = json.loads(text, parse_constant=_no_constant)
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise CliError(f"cannot read JSON from {path}: {' '.join(str(exc).split())}") from exc
    except RecursionError:
        raise CliError(f"cannot read JSON from {path}: nested too deeply") from None
    if not isinstance(data, dict):
        raise CliError("the JSON input must be an object")
    return data


def _shop(till: Till) -> dict[str, str]:
    return settings.shop(till.conn)


def cmd_init(args: argparse.Namespace) -> Any:
    cert = Path(args.certificate).read_bytes() if args.certificate else None
    key = Path(args.key).read_bytes() if args.key else None
    with setup.init_shop(args.data, args.shop_name, args.cvr, args.address, args.register_id,
                         certificate=cert, key=key) as till:
        shop = _shop(till)
    return {**shop, "data": str(args.data), "certificate": "oces" if cert else "self-signed"}


def cmd_catalog(args: argparse.Namespace, till: Till) -> Any:
    if args.action == "import":
        try:
            text = Path(args.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"cannot read {args.file}: {exc}") from exc
        result = setup.import_catalog(till, text)
        return {k: v for k, v in result.items() if k != "price_changes"}
    return [{"sku": p.sku, "name": p.name, "price": format_kroner(p.price), "vat_rate": p.vat_rate,
             "group": p.group, "barcodes": list(p.barcodes)} for p in catalog.all_products(till.conn)]


def cmd_accounts(args: argparse.Namespace, till: Till) -> Any:
    if args.action == "set":
        setup.set_account(till, args.key, args.number)
    return settings.accounts(till.conn)


def cmd_cashier(args: argparse.Namespace, till: Till) -> Any:
    if args.action == "add":
        pin = args.pin or os.environ.get("TILLBOX_PIN")
        if not pin:
            raise CliError("a cashier needs a PIN (--pin or TILLBOX_PIN)")
        setup.add_cashier(till, args.id, args.name or args.id, args.role, pin)
    return [{"id": c.id, "name": c.name, "role": c.role.value}
            for c in settings.cashiers(till.conn)]


def _signed_in(till: Till, raw: dict, schema: Any) -> dict:
    """A sale or return from the shell: checked whole against its schema, then its cashier's PIN
    ("pin" in the request, else TILLBOX_PIN; never an option, so it stays out of shell history),
    and a manager's approval it carries, each through the lockout (`Till.cashier`)."""
    request = schema(raw)
    pin = request.pop("pin", None) or os.environ.get("TILLBOX_PIN")
    if not pin:
        raise CliError('a sale or return from the shell needs the cashier\'s PIN: "pin" in the request '
                       "or TILLBOX_PIN")
    try:
        pin_text(pin)
    except ValueError:
        raise CliError("TILLBOX_PIN must be 4 to 6 digits") from None
    till.cashier(request["cashier"], pin)
    manager = request.get("manager")
    if manager:
        till.cashier(manager.get("id", request["cashier"]), manager["pin"])
    return request


def cmd_sell(args: argparse.Namespace, till: Till) -> Any:
    request = _signed_in(till, _read_json(args.json_in), sale_request)
    off = payment_types.switched_off(till, request.get("payments"))
    if off:
        raise CliError(f"payment type(s) switched off in Settings: {', '.join(off)}")
    # a card payment goes through an integrated terminal when one is set up, as at the kiosk
    with counter(till, ("printer", "drawer", "terminal")) as (devices, queue):
        return checkout.complete_sale_through_terminal(till, devices, queue, request)


def cmd_return(args: argparse.Namespace, till: Till) -> Any:
    request = _signed_in(till, _read_json(args.json_in), return_request)
    if closing.terminal_configured(till) and any(
            p.get("type") == "card" for p in request.get("payments") or []):
        # a card refund named by hand would be recorded with no money moving: it goes back through
        # the terminal, to the card it came from, as at the kiosk
        raise CliError('with an integrated card terminal a card refund goes back through it: leave out '
                       '"payments" and the return is given back to the card the receipt was paid with')
    with counter(till, ("printer", "drawer", "terminal")) as (devices, queue):
        return checkout.complete_return(till, devices, queue, args.receipt, request)


def cmd_receipt(args: argparse.Namespace, till: Till) -> Any:
    """A copy of a receipt: journalled, and printed marked KOPI."""
    selling.receipt_copy(till, args.number, args.cashier)
    return print_job(till, "copy", args.number)


def cmd_cash(args: argparse.Namespace, till: Till) -> Any:
    with counter(till) as (devices, _queue):
        result = cash.move_cash(till, args.direction, args.amount, args.text or "", args.cashier,
                                args.pin, devices)
    return {**result, "amount": format_kroner(result["amount"])}


def cmd_drawer(args: argparse.Namespace, till: Till) -> Any:
    with counter(till) as (devices, _queue):
        return cash.no_sale(till, args.cashier, args.reason or "", args.pin, devices)


def _maybe_print(args: argparse.Namespace, till: Till, report: dict, journal_nr: int) -> dict:
    if getattr(args, "print", False):
        return {**report, "print": print_job(till, "report", journal_nr)}
    return report


def cmd_report(args: argparse.Namespace, till: Till) -> Any:
    report = closing.x_report(till, args.cashier)
    return _maybe_print(args, till, report, last_nr(till.conn))


def cmd_close_day(args: argparse.Namespace, till: Till) -> Any:
    """Reconciles an integrated card terminal first, as the kiosk's end of day does, so the Z holds
    it; a terminal that does not answer is reported and the day is closed anyway."""
    checked = close_day_request(args.counted_cash, args.to_bank, args.denominations).plain()
    args.counted_cash, args.to_bank, args.denominations = (
        checked["counted_cash"], checked["to_bank"], checked["denominations"])
    _counts, counted, bank = closing.close_amounts(args.counted_cash, args.to_bank, args.denominations)
    devices = open_devices(till, ("terminal",))
    try:
        _rec, why_not = reconcile_before_close(till, devices.terminal, args.cashier, counted, bank)
    finally:
        devices.close()
    if why_not is not None:
        print(f"warning: {why_not}; the Z says the reconciliation is missing", file=sys.stderr)
    report = closing.close_day(till, args.counted_cash, args.to_bank, args.denominations,
                               args.cashier)
    return _maybe_print(args, till, report, closing.z_journal_nr(till, report["z_number"]))


def cmd_reports(args: argparse.Namespace, till: Till) -> Any:
    if args.action == "list":
        return closing.list_reports(till)
    if args.action == "send":
        return cli_dinero.cmd_reports_send(till, args.z_number)
    report, pdf = closing.get_report(till, args.z)
    if args.pdf:
        Path(args.pdf).write_bytes(pdf)
    return _maybe_print(args, till, report, closing.z_journal_nr(till, report["z_number"]))


def cmd_journal(args: argparse.Namespace, till: Till) -> Any:
    result = verify(till.conn, settings.get_meta(till.conn, "cvr") or "")
    out: dict[str, Any] = {"ok": result.ok, "entries": result.entries, "transactions": result.transactions,
                           "first_bad": result.first_bad, "problem": result.problem}
    if not result.ok:
        raise JournalBroken(out)
    if args.against_dinero:  # then the anchors outside the box, which see what the chain cannot
        from .services.outside_check import check_against_dinero
        from .services.uploader import connector

        client, org = connector(till)()
        try:
            outside = check_against_dinero(till, client, org).as_dict()
        finally:
            client.close()
        out["dinero"] = outside
        if not outside["ok"]:
            raise JournalBroken(out | {"ok": False, "first_bad": None, "problem": outside["problems"][0]})
    return out


def cmd_kiosk(args: argparse.Namespace) -> int:
    """The kiosk owns the process: Kivy must be set up before it is imported."""
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError as exc:
        raise CliError(f"--size must be WIDTHxHEIGHT, e.g. 800x480, not {args.size!r}") from exc
    if args.simulate:
        from .ui.simulate import ensure_demo_shop
        ensure_demo_shop(args.data)
    if args.tour:
        if not args.simulate:
            raise CliError("--tour runs on the demo shop: add --simulate")
        from .ui.tour import run_tour
        shots = run_tour(args.data, Path(args.tour), (width, height), only=args.screen)
        print(json.dumps({"screenshots": [str(p) for p in shots]}, ensure_ascii=False, indent=2))
        return 0
    from .ui.driver import prepare
    prepare(offscreen=bool(os.environ.get("SDL_VIDEODRIVER") == "offscreen"), size=(width, height))
    from .services.clock_trust import OVERRIDE_ENV, check
    from .ui.app import run_kiosk
    # the demo shop trusts the clock (TILLBOX_CLOCK_TRUSTED=0 shows the waiting screen anyway)
    gate = None if args.simulate and os.environ.get(OVERRIDE_ENV) != "0" else check
    run_kiosk(args.data, kiosk=not args.windowed, clock_gate=gate)
    return 0


def cmd_demo(args: argparse.Namespace) -> Any:
    from .services.demo import run_demo
    return run_demo(args.data, args.days, seed=args.seed)


class JournalBroken(Exception):
    def __init__(self, result: dict):
        self.result = result
        where = f" at entry {result['first_bad']}" if result.get("first_bad") is not None else ""
        super().__init__(f"journal broken{where}: {result['problem']}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="till", description="Tillbox till")
    p.add_argument("--data", help="data folder (default $TILLBOX_DATA, else /var/lib/tillbox)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("init", help="set up a new till")
    s.add_argument("--shop-name", required=True)
    s.add_argument("--cvr", required=True)
    s.add_argument("--address", required=True)
    s.add_argument("--register-id", default="1")
    s.add_argument("--certificate", help="OCES certificate (PEM) instead of a self-signed one")
    s.add_argument("--key", help="the OCES certificate's private key (PEM)")

    s = sub.add_parser("catalog", help="products")
    cs = s.add_subparsers(dest="action", required=True)
    cs.add_parser("import").add_argument("file")
    cs.add_parser("list")

    s = sub.add_parser("accounts", help="account mapping")
    acs = s.add_subparsers(dest="action", required=True)
    a = acs.add_parser("set")
    a.add_argument("key")
    a.add_argument("number")
    acs.add_parser("show")

    s = sub.add_parser("cashier", help="cashiers and managers")
    cas = s.add_subparsers(dest="action", required=True)
    a = cas.add_parser("add")
    a.add_argument("id")
    a.add_argument("--name")
    a.add_argument("--role", choices=("cashier", "manager"), default="cashier")
    a.add_argument("--pin", help="4-6 digits (or TILLBOX_PIN)")
    cas.add_parser("list")

    sub.add_parser("sell", help="complete a sale").add_argument("--json-in", required=True)
    s = sub.add_parser("return", help="return against a receipt (or, without one, a free return)")
    s.add_argument("--receipt", type=int)
    s.add_argument("--json-in", required=True)

    s = sub.add_parser("cash", help="opening float, cash in, cash out to bank")
    s.add_argument("direction", choices=("in", "out", "float"))
    s.add_argument("--amount", required=True)
    s.add_argument("--text", default="")
    s.add_argument("--cashier", default="system")
    s.add_argument("--pin")

    s = sub.add_parser("drawer", help="open the drawer without a sale")
    s.add_argument("action", choices=("open",))
    s.add_argument("--reason", default="")
    s.add_argument("--cashier", default="system")
    s.add_argument("--pin")

    s = sub.add_parser("receipt", help="a copy of a receipt, printed marked KOPI")
    s.add_argument("action", choices=("copy",))
    s.add_argument("number", type=int)
    s.add_argument("--cashier", default="system")

    s = sub.add_parser("report", help="X report (does not close the day)")
    s.add_argument("kind", choices=("x",))
    s.add_argument("--cashier", default="system")
    s.add_argument("--print", action="store_true", help="also print it on the receipt printer")

    s = sub.add_parser("close-day", help="Z report: count the cash and close the day")
    s.add_argument("--counted-cash")
    s.add_argument("--denominations", help="e.g. 500:2,200:1,20:3,0.50:4")
    s.add_argument("--to-bank")
    s.add_argument("--cashier", default="system")
    s.add_argument("--print", action="store_true", help="also print it on the receipt printer")

    s = sub.add_parser("reports", help="closed days")
    rs = s.add_subparsers(dest="action", required=True)
    rs.add_parser("list")
    a = rs.add_parser("show")
    a.add_argument("--z", type=int, help="Z number (default: the last)")
    a.add_argument("--last", action="store_true")
    a.add_argument("--pdf", help="also write the report's PDF here")
    a.add_argument("--print", action="store_true", help="also print it on the receipt printer")
    a = rs.add_parser("send", help="send a closed day to Dinero (again)")
    a.add_argument("z_number", type=int)

    s = sub.add_parser("journal", help="the signed journal")
    s.add_argument("action", choices=("verify",))
    s.add_argument("--against-dinero", action="store_true",
                   help="also compare the journal with the Z anchors in Dinero (cut-off end, older copy, "
                        "re-signed history)")

    s = sub.add_parser("demo", help="fill a data folder with a believable shop and close each day")
    s.add_argument("--days", type=int, default=1)
    s.add_argument("--seed", type=int, default=1)
    add_parsers(sub)
    cli_dinero.add_parsers(sub)
    cli_mobilepay.add_parsers(sub)
    cli_saft.add_parsers(sub)
    s = sub.add_parser("terminal-sim", help="the card terminal simulator (nexo, Adyen local security)",
                       add_help=False)
    s.add_argument("args", nargs=argparse.REMAINDER)

    s = sub.add_parser("kiosk", help="the touchscreen till")
    s.add_argument("--simulate", action="store_true", help="simulated devices and a demo shop")
    s.add_argument("--tour", metavar="DIR", help="walk every screen offscreen, one PNG each, then exit")
    s.add_argument("--screen", help="with --tour: only this screen, the first opened after logging in")
    s.add_argument("--windowed", action="store_true", help="a window instead of full screen (development)")
    s.add_argument("--size", default="1280x800", help="window size, e.g. 800x480")
    return p


TILL_COMMANDS = {
    "catalog": cmd_catalog, "accounts": cmd_accounts, "cashier": cmd_cashier, "sell": cmd_sell,
    "return": cmd_return, "cash": cmd_cash, "drawer": cmd_drawer, "report": cmd_report,
    "close-day": cmd_close_day, "reports": cmd_reports, "journal": cmd_journal,
    "receipt": cmd_receipt, **DEVICE_COMMANDS, **cli_dinero.COMMANDS,
    **cli_mobilepay.COMMANDS, **cli_saft.COMMANDS,
}


def human(args: argparse.Namespace, result: Any, shop: dict | None) -> str:
    """Plain output for a person at the shell."""
    if args.command in ("sell", "return") and shop:
        from .render.receipt_text import render_receipt_text
        return render_receipt_text(result, shop)
    if (args.command in ("report", "close-day", "demo") or
            (args.command == "reports" and args.action == "show")) and shop:
        from .render.report_text import render_report_text
        return render_report_text(result if args.command != "demo" else result["last_z"], shop)
    if args.command == "reports" and args.action == "list":
        rows = [f"Z {r['z_number']:>5}  {r['business_date']}  "
                f"{format_dkk(parse_kroner(r['net_sales'])):>16}  "
                f"Dinero: {_transfer_text(r)}" for r in result]
        return "\n".join(rows) or "no closed days yet"
    if args.command in cli_saft.COMMANDS:
        return cli_saft.human(args.command, result) or ""
    if args.command == "journal":
        text = (f"journal OK: {result['entries']} entries and {result['transactions']} cash transactions, "
                "chains, signatures and Z anchors verified")
        outside = result.get("dinero")
        if outside is None:
            return text
        if not outside["anchors"]:
            return text + ("\nDinero: no Z with an anchor has reached Dinero yet, so nothing outside "
                           "the till vouches for this journal")
        return text + (f"\nDinero: {outside['anchors']} Z anchors agree with this journal (newest Z "
                       f"{outside['newest_z']}, journal entry {outside['newest_journal_nr']})")
    if isinstance(result, list):
        return "\n".join(json.dumps(r, ensure_ascii=False) for r in result)
    if isinstance(result, dict):
        return "\n".join(f"{k}: {v}" for k, v in result.items())
    return str(result)


def _transfer_text(r: dict) -> str:
    """The transfer state as the shop reads it."""
    if r["state"] == "sent":
        return f"overført {r['transferred_at']}"
    if r["state"] == "failed":
        return f"fejlet: {r['error']}"
    if r["state"] == "queued":
        return "i kø" + (f" ({r['error']})" if r.get("error") else "")
    return "ikke sendt"


def run(argv: list[str]) -> int:
    if "terminal-sim" in argv:  # the simulator takes its own options (argparse would eat them)
        from drivers.terminal.simulator import main as simulator
        return simulator(argv[argv.index("terminal-sim") + 1:])
    args = parser().parse_args(argv)
    args.data = data_dir(args.data)
    shop = None
    try:
        if args.command == "kiosk":
            return cmd_kiosk(args)
        if args.command == "init":
            result = cmd_init(args)
        elif args.command == "demo":
            result = cmd_demo(args)
            with open_till(args.data) as till:
                shop = _shop(till)
        else:
            with open_till(args.data) as till:
                till.journal.strict = True  # a clock behind the journal is refused, not stepped over
                if not reads_only(args):
                    started = check_on_start(till)
                    if not started.ok:  # nothing goes on top of a journal that does not verify
                        raise JournalBroken({"ok": False, "entries": started.entries,
                                             "first_bad": started.first_bad, "problem": started.problem})
                result = TILL_COMMANDS[args.command](args, till)
                shop = _shop(till)
    except JournalBroken as exc:
        _fail(args, str(exc), exc.result)
        return EXIT_JOURNAL_BROKEN
    except REFUSALS as exc:
        _fail(args, str(exc))
        return EXIT_ERROR
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        print(human(args, result, shop))
    return 0


def reads_only(args: argparse.Namespace) -> bool:
    """Commands that only read (and so may look at a journal that fails its start-up check)."""
    return (args.command == "journal" or (args.command == "certificate" and args.action == "show")
            or (args.command == "reports" and args.action in ("list", "show"))
            or (args.command == "dinero" and args.action == "status"))


def _fail(args: argparse.Namespace, message: str, extra: dict | None = None) -> None:
    logging.getLogger("till").info("event=cli_error command=%s", args.command)
    if args.json:
        print(json.dumps({"error": message, **(extra or {})}, ensure_ascii=False))
    print(f"till: error: {message}", file=sys.stderr)


def main() -> None:
    # Everything the till writes under DATA (the database and its WAL, keys, secrets, exports, the
    # simulated devices' output) is the shop's record: 0600 files in 0700 folders, whoever runs it.
    os.umask(0o077)
    logging.basicConfig(
        level=os.environ.get("TILLBOX_LOG", "WARNING").upper(), stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # our client logs each request itself
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    try:
        sys.exit(run(sys.argv[1:]))
    except BrokenPipeError:  # output piped into head and the like
        sys.stderr.close()
        sys.exit(0)


if __name__ == "__main__":
    main()
