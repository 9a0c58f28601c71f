"""The card terminal's own receipt (customer or merchant copy) as a slip on the till's printer:
the lines exactly as the terminal sent them, and a signature line on a merchant copy that asks for one."""

from __future__ import annotations

from drivers.printer.document import Document, Feed, Text

TITLES = {"CustomerReceipt": "KUNDENS KOPI", "CashierReceipt": "BUTIKKENS KOPI"}


def card_slip(lines: list[str], qualifier: str, signature_line: bool = False) -> Document:
    blocks: list[Text | Feed] = [Text(TITLES.get(qualifier, qualifier), align="center", bold=True)]
    blocks += [Text(line) for line in lines]
    if signature_line:
        blocks += [Feed(2), Text("_" * 30), Text("Kundens underskrift")]
    blocks.append(Feed(1))
    return Document(tuple(blocks), cut=True, meta={"kind": "card_slip"})
