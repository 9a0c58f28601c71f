"""Renderers: the one-page Z voucher PDF, the report and receipt texts for the receipt printer."""

from __future__ import annotations

import copy
import io
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from appliance.domain.money import parse_kroner
from appliance.render.formatting import dk_datetime, kr, row
from appliance.render.receipt_text import render_receipt_text
from appliance.render.report_text import render_report_text
from appliance.render.z_pdf import render_z_pdf, safe
from appliance.services.closing import close_day, get_report
from appliance.services.selling import refund, sell
from appliance.services.till import Till
from appliance.store import settings as shop_settings

SHOP = {"shop_name": "Købmand Hansen", "cvr": "12345678", "address": "Hovedgaden 1, 4000 Roskilde",
        "register_id": "1"}
WIDTHS = (32, 42, 48)
AMOUNT = re.compile(r"(-?\d{1,3}(?:\.\d{3})*,\d\d)$")

Z = {
    "kind": "Z", "register_id": "1", "business_date": "2026-11-22",
    "period_start": "2026-11-22T07:26:31.909710+01:00", "period_end": "2026-11-22T19:26:32.007125+01:00",
    "first_entry": 1, "last_entry": 16, "receipts": {"sales": 14, "returns": 1},
    "gross_sales": "1246.15", "returns": "11.65", "net_sales": "1234.50",
    "vat": {"25": {"gross": "1207.50", "net": "966.00", "vat": "241.50"},
            "0": {"gross": "27.00", "net": "27.00", "vat": "0.00"}},
    "groups": [{"group": "Aviser", "vat_rate": 0, "account": 1000, "amount": "27.00"},
               {"group": "Smørrebrød", "vat_rate": 25, "account": None, "amount": "1207.50"}],
    "revenue_accounts": [{"account": 1000, "vat_rate": 0, "amount": "27.00"},
                         {"account": None, "vat_rate": 25, "amount": "1207.50"}],
    "payments": {"card": "657.00", "cash": "577.26"}, "card_brands": {"Dankort": "657.00"},
    "cashiers": {"anna": {"sales": 14, "returns": 1, "amount": "1234.50"}},
    "discounts": {"count": 3, "amount": "10.86"}, "voids": {"lines": 2, "receipts": 1, "amount": "45.00"},
    "price_overrides": 1, "training": {"count": 2, "amount": "30.00"}, "receipt_copies": 1, "no_sales": 4,
    "drawer_openings": 15, "parked": 0,
    "cash_float": "500.00", "cash_in": "100.00", "cash_out": "50.00", "cash_expected": "1127.26",
    "cash_counted": "1130.00", "cash_difference": "2.74",
    "denominations": {"500.00": 2, "100.00": 1, "20.00": 1, "10.00": 1},
    "to_bank": "800.00", "next_float": "330.00", "rounding_total": "-0.24",
    "grand_total_sales": "98765.43", "grand_total_returns": "123.45", "grand_total_sales_net": "98641.98",
    "posting_plan": [
        {"account": 1000, "vat_code": "U25", "amount": "-1207.50", "balancing_account": 55040,
         "balancing_vat_code": "none", "text": "Z 12 2026-11-22 kasse 1: salg 25% moms"},
        {"account": 55100, "vat_code": "none", "amount": "657.00", "balancing_account": 55040,
         "balancing_vat_code": "none", "text": "Z 12 2026-11-22 kasse 1: betalingskort"}],
    "posting_missing_accounts": ["revenue:Smørrebrød"], "z_number": 12,
}

SALE = {
    "receipt_number": 1, "kind": "sale", "journal_nr": 13, "time": "2026-11-22T07:26:32.003663+01:00",
    "cashier": "anna", "training": False,
    "lines": [
        {"line_no": 1, "sku": "A1", "name": "Mælk", "qty": 3, "unit_price": "12.95", "vat_rate": 25,
         "discount": "3.89", "total": "34.96"},
        {"line_no": 2, "sku": "K7", "name": "Kaffe, løs", "qty": 1, "weight_g": 250, "unit_price": "180.00",
         "vat_rate": 25, "discount": "0.00", "total": "45.00"},
        {"line_no": 3, "sku": "P1", "name": "Dagblad", "qty": 1, "unit_price": "17.78", "vat_rate": 0,
         "discount": "0.00", "total": "17.78"}],
    "vat": {"25": {"gross": "79.96", "net": "63.97", "vat": "15.99"},
            "0": {"gross": "17.78", "net": "17.78", "vat": "0.00"}},
    "total": "97.74", "rounding": "-0.24", "change": "22.50",
    "payments": [{"type": "card", "amount": "20.00", "brand": "Dankort"}, {"type": "cash", "amount": "77.50"}],
}

