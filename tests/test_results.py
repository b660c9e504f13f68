"""Xero's replies are shaped for a model: ISO dates, no nulls or empties, no envelope noise."""

from __future__ import annotations

from datetime import UTC, datetime

from xero_contacts_mcp.tools.results import normalise
from xero_contacts_mcp.xerodates import parse_ms_date, to_iso, to_ms_date

REPLY = {
    "Id": "e997d6d7-6dad-4458-beb8-d9c1bf7f2edf", "Status": "OK", "ProviderName": "Xero API Partner",
    "DateTimeUTC": "/Date(1551399321121)/",
    "Contacts": [{
        "ContactID": "00000000-0000-0000-0000-000000000000", "ContactStatus": "ACTIVE", "Name": "Bruce Banner",
        "BankAccountDetails": "", "Addresses": [{"AddressType": "STREET", "City": "", "Region": ""}],
        "Phones": [{"PhoneType": "MOBILE", "PhoneNumber": "555-1212", "PhoneAreaCode": "415", "PhoneCountryCode": ""}],
        "UpdatedDateUTC": "/Date(1551399321043+0000)/", "ContactGroups": [], "IsSupplier": False,
        "Balances": {"AccountsReceivable": {"Outstanding": 0.0, "Overdue": None}}, "Website": None,
    }],
}


def test_dates_become_iso_utc_and_empty_values_go() -> None:
    data = normalise(REPLY, "Contacts")
    assert data == {"Contacts": [{
        "ContactStatus": "ACTIVE", "Name": "Bruce Banner",  # Xero's zero ContactID names no record: gone too
        # the blank STREET slot is gone entirely
        "Phones": [{"PhoneType": "MOBILE", "PhoneNumber": "555-1212", "PhoneAreaCode": "415"}],
        "UpdatedDateUTC": "2019-03-01T00:15:21.043Z", "IsSupplier": False,
        "Balances": {"AccountsReceivable": {"Outstanding": 0.0}},
    }]}


def test_raw_mode_keeps_xeros_reply_untouched() -> None:
    assert normalise(REPLY, "Contacts", raw=True) == REPLY


def test_an_empty_result_list_is_kept_to_say_none_were_found() -> None:
    assert normalise({"Status": "OK", "Contacts": []}, "Contacts") == {"Contacts": []}


def test_plain_text_reply_is_wrapped_in_an_object() -> None:
    assert normalise("ok", None) == {"Response": "ok"}


def test_xero_date_helpers_round_trip() -> None:
    moment = datetime(2019, 3, 1, 6, 15, 21, 43000, tzinfo=UTC)
    assert to_ms_date(moment) == "/Date(1551420921043+0000)/"
    assert parse_ms_date(to_ms_date(moment)) == moment
    assert parse_ms_date("/Date(1419937200000+1300)/") == datetime(2014, 12, 30, 11, 0, tzinfo=UTC)
    assert parse_ms_date("Date(1)") is None and parse_ms_date("/Date(x)/") is None
    assert to_iso(datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2020-01-02T03:04:05Z"


def test_blank_phone_and_address_slots_are_dropped_but_filled_ones_kept() -> None:
    reply = {"Contacts": [{"Name": "A", "Phones": [
        {"PhoneType": "DEFAULT", "PhoneNumber": "555", "PhoneAreaCode": ""},
        {"PhoneType": "DDI", "PhoneNumber": "", "PhoneAreaCode": "", "PhoneCountryCode": ""},
        {"PhoneType": "FAX", "PhoneNumber": None}],
        "Addresses": [{"AddressType": "POBOX", "City": ""}]}]}
    assert normalise(reply, "Contacts") == {"Contacts": [{"Name": "A", "Phones": [
        {"PhoneType": "DEFAULT", "PhoneNumber": "555"}]}]}
