"""Indstillinger > SAF-T og certifikat: the journal's signing certificate (which one, until when, a
warning in good time before it runs out), and the journal of a period exported as SAF-T Cash
Register DK files to a USB stick or the till's data partition (services.saft_export, on the
backend's worker, with its progress on the screen).

A section of the settings screen (section.py holds the base both build on), in a module of its own
with its own .kv."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from kivy.clock import Clock
from kivy.lang import Builder
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty

from ...services import export_targets
from ...services.certificate import certificate_info
from ..i18n import _
from .section import Section, _app

KV = Path(__file__).resolve().with_suffix(".kv")
if str(KV) not in Builder.files:
    Builder.load_file(str(KV))

DAY = re.compile(r"^\s*(\d{1,2})[-./ ](\d{1,2})[-./ ](\d{4})\s*$|^\s*(\d{2})(\d{2})(\d{4})\s*$")
WARN_STATES = ("expiring", "expired", "missing")


# --- texts -----------------------------------------------------------------------------------------

def dk_day(day: date) -> str:
    return day.strftime("%d-%m-%Y")


def parse_dk_day(text: str) -> date | None:
    """dd-mm-åååå as typed (also with . or / between, or the eight digits alone); None if no date."""
    m = DAY.match(text or "")
    if m is None:
        return None
    d, mo, y = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(4), m.group(5), m.group(6))
    try:
        return date(int(y), int(mo), int(d))
    except ValueError:
        return None


def default_period(today: date) -> tuple[date, date]:
    """From the first day of the previous month to yesterday."""
    yesterday = today - timedelta(days=1)
    first_this = today.replace(day=1)
    return (first_this - timedelta(days=1)).replace(day=1), yesterday


def kind_text(kind: str | None) -> str:
    if kind == "self-signed":
        return _("selvsigneret")
    if kind == "oces":
        return "OCES"
    return _("intet certifikat")


def certificate_lines(info: dict[str, Any]) -> str:
    lines = [_("Certifikat i brug: {kind}").format(kind=kind_text(info.get("kind")))]
    if info.get("valid_until"):
        until = date.fromisoformat(str(info["valid_until"])[:10])
        days = int(info.get("days_left") or 0)
        lines.append(_("Gyldigt til: {date}").format(date=dk_day(until)) +
                     ("  " + _("({days} dage tilbage)").format(days=days) if days >= 0 else ""))
    if info.get("subject"):
        lines.append(_("Udstedt til: {subject}").format(subject=info["subject"]))
    if info.get("fingerprint_sha256"):
        fp = str(info["fingerprint_sha256"])
        lines.append(_("Fingeraftryk (SHA-256): {fingerprint}").format(
            fingerprint=" ".join(fp[i:i + 8] for i in range(0, len(fp), 8))))
    return "\n".join(lines)


def certificate_warning(info: dict[str, Any]) -> str:
    """The Danish warning when the certificate runs out within 30 days, has run out or is missing."""
    if info.get("state") not in WARN_STATES:
        return ""
    return str(info.get("warning_da") or _("Certifikatet skal fornyes."))


def target_name(kind: str, label: str) -> str:
    return _("USB-nøgle {label}").format(label=label) if kind == "usb" else _("Kassens dataområde")


def size_text(free: int) -> str:
    if free >= 10**9:
        size = f"{free / 10**9:.1f}".replace(".", ",") + " GB"
    else:
        size = f"{free // 10**6} MB"
    return _("{size} ledig").format(size=size)


def target_key(kind: str, label: str) -> str:
    return f"saft-target-{kind}-{label}" if kind == "usb" else "saft-target-data"


# --- on the backend's worker -------------------------------------------------------------------------

def read_targets(till: Any) -> list[dict[str, Any]]:
    """Where an export can go now. The module's roots and mounts file are read at each call (a stick
    may be plugged in after the section was opened; tests point them at a folder of their own)."""
    found = export_targets.targets(till.data_dir, export_targets.MEDIA_ROOTS, export_targets.MOUNTS)
    return [{"kind": t.kind, "label": t.label, "path": str(t.path), "free": t.free} for t in found]


def read_section(till: Any) -> dict[str, Any]:
    from ...domain.cash_transactions import TZ
    return {"certificate": certificate_info(till), "today": till.now().astimezone(TZ).date(),
            "targets": read_targets(till)}


def warn_certificate() -> None:
    """The settings screen, when opened: an expiring, expired or missing certificate is said at once
    on the message line (as an error, so it stays until something else is said)."""
    app = _app()

    def show(info: dict[str, Any]) -> None:
        text = certificate_warning(info)
        if text:
            app.notify(text, error=True)
    app.backend.call(certificate_info, done=show,
                     failed=lambda exc: app.notify(_("Certifikatet kunne ikke læses: {error}").format(
                         error=exc), error=True))


# --- the section ------------------------------------------------------------------------------------------

class SaftSection(Section):
    cert_text = StringProperty("")
    cert_warning = StringProperty("")
    targets = ListProperty([])
    chosen = StringProperty("")      # the chosen target's folder
    running = BooleanProperty(False)
    percent = NumericProperty(0)
    result = StringProperty("")
    result_error = BooleanProperty(False)
    _by_hand = False                 # the manager chose the target (a refresh keeps it)

    def load(self) -> None:
        self.call(read_section, done=self._fill)

    def _fill(self, data: dict[str, Any]) -> None:
        info = data["certificate"]
        self.cert_text = certificate_lines(info)
        self.cert_warning = certificate_warning(info)
        start, end = default_period(data["today"])
        self.ids.start.text, self.ids.end.text = dk_day(start), dk_day(end)
        self._targets(data["targets"])

    # --- where the files go ---

    def refresh(self) -> None:
        self.call(read_targets, done=self._targets)

    def _targets(self, found: list[dict[str, Any]]) -> None:
        self.targets = found
        paths = [t["path"] for t in found]
        if not (self._by_hand and self.chosen in paths):
            self.chosen, self._by_hand = (paths[0] if paths else ""), False
        self._show_targets()

    def _show_targets(self) -> None:
        from ..widgets import TouchButton
        box = self.ids.targets
        box.clear_widgets()
        for t in self.targets:
            chosen = t["path"] == self.chosen
            b = TouchButton(text=f"{target_name(t['kind'], t['label'])}  ({size_text(t['free'])})",
                            key=target_key(t["kind"], t["label"]),
                            background_color=(0.15, 0.45, 0.7, 1) if chosen else (0.55, 0.55, 0.55, 1))
            b.bind(on_release=lambda _b, path=t["path"]: self.choose(path))
            box.add_widget(b)

    def choose(self, path: str) -> None:
        self.chosen, self._by_hand = path, True
        self._show_targets()

    # --- the export ---

    def export(self) -> None:
        if self.running:
            return
        start, end = parse_dk_day(self.ids.start.text), parse_dk_day(self.ids.end.text)
        if start is None or end is None:
            self._error(_("Skriv datoerne som dd-mm-åååå, fx {example}.").format(example="01-11-2026"))
            return
        target = next((t for t in self.targets if t["path"] == self.chosen), None)
        if target is None:
            self._error(_("Vælg hvor filerne skal gemmes."))
            return
        who, out_dir = self.screen.who, Path(target["path"])

        def progress(done: int, total: int) -> None:  # on the worker: over to the UI thread
            Clock.schedule_once(lambda _dt: self._progress(done, total), 0)

        def run(t: Any) -> dict[str, Any]:
            from ...services.saft_export import export
            result = export(t, start, end, out_dir, cashier_id=who, progress=progress)
            files = [*result.files, *result.signatures]
            if result.files:  # the certificate beside the files: ..._<created>.pem
                pem = out_dir / (result.files[0].name.rsplit("_", 2)[0] + ".pem")
                files += [pem] if pem.exists() else []
            return {"files": [p.name for p in files], "transactions": result.transactions}

        self.running, self.percent, self.result_error = True, 0, False
        self.result = _("Eksporterer ...")
        _app().backend.call(run, done=lambda r: self._exported(r, target), failed=self._export_failed)

    def _progress(self, done: int, total: int) -> None:
        self.percent = min(100, int(done * 100 / total)) if total else 100

    def _exported(self, result: dict[str, Any], target: dict[str, Any]) -> None:
        self.running, self.result_error = False, False  # the bar is at 100 % by the last progress()
        lines = [_("{n} filer er gemt på {target}:").format(
                    n=len(result["files"]), target=target_name(target["kind"], target["label"])),
                 *result["files"],
                 _("Mappe: {folder}").format(folder=target["path"])]
        if target["kind"] == "usb":
            lines.append(_("Filerne er skrevet helt færdige. USB-nøglen kan tages ud."))
        self.result = "\n".join(lines)
        _app().notify(_("SAF-T-eksporten er færdig."))
        self.refresh()  # the free space has changed

    def _export_failed(self, exc: BaseException) -> None:
        from ...services.saft_export import ExportError
        self.running = False
        if isinstance(exc, ExportError):
            self._error(exc.danish)
        else:
            self.result = ""
            self.failed(exc)

    def _error(self, text: str) -> None:
        self.result, self.result_error = text, True
        _app().notify(text, error=True)