RETURN = {
    "receipt_number": 2, "kind": "return", "journal_nr": 14, "time": "2026-11-22T09:05:00+01:00",
    "cashier": "anna", "training": False, "original_receipt": 1,
    "lines": [{"line_no": 1, "sku": "A1", "name": "Mælk", "qty": 1, "unit_price": "12.95", "vat_rate": 25,
               "discount": "-1.30", "total": "-11.65"}],
    "vat": {"25": {"gross": "-11.65", "net": "-9.32", "vat": "-2.33"}},
    "total": "-11.65", "rounding": "0.15", "change": "0.00",
    "payments": [{"type": "cash", "amount": "-11.50"}],
}


def x_report() -> dict:
    x = {k: v for k, v in copy.deepcopy(Z).items() if k != "z_number"}
    x.update(kind="X", cash_counted=None, cash_difference=None, denominations=None)
    return x


def big_report(groups: int, cashiers: int, postings: int = 1) -> dict:
    r = copy.deepcopy(Z)
    r["groups"] = [{"group": f"Gruppe {i:03d}", "vat_rate": 25, "account": 1000, "amount": f"{i}.25"}
                   for i in range(groups)]
    r["cashiers"] = {f"kasserer{i:02d}": {"sales": i, "returns": 0, "amount": f"{i}.00"} for i in range(cashiers)}
    r["posting_plan"] = [{**Z["posting_plan"][0], "text": f"Postering {i:03d}"} for i in range(postings)]
    return r


def pdf_text(data: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(data))
    return reader, "\n".join(p.extract_text() for p in reader.pages)


def assert_on_the_page(reader: PdfReader) -> None:
    """Every piece of text sits on the A4 page and above the footer (nothing drawn off the edge)."""
    spots: list[tuple[float, str]] = []

    def visit(text: str, cm: list, tm: list, *_: object) -> None:
        if text.strip():
            spots.append((cm[5] + tm[5], text.strip()))

    reader.pages[0].extract_text(visitor_text=visit)
    footer = min(y for y, t in spots if t.startswith("Side 1 af 1"))
    assert footer > 25  # points above the bottom edge
    body = [(y, t) for y, t in spots if not t.startswith(("Bilag:", "Side 1 af 1"))]
    assert min(y for y, _ in body) > footer + 5, min(body)
    assert max(y for y, _ in body) < 842 - 25


def amount_on(text: str, label: str) -> str:
    """The amount at the end of the first line starting with `label`."""
    line = next(ln for ln in text.splitlines() if ln.strip().startswith(label))
    m = AMOUNT.search(line.rstrip())
    assert m, line
    return m.group(1)


# --- PDF -----------------------------------------------------------------------------------------

def test_z_pdf_is_one_a4_page_with_the_days_figures() -> None:
    data = render_z_pdf(copy.deepcopy(Z), SHOP)
    reader, text = pdf_text(data)
    assert data.startswith(b"%PDF")
    assert len(reader.pages) == 1
    assert_on_the_page(reader)
    box = reader.pages[0].mediabox
    assert (round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)) == (210, 297)
    assert reader.metadata.title == "Z-rapport 12"
    for expected in ("Købmand Hansen", "Hovedgaden 1, 4000 Roskilde", "CVR: 12345678", "Z-rapport 12",
                     "22-11-2026", "07:26", "Nettoomsætning 1.234,50", "Salg (14 bonner) 1.246,15",
                     "Returneringer (1 bon) -11,65", "Moms 25 % 241,50", "Momsgrundlag 966,00",
                     "Moms i alt 241,50", "Kontant 577,26", "Betalingskort 657,00", "Optalt 1.130,00",
                     "Kassedifference 2,74", "Overført til bank 800,00", "Grand total salg 98.765,43",
                     "Skuffeåbninger uden salg 4", "Øreafrunding -0,24", "-1.207,50",
                     "Z 12 2026-11-22 kasse 1: salg 25% moms", "55040", "Mangler konto: revenue:Smørrebrød"):
        assert expected in text, expected


