"""Contacts: create/update rules, archiving, summarizeErrors, and every GET /Contacts option."""

from __future__ import annotations

from typing import Any

import pytest

from xero_contacts_mcp.sandbox import Sandbox
from xero_contacts_mcp.sandbox.seed import seed_id

ABC = seed_id("contact:ABC Furniture")
CARLTON = seed_id("contact:Carlton Builders Ltd")
MARINE = seed_id("contact:Marine Systems")
HAMILTON = seed_id("contact:Hamilton Smith Ltd")


def names(response: Any) -> list[str]:
    return [c["Name"] for c in response.json()["Contacts"]]


def messages(element: dict[str, Any]) -> list[str]:
    return [e["Message"] for e in element.get("ValidationErrors", [])]


# -- PUT /Contacts ---------------------------------------------------------------------------


async def test_put_creates_with_xero_defaults(api: Any, sandbox: Sandbox) -> None:
    response = await api.put("/Contacts", {"Contacts": [{"Name": "Acme Ltd", "EmailAddress": "hi@acme.example"}]})
    assert response.status_code == 200
    created = response.json()["Contacts"][0]
    assert created["ContactStatus"] == "ACTIVE"
    assert created["IsSupplier"] is False and created["IsCustomer"] is False
    assert created["HasValidationErrors"] is False
    assert [a["AddressType"] for a in created["Addresses"]] == ["STREET", "POBOX"]
    assert [p["PhoneType"] for p in created["Phones"]] == ["DEFAULT", "DDI", "FAX", "MOBILE"]
    assert created["UpdatedDateUTC"].startswith("/Date(") and created["UpdatedDateUTC"].endswith("+0000)/")
    assert '"\\/Date(' in response.text, "dates are written with escaped slashes, as .NET does"
    assert created["ContactID"] in sandbox.state().contacts


async def test_put_name_clash_is_case_insensitive_among_active_only(api: Any, sandbox: Sandbox) -> None:
    clash = await api.put("/Contacts", {"Contacts": [{"Name": "abc furniture"}]})
    assert clash.status_code == 400
    body = clash.json()
    assert (body["ErrorNumber"], body["Type"]) == (10, "ValidationException")
    assert "already assigned to another contact" in messages(body["Elements"][0])[0]
    reuse_archived = await api.put("/Contacts", {"Contacts": [{"Name": "Marine Systems"}]})
    assert reuse_archived.status_code == 200, "an ARCHIVED contact's name may be reused"


async def test_put_contact_number_clashes_with_archived_contacts_too(api: Any) -> None:
    await api.post(f"/Contacts/{ABC}", {"Contacts": [{"ContactStatus": "ARCHIVED"}]})
    clash = await api.put("/Contacts", {"Contacts": [{"Name": "Someone New", "ContactNumber": "cust-001"}]})
    assert clash.status_code == 400
    assert "contact number" in messages(clash.json()["Elements"][0])[0]


async def test_put_batch_is_all_or_nothing_and_lists_only_failures(api: Any, sandbox: Sandbox) -> None:
    before = len(sandbox.state().contacts)
    response = await api.put(
        "/Contacts",
        {"Contacts": [{"Name": "Fine One"}, {"EmailAddress": "nameless@x.example"}, {"Name": "Fine One"}]},
    )
    assert response.status_code == 400
    failed = response.json()["Elements"]
    assert len(failed) == 2, "the missing name and the in-batch duplicate, not the valid element"
    assert messages(failed[0]) == ["The contact name must be specified."]
    assert "already assigned" in messages(failed[1])[0]
    assert len(sandbox.state().contacts) == before


async def test_put_rejects_more_than_five_persons_and_existing_ids(api: Any) -> None:
    persons = [{"FirstName": f"P{i}"} for i in range(6)]
    response = await api.put(
        "/Contacts", {"Contacts": [{"Name": "Crowd", "ContactPersons": persons}, {"ContactID": ABC, "Name": "Dup"}]}
    )
    assert response.status_code == 400
    crowd, dup = response.json()["Elements"]
    assert "maximum of 5 contact persons" in messages(crowd)[0]
    assert "already exists" in messages(dup)[0]
    assert dup["ContactID"] == ABC


