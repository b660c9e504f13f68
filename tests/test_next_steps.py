"""Every Xero validation message we know gets a next step (issue 15 item 5), through a real MCP session
against the sandbox; batch errors name the failing element by its place in the request and say that
nothing was saved and what summarizeErrors: false does."""

from __future__ import annotations

from typing import Any

from test_sandbox_e2e import session
from xero_contacts_mcp.sandbox.seed import REGION_ID


async def test_a_batch_error_names_the_failing_element_and_says_nothing_was_saved(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        existing = next(iter(s.sandbox.state().contacts.values())).name
        before = len(s.sandbox.state().contacts)
        text = await s.error("xero_contacts_create_contacts",
                             {"Contacts": [{"Name": "Brand New Ltd"}, {"Name": existing.upper()}]})
        assert f'- Contacts[1] Name "{existing.upper()}": The contact name' in text  # Xero lists only element 1
        assert "Contacts[0]" not in text
        assert "xero_contacts_get_contacts" in text and "xero_contacts_update_contact" in text
        assert "Nothing was saved" in text and "summarizeErrors: false" in text
        assert len(s.sandbox.state().contacts) == before  # the valid one was not saved either
        # the advice works: summarizeErrors false saves the valid one and reports the other
        result = await s.client.call_tool("xero_contacts_create_contacts", {
            "summarizeErrors": False, "Contacts": [{"Name": "Brand New Ltd"}, {"Name": existing}]})
        assert result.is_error and "saved 1 of 2" in result.content[0].text  # type: ignore[union-attr]
        assert "xero_contacts_update_contact" in result.content[0].text  # type: ignore[union-attr]
        assert len(s.sandbox.state().contacts) == before + 1


async def test_an_existing_contact_id_on_create_names_the_update_tool(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        contact_id = next(iter(s.sandbox.state().contacts))
        text = await s.error("xero_contacts_create_contacts", {"Contacts": [{"ContactID": contact_id, "Name": "X"}]})
        assert "already exists" in text and "xero_contacts_update_contact" in text
        assert "Nothing was saved" in text and "summarizeErrors" not in text  # one element: no batch advice


async def test_the_category_limits_say_what_to_archive_or_delete(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        b = (await s.ok("xero_contacts_create_tracking_category", {"Name": "B"}))["TrackingCategories"][0]
        text = await s.error("xero_contacts_create_tracking_category", {"Name": "C"})
        assert "2 active" in text and "xero_contacts_update_tracking_category (Status ARCHIVED)" in text
        await s.ok("xero_contacts_update_tracking_category", {"TrackingCategoryID": b["TrackingCategoryID"],
                                                              "Status": "ARCHIVED"})
        c = (await s.ok("xero_contacts_create_tracking_category", {"Name": "C"}))["TrackingCategories"][0]
        await s.ok("xero_contacts_update_tracking_category", {"TrackingCategoryID": c["TrackingCategoryID"],
                                                              "Status": "ARCHIVED"})
        await s.ok("xero_contacts_create_tracking_category", {"Name": "D"})
        text = await s.error("xero_contacts_create_tracking_category", {"Name": "E"})
        assert "4 tracking categories" in text
        assert "Delete an unused archived category first with xero_contacts_delete_tracking_category" in text


async def test_a_duplicate_option_gives_the_existing_options_id(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        north = next(o for o in s.sandbox.state().tracking[REGION_ID].options if o.name == "North")
        text = await s.error("xero_contacts_create_tracking_options", {"TrackingCategoryID": REGION_ID, "Name": "north"})
        assert "ignoring case" in text
        assert f'The existing option is "North": TrackingOptionID {north.option_id} (ACTIVE).' in text


async def test_a_reused_idempotency_key_says_to_use_a_new_one(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        await s.ok("xero_contacts_create_contact_group", {"ContactGroups": [{"Name": "One"}], "Idempotency-Key": "k-1"})
        text = await s.error("xero_contacts_create_contact_group",
                             {"ContactGroups": [{"Name": "Two"}], "Idempotency-Key": "k-1"})
        assert "already used" in text and "send a new key, or none" in text


async def test_a_lower_case_currency_gives_the_upper_case_code(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        text = await s.error("xero_contacts_create_contacts", {"Contacts": [{"Name": "Kauri", "DefaultCurrency": "nzd"}]})
        assert "Contacts[0].DefaultCurrency: must be upper case: use NZD" in text and "nothing was sent" in text


async def test_a_deleted_group_is_reported_as_deleted(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        group = (await s.ok("xero_contacts_create_contact_group", {"ContactGroups": [{"Name": "Gone Soon"}]}))
        group_id = group["ContactGroups"][0]["ContactGroupID"]
        await s.ok("xero_contacts_update_contact_group", {"ContactGroupID": group_id,
                                                          "ContactGroups": [{"Status": "DELETED"}]})
        for tool, args in [("xero_contacts_get_contact_group", {}),
                           ("xero_contacts_update_contact_group", {"ContactGroups": [{"Name": "Back"}]}),
                           ("xero_contacts_delete_contact_group_contacts", {})]:
            text = await s.error(tool, {"ContactGroupID": group_id, **args})
            assert "was deleted" in text and "cannot be restored" in text, (tool, text)
            assert "does not exist" not in text
