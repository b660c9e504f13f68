"""Every operation's success reply, and the 400s, validated against Xero's own OpenAPI spec."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest

from xero_contacts_mcp.sandbox import Sandbox
from xero_contacts_mcp.sandbox.seed import REGION_ID, seed_id

ABC = seed_id("contact:ABC Furniture")
BAYSIDE = seed_id("contact:Bayside Club")
CARLTON = seed_id("contact:Carlton Builders Ltd")
GROUP = seed_id("group:Preferred Suppliers")
SOUTH = seed_id("option:Region/South")
EAST = seed_id("option:Region/East")
#: derived from Xero's OpenAPI spec (see tests/data/xero-openapi/LICENSE); in the repository, so nothing skips
OPERATIONS_JSON = Path(__file__).resolve().parents[1] / "data" / "operations.json"

Scenario = Callable[[Any], Awaitable[httpx2.Response]]


async def _delete_new_category(api: Any) -> httpx2.Response:
    created = await api.put("/TrackingCategories", {"Name": "Temporary"})
    category_id = created.json()["TrackingCategories"][0]["TrackingCategoryID"]
    return await api.delete(f"/TrackingCategories/{category_id}")  # type: ignore[no-any-return]


RICH_CONTACT = {
    "Name": "Contract Checks Ltd",
    "ContactNumber": "CC-1",
    "EmailAddress": "ops@contract.example",
    "DefaultCurrency": "NZD",
    "TaxNumberType": "EIN",
    "Addresses": [{"AddressType": "POBOX", "AddressLine1": "PO Box 1", "City": "Wellington"}],
    "Phones": [{"PhoneType": "MOBILE", "PhoneNumber": "555-1212", "PhoneAreaCode": "415"}],
    "ContactPersons": [{"FirstName": "Ann", "LastName": "Lee", "EmailAddress": "ann@contract.example"}],
    "PaymentTerms": {"Bills": {"Day": 15, "Type": "OFCURRENTMONTH"}},
    "BatchPayments": {"BankAccountNumber": "01-0123-0123456-00", "Code": "ABC"},
    "SalesTrackingCategories": [{"TrackingCategoryName": "Region", "TrackingOptionName": "East"}],
}

SCENARIOS: dict[str, Scenario] = {
    "getContacts": lambda api: api.get("/Contacts", params={"page": 1, "includeArchived": "true"}),
    "createContacts": lambda api: api.put("/Contacts", {"Contacts": [RICH_CONTACT]}),
    "updateOrCreateContacts": lambda api: api.post(
        "/Contacts",
        {"Contacts": [{"Name": "Fresh Co"}, {"Name": "ABC Furniture", "EmailAddress": "not-an-email"}]},
        params={"summarizeErrors": "false"},
    ),
    "getContact": lambda api: api.get(f"/Contacts/{ABC}"),
    "getContactByContactNumber": lambda api: api.get("/Contacts/CUST-001"),
    "updateContact": lambda api: api.post(f"/Contacts/{ABC}", {"Contacts": [{"EmailAddress": "new@abfl.com"}]}),
    "getContactCISSettings": lambda api: api.get(f"/Contacts/{CARLTON}/CISSettings"),
    "getContactGroups": lambda api: api.get("/ContactGroups", params={"order": "Name DESC"}),
    "createContactGroup": lambda api: api.put("/ContactGroups", {"ContactGroups": [{"Name": "VIPs"}]}),
    "getContactGroup": lambda api: api.get(f"/ContactGroups/{GROUP}"),
    "updateContactGroup": lambda api: api.post(f"/ContactGroups/{GROUP}", {"ContactGroups": [{"Name": "Suppliers"}]}),
    "createContactGroupContacts": lambda api: api.put(
        f"/ContactGroups/{GROUP}/Contacts", {"Contacts": [{"ContactID": CARLTON}]}
    ),
    "deleteContactGroupContacts": lambda api: api.delete(f"/ContactGroups/{GROUP}/Contacts"),
    "deleteContactGroupContact": lambda api: api.delete(f"/ContactGroups/{GROUP}/Contacts/{BAYSIDE}"),
    "getTrackingCategories": lambda api: api.get("/TrackingCategories", params={"includeArchived": "true"}),
    "createTrackingCategory": lambda api: api.put("/TrackingCategories", {"Name": "Department"}),
    "getTrackingCategory": lambda api: api.get(f"/TrackingCategories/{REGION_ID}"),
    "updateTrackingCategory": lambda api: api.post(f"/TrackingCategories/{REGION_ID}", {"Name": "Area"}),
    "deleteTrackingCategory": _delete_new_category,
    "createTrackingOptions": lambda api: api.put(f"/TrackingCategories/{REGION_ID}/Options", {"Name": "West"}),
    "updateTrackingOptions": lambda api: api.post(
        f"/TrackingCategories/{REGION_ID}/Options/{EAST}", {"Name": "Eastern", "Status": "ARCHIVED"}
    ),
    "deleteTrackingOptions": lambda api: api.delete(f"/TrackingCategories/{REGION_ID}/Options/{SOUTH}"),
}


def test_scenarios_cover_all_22_operations() -> None:
    operation_ids = {op["operationId"] for op in json.loads(OPERATIONS_JSON.read_text())}
    assert len(operation_ids) == 22
    assert set(SCENARIOS) == operation_ids


@pytest.mark.parametrize("operation_id", sorted(SCENARIOS))
async def test_success_reply_matches_xero_schema(
    operation_id: str, api: Any, sandbox: Sandbox, contract: Callable[[httpx2.Response], None]
) -> None:
    response = await SCENARIOS[operation_id](api)
    assert 200 <= response.status_code < 300, response.text
    assert sandbox.stats.operations[operation_id] == 1
    contract(response)
    if response.status_code == 204:
        assert response.content == b""
    else:
        body = response.json()
        assert body["Status"] == "OK"
        assert body["ProviderName"] == "xero-contacts-mcp sandbox"
        assert body["DateTimeUTC"].startswith("/Date(")


async def test_unpaged_and_summary_lists_match_schema(api: Any, contract: Callable[[httpx2.Response], None]) -> None:
    for params in ({}, {"summaryOnly": "true"}, {"where": 'Name.StartsWith("a")', "order": "Name DESC"}):
        response = await api.get("/Contacts", params=params)
        assert response.status_code == 200
        contract(response)


ERRORS: dict[str, Scenario] = {
    "name clash": lambda api: api.put("/Contacts", {"Contacts": [{"Name": "ABC Furniture"}]}),
    "number clash and long name": lambda api: api.post(
        "/Contacts", {"Contacts": [{"Name": "X" * 300}, {"Name": "Other", "ContactNumber": "CUST-001"}]}
    ),
    "nested address error": lambda api: api.put(
        "/Contacts", {"Contacts": [{"Name": "Nested", "Addresses": [{"AddressType": "HOME"}]}]}
    ),
    "not json": lambda api: api.request(
        "PUT", "/Contacts", content=b'{"Contacts": [', headers=api.headers({"content-type": "application/json"})
    ),
    "wrong type": lambda api: api.put("/Contacts", {"Contacts": [{"Name": 42}]}),
    "duplicate group": lambda api: api.put("/ContactGroups", {"ContactGroups": [{"Name": "preferred suppliers"}]}),
    "unknown member": lambda api: api.put(
        f"/ContactGroups/{GROUP}/Contacts", {"Contacts": [{"ContactID": "0b1e2d3c-0000-4000-8000-000000000000"}]}
    ),
    "category in use": lambda api: api.delete(f"/TrackingCategories/{REGION_ID}"),
    "duplicate option": lambda api: api.put(f"/TrackingCategories/{REGION_ID}/Options", {"Name": "north"}),
    "idempotency key too long": lambda api: api.put(
        "/ContactGroups", {"ContactGroups": [{"Name": "K"}]}, headers=api.headers({"Idempotency-Key": "k" * 129})
    ),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
async def test_400_bodies_match_error_schema(case: str, api: Any, contract: Callable[[httpx2.Response], None]) -> None:
    response = await ERRORS[case](api)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    contract(response)
    body = response.json()
    assert isinstance(body["ErrorNumber"], int)
    assert body["Type"] and body["Message"]


def test_contract_check_rejects_a_reply_that_breaks_the_schema(contract: Callable[[httpx2.Response], None]) -> None:
    """Guards the guard: a non-UUID ContactID must fail validation, or the checks above prove nothing."""
    request = httpx2.Request("GET", "https://api.xero.com/api.xro/2.0/Contacts")
    bad = httpx2.Response(200, json={"Contacts": [{"ContactID": "not-a-uuid"}]}, request=request)
    with pytest.raises(Exception, match="uuid"):
        contract(bad)