async def test_nested_errors_are_reported_on_the_nested_element(api: Any) -> None:
    response = await api.put(
        "/Contacts",
        {"Contacts": [{"Name": "Nested", "Addresses": [{"AddressType": "HOME", "City": "X"}], "Phones": []}]},
    )
    assert response.status_code == 400
    element = response.json()["Elements"][0]
    assert element["HasValidationErrors"] is True
    assert messages(element) == []
    assert "AddressType" in element["Addresses"][0]["ValidationErrors"][0]["Message"]


async def test_wrong_json_types_are_post_data_invalid(api: Any) -> None:
    response = await api.put("/Contacts", {"Contacts": [{"Name": ["not", "a", "string"]}]})
    assert response.status_code == 400
    assert response.json()["Type"] == "PostDataInvalidException"
    empty = await api.request("PUT", "/Contacts", content=b"")
    assert empty.json()["ErrorNumber"] == 14


# -- POST /Contacts and /Contacts/{ContactID} -------------------------------------------------------


async def test_post_matches_by_contact_number_and_keeps_unspecified_fields(api: Any, sandbox: Sandbox) -> None:
    response = await api.post("/Contacts", {"Contacts": [{"ContactNumber": "CUST-001", "FirstName": "Patricia"}]})
    assert response.status_code == 200
    updated = sandbox.state().contacts[ABC]
    assert updated.fields["FirstName"] == "Patricia"
    assert updated.fields["EmailAddress"] == "info@abfl.com"
    assert len(updated.fields["ContactPersons"]) == 2
    assert response.json()["Contacts"][0]["ContactID"] == ABC


async def test_post_matches_by_contact_id_else_creates(api: Any, sandbox: Sandbox) -> None:
    before = len(sandbox.state().contacts)
    response = await api.post(
        "/Contacts", {"Contacts": [{"ContactID": HAMILTON, "Name": "Hamilton Smith Limited"}, {"Name": "Brand New"}]}
    )
    assert response.status_code == 200
    assert sandbox.state().contacts[HAMILTON].name == "Hamilton Smith Limited"
    assert len(sandbox.state().contacts) == before + 1
    unknown = await api.post("/Contacts", {"Contacts": [{"ContactID": "0b1e2d3c-0000-4000-8000-000000000001"}]})
    assert unknown.status_code == 400


async def test_post_merges_addresses_and_phones_by_type(api: Any, sandbox: Sandbox) -> None:
    await api.post(
        f"/Contacts/{ABC}",
        {"Contacts": [{"Addresses": [{"AddressType": "POBOX", "AddressLine1": "PO Box 9", "City": "Auckland"}]}]},
    )
    addresses = {a["AddressType"]: a for a in sandbox.state().contacts[ABC].fields["Addresses"]}
    assert addresses["POBOX"]["City"] == "Auckland"
    assert addresses["STREET"]["AddressLine1"] == "Level 17"


async def test_post_by_id_unknown_is_plain_text_404(api: Any) -> None:
    response = await api.post("/Contacts/0b1e2d3c-0000-4000-8000-000000000002", {"Contacts": [{"Name": "X"}]})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "The resource you're looking for cannot be found"


async def test_archive_and_unarchive_with_name_clash(api: Any, sandbox: Sandbox) -> None:
    archived = await api.post(f"/Contacts/{ABC}", {"Contacts": [{"ContactStatus": "ARCHIVED"}]})
    assert archived.json()["Contacts"][0]["ContactStatus"] == "ARCHIVED"
    listed = await api.get("/Contacts")
    assert "ABC Furniture" not in names(listed)
    await api.put("/Contacts", {"Contacts": [{"Name": "ABC Furniture"}]})
    blocked = await api.post(f"/Contacts/{ABC}", {"Contacts": [{"ContactStatus": "ACTIVE"}]})
    assert blocked.status_code == 400
    assert sandbox.state().contacts[ABC].status == "ARCHIVED"
    renamed = await api.post(f"/Contacts/{ABC}", {"Contacts": [{"ContactStatus": "ACTIVE", "Name": "ABC Furniture 2"}]})
    assert renamed.status_code == 200
    assert sandbox.state().contacts[ABC].status == "ACTIVE"


