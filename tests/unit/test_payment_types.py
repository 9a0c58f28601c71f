"""The payment types the till takes: cash always on, the others switched by a manager, one meta
setting, each change journalled; and whether card and MobilePay are set up (never a secret)."""

from __future__ import annotations

import json

import pytest

from appliance.dinero.tokens import TokenStore
from appliance.services import payment_types as pt
from appliance.services.devices import set_device
from appliance.services.mobilepay_setup import set_mobilepay, sim_spec


def changes(till) -> list[dict]:
    rows = till.conn.execute("SELECT payload, cashier FROM journal WHERE kind = 'settings_change' "
                             "ORDER BY nr").fetchall()
    return [{**json.loads(p), "who": who} for p, who in rows if json.loads(p).get("key") == pt.SETTING_KEY]


def test_every_type_is_on_until_a_manager_changes_it(till) -> None:
    assert pt.enabled_types(till) == ["cash", "card", "mobilepay", "manual_card", "gift_voucher"]
    assert changes(till) == []


def test_switching_a_type_off_and_on_is_saved_and_journalled(till) -> None:
    assert pt.set_type_enabled(till, "gift_voucher", False, "bo") == ["cash", "card", "mobilepay",
                                                                       "manual_card"]
    assert pt.enabled_types(till) == ["cash", "card", "mobilepay", "manual_card"]
    assert json.loads(till.conn.execute("SELECT value FROM meta WHERE key = ?",
                                        (pt.SETTING_KEY,)).fetchone()[0]) == pt.enabled_types(till)
    pt.set_type_enabled(till, "gift_voucher", False, "bo")  # no change: not journalled again
    pt.set_type_enabled(till, "gift_voucher", True, "bo")
    assert pt.enabled_types(till)[-1] == "gift_voucher"
    assert changes(till) == [
        {"key": "payment.types", "from": list(pt.ALL_TYPES), "to": ["cash", "card", "mobilepay", "manual_card"],
         "who": "bo"},
        {"key": "payment.types", "from": ["cash", "card", "mobilepay", "manual_card"], "to": list(pt.ALL_TYPES),
         "who": "bo"}]


def test_the_whole_set_is_kept_in_payment_type_order(till) -> None:
    assert pt.set_enabled_types(till, ["gift_voucher", "cash"], "bo") == ["cash", "gift_voucher"]
    assert pt.enabled_types(till) == ["cash", "gift_voucher"]


@pytest.mark.parametrize("call", [
    lambda t: pt.set_type_enabled(t, "cash", False, "bo"),
    lambda t: pt.set_enabled_types(t, ["card"], "bo"),
    lambda t: pt.set_type_enabled(t, "cheque", True, "bo"),
    lambda t: pt.set_enabled_types(t, ["cash", "bitcoin"], "bo"),
])
def test_cash_cannot_be_switched_off_and_unknown_types_are_refused(till, call) -> None:
    with pytest.raises(pt.PaymentTypesError):
        call(till)
    assert pt.enabled_types(till) == list(pt.ALL_TYPES) and changes(till) == []


def test_a_damaged_setting_takes_every_type(till) -> None:
    till.conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (pt.SETTING_KEY, "{not json"))
    assert pt.enabled_types(till) == list(pt.ALL_TYPES)
    till.conn.execute("UPDATE meta SET value = ? WHERE key = ?", (json.dumps(["card", "bogus"]), pt.SETTING_KEY))
    assert pt.enabled_types(till) == ["cash", "card"]  # cash even when the row lacks it


def test_overview_says_what_is_set_up_without_secrets(till) -> None:
    rows = {r["type"]: r for r in pt.overview(till)}
    assert rows["cash"]["always_on"] and rows["cash"]["enabled"] and rows["cash"]["setup"] is None
    assert rows["card"]["setup"] == {"ready": False, "kind": None}
    assert rows["mobilepay"]["setup"] == {"ready": False, "kind": None}
    assert rows["gift_voucher"]["setup"] is None

    TokenStore(till.data_dir, "terminal").update(passphrase="correct horse battery")
    set_device(till, "terminal", {"kind": "nexo", "url": "https://192.168.1.60:8443/nexo",
                                  "poi_id": "V400m-324688179", "key_id": "TILLBOX"}, "bo")
    set_mobilepay(till, sim_spec(till), "bo")
    rows = {r["type"]: r for r in pt.overview(till)}
    assert rows["card"]["setup"] == {"ready": True, "kind": "nexo", "key": "set", "poi_id": "V400m-324688179"}
    assert rows["mobilepay"]["setup"] == {"ready": True, "kind": "sim"}
    assert "correct horse" not in json.dumps(pt.overview(till))

    TokenStore(till.data_dir, "terminal").save({})
    assert pt.card_setup(till)["ready"] is False and pt.card_setup(till)["key"] == "missing"
