"""The installer's pages, in Danish: small, self-contained HTML that works on a phone.

No scripts, no external assets; every value shown is escaped."""

from __future__ import annotations

from html import escape
from typing import Any

from relay.pairings import display_user_code

STYLE = """
*{box-sizing:border-box}body{margin:0;font:17px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1d2430;background:#f3f5f8}main{max-width:28rem;margin:0 auto;padding:1.5rem 1rem}
.card{background:#fff;border-radius:12px;padding:1.25rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.35rem;margin:0 0 .75rem}p{margin:.5rem 0 1rem}
.code{font:600 2rem/1.2 ui-monospace,Menlo,Consolas,monospace;letter-spacing:.12em;text-align:center;
padding:.75rem;background:#eef2f7;border-radius:8px;margin:1rem 0}
input[type=text]{width:100%;font:600 1.4rem ui-monospace,Menlo,Consolas,monospace;letter-spacing:.1em;
text-transform:uppercase;padding:.6rem;border:1px solid #b8c0cc;border-radius:8px;margin-bottom:1rem}
button{display:block;width:100%;font:inherit;font-weight:600;padding:.8rem 1rem;margin:.5rem 0;border:0;
border-radius:8px;background:#0b5cad;color:#fff;text-align:left}button[disabled]{background:#d9dee5;color:#5b6573}
button small{display:block;font-weight:400}.error{background:#fdecea;color:#8a1c12;padding:.75rem;
border-radius:8px}.ok{background:#e7f5ea;color:#17612b;padding:.75rem;border-radius:8px}
a{color:#0b5cad}.muted{color:#5b6573;font-size:.9rem}
"""


def page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="da"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · Tillbox</title><style>{STYLE}</style></head>"
        f'<body><main><div class="card"><h1>{escape(title)}</h1>{body}</div>'
        '<p class="muted">Tillbox · forbindelse til Dinero</p></main></body></html>'
    )


def _code_form(prefill: str = "") -> str:
    return (
        '<form method="post" action="/device">'
        '<label for="user_code">Kode fra kassens skærm</label>'
        f'<input type="text" id="user_code" name="user_code" value="{escape(prefill)}" '
        'autocomplete="off" autocapitalize="characters" spellcheck="false" maxlength="12" '
        'placeholder="XXXX-XXXX" required>'
        '<button type="submit">Fortsæt</button></form>'
    )


def enter_code(prefill: str = "", error: str | None = None) -> str:
    err = f'<p class="error">{escape(error)}</p>' if error else ""
    return page("Forbind kassen til Dinero",
                f"{err}<p>Skriv koden, der står på kassens skærm.</p>{_code_form(prefill)}")


def confirm_code(code: str) -> str:
    shown = display_user_code(code)
    return page("Forbind kassen til Dinero", (
        "<p>Tjek, at koden herunder er den samme som på kassens skærm.</p>"
        f'<div class="code" id="user-code">{escape(shown)}</div>'
        '<form method="post" action="/device">'
        f'<input type="hidden" name="user_code" value="{escape(shown)}">'
        '<button type="submit" id="confirm">Ja, log ind hos Visma</button></form>'
        '<p class="muted">Står der en anden kode på kassen? <a href="/device">Skriv koden selv</a>.</p>'
    ))


WRONG_CODE = "Koden findes ikke eller er udløbet. Tjek koden på kassens skærm, og prøv igen."
TOO_MANY = "For mange forkerte koder. Vent et minut, og prøv igen."


def too_many() -> str:
    return page("Vent lidt", f'<p class="error">{TOO_MANY}</p>')


def message(title: str, text: str, *, ok: bool = False, retry_code: str | None = None) -> str:
    cls = "ok" if ok else "error"
    retry = ""
    if retry_code:
        retry = (f'<p><a href="/device?user_code={escape(display_user_code(retry_code))}">'
                 "Prøv at logge ind igen</a></p>")
    return page(title, f'<p class="{cls}">{escape(text)}</p>{retry}')


def choose_org(choice: str, orgs: list[dict[str, Any]], error: str | None = None) -> str:
    """One button per organization; those without Dinero Pro are shown but disabled, with the reason."""
    err = f'<p class="error">{escape(error)}</p>' if error else ""
    buttons = []
    for org in orgs:
        name, org_id = escape(str(org["name"])), escape(str(org["id"]))
        if org["pro"]:
            buttons.append(f'<button type="submit" name="org_id" value="{org_id}" id="org-{org_id}">'
                           f"{name}<small>Firma-ID {org_id}</small></button>")
        else:
            buttons.append(f'<button type="button" disabled id="org-{org_id}">{name}'
                           f"<small>Kan ikke vælges: virksomheden har ikke Dinero Pro, som kassen kræver."
                           "</small></button>")
    if not any(org["pro"] for org in orgs):
        err += ('<p class="error">Ingen af dine virksomheder har Dinero Pro. Kassen kan kun bogføre i en '
                "virksomhed med Dinero Pro.</p>")
    return page("Vælg virksomhed", (
        f"{err}<p>Hvilken Dinero-virksomhed skal kassen sende sine dagsopgørelser til?</p>"
        '<form method="post" action="/choose">'
        f'<input type="hidden" name="choice" value="{escape(choice)}">{"".join(buttons)}</form>'
    ))


def done(org_name: str) -> str:
    text = f"Kassen er nu forbundet til {escape(org_name)}. Du kan lukke siden."
    return page("Kassen er forbundet", f'<p class="ok" id="done">{text}</p>')
