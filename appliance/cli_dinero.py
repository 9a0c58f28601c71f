"""`till dinero ...`, `till uploader run` and `till reports send`: connecting the till to Dinero and
moving closed days there.

Secrets given on the command line (--client-secret, --api-key) can also come from the environment
(TILLBOX_DINERO_CLIENT_SECRET, TILLBOX_DINERO_API_KEY), which keeps them out of `ps`; either way
they go straight to the 0600 login file and are never printed."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

from .dinero.errors import DineroError
from .dinero.tokens import LoginNeeded, TokenStore, redact
from .services import uploader
from .services.till import Till
from .services.wake import wake_uploader
from .store.transfers import AUTO_TRANSFER_KEY

DEFAULT_API = "https://api.dinero.dk"
DEFAULT_AUTH = "https://authz.dinero.dk/dineroapi/oauth/token"


class DineroCommandError(ValueError):
    pass


def _secret(value: str | None, env: str, what: str) -> str:
    value = value or os.environ.get(env)
    if not value:
        raise DineroCommandError(f"{what} is needed (--{what.replace(' ', '-')} or {env})")
    return value


def cmd_dinero(args: argparse.Namespace, till: Till) -> Any:
    store = TokenStore(till.data_dir)
    if args.action == "connect":
        return connect(args, till, store)
    if args.action == "status":
        return status(till, store)
    if args.action == "auto":
        from .store.db import transaction
        from .store.settings import set_meta
        with transaction(till.conn):
            set_meta(till.conn, AUTO_TRANSFER_KEY, "1" if args.value == "on" else "0")
            till.journal.append("settings_change", "system",
                                {"key": AUTO_TRANSFER_KEY, "value": args.value})
        return {"auto_transfer": args.value == "on"}
    return accounts_check(till, args.create_missing)


def connect(args: argparse.Namespace, till: Till, store: TokenStore) -> dict[str, Any]:
    api_base = args.api_base or DEFAULT_API
    if args.personal:
        from .dinero.personal import connect_personal
        client_id = args.client_id or os.environ.get("TILLBOX_DINERO_CLIENT_ID")
        if not client_id:
            raise DineroCommandError("--client-id is needed")
        result = connect_personal(
            store, args.auth_url or DEFAULT_AUTH, api_base, client_id,
            _secret(args.client_secret, "TILLBOX_DINERO_CLIENT_SECRET", "client secret"),
            _secret(args.api_key, "TILLBOX_DINERO_API_KEY", "api key"),
            org_id=args.org)
        return _connected(till, result)
    if args.relay:
        from .dinero.relay_login import poll, qr_text, start_pairing
        pairing = start_pairing(args.relay)
        print(f"Scan the code or open {pairing.verification_uri_complete}\n"
              f"and enter the code {pairing.user_code}\n{qr_text(pairing.verification_uri_complete)}",
              file=sys.stderr, flush=True)
        return _connected(till, poll(pairing, store, api_base=api_base))
    raise DineroCommandError("say how to connect: --personal ... or --relay URL")


def _connected(till: Till, result: dict[str, Any]) -> dict[str, Any]:
    from .services.dinero_link import record_connection
    record_connection(till, result)
    return redact(result) or {}


def status(till: Till, store: TokenStore) -> dict[str, Any]:
    record = store.load()
    counts = dict(till.conn.execute("SELECT state, COUNT(*) FROM dinero_transfers GROUP BY state"))
    out: dict[str, Any] = {"connected": bool(record and record.get("org_id")),
                           "login": redact(record), "auto_transfer": uploader.auto_transfer(till),
                           "transfers": counts}
    if not out["connected"]:
        out["message"] = uploader.MSG_LOGIN
        return out
    try:
        client, org = uploader.connector(till)()
        try:
            orgs = {int(o["Id"]): o for o in client.organizations()}
        finally:
            client.close()
        out["organization"] = {"id": org, "name": orgs.get(org, {}).get("Name"),
                               "pro": orgs.get(org, {}).get("IsPro")}
        out["login_ok"] = True
    except LoginNeeded as exc:
        out["login_ok"] = False
        out["message"] = f"{uploader.MSG_LOGIN}: {exc}"
    except DineroError as exc:  # Dinero down or out of reach: the queue is still worth showing
        out["reachable"] = False
        out["message"] = f"Dinero could not be reached: {exc}; the transfers wait in the queue"
    return out


def accounts_check(till: Till, create_missing: bool) -> dict[str, Any]:
    from .services.dinero_link import check_accounts
    result = check_accounts(till, create_missing)
    result.pop("mapping")
    return result


def cmd_uploader(args: argparse.Namespace, till: Till) -> Any:
    up = uploader.Uploader(till, uploader.connector(till))
    if args.once:
        try:
            return up.run_once()
        finally:
            up.close()
    stopping = {"now": False}

    def stop(_signum: int, _frame: object) -> None:
        stopping["now"] = True
        wake_uploader(till.data_dir)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    up.serve(stop=lambda: stopping["now"])
    return {"stopped": True}


def cmd_reports_send(till: Till, z_number: int) -> dict[str, Any]:
    return uploader.request_send(till, z_number)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("dinero", help="connect to Dinero, status, account check")
    ds = s.add_subparsers(dest="action", required=True)
    c = ds.add_parser("connect", help="log in: --personal ... or --relay URL")
    how = c.add_mutually_exclusive_group(required=True)
    how.add_argument("--personal", action="store_true", help="Dinero's personal integration")
    how.add_argument("--relay", metavar="URL", help="pair through the Tillbox relay (Visma Connect)")
    c.add_argument("--client-id")
    c.add_argument("--client-secret")
    c.add_argument("--api-key")
    c.add_argument("--org", type=int, help="organization id (needed when the login has several)")
    c.add_argument("--api-base", help=f"Dinero API (default {DEFAULT_API})")
    c.add_argument("--auth-url", help=f"token endpoint of the personal integration (default {DEFAULT_AUTH})")
    ds.add_parser("status", help="login, organization and transfers")
    a = ds.add_parser("auto", help="transfer each Z when the day closes (on by default)")
    a.add_argument("value", choices=("on", "off"))
    a = ds.add_parser("accounts", help="check the account mapping against the Dinero chart")
    a.add_argument("check", choices=("check",))
    a.add_argument("--create-missing", action="store_true",
                   help="create missing clearing (deposit) accounts for payment types")

    s = sub.add_parser("uploader", help="post closed days to Dinero (the systemd service runs this)")
    s.add_argument("action", choices=("run",))
    s.add_argument("--once", action="store_true", help="one pass over what is due, then exit")


COMMANDS = {"dinero": cmd_dinero, "uploader": cmd_uploader}
KNOWN_ERRORS: tuple[type[Exception], ...] = (DineroCommandError, LoginNeeded, uploader.TransferError)
