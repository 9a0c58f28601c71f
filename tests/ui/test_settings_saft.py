"""Indstillinger > SAF-T og certifikat driven by touches: the certificate in use and its expiry, an
export of closed days with its progress and journal entry, a reversed period refused in Danish, a
USB stick found by "Opdater", and an expiring certificate said when Settings opens."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from appliance.domain.cash_transactions import TZ
from appliance.services import export_targets
from appliance.ui.screens import settings_saft
from appliance.ui.widgets import find_key
from tests.ui.conftest import query

RED = [0.75, 0.15, 0.15, 1]


def open_saft(kiosk):
    """Settings as the manager (Bo), then the SAF-T section; the section once it has loaded."""
    kiosk.login("bo", "2222")
    kiosk.tap("menu-toggle")
    kiosk.tap("menu-settings")
    assert kiosk.app.manager.current == "settings"
    kiosk.tap("section-saft")
    screen = kiosk.app.screen("settings")
    assert screen.section == "saft"
    section = screen.current()
    kiosk.until(lambda: section.cert_text and section.targets, what="the section to load")
    return section


def export(kiosk, section, start: str, end: str, target: str = "saft-target-data") -> None:
    section.ids.start.text, section.ids.end.text = start, end
    kiosk.tap(target)
    kiosk.tap("saft-export")
    kiosk.until(lambda: not section.running, what="the export to finish")
    kiosk.settle()


def z_days(kiosk) -> tuple[date, date]:
    [(first, last)] = query(kiosk, "SELECT MIN(business_date), MAX(business_date) FROM z_reports")
    return date.fromisoformat(first), date.fromisoformat(last)


def dk(day: date) -> str:
    return day.strftime("%d-%m-%Y")


def exports(kiosk) -> set[str]:
    folder = kiosk.app.data_dir / "exports"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def test_the_section_shows_the_certificate_and_a_default_period(kiosk) -> None:
    section = open_saft(kiosk)  # the first section opened, before any other
    info = kiosk.app.backend.run(settings_saft.certificate_info)
    until = date.fromisoformat(info["valid_until"][:10])
    assert "selvsigneret" in section.cert_text
    assert dk(until) in section.cert_text
    assert section.cert_warning == ""
    assert not (kiosk.app.message and kiosk.app.message_level == "error"), kiosk.app.message
    today = kiosk.app.backend.run(lambda t: t.now().astimezone(TZ).date())
    yesterday = today - timedelta(days=1)
    first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    assert (section.ids.start.text, section.ids.end.text) == (dk(first), dk(yesterday))
    assert find_key(kiosk.app.screen("settings"), "saft-target-data").text.startswith("Kassens dataområde")


def test_an_export_of_closed_days_to_the_data_partition(kiosk) -> None:
    first, last = z_days(kiosk)
    before = exports(kiosk)
    [(count,)] = query(kiosk, "SELECT COUNT(*) FROM journal WHERE kind = 'journal_export'")
    section = open_saft(kiosk)
    seen: list[float] = []
    section.bind(percent=lambda _w, value: seen.append(value))
    export(kiosk, section, dk(first), dk(last))
    assert not section.result_error, section.result
    new = exports(kiosk) - before
    xml = [n for n in new if n.endswith(".xml")]
    assert len(xml) == 1 and f"{xml[0]}.sig" in new and any(n.endswith(".pem") for n in new)
    assert all(name in section.result for name in new)  # the files and where they went
    assert "Kassens dataområde" in section.result and str(kiosk.app.data_dir / "exports") in section.result
    assert seen and seen[-1] == 100 and section.percent == 100
    assert section.ids.percent.text == "100 %"
    rows = query(kiosk, "SELECT cashier, payload FROM journal WHERE kind = 'journal_export' ORDER BY nr")
    assert len(rows) == count + 1
    who, payload = rows[-1]
    data = json.loads(payload)
    assert who == "bo" and (data["from"], data["to"]) == (first.isoformat(), last.isoformat())
    assert data["files"] == xml


def test_a_reversed_period_is_refused_in_danish_and_writes_nothing(kiosk) -> None:
    first, last = z_days(kiosk)
    before = exports(kiosk)
    [(count,)] = query(kiosk, "SELECT COUNT(*) FROM journal WHERE kind = 'journal_export'")
    section = open_saft(kiosk)
    export(kiosk, section, dk(last + timedelta(days=1)), dk(first))
    assert section.result == "Perioden er vendt om: fra-datoen ligger efter til-datoen."
    assert section.result_error and list(section.ids.result.color) == RED
    assert kiosk.app.message == section.result and kiosk.app.message_level == "error"
    assert exports(kiosk) == before
    assert query(kiosk, "SELECT COUNT(*) FROM journal WHERE kind = 'journal_export'") == [(count,)]
    # a date that is no date is said before anything runs
    export(kiosk, section, "31-02-2026", dk(first))
    assert "dd-mm-åååå" in section.result and section.result_error


def test_a_usb_stick_plugged_in_later_appears_after_refresh(kiosk, tmp_path: Path, monkeypatch) -> None:
    media, stick = tmp_path / "media", tmp_path / "media" / "STICK"
    stick.mkdir(parents=True)
    mounts = tmp_path / "mounts"
    mounts.write_text("proc /proc proc rw,nosuid 0 0\n", encoding="utf-8")
    monkeypatch.setattr(export_targets, "MEDIA_ROOTS", (media,))
    monkeypatch.setattr(export_targets, "MOUNTS", mounts)
    first, last = z_days(kiosk)
    section = open_saft(kiosk)
    screen = kiosk.app.screen("settings")
    assert find_key(screen, "saft-target-usb-STICK") is None
    mounts.write_text(mounts.read_text() + f"/dev/sda1 {stick} vfat rw,relatime 0 0\n", encoding="utf-8")
    kiosk.tap("saft-refresh")
    button = find_key(screen, "saft-target-usb-STICK")
    assert button is not None and button.text.startswith("USB-nøgle STICK")
    assert section.chosen == str(stick / "tillbox-saft")  # a stick is offered first
    export(kiosk, section, dk(first), dk(last), target="saft-target-usb-STICK")
    written = sorted(p.name for p in (stick / "tillbox-saft").iterdir())
    assert [n for n in written if n.endswith(".xml")] and not [n for n in written if n.endswith(".part")]
    assert "USB-nøgle STICK" in section.result and not section.result_error


def test_an_expiring_certificate_is_said_when_settings_opens(kiosk, monkeypatch) -> None:
    warning = "Certifikatet udløber 01-01-2027, om 20 dage. Bestil et nyt OCES-certifikat."
    monkeypatch.setattr(settings_saft, "certificate_info", lambda _till: {
        "key_version": 1, "kind": "oces", "subject": "CN=Købmand Demo", "issuer": "CN=OCES",
        "valid_from": "2024-01-01T00:00:00+00:00", "valid_until": "2027-01-01T00:00:00+00:00",
        "days_left": 20, "state": "expiring", "fingerprint_sha256": "ab" * 32, "warning": "expires",
        "warning_da": warning})
    kiosk.login("bo", "2222")
    kiosk.tap("menu-toggle")
    kiosk.tap("menu-settings")
    assert kiosk.app.screen("settings").section == "shop"
    assert kiosk.app.message == warning and kiosk.app.message_level == "error"
    section = open_saft(kiosk)
    assert "OCES" in section.cert_text and "01-01-2027" in section.cert_text
    assert section.cert_warning == warning and list(section.ids.cert_warning.color) == RED
