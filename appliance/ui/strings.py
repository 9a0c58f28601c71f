"""The kiosk's texts as gettext sees them: every `_("...")` in the UI's Python and kv files.

`python -m appliance.ui.strings` lists the Danish texts that locale/en.po does not translate yet
(exit 1 if any), so a new screen cannot ship half in English; a test runs the same check."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from .i18n import LOCALE_DIR, parse_po

UI_DIR = Path(__file__).resolve().parent
_KV_CALL = re.compile(r"""_\(\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*\)""")


def texts() -> set[str]:
    found: set[str] = set()
    for path in UI_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_"
                    and node.args and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                found.add(node.args[0].value)
    for path in UI_DIR.rglob("*.kv"):
        for m in _KV_CALL.finditer(path.read_text(encoding="utf-8")):
            found.add(ast.literal_eval(m.group(1)))
    return found


def missing(language: str = "en") -> list[str]:
    catalog = parse_po((LOCALE_DIR / f"{language}.po").read_text(encoding="utf-8"))
    return sorted(t for t in texts() if not catalog.get(t))


if __name__ == "__main__":
    gaps = missing()
    for text in gaps:
        print(f'msgid {text!r}')
    sys.exit(1 if gaps else 0)