def test_x_report_pdf_has_no_count_and_no_postings() -> None:
    reader, text = pdf_text(render_z_pdf(x_report(), SHOP))
    assert len(reader.pages) == 1
    assert reader.metadata.title == "X-rapport"
    assert "X-rapport" in text and "Z-rapport" not in text
    assert "Forventet 1.127,26" in text
    assert "Optalt" not in text and "Posteringer" not in text


def test_danish_letters_survive_in_the_pdf() -> None:
    shop = {**SHOP, "shop_name": "Æblegården på Ærø", "address": "Søndergade 5, Østerby"}
    _, text = pdf_text(render_z_pdf(copy.deepcopy(Z), shop))
    for word in ("Æblegården på Ærø", "Søndergade 5, Østerby", "Smørrebrød", "Skuffeåbninger", "Træning"):
        assert word in text


def test_characters_outside_the_font_are_replaced_not_fatal() -> None:
    r = copy.deepcopy(Z)
    r["groups"][0]["group"] = "Crème ☕ Čokoláda 漢字"
    reader, text = pdf_text(render_z_pdf(r, {**SHOP, "shop_name": "Kiosk 🙂 Ōsaka"}))
    assert len(reader.pages) == 1
    assert "Crème ? Cokoláda ?? (0 %) 27,00" in text
    assert "Kiosk ? Osaka" in text
    assert safe("€ – “ok”") == "€ – “ok”"  # in the core fonts' encoding: kept as is


@pytest.mark.parametrize("groups,cashiers,postings", [(200, 50, 1), (40, 10, 300), (3000, 400, 900)])
def test_huge_reports_still_fit_one_page_and_say_what_was_left_out(
        groups: int, cashiers: int, postings: int) -> None:
    reader, text = pdf_text(render_z_pdf(big_report(groups, cashiers, postings), SHOP))
    assert len(reader.pages) == 1
    assert_on_the_page(reader)
    assert "Grand total salg 98.765,43" in text  # fixed sections are never the ones cut
    shown = set(re.findall(r"Gruppe \d{3}", text))
    left_out = [int(n) for n in re.findall(r"… og (\d+) flere", text)]
    assert left_out, "a report this big cannot fit whole"
    assert "Gruppe 000" in shown
    if len(shown) < groups:
        assert len(shown) + left_out[0] == groups


def test_a_busy_day_fits_whole_by_shrinking_the_font() -> None:
    reader, text = pdf_text(render_z_pdf(big_report(60, 12, 12), SHOP))
    assert len(reader.pages) == 1
    assert_on_the_page(reader)
    assert "flere" not in text
    assert len(set(re.findall(r"Gruppe \d{3}", text))) == 60
    assert len(set(re.findall(r"kasserer\d{2}", text))) == 12
    assert len(set(re.findall(r"Postering \d{3}", text))) == 12


def test_same_report_gives_the_same_voucher() -> None:
    assert render_z_pdf(copy.deepcopy(Z), SHOP) == render_z_pdf(copy.deepcopy(Z), SHOP)


# --- report text ----------------------------------------------------------------------------------

@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("report", [Z, x_report(), big_report(30, 5, 5)], ids=["Z", "X", "big"])
def test_report_text_never_exceeds_the_paper(width: int, report: dict) -> None:
    r = copy.deepcopy(report)
    r["groups"].append({"group": "En meget lang varegruppe med et navn ingen printer kan have på én linje"
                                 "Superkalifragilistiskekspialidoceriskhedsmæssigt", "vat_rate": 25,
                        "account": 1000, "amount": "1234567.89"})
    text = render_report_text(r, {**SHOP, "address": "Den Lange Landevej 123456, 9999 Langtvækkeby Øst"},
                              width)
    lines = text.splitlines()
    assert max(len(ln) for ln in lines) <= width
    assert any("1.234.567,89" in ln for ln in lines)