async def test_summarize_errors_false_applies_the_good_ones(api: Any, sandbox: Sandbox) -> None:
    response = await api.post(
        "/Contacts",
        {"Contacts": [{"Name": "Good One"}, {"Name": "Bayside Club"}, {"Name": "Good Two", "EmailAddress": "bad"}]},
        params={"summarizeErrors": "false"},
    )
    assert response.status_code == 200
    good, clash, bad_email = response.json()["Contacts"]
    assert good["StatusAttributeString"] == "OK" and good["HasValidationErrors"] is False
    assert clash["StatusAttributeString"] == "ERROR" and clash["HasValidationErrors"] is True
    assert "already assigned" in messages(clash)[0]
    assert messages(bad_email) == ["Email address must be valid."]
    assert "EmailAddress" not in bad_email, "invalid values are not echoed (they would break the schema)"
    stored = {c.name for c in sandbox.state().contacts.values()}
    assert "Good One" in stored and "Good Two" not in stored


async def test_summarize_errors_default_applies_nothing(api: Any, sandbox: Sandbox) -> None:
    response = await api.post("/Contacts", {"Contacts": [{"Name": "Good One"}, {"Name": "Bayside Club"}]})
    assert response.status_code == 400
    assert len(response.json()["Elements"]) == 1
    assert "Good One" not in {c.name for c in sandbox.state().contacts.values()}


async def test_tracking_defaults_must_exist(api: Any, sandbox: Sandbox) -> None:
    bad = await api.post(
        f"/Contacts/{HAMILTON}",
        {"Contacts": [{"SalesTrackingCategories": [{"TrackingCategoryName": "Region", "TrackingOptionName": "Moon"}]}]},
    )
    assert bad.status_code == 400
    good = await api.post(
        f"/Contacts/{HAMILTON}",
        {
            "Contacts": [
                {"PurchasesTrackingCategories": [{"TrackingCategoryName": "region", "TrackingOptionName": "SOUTH"}]}
            ]
        },
    )
    assert good.json()["Contacts"][0]["PurchasesTrackingCategories"] == [
        {"TrackingCategoryName": "Region", "TrackingOptionName": "South"}
    ]


# -- GET /Contacts ---------------------------------------------------------------------------------


async def test_unpaged_list_omits_single_or_paged_fields(api: Any) -> None:
    response = await api.get("/Contacts")
    abc = next(c for c in response.json()["Contacts"] if c["ContactID"] == ABC)
    for field in ("ContactPersons", "PaymentTerms", "ContactGroups", "Balances", "SalesTrackingCategories"):
        assert field not in abc
    assert abc["Addresses"] and abc["Phones"]
    assert "pagination" not in response.json()
    paged = (await api.get("/Contacts", params={"page": 1})).json()
    abc_paged = next(c for c in paged["Contacts"] if c["ContactID"] == ABC)
    assert len(abc_paged["ContactPersons"]) == 2
    assert abc_paged["ContactGroups"][0]["Name"] == "Preferred Suppliers"
    assert abc_paged["Balances"]["AccountsReceivable"]["Outstanding"] == 0.0


async def test_default_excludes_archived_and_orders_by_updated(api: Any) -> None:
    default = names(await api.get("/Contacts"))
    assert "Marine Systems" not in default
    assert default == [
        "ABC Furniture",
        "Bayside Club",
        "Carlton Builders Ltd",
        "Ridgeway University",
        "Hamilton Smith Ltd",
    ]
    everything = names(await api.get("/Contacts", params={"includeArchived": "true"}))
    assert "Marine Systems" in everything


async def test_order_by_name_desc_and_unknown_field(api: Any) -> None:
    ordered = names(await api.get("/Contacts", params={"order": "Name DESC"}))
    assert ordered == sorted(ordered, key=str.casefold, reverse=True)
    bad = await api.get("/Contacts", params={"order": "Colour ASC"})
    assert bad.status_code == 400
    assert bad.json()["Type"] == "QueryParseException" and "Colour" in bad.json()["Message"]


async def test_paging_reports_pagination_and_clamps_page_size(api: Any) -> None:
    await api.put("/Contacts", {"Contacts": [{"Name": f"Bulk {i:02d}"} for i in range(12)]})
    first = (await api.get("/Contacts", params={"page": 1, "pageSize": 5})).json()
    assert first["pagination"] == {"page": 1, "pageSize": 5, "pageCount": 4, "itemCount": 17}
    assert len(first["Contacts"]) == 5
    last = (await api.get("/Contacts", params={"page": 4, "pageSize": 5})).json()
    assert len(last["Contacts"]) == 2
    clamped = (await api.get("/Contacts", params={"page": 1, "pageSize": 5000})).json()
    assert clamped["pagination"]["pageSize"] == 1000
    low = (await api.get("/Contacts", params={"page": 1, "pageSize": 0})).json()
    assert low["pagination"]["pageSize"] == 1
    bad = await api.get("/Contacts", params={"page": "two"})
    assert bad.status_code == 400


