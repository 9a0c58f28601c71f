"""`till saft export` and `till certificate show|rotate`: the SAF-T Cash Register DK export from a
shell, the signing certificate in use, and the journalled change to a new one."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .services.certificate import certificate_info
from .services.saft_export import ExportError, export, parse_day
from .services.till import Till

KNOWN_ERRORS: tuple[type[Exception], ...] = (ExportError,)


def add_parsers(sub: Any) -> None:
    s = sub.add_parser("saft", help="SAF-T Cash Register DK export for the tax authority")
    ss = s.add_subparsers(dest="action", required=True)
    e = ss.add_parser("export", help="write a period as SAF-T files and print their paths")
    e.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD")
    e.add_argument("--to", dest="end", required=True, help="last day, YYYY-MM-DD")
    e.add_argument("--out", help="folder for the files (default DATA/exports)")
    s = sub.add_parser("certificate", help="the journal's signing certificate")
    s.add_argument("action", choices=("show", "rotate"),
                   help="rotate: sign from now on with a new key, announced in the journal under the old one")
    s.add_argument("--certificate", help="rotate: an OCES certificate (PEM) instead of a new self-signed one")
    s.add_argument("--key", help="rotate: the OCES certificate's private key (PEM)")


def cmd_saft(args: argparse.Namespace, till: Till) -> Any:
    out = Path(args.out) if args.out else till.data_dir / "exports"
    result = export(till, parse_day(args.start, "--from"), parse_day(args.end, "--to"), out)
    return {"files": [str(p) for p in result.files], "signatures": [str(p) for p in result.signatures],
            "transactions": result.transactions, "entries": result.events}


def cmd_certificate(args: argparse.Namespace, till: Till) -> Any:
    if args.action == "rotate":
        from .services.key_rotation import rotate_key
        cert = Path(args.certificate).read_bytes() if args.certificate else None
        key = Path(args.key).read_bytes() if args.key else None
        done = rotate_key(till, "system", cert, key)
        return certificate_info(till) | {"rotated_from": done["previous_key_version"],
                                         "journal_nr": done["journal_nr"]}
    return certificate_info(till)


COMMANDS = {"saft": cmd_saft, "certificate": cmd_certificate}


def human(command: str, result: dict) -> str | None:
    if command == "saft":
        return "\n".join(result["files"])
    if command == "certificate":
        text = (f"{result.get('kind')} certificate (key version {result['key_version']}): "
                f"{result.get('subject')}, valid until {result.get('valid_until', '')[:10]}")
        if result.get("rotated_from"):
            text = (f"key rotated from version {result['rotated_from']} "
                    f"(journal entry {result['journal_nr']})\n{text}")
        return text + (f"\nwarning: {result['warning']}" if result.get("warning") else "")
    return None
