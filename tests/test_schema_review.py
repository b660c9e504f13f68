"""What the blind review of the 22 definitions found (issue 15 follow-up), checked on tools/list as a real MCP
client sees it, and against the sandbox wherever a description promises a behaviour.

- a shared item field says what it does in each tool (`publish`): ContactID is not offered on a create, must
  equal the path on update_contact, and matches on update-or-create;
- what a tool refuses is not offered: a new group's Status/ContactGroupID, a new category's DELETED status and
  its options' TrackingOptionID; the values stay validated as before, so a refusal still names the right tool;
- what Xero requires is required: AddressType and PhoneType, refused before anything is sent;
- the descriptions say what the review could not guess: summaryOnly's dropped fields, that status filters
  need includeArchived, that group members may be archived, and the dead parameters are a few words.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from test_no_drops import sent
from test_sandbox_e2e import session
from xero_contacts_mcp.tools.catalogue import CatalogueError, load_catalogue

CONTACTS = "xero_contacts_get_contacts"


async def _tools(s: Any) -> dict[str, dict[str, Any]]:
    result = await s.client.list_tools()
    return {t.name: t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in result.tools}


def _item(tool: dict[str, Any], param: str) -> dict[str, Any]:
    return tool["inputSchema"]["properties"][param]["items"]  # type: ignore[no-any-return]


async def test_the_shared_contact_id_text_fits_each_tool(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        tools = await _tools(s)
    create = _item(tools["xero_contacts_create_contacts"], "Contacts")["properties"]
    update = _item(tools["xero_contacts_update_contact"], "Contacts")["properties"]
    upsert = _item(tools["xero_contacts_update_or_create_contacts"], "Contacts")["properties"]
    assert "ContactID" not in create
    assert "must equal the ContactID argument" in update["ContactID"]["description"]
    assert "leave out to create" in upsert["ContactID"]["description"]
    assert "restores" not in create["ContactStatus"]["description"]  # "ACTIVE restores" means nothing on a create
    assert "whole" not in create["ContactPersons"]["description"] and "whole" in update["ContactPersons"]["description"]
    group_update = _item(tools["xero_contacts_update_contact_group"], "ContactGroups")
    assert "must equal" in group_update["properties"]["ContactGroupID"]["description"]
    # an empty update item is refused, and the schema says so
    assert group_update["minProperties"] == _item(tools["xero_contacts_update_contact"], "Contacts")["minProperties"] == 1


async def test_what_a_create_refuses_is_not_offered_and_is_still_refused_by_name(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        tools = await _tools(s)
        group = _item(tools["xero_contacts_create_contact_group"], "ContactGroups")["properties"]
        assert "Status" not in group and "ContactGroupID" not in group
        category = tools["xero_contacts_create_tracking_category"]["inputSchema"]["properties"]
        assert category["Status"]["enum"] == ["ACTIVE", "ARCHIVED"]
        assert "free active slot" in category["Status"]["description"]
        option = category["Options"]["items"]["properties"]
        assert "TrackingOptionID" not in option and option["Status"]["enum"] == ["ACTIVE", "ARCHIVED"]
        assert "Options" in category["Option"]["description"]  # Option is shorthand for Options
        # Publishing only: the full values are still validated, so each is refused with its sentence.
        before = sent(s)
        text = await s.error("xero_contacts_create_tracking_category", {"Name": "Zone", "Status": "DELETED"})
        assert "xero_contacts_delete_tracking_category" in text
        text = await s.error("xero_contacts_create_contact_group", {"ContactGroups": [{"Name": "G", "Status": "DELETED"}]})
        assert "xero_contacts_update_contact_group" in text
        text = await s.error("xero_contacts_create_contact_group", {
            "ContactGroups": [{"Name": "G", "ContactGroupID": "00000000-0000-4000-8000-000000000001"}]})
        assert "xero_contacts_update_contact_group" in text
        assert sent(s) == before


async def test_address_and_phone_types_are_required_and_refused_before_sending(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        tools = await _tools(s)
        for name in ("xero_contacts_create_contacts", "xero_contacts_update_contact",
                     "xero_contacts_update_or_create_contacts"):
            fields = _item(tools[name], "Contacts")["properties"]
            assert fields["Addresses"]["items"]["required"] == ["AddressType"], name
            assert fields["Phones"]["items"]["required"] == ["PhoneType"], name
        before = sent(s)
        text = await s.error("xero_contacts_create_contacts", {"Contacts": [
            {"Name": "No Type Ltd", "Addresses": [{"City": "Newtown"}], "Phones": [{"PhoneNumber": "123"}]}]})
        assert "Addresses[0].AddressType: required" in text and "Phones[0].PhoneType: required" in text
        assert "nothing was sent" in text and sent(s) == before


async def test_summary_only_drops_what_its_description_says(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        tools = await _tools(s)
        description = tools[CONTACTS]["inputSchema"]["properties"]["summaryOnly"]["description"]
        listed = (await s.ok(CONTACTS, {"where": 'Name=="ABC Furniture"'}))["Contacts"][0]
        full = (await s.ok(CONTACTS, {"IDs": [listed["ContactID"]]}))["Contacts"][0]
        light = (await s.ok(CONTACTS, {"IDs": [listed["ContactID"]], "summaryOnly": True}))["Contacts"][0]
    for field, word in (("Addresses", "addresses"), ("Phones", "phones"), ("ContactPersons", "persons"),
                        ("ContactGroups", "groups"), ("PaymentTerms", "payment terms"),
                        ("SalesTrackingCategories", "tracking")):
        assert field in full and field not in light and word in description, field
    assert "with IDs" in description  # the default list already leaves these out


async def test_status_filters_and_archived_members_are_explained(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        tools = await _tools(s)
        instructions = s.client.instructions or ""
        where = tools[CONTACTS]["inputSchema"]["properties"]["where"]["description"]
        assert "ContactStatus (ARCHIVED needs includeArchived true)" in where
        # what the description warns of: an archived contact is not found by a status filter alone
        archived = await s.ok(CONTACTS, {"where": 'Name=="ABC Furniture"'})
        contact_id = archived["Contacts"][0]["ContactID"]
        await s.ok("xero_contacts_update_contact", {"ContactID": contact_id,
                                                    "Contacts": [{"ContactStatus": "ARCHIVED"}]})
        alone = await s.client.call_tool(CONTACTS, {"where": 'ContactStatus=="ARCHIVED"'})
        assert contact_id not in str(alone.structured_content)
        found = await s.ok(CONTACTS, {"where": 'ContactStatus=="ARCHIVED"', "includeArchived": True})
        assert contact_id in {c["ContactID"] for c in found["Contacts"]}
        group = tools["xero_contacts_get_contact_group"]["description"]
        assert "archived contacts" in group
    assert "includeArchived is true, even when where filters on a status" in instructions


async def test_dead_parameters_cost_a_few_words(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        tools = await _tools(s)
    dead = [("xero_contacts_create_contacts", "pagination"), ("xero_contacts_create_contacts", "Warnings"),
            ("xero_contacts_update_tracking_category", "Option"), ("xero_contacts_update_tracking_category", "Options"),
            ("xero_contacts_update_tracking_category", "TrackingOptionID"),
            ("xero_contacts_create_tracking_category", "TrackingCategoryID")]
    for name, param in dead:
        published = tools[name]["inputSchema"]["properties"][param]
        assert published["description"] == "Leave out; a value is refused.", (name, param)
        assert "items" not in published, (name, param)  # an ignored array's item schema is not worth its bytes


def test_publish_names_only_fields_of_its_shared_schema(tmp_path: Path) -> None:
    source = (Path(__file__).parent.parent / "tools.yaml").read_text()
    broken = source.replace("ContactStatus: {description: Default ACTIVE}", "ContactStats: {description: x}", 1)
    assert broken != source
    (tmp_path / "tools.yaml").write_text(broken)
    with pytest.raises(CatalogueError, match="publish names 'ContactStats', not a field of Contact"):
        load_catalogue(tmp_path / "tools.yaml")