async def test_ids_search_term_and_summary_only(api: Any) -> None:
    by_ids = await api.get("/Contacts", params={"IDs": f"{ABC},{CARLTON}"})
    assert sorted(names(by_ids)) == ["ABC Furniture", "Carlton Builders Ltd"]
    assert (await api.get("/Contacts", params={"IDs": "nope"})).status_code == 400
    assert names(await api.get("/Contacts", params={"searchTerm": "RAWLINGS"})) == ["ABC Furniture"]
    assert names(await api.get("/Contacts", params={"searchTerm": "ru-20"})) == ["Ridgeway University"]
    assert names(await api.get("/Contacts", params={"searchTerm": "cust-0"})) == ["ABC Furniture"]
    summary = (await api.get("/Contacts", params={"summaryOnly": "true"})).json()
    assert summary["pagination"]["page"] == 1, "summaryOnly forces paging"
    assert all("Addresses" not in c and "ContactPersons" not in c for c in summary["Contacts"])


@pytest.mark.parametrize(
    "header",
    ["2024-01-15T11:30:00", "2024-01-15T11:30:00Z", "2024-01-15T12:30:00+01:00", "Mon, 15 Jan 2024 11:30:00 GMT"],
)
async def test_if_modified_since_formats(api: Any, header: str) -> None:
    response = await api.get("/Contacts", headers=api.headers({"If-Modified-Since": header}))
    assert names(response) == ["Ridgeway University", "Hamilton Smith Ltd"]


async def test_if_modified_since_sees_updates_and_rejects_garbage(api: Any) -> None:
    await api.post(f"/Contacts/{ABC}", {"Contacts": [{"FirstName": "Tricia"}]})
    future = await api.get("/Contacts", headers=api.headers({"If-Modified-Since": "2099-01-01T00:00:00"}))
    assert names(future) == []
    since_seed = await api.get("/Contacts", headers=api.headers({"If-Modified-Since": "2024-06-01T00:00:00"}))
    assert names(since_seed) == ["ABC Furniture"]
    garbage = await api.get("/Contacts", headers=api.headers({"If-Modified-Since": "yesterday"}))
    assert garbage.status_code == 400


async def test_query_parameter_names_are_case_insensitive(api: Any) -> None:
    response = await api.get("/Contacts", params={"includearchived": "true", "WHERE": 'name=="marine systems"'})
    assert names(response) == ["Marine Systems"]


# -- single GET and CIS --------------------------------------------------------------------------------


async def test_get_by_id_and_by_number(api: Any) -> None:
    by_id = (await api.get(f"/Contacts/{ABC}")).json()["Contacts"]
    by_number = (await api.get("/Contacts/CUST-001")).json()["Contacts"]
    assert by_id == by_number
    assert by_id[0]["ContactPersons"][0]["FirstName"] == "John"
    assert by_id[0]["SalesTrackingCategories"] == [{"TrackingCategoryName": "Region", "TrackingOptionName": "North"}]
    archived = await api.get(f"/Contacts/{MARINE}")
    assert archived.json()["Contacts"][0]["ContactStatus"] == "ARCHIVED"


async def test_contact_number_with_encoded_slash(api: Any) -> None:
    await api.put("/Contacts", {"Contacts": [{"Name": "Slashy", "ContactNumber": "A/B 7"}]})
    response = await api.get("/Contacts/A%2FB%207")
    assert names(response) == ["Slashy"]


async def test_unknown_contact_is_plain_text_404(api: Any) -> None:
    for key in ("NOPE-999", "0b1e2d3c-0000-4000-8000-000000000003"):
        response = await api.get(f"/Contacts/{key}")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/plain")
        assert "cannot be found" in response.text


async def test_cis_settings_only_for_cis_contacts(api: Any) -> None:
    enabled = await api.get(f"/Contacts/{CARLTON}/CISSettings")
    assert enabled.json()["CISSettings"] == [{"CISEnabled": True, "Rate": 20.0}]
    assert (await api.get(f"/Contacts/{ABC}/CISSettings")).status_code == 404
    assert (await api.get("/Contacts/CUST-001/CISSettings")).status_code == 404


async def test_contacts_have_no_delete(api: Any) -> None:
    response = await api.delete(f"/Contacts/{ABC}")
    assert response.status_code == 405
    assert "does not support http method 'DELETE'" in response.json()["Message"]
