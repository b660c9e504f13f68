"""The last defects of the second blind review (issue 15), through a real MCP session against the sandbox:
nothing asked for goes missing without a word, and every not-found answer says where to look next.
"""

from __future__ import annotations

import json
from typing import Any

from test_agent_answers import call, contact_id
from test_sandbox_e2e import session

UNKNOWN = "11111111-2222-3333-4444-555555555555"


async def test_ids_not_returned_are_listed_with_the_reason(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        bayside = contact_id(s, "Bayside Club")
        marine = contact_id(s, "Marine Systems", "ARCHIVED")
        is_error, text, data = await call(s, "xero_contacts_get_contacts", {"IDs": [bayside, marine, UNKNOWN]})
        assert not is_error and [c["ContactID"] for c in data["Contacts"]] == [bayside]
        assert text.startswith(f"2 of 3 IDs not returned: {marine}, {UNKNOWN}. Each is archived (call again "
                               "with includeArchived true) or no contact has it.")
        is_error, text, data = await call(s, "xero_contacts_get_contacts", {
            "IDs": [bayside, marine, UNKNOWN], "includeArchived": True})
        assert {c["ContactID"] for c in data["Contacts"]} == {bayside, marine}
        assert text.startswith(f"1 of 3 IDs not returned: {UNKNOWN}. No contact has them.")
        is_error, text, _ = await call(s, "xero_contacts_get_contacts", {"IDs": [bayside.upper()]})
        assert not is_error and "not returned" not in text
        # split over pages: the others may be on the next page, so nothing is called missing
        abc = contact_id(s, "ABC Furniture")
        is_error, text, data = await call(s, "xero_contacts_get_contacts", {"IDs": [bayside, abc], "pageSize": 1})
        assert len(data["Contacts"]) == 1 and "not returned" not in text and "Page 1 of 2" in text


async def test_a_page_past_the_end_says_so_first_and_names_the_last_page(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        is_error, text, data = await call(s, "xero_contacts_get_contacts", {"page": 5})
        count = data["pagination"]["itemCount"]
        assert not is_error and data["Contacts"] == []
        assert text.startswith(f"Page 5 is past the last page (1 page, {count} contacts): use page 1.\n")
        assert "includeArchived" not in text.splitlines()[0]


async def test_an_upsert_with_an_unknown_contact_id_gets_only_the_id_cause(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        text = await s.error("xero_contacts_update_or_create_contacts", {
            "Contacts": [{"ContactID": UNKNOWN, "EmailAddress": "a@b.co"}]})
        assert f"The contact with ContactID {UNKNOWN} could not be found" in text
        assert "name must be specified" not in text and "add Name" not in text
        # without a ContactID the missing Name is the cause, and its hint stays
        text = await s.error("xero_contacts_update_or_create_contacts", {
            "Contacts": [{"ContactNumber": "NO-SUCH-9", "EmailAddress": "a@b.co"}]})
        assert "The contact name must be specified" in text and "add Name" in text
        # the same inside a partial save (summarizeErrors false)
        text = await s.error("xero_contacts_update_or_create_contacts", {"summarizeErrors": False, "Contacts": [
            {"Name": "Brand New Ltd"}, {"ContactID": UNKNOWN, "EmailAddress": "a@b.co"}]})
        rejected = text.split("Rejected:")[1].split("Fix the rejected ones")[0]
        assert "Xero saved 1 of 2" in text and "could not be found" in rejected
        assert "name must be specified" not in rejected


async def test_an_update_of_only_a_read_only_field_names_it_and_why(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        bayside = contact_id(s, "Bayside Club")
        text = await s.error("xero_contacts_update_contact", {"ContactID": bayside, "Contacts": [{"IsSupplier": True}]})
        assert ("Contacts[0]: has nothing to change: IsSupplier is read-only (Xero sets it once a bill exists); "
                "it cannot be set here: give at least one other field") in text
        text = await s.error("xero_contacts_update_contact", {"ContactID": bayside, "Contacts": [{}]})
        assert "Contacts[0]: has nothing to change: give at least one field to set" in text


async def test_not_found_errors_name_the_tool_that_finds_the_right_value(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        group = next(iter(s.sandbox.state().groups.values())).group_id
        text = await s.error("xero_contacts_create_contact_group_contacts", {
            "ContactGroupID": group, "Contacts": [{"ContactID": UNKNOWN}]})
        assert f"The contact '{UNKNOWN}' does not exist. Find contact IDs with xero_contacts_get_contacts" in text
        text = await s.error("xero_contacts_update_contact", {
            "ContactID": contact_id(s, "Bayside Club"), "Contacts": [{"SalesTrackingCategories": [
                {"TrackingCategoryName": "Regions", "TrackingOptionName": "North"}]}]})
        assert "does not exist or is not active. Use the current names of an active category and option" in text
        assert "list them with xero_contacts_get_tracking_categories" in text
        text = await s.error("xero_contacts_get_contact_by_contact_number", {"ContactNumber": "NOPE-1"})
        assert text == ('Xero found no contact with ContactNumber NOPE-1 (404). Search with xero_contacts_get_contacts: '
                        'where ContactNumber=="NOPE-1", or searchTerm "NOPE-1" for part of a number or name; add '
                        "includeArchived true for archived ones.")


async def test_the_descriptions_say_what_the_server_does(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        listed = {t.name: t.model_dump(mode="json", by_alias=True) for t in (await s.client.list_tools()).tools}
        text = json.dumps(listed)
        assert "path" not in text.replace('"path"', "")  # no request-path jargon: the agent sees arguments only
        assert "No umlauts" not in text  # Xero documents it but accepts them; the sandbox does too
        assert "ACTIVE to restore it (needs a free slot: 2 active at most)" in \
            listed["xero_contacts_update_tracking_category"]["description"]
        group_tool = "xero_contacts_create_contact_group"
        assert "Creates a contact group, or several (all or none: one failure saves nothing)" in listed[group_tool]["description"]
        # the claim holds: a batch with one clash creates neither group
        existing = next(iter(s.sandbox.state().groups.values())).name
        before = len(s.sandbox.state().groups)
        await s.error(group_tool, {"ContactGroups": [{"Name": "Brand New Group"}, {"Name": existing}]})
        assert len(s.sandbox.state().groups) == before
        # a body ID that differs from the ContactID argument is refused in those words
        bayside = contact_id(s, "Bayside Club")
        text = await s.error("xero_contacts_update_contact", {
            "ContactID": bayside, "Contacts": [{"ContactID": UNKNOWN, "Name": "X"}]})
        assert f"is {UNKNOWN}, but the ContactID argument is {bayside}" in text


async def test_a_name_for_an_id_and_a_full_active_slot_on_create_get_their_next_step(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        text = await s.error("xero_contacts_get_contact", {"ContactID": "Bayside Club"})
        assert "ContactID: must be a UUID such as" in text and "; find it with xero_contacts_get_contacts" in text
        await s.ok("xero_contacts_create_tracking_category", {"Name": "Dept"})  # the sandbox has 1 active
        text = await s.error("xero_contacts_create_tracking_category", {"Name": "Old", "Status": "ARCHIVED"})
        assert "A new category is created active (Status ARCHIVED is applied after), so it needs a free active slot" \
            in text
