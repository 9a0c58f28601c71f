"""Texts through gettext: Danish is the language the code is written in (msgid), English comes
from locale/en.po. The .po file is read directly (a few dozen lines of parser instead of a build
step with msgfmt), into a GNUTranslations-compatible catalog."""

from __future__ import annotations

import ast
import gettext
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = {"da": "Dansk", "en": "English"}


class PoTranslations(gettext.NullTranslations):
    def __init__(self, path: Path):
        super().__init__()
        self.catalog = parse_po(path.read_text(encoding="utf-8"))

    def gettext(self, message: str) -> str:
        return self.catalog.get(message) or message


def parse_po(text: str) -> dict[str, str]:
    """msgid -> msgstr for a .po file (single-form entries, multi-line strings, comments)."""
    out: dict[str, str] = {}
    key: str | None = None
    current: list[str] = []
    msgid = ""

    def flush() -> None:
        nonlocal key, current, msgid
        if key == "msgstr" and msgid:
            out[msgid] = "".join(current)
        elif key == "msgid":
            msgid = "".join(current)
        current = []

    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("msgid ", "msgstr ")):
            flush()
            key, _, rest = line.partition(" ")
            current = [ast.literal_eval(rest)]
        elif line.startswith('"'):
            current.append(ast.literal_eval(line))
    flush()
    return out


_active: gettext.NullTranslations = gettext.NullTranslations()
_language = "da"


def set_language(code: str) -> None:
    global _active, _language
    if code not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
    path = LOCALE_DIR / f"{code}.po"
    _active = PoTranslations(path) if code != "da" and path.exists() else gettext.NullTranslations()
    _language = code


def language() -> str:
    return _language


def _(message: str) -> str:
    return _active.gettext(message)