@pytest.mark.parametrize("width", WIDTHS)
def test_z_report_text_has_the_danish_labels_and_figures(width: int) -> None:
    text = render_report_text(copy.deepcopy(Z), SHOP, width)
    flat = " ".join(text.split())  # long labels wrap on narrow paper
    for label in ("Z-rapport 12", "Købmand Hansen", "CVR: 12345678", "Periode", "Salg", "Returneringer",
                  "Nettoomsætning", "Moms", "Varegrupper", "Betalinger", "Kontant", "Betalingskort",
                  "Ekspedienter", "Rabatter", "Annulleringer", "Træning", "Kopier", "Skuffeåbninger uden salg",
                  "Byttepenge (startbeholdning)", "Indbetalinger", "Udbetalinger", "Forventet", "Optalt",
                  "Kassedifference", "Øreafrunding", "Overført til bank", "Grand total salg",
                  "Grand total retur", "Posteringer", "22-11-2026 07:26-19:26"):
        assert label in (text if width > 32 else flat), label
    assert amount_on(text, "Nettoomsætning") == "1.234,50"
    assert amount_on(text, "Returneringer") == "-11,65"
    assert amount_on(text, "Moms 25 %") == "241,50"
    assert amount_on(text, "Udbetalinger") == "-50,00"
    assert amount_on(text, "Kassedifference") == "2,74"
    assert "Mangler konto: revenue:Smørrebrød" in flat


def test_x_report_text_is_marked_and_has_no_count() -> None:
    text = render_report_text(x_report(), SHOP, 42)
    assert "X-rapport" in text and "Z-rapport" not in text
    assert "Foreløbig opgørelse: dagen er ikke afsluttet" in " ".join(text.split())
    assert "Optalt" not in text and "Kassedifference" not in text and "Posteringer" not in text
    assert amount_on(text, "Forventet") == "1.127,26"


def test_too_narrow_paper_is_refused() -> None:
    with pytest.raises(ValueError):
        render_report_text(copy.deepcopy(Z), SHOP, 10)
    with pytest.raises(ValueError):
        render_receipt_text(copy.deepcopy(SALE), SHOP, 12)


# --- receipt text ---------------------------------------------------------------------------------

@pytest.mark.parametrize("width", WIDTHS)
def test_receipt_has_the_danish_parts(width: int) -> None:
    text = render_receipt_text(copy.deepcopy(SALE), SHOP, width)
    assert max(len(ln) for ln in text.splitlines()) <= width
    for part in ("Købmand Hansen", "Hovedgaden 1, 4000 Roskilde", "CVR: 12345678", "22-11-2026 07:26",
                 "Bon nr. 1", "3 x 12,95", "0,250 kg x 180,00", "Betalingskort (Dankort)",
                 "Ekspedient: anna", "Kasse: 1"):
        assert part in text, part
    assert amount_on(text, "Rabat") == "-3,89"
    assert amount_on(text, "I ALT") == "97,74"
    assert amount_on(text, "Øreafrunding") == "-0,24"
    assert amount_on(text, "Heraf moms 25 %:") == "15,99"
    assert amount_on(text, "Kontant") == "100,00"  # handed over: 77,50 taken + 22,50 back
    assert amount_on(text, "Retur") == "22,50"
    assert "KOPI" not in text and "TRÆNING" not in text


def test_receipt_amount_column_adds_up_to_the_total() -> None:
    lines = render_receipt_text(copy.deepcopy(SALE), SHOP, 42).splitlines()
    rules = [i for i, ln in enumerate(lines) if ln == "-" * 42]
    body = [ln for ln in lines[rules[0] + 1:rules[1]] if len(ln) == 42]  # the right-hand column
    amounts = [AMOUNT.search(ln) for ln in body]
    assert len([m for m in amounts if m]) == 4  # three lines and one discount
    total = sum(parse_kroner(m.group(1).replace(".", "").replace(",", ".")) for m in amounts if m)
    assert total == parse_kroner(SALE["total"])


@pytest.mark.parametrize("copy_flag", [False, True])
@pytest.mark.parametrize("training", [False, True])
def test_copy_and_training_markers_only_when_so(copy_flag: bool, training: bool) -> None:
    text = render_receipt_text({**copy.deepcopy(SALE), "training": training}, SHOP, 32, copy=copy_flag)
    assert ("*** KOPI ***" in text) is copy_flag
    assert ("*** TRÆNING ***" in text) is training


