"""`till saft export`: the journal of a period as SAF-T Cash Register DK files, for the tax authority.

Each file is written beside its final name and renamed only when whole and on disk, so a stick
that fills up or is pulled out never leaves a file that looks finished. Each file also gets a
detached signature (`.sig`, RSA/SHA-512 over its bytes with the journal key, the certificate in
`.pem` beside it): SAF-T signs the transactions only, and this makes an edited event, line or
payment in the file show too (`openssl dgst -sha512 -verify`).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import IO

from ..domain.cash_transactions import TZ
from ..saft import codes
from ..saft.writer import Company, Header, Part, write_file
from ..store import saft_source, settings
from ..store.db import transaction
from .till import Till

log = logging.getLogger(__name__)
MAX_FILES = 9  # the authority's naming rule: _n_N with n, N in 1-9
PART_TARGET = 25_000  # cash transactions a file holds before the next Z starts a new one
Progress = Callable[[int, int], None]


class ExportError(ValueError):
    """An export that cannot be made: English for the CLI and logs, `danish` for the kiosk."""

    def __init__(self, message: str, danish: str):
        super().__init__(message)
        self.danish = danish


@dataclass
class ExportResult:
    files: list[Path]
    transactions: int
    events: int
    signatures: list[Path] = field(default_factory=list)


def parse_day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError:
        raise ExportError(f"{what} must be a date as YYYY-MM-DD, got {text!r}",
                          f"Datoen skal skrives ÅÅÅÅ-MM-DD, ikke {text!r}.") from None


def file_stem(cvr: str, created: datetime) -> str:
    """`SAF-T Cash Register_<CVR>_<YYYYMMDDhhmmss>`: what an export's files are named after."""
    return f"SAF-T Cash Register_{cvr}_{created.astimezone(TZ):%Y%m%d%H%M%S}"


def file_name(cvr: str, created: datetime, n: int, total: int) -> str:
    return f"{file_stem(cvr, created)}_{n}_{total}.xml"


def split_points(z_ends: list[tuple[int, int]], transactions: int, target: int = PART_TARGET) -> list[int]:
    """The journal numbers after which a new file starts: only at a Z (each file then holds whole
    Z periods, so the check script can add them up), at most MAX_FILES files."""
    per_file = max(target, math.ceil(transactions / MAX_FILES))
    cuts: list[int] = []
    done = 0
    for nr, upto in z_ends:
        if len(cuts) == MAX_FILES - 1:
            break
        if upto - done >= per_file and upto < transactions:
            cuts.append(nr)
            done = upto
    return cuts


def _certificate_problems(till: Till, certs: dict[int, str], b: saft_source.Bounds) -> None:
    from cryptography import x509
    used = {v for (v,) in till.conn.execute(
        "SELECT DISTINCT key_version FROM cash_transactions WHERE journal_nr > ? AND journal_nr <= ?",
        (b.after, b.upto))}
    for version in sorted(used):
        if version not in certs:
            raise ExportError(f"the certificate of key version {version} is missing",
                              f"Certifikatet til nøgle {version} mangler.")
        cert = x509.load_pem_x509_certificate(certs[version].encode())
        first, last = till.conn.execute(
            "SELECT MIN(trans_date), MAX(trans_date) FROM cash_transactions WHERE key_version = ? "
            "AND journal_nr > ? AND journal_nr <= ?", (version, b.after, b.upto)).fetchone()
        if date.fromisoformat(last) > cert.not_valid_after_utc.date():
            raise ExportError(
                f"the certificate of key version {version} expired on {cert.not_valid_after_utc:%Y-%m-%d}, "
                f"before transactions it signed ({last}); install a new certificate",
                f"Certifikatet udløb {cert.not_valid_after_utc:%d-%m-%Y}, før salg det har underskrevet.")
        if date.fromisoformat(first) < cert.not_valid_before_utc.date():  # a clock set back at set-up
            log.warning("event=saft_certificate_not_yet_valid version=%d valid_from=%s first=%s", version,
                        cert.not_valid_before_utc.date(), first)


