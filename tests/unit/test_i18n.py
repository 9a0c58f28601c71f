"""Texts through gettext: every Danish text on the kiosk has an English translation, and a
translation keeps the placeholders its Danish text fills in."""

from __future__ import annotations

import string

from appliance.ui.i18n import LOCALE_DIR, _, language, parse_po, set_language
from appliance.ui.strings import missing, texts


def fields(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name is not None}


def test_every_kiosk_text_is_translated() -> None:
    assert len(texts()) > 300
    assert missing("en") == []


def test_translations_keep_their_placeholders() -> None:
    catalog = parse_po((LOCALE_DIR / "en.po").read_text(encoding="utf-8"))
    wrong = {da: en for da, en in catalog.items() if fields(da) != fields(en)}
    assert wrong == {}


def test_switching_language() -> None:
    try:
        set_language("en")
        assert language() == "en" and _("Log ind") == "Log in" and _("ukendt tekst") == "ukendt tekst"
        set_language("da")
        assert _("Log ind") == "Log ind"
    finally:
        set_language("da")


def test_po_parser_reads_multiline_and_escapes() -> None:
    po = 'msgid ""\nmsgstr "Header"\n\n# note\nmsgid "To "\n"linjer \\"x\\""\nmsgstr "Two "\n"lines"\n'
    assert parse_po(po) == {'To linjer "x"': "Two lines"}