@pytest.mark.parametrize("width", WIDTHS)
def test_return_receipt_shows_minus_and_the_original(width: int) -> None:
    text = render_receipt_text(copy.deepcopy(RETURN), SHOP, width)
    assert max(len(ln) for ln in text.splitlines()) <= width
    assert "Bon nr. 2" in text and "Retur af bon nr. 1" in text
    assert amount_on(text, "Mælk") == "-12,95"
    assert amount_on(text, "I ALT") == "-11,65"
    assert amount_on(text, "Kontant") == "-11,50"
    assert amount_on(text, "Heraf moms 25 %:") == "-2,33"
    assert not any(re.match(r"Retur\s+-?\d", ln) for ln in text.splitlines())  # no change given


def test_receipt_without_rounding_or_change_leaves_them_out() -> None:
    sale = {**copy.deepcopy(SALE), "rounding": "0.00", "change": "0.00",
            "payments": [{"type": "mobilepay", "amount": "97.74"}]}
    text = render_receipt_text(sale, SHOP, 42)
    assert "Øreafrunding" not in text and "Retur" not in text
    assert amount_on(text, "MobilePay") == "97,74"


@pytest.mark.parametrize("kind,name", [("manual_card", "Kort (manuel)"), ("gift_voucher", "Gavekort"),
                                       ("mobilepay", "MobilePay"), ("cash", "Kontant")])
def test_payment_names_are_danish(kind: str, name: str) -> None:
    sale = {**copy.deepcopy(SALE), "rounding": "0.00", "change": "0.00",
            "payments": [{"type": kind, "amount": "97.74"}]}
    assert amount_on(render_receipt_text(sale, SHOP, 42), name) == "97,74"


names = st.text(st.characters(min_codepoint=32, max_codepoint=0x24F), max_size=120)


@settings(max_examples=150, deadline=None)
@given(name=names, cashier=names, width=st.sampled_from(WIDTHS), qty=st.integers(1, 9999))
def test_receipt_lines_fit_whatever_the_names(name: str, cashier: str, width: int, qty: int) -> None:
    sale = copy.deepcopy(SALE)
    sale["lines"][0].update(name=name, qty=qty, unit_price="99999.99")
    sale["cashier"] = cashier
    text = render_receipt_text(sale, {**SHOP, "shop_name": name}, width, copy=True)
    assert max(len(ln) for ln in text.splitlines()) <= width


@given(label=names, value=st.text(max_size=60), width=st.integers(24, 60))
def test_row_never_exceeds_width(label: str, value: str, width: int) -> None:
    assert all(len(ln) <= width for ln in row(label, value, width))


# --- helpers ----------------------------------------------------------------------------------------

def test_money_and_dates_in_danish() -> None:
    assert kr("1234.50") == "1.234,50"
    assert kr("-11.65") == "-11,65"
    assert kr("11.65", negate=True) == "-11,65"
    assert kr(None) == "0,00"
    assert dk_datetime("2026-11-22T14:05:09.5+01:00") == "22-11-2026 14:05"


# --- with the till's own JSON -------------------------------------------------------------------------

def test_renders_what_the_till_produces(till: Till) -> None:
    sale = sell(till, {"cashier": "anna", "pin": "1234",
                       "lines": [{"sku": "MILK", "qty": 3}, {"barcode": "2712341002503"}, {"sku": "PAPER"}],
                       "payments": [{"type": "card", "amount": "20.00", "brand": "Dankort"},
                                    {"type": "cash", "amount": "100.00"}]})
    back = refund(till, sale["receipt_number"], {"cashier": "anna", "pin": "1234",
                                                 "lines": [{"line_no": 1, "qty": 1}]})
    shop = shop_settings.shop(till.conn)
    receipt = render_receipt_text(sale, shop, 42)
    assert "0,250 kg x 129,00" in receipt and amount_on(receipt, "I ALT") == kr(sale["total"])
    assert "Retur af bon nr. 1" in render_receipt_text(back, shop, 32)
    close_day(till, "200.00", cashier_id="bo")
    report, stored = get_report(till)
    assert stored is not None
    reader, text = pdf_text(stored)
    assert len(reader.pages) == 1
    assert f"Z-rapport {report['z_number']}" in text
    assert f"Nettoomsætning {kr(report['net_sales'])}" in text
    assert f"Optalt {kr(report['cash_counted'])}" in text