class _Hashing:
    """A file that hashes what goes through it (for the detached signature)."""

    def __init__(self, f: IO[bytes]):
        self.f = f
        self.sha = hashlib.sha512()

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        return self.f.write(data)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def export(till: Till, start: date, end: date, out_dir: Path, cashier_id: str = "system",
           progress: Progress | None = None, part_target: int = PART_TARGET) -> ExportResult:
    """Write the period [start, end] (whole days, Danish time) as SAF-T files into out_dir."""
    who = till.acting(cashier_id)
    if start > end:
        raise ExportError(f"the period is reversed: {start} is after {end}",
                          "Perioden er vendt om: fra-datoen ligger efter til-datoen.")
    conn = till.conn
    b = saft_source.bounds(conn, start, end, TZ)
    if b is None:
        raise ExportError(f"nothing was journalled from {start} to {end}",
                          "Der er intet i journalen i den periode.")
    z_ends = saft_source.z_ends(conn, b)
    if not z_ends:
        raise ExportError(f"the period {start} to {end} holds no Z report: close the day first, "
                          "or choose a period with a closed day",
                          "Perioden har ingen Z-rapport. Luk dagen først, eller vælg en anden periode.")
    certs = saft_source.certificates(conn)
    _certificate_problems(till, certs, b)
    shop = settings.shop(conn)
    created = till.now()
    company = Company(shop["cvr"], shop["shop_name"], codes.parse_address(shop["address"]), _version())
    header = Header(start, end, created)
    entries, tx_count = saft_source.counts(conn, b)
    cuts = split_points(z_ends, tx_count, part_target)
    ranges = []
    lo = b.after
    for cut in [*cuts, b.upto]:
        ranges.append(saft_source.Bounds(lo, cut))
        lo = cut
    total_files = len(ranges)
    employees = saft_source.employees(conn, b)
    articles = saft_source.articles(conn, b)
    basics = codes.basics(sorted({a.group for a in articles} | set(saft_source.groups(conn))))
    copies = {int(n) for (n,) in conn.execute(
        "SELECT json_extract(payload, '$.receipt_number') FROM journal WHERE kind = 'receipt_copy' "
        "AND nr > ? AND nr <= ?", (b.after, b.upto))}
    copy_ids = saft_source.transaction_ids(conn, copies)
    work = entries + tx_count
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None and done % 500 == 0:
            progress(done, work)

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot write to {out_dir}: {exc.strerror or exc}",
                          "Der kan ikke skrives til den valgte placering.") from exc
    cert_pem = certs[settings.current_key_version(conn)]
    pem_name = f"{file_stem(company.cvr, created)}.pem"
    renames: list[tuple[Path, Path]] = []  # (written aside, final name): renamed only when all are whole
    try:
        for n, part_bounds in enumerate(ranges, 1):
            name = file_name(company.cvr, created, n, total_files)
            temp = out_dir / f".{name}.part"
            renames.append((temp, out_dir / name))
            regs = saft_source.registers(conn, part_bounds)
            part = Part([(r, partial(saft_source.events, conn, part_bounds, r),
                          partial(saft_source.transactions, conn, part_bounds, r)) for r in regs])
            with open(temp, "wb") as raw:
                hashing = _Hashing(raw)
                write_file(hashing, company, header, employees, articles, basics, part,  # type: ignore[arg-type]
                           shop["shop_name"], certs, copy_ids.get, tick)
                raw.flush()
                os.fsync(raw.fileno())
            sig_temp = out_dir / f".{name}.sig.part"
            renames.append((sig_temp, out_dir / f"{name}.sig"))
            _write_synced(sig_temp, till.journal.signer.sign_sha512_digest(hashing.sha.digest()))
        pem_temp = out_dir / f".{pem_name}.part"
        renames.append((pem_temp, out_dir / pem_name))
        _write_synced(pem_temp, cert_pem.encode("ascii"))
        for temp, final in renames:
            os.replace(temp, final)
        _fsync_dir(out_dir)
    except OSError as exc:
        for temp, final in renames:  # a half-made export is no export: nothing of it stays
            for path in (temp, final):
                try:
                    path.unlink(missing_ok=True)
                except OSError:  # a stick gone read-only or pulled out: what is left is not whole
                    pass
        log.warning("event=saft_export_failed dir=%s error=%s", out_dir, exc)
        raise ExportError(f"the export to {out_dir} failed: {exc.strerror or exc}; nothing was kept",
                          "Eksporten mislykkedes (er USB-nøglen fuld eller taget ud?). Intet blev gemt."
                          ) from exc
    written = [final for _temp, final in renames if final.suffix == ".xml"]
    sigs = [final for _temp, final in renames if final.suffix == ".sig"]
    with transaction(conn):
        till.journal.append("journal_export", who, {
            "format": "SAF-T Cash Register DK 1.0.3", "from": start.isoformat(), "to": end.isoformat(),
            "files": [p.name for p in written], "transactions": tx_count, "entries": entries,
            "first_entry": b.after + 1, "last_entry": b.upto})
    if progress is not None:
        progress(work, work)
    log.info("event=saft_exported files=%d transactions=%d entries=%d dir=%s", len(written), tx_count,
             entries, out_dir)
    return ExportResult(written, tx_count, entries, sigs)


def _version() -> str:
    try:
        return metadata.version("tillbox")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree that is not installed
        return "0"
