"""Every tool sends exactly the right request: method, path, query, headers and JSON body.

Each case is mocked with respx (through pytest-httpx2), the captured request is compared field by
field, and then validated against Xero's own OpenAPI spec.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import respx

from conftest import API, TENANT, TOKEN

CONTACT = "4d5e6f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
GROUP = "97a3c2d1-5b6e-4f70-8a9b-1c2d3e4f5a6b"
CATEGORY = "297c2dc5-cc47-4afd-8ec8-74990b8761e9"
OPTION = "dc54c220-0140-495a-b925-3246adc0075f"
OTHER_TENANT = "0f9e8d7c-6b5a-4c3d-9e2f-1a0b9c8d7e6f"

FULL_CONTACT: dict[str, Any] = {
    "ContactNumber": "CUST-100",
    "AccountNumber": "ACC-100",
    "ContactStatus": "ACTIVE",
    "Name": "Acme Ltd",
    "FirstName": "Ada",
    "LastName": "Lovelace",
    "CompanyNumber": "NZ-123",
    "EmailAddress": "ada@acme.test",
    "ContactPersons": [{"FirstName": "Bo", "LastName": "Li", "EmailAddress": "bo@acme.test",
                        "IncludeInEmails": True}],
    "BankAccountDetails": "01-0123-0123456-00",
    "TaxNumber": "12-345-678",
    "TaxNumberType": "EIN",
    "AccountsReceivableTaxType": "OUTPUT",
    "AccountsPayableTaxType": "INPUT",
    "Addresses": [{"AddressType": "POBOX", "AddressLine1": "P O Box 123", "City": "Wellington",
                   "PostalCode": "6011", "Country": "New Zealand", "AttentionTo": "Accounts"}],
    "Phones": [{"PhoneType": "MOBILE", "PhoneNumber": "555-1212", "PhoneAreaCode": "415",
                "PhoneCountryCode": "1"}],
    "SalesDefaultLineAmountType": "EXCLUSIVE",
    "PurchasesDefaultLineAmountType": "INCLUSIVE",
    "DefaultCurrency": "NZD",
    "XeroNetworkKey": "xnk",
    "SalesDefaultAccountCode": "200",
    "PurchasesDefaultAccountCode": "300",
    "SalesTrackingCategories": [{"TrackingCategoryName": "Region", "TrackingOptionName": "North"}],
    "PurchasesTrackingCategories": [{"TrackingCategoryName": "Region", "TrackingOptionName": "South"}],
    "PaymentTerms": {"Bills": {"Day": 15, "Type": "OFCURRENTMONTH"},
                     "Sales": {"Day": 10, "Type": "DAYSAFTERBILLMONTH"}},
    "BatchPayments": {"BankAccountNumber": "123-456", "BankAccountName": "ACME Bank", "Details": "Invoices",
                      "Code": "ABC", "Reference": "Ref"},
}


@dataclass
class Case:
    tool: str
    args: dict[str, Any]
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    reply: Any = field(default_factory=lambda: {"Contacts": []})
    status: int = 200


CASES = [
    Case("xero_contacts_get_contacts",
         {"If-Modified-Since": "2024-01-31T09:30:00+13:00", "where": 'Name=="Acme Ltd" AND IsSupplier==true',
          "order": "Name DESC", "IDs": [CONTACT, GROUP], "page": 2, "includeArchived": True,
          "summaryOnly": False, "searchTerm": "acme", "pageSize": 50},
         "GET", "/Contacts",
         query={"where": 'Name=="Acme Ltd" AND IsSupplier==true', "order": "Name DESC",
                "IDs": f"{CONTACT},{GROUP}", "page": "2", "includeArchived": "true", "summaryOnly": "false",
                "searchTerm": "acme", "pageSize": "50"},
         headers={"If-Modified-Since": "2024-01-30T20:30:00Z"}),
    Case("xero_contacts_get_contact", {"ContactID": CONTACT}, "GET", f"/Contacts/{CONTACT}"),
    Case("xero_contacts_get_contact_by_contact_number", {"ContactNumber": "CUST/100 #1"},
         "GET", "/Contacts/CUST%2F100%20%231"),
    Case("xero_contacts_get_contact_cissettings", {"ContactID": CONTACT}, "GET",
         f"/Contacts/{CONTACT}/CISSettings", reply={"CISSettings": [{"CISEnabled": True, "Rate": 20.0}]}),
    Case("xero_contacts_create_contacts",
         {"summarizeErrors": False, "Contacts": [FULL_CONTACT, {"Name": "Bare Minimum"}],
          "Idempotency-Key": "create-1"},
         "PUT", "/Contacts", query={"summarizeErrors": "false"},
         body={"Contacts": [FULL_CONTACT, {"Name": "Bare Minimum"}]}, headers={"Idempotency-Key": "create-1"}),
    Case("xero_contacts_update_contact",
         {"ContactID": CONTACT, "Contacts": [{"ContactStatus": "ARCHIVED"}]},
         "POST", f"/Contacts/{CONTACT}", body={"Contacts": [{"ContactStatus": "ARCHIVED"}]}),
    Case("xero_contacts_update_or_create_contacts",
         {"summarizeErrors": True, "Contacts": [{"ContactNumber": "CUST-100", "EmailAddress": "new@acme.test"}]},
         "POST", "/Contacts", query={"summarizeErrors": "true"},
         body={"Contacts": [{"ContactNumber": "CUST-100", "EmailAddress": "new@acme.test"}]}),
    Case("xero_contacts_get_contact_groups", {"where": 'Name=="Preferred"', "order": "Name"},
         "GET", "/ContactGroups", query={"where": 'Name=="Preferred"', "order": "Name"},
         reply={"ContactGroups": []}),
    Case("xero_contacts_get_contact_group", {"ContactGroupID": GROUP}, "GET", f"/ContactGroups/{GROUP}",
         reply={"ContactGroups": []}),
    Case("xero_contacts_create_contact_group", {"ContactGroups": [{"Name": "Preferred"}]},
         "PUT", "/ContactGroups", body={"ContactGroups": [{"Name": "Preferred"}]}, reply={"ContactGroups": []}),
    Case("xero_contacts_update_contact_group",
         {"ContactGroupID": GROUP, "ContactGroups": [{"Name": "Renamed", "Status": "ACTIVE"}]},
         "POST", f"/ContactGroups/{GROUP}", body={"ContactGroups": [{"Name": "Renamed", "Status": "ACTIVE"}]},
         reply={"ContactGroups": []}),
    Case("xero_contacts_create_contact_group_contacts",
         {"ContactGroupID": GROUP, "Contacts": [{"ContactID": CONTACT}], "pagination": {},
          "Warnings": []},  # empty no-effect values pass, unsent (non-empty ones are refused: test_no_drops)
         "PUT", f"/ContactGroups/{GROUP}/Contacts", body={"Contacts": [{"ContactID": CONTACT}]}),
    Case("xero_contacts_delete_contact_group_contact", {"ContactGroupID": GROUP, "ContactID": CONTACT},
         "DELETE", f"/ContactGroups/{GROUP}/Contacts/{CONTACT}", reply=None, status=204),
    Case("xero_contacts_delete_contact_group_contacts", {"ContactGroupID": GROUP},
         "DELETE", f"/ContactGroups/{GROUP}/Contacts", reply=None, status=204),
    Case("xero_contacts_get_tracking_categories", {"where": 'Status=="ACTIVE"', "order": "Name",
                                                   "includeArchived": True},
         "GET", "/TrackingCategories", query={"where": 'Status=="ACTIVE"', "order": "Name",
                                              "includeArchived": "true"},
         reply={"TrackingCategories": []}),
    Case("xero_contacts_get_tracking_category", {"TrackingCategoryID": CATEGORY}, "GET",
         f"/TrackingCategories/{CATEGORY}", reply={"TrackingCategories": []}),
    Case("xero_contacts_create_tracking_category", {"Name": "Region", "Status": "ACTIVE"},
         "PUT", "/TrackingCategories", body={"Name": "Region", "Status": "ACTIVE"},
         reply={"TrackingCategories": []}),
    Case("xero_contacts_update_tracking_category",
         {"TrackingCategoryID": CATEGORY, "Name": "Area", "Status": "ARCHIVED"},
         "POST", f"/TrackingCategories/{CATEGORY}", body={"Name": "Area", "Status": "ARCHIVED"},
         reply={"TrackingCategories": []}),
    Case("xero_contacts_delete_tracking_category", {"TrackingCategoryID": CATEGORY}, "DELETE",
         f"/TrackingCategories/{CATEGORY}", reply={"TrackingCategories": []}),
    Case("xero_contacts_create_tracking_options", {"TrackingCategoryID": CATEGORY, "Name": "East"},
         "PUT", f"/TrackingCategories/{CATEGORY}/Options", body={"Name": "East"}, reply={"Options": []}),
    Case("xero_contacts_update_tracking_options",
         {"TrackingCategoryID": CATEGORY, "TrackingOptionID": OPTION, "Name": "West", "Status": "ACTIVE"},
         "POST", f"/TrackingCategories/{CATEGORY}/Options/{OPTION}", body={"Name": "West", "Status": "ACTIVE"},
         reply={"Options": []}),
    Case("xero_contacts_delete_tracking_options", {"TrackingCategoryID": CATEGORY, "TrackingOptionID": OPTION},
         "DELETE", f"/TrackingCategories/{CATEGORY}/Options/{OPTION}", reply={"Options": []}),
]


def test_every_tool_has_a_case(runtime: Any) -> None:
    assert sorted(c.tool for c in CASES) == sorted(runtime.runner.names)


async def _capture(runtime: Any, mock: respx.Router, case: Case) -> tuple[Any, Any]:
    route = mock.route(method=case.method, url__startswith=API)
    if case.reply is None:
        route.respond(case.status)
    else:
        route.respond(case.status, json=case.reply)
    result = await runtime.runner.run(case.tool, case.args)
    assert route.call_count == 1, result.text
    return route.calls.last.request, result


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.tool)
async def test_exact_request(runtime: Any, httpx2_mock: respx.Router, case: Case) -> None:
    request, result = await _capture(runtime, httpx2_mock, case)
    assert not result.is_error, result.text
    url = urlsplit(str(request.url))
    assert request.method == case.method
    assert request.url.raw_path.decode().split("?")[0] == "/api.xro/2.0" + case.path
    assert dict(parse_qsl(url.query, keep_blank_values=True)) == case.query
    assert request.headers["xero-tenant-id"] == TENANT
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/json"
    for name, value in case.headers.items():
        assert request.headers[name] == value
    if case.method in ("PUT", "POST"):
        key = request.headers["Idempotency-Key"]
        assert key == case.headers.get("Idempotency-Key") or uuid.UUID(key).version == 4
        assert request.headers["Content-Type"] == "application/json"
        assert json.loads(request.content) == case.body
    else:
        assert "Idempotency-Key" not in request.headers
        assert request.content == b""
    assert "If-Modified-Since" not in request.headers or case.tool == "xero_contacts_get_contacts"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.tool)
async def test_request_matches_xero_openapi(runtime: Any, httpx2_mock: respx.Router, case: Case,
                                            openapi_spec: Any) -> None:
    from openapi_core.testing import MockRequest

    request, _ = await _capture(runtime, httpx2_mock, case)
    url = urlsplit(str(request.url))
    headers = dict(request.headers.items())
    openapi_spec.validate_request(MockRequest(
        "https://api.xero.com", request.method.lower(), url.path,
        args=dict(parse_qsl(url.query)), headers=headers,
        data=request.content.decode() or None,
        content_type=headers.get("content-type", "application/json").split(";")[0],
    ))


async def test_explicit_tenant_wins_over_default(runtime: Any, httpx2_mock: respx.Router) -> None:
    route = httpx2_mock.get(f"{API}/Contacts/{CONTACT}").respond(200, json={"Contacts": []})
    await runtime.runner.run("xero_contacts_get_contact", {"ContactID": CONTACT, "xero-tenant-id": OTHER_TENANT})
    assert route.calls.last.request.headers["xero-tenant-id"] == OTHER_TENANT


@pytest.mark.parametrize(("number", "encoded"), [
    ("..", "%2E%2E"), (".", "%2E"), ("../Invoices", "..%2FInvoices"), ("a?b=c", "a%3Fb%3Dc"),
    ("%2E%2E", "%252E%252E"), ("ünïcode", "%C3%BCn%C3%AFcode"),
])
async def test_contact_number_is_one_encoded_segment(runtime: Any, httpx2_mock: respx.Router,
                                                     number: str, encoded: str) -> None:
    route = httpx2_mock.route(method="GET").respond(200, json={"Contacts": []})
    result = await runtime.runner.run("xero_contacts_get_contact_by_contact_number", {"ContactNumber": number})
    assert not result.is_error, result.text
    assert route.calls.last.request.url.raw_path.decode() == f"/api.xro/2.0/Contacts/{encoded}"


async def test_retry_of_a_write_can_reuse_its_idempotency_key(runtime: Any, httpx2_mock: respx.Router) -> None:
    route = httpx2_mock.put(f"{API}/ContactGroups").respond(200, json={"ContactGroups": []})
    args = {"ContactGroups": [{"Name": "Once"}], "Idempotency-Key": "same-key"}
    await runtime.runner.run("xero_contacts_create_contact_group", args)
    await runtime.runner.run("xero_contacts_create_contact_group", args)
    assert [c.request.headers["Idempotency-Key"] for c in route.calls] == ["same-key", "same-key"]


async def test_generated_idempotency_keys_differ_per_call(runtime: Any, httpx2_mock: respx.Router) -> None:
    route = httpx2_mock.put(f"{API}/ContactGroups").respond(200, json={"ContactGroups": []})
    for _ in range(2):
        await runtime.runner.run("xero_contacts_create_contact_group", {"ContactGroups": [{"Name": "G"}]})
    keys = {c.request.headers["Idempotency-Key"] for c in route.calls}
    assert len(keys) == 2
