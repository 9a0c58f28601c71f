"""`till mobilepay set|sim|off|show|test`: MobilePay (ePayment API) settings from a shell.

The client secret and subscription key come from TILLBOX_MOBILEPAY_CLIENT_SECRET and
TILLBOX_MOBILEPAY_SUBSCRIPTION_KEY, else from stdin (one line each, in that order; asked without echo
on a terminal), never from the command line where `ps` would show them. They go straight to the
0600 secrets file and are never printed."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from .services import mobilepay_setup as mps
from .services.till import Till

ENV_SECRETS = {"client_secret": "TILLBOX_MOBILEPAY_CLIENT_SECRET",
               "subscription_key": "TILLBOX_MOBILEPAY_SUBSCRIPTION_KEY"}


def _secret(name: str) -> str | None:
    value = os.environ.get(ENV_SECRETS[name])
    if value:
        return value.strip()
    what = name.replace("_", " ")
    if sys.stdin is None:
        return None
    if sys.stdin.isatty():
        value = getpass.getpass(f"MobilePay {what} (empty: keep the stored one): ")
    else:
        value = sys.stdin.readline()
    return value.strip() or None


def cmd_mobilepay(args: argparse.Namespace, till: Till) -> Any:
    if args.action == "set":
        spec = {"kind": "epayment", "base_url": args.url, "msn": args.msn, "client_id": args.client_id,
                "system_name": args.system_name, "system_version": args.system_version}
        mps.check_spec(spec)  # a bad setting is refused before any secret is read
        mps.set_mobilepay(till, spec, "system", client_secret=_secret("client_secret"),
                          subscription_key=_secret("subscription_key"))
        return mps.describe(till)
    if args.action == "sim":
        mps.set_mobilepay(till, mps.sim_spec(till, args.approve_after), "system")
        return mps.describe(till)
    if args.action == "off":
        mps.set_mobilepay(till, None, "system")
        return mps.describe(till)
    if args.action == "show":
        return mps.describe(till)
    return test_access(till)


def test_access(till: Till) -> dict[str, Any]:
    """Get an access token with the stored settings: OK, or why not."""
    from drivers.mobilepay.client import AuthFailed, EPaymentError, Transient

    client = mps.open_mobilepay(till, strict=True)
    if client is None:
        raise mps.MobilePaySetupError("MobilePay is off (till mobilepay set ... or till mobilepay sim)")
    try:
        client.check_access()
    except AuthFailed as exc:
        raise mps.MobilePaySetupError(f"MobilePay refused the keys: {exc}") from None
    except Transient as exc:
        raise mps.MobilePaySetupError(f"MobilePay cannot be reached: {exc}") from None
    except EPaymentError as exc:
        raise mps.MobilePaySetupError(f"MobilePay answered unexpectedly: {exc}") from None
    finally:
        client.close()
    return {"mobilepay": "OK", "url": client.base_url, "msn": client.merchant_serial_number}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("mobilepay", help="MobilePay (ePayment API): set, sim, off, show, test")
    ms = s.add_subparsers(dest="action", required=True)
    a = ms.add_parser("set", help="the ePayment API's settings; secrets from env or stdin, never here")
    a.add_argument("--url", required=True, help=f"{mps.TEST_URL} (test) or {mps.PRODUCTION_URL}")
    a.add_argument("--msn", required=True, help="merchant serial number (4-6 digits)")
    a.add_argument("--client-id", required=True)
    a.add_argument("--system-name", default="tillbox", help="Vipps-System-Name header")
    a.add_argument("--system-version", default=None, help="Vipps-System-Version header (default: the till's)")
    a = ms.add_parser("sim", help="a simulated MobilePay in the till (the customer approves on their own)")
    a.add_argument("--approve-after", type=float, default=2.0, help="seconds before the customer answers")
    ms.add_parser("off", help="no MobilePay (the stored secrets stay)")
    ms.add_parser("show", help="what is set up (no secrets)")
    ms.add_parser("test", help="get an access token: OK or why not")


COMMANDS = {"mobilepay": cmd_mobilepay}
KNOWN_ERRORS: tuple[type[Exception], ...] = (mps.MobilePaySetupError,)
