"""What the blind review of the 22 tools found (issue 15 follow-up), through a real MCP session against the
sandbox: every answer names the right record, says what it ignored or replaced, and gives a next step.
"""

from __future__ import annotations

from typing import Any

from test_sandbox_e2e import Session, session
from xero_contacts_mcp.sandbox import Sandbox, SandboxConfig

NIL = "00000000-0000-0000-0000-000000000000"


def contact_id(s: Session, name: str, status: str = "ACTIVE") -> str:
    return next(c.contact_id for c in s.sandbox.state().contacts.values() if c.name == name and c.status == status)


def sent(s: Session) -> int:
    return int(s.sandbox.stats.snapshot()["api_requests_total"])


async def call(s: Session, tool: str, args: dict[str, Any]) -> tuple[bool, str, Any]:
    result = await s.client.call_tool(tool, args)
    return bool(result.is_error), str(result.content[0].text), result.structured_content  # type: ignore[union-attr]


async def test_a_rejected_update_names_the_path_contact_never_the_zero_uuid(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        bayside = contact_id(s, "Bayside Club")
        text = await s.error("xero_contacts_update_contact", {
            "ContactID": bayside, "Contacts": [{"Name": "Carlton Builders Ltd"}]})
        assert NIL not in text
        # an archived contact restored under a name an active one now holds: the next step says how
        marine = contact_id(s, "Marine Systems", "ARCHIVED")
        await s.ok("xero_contacts_update_contact", {"ContactID": bayside, "Contacts": [{"Name": "Marine Systems"}]})
        text = await s.error("xero_contacts_update_contact", {
            "ContactID": marine, "Contacts": [{"ContactStatus": "ACTIVE"}]})
        assert f'Contacts[0] ContactID "{marine}": The contact name Marine Systems' in text and NIL not in text
        assert "send the new Name together with ContactStatus ACTIVE" in text


async def test_a_partial_save_lists_the_saved_ids_first_and_no_zero_uuid(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        is_error, text, data = await call(s, "xero_contacts_create_contacts", {
            "summarizeErrors": False, "Contacts": [{"Name": "Fresh Co"}, {"Name": "Bayside Club"}]})
        fresh = contact_id(s, "Fresh Co")
        assert is_error
        assert text.startswith("Xero saved 1 of 2; 1 rejected, not saved.\nSaved (do not send these again):\n"
                               f'- Contacts[0] ContactID {fresh} "Fresh Co"\nRejected:\n- Contacts[1] Name "Bayside Club"')
        assert NIL not in text and NIL not in str(data)


async def test_an_empty_default_list_says_archived_contacts_are_hidden(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        where = {"where": 'ContactStatus=="ARCHIVED"'}
        is_error, text, _ = await call(s, "xero_contacts_get_contacts", where)
        assert not is_error and "archived ones are hidden: call again with includeArchived true" in text
        is_error, text, data = await call(s, "xero_contacts_get_contacts", where | {"includeArchived": True})
        assert data["Contacts"] and "hidden" not in text


async def test_read_only_echo_fields_are_reported_as_not_changed(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        bayside = contact_id(s, "Bayside Club")
        before = s.sandbox.state().contacts[bayside]
        is_error, text, _ = await call(s, "xero_contacts_update_contact", {
            "ContactID": bayside, "Contacts": [{"IsSupplier": not before.supplier, "EmailAddress": "b@bs.co"}]})
        assert not is_error
        assert "Contacts[0].IsSupplier is read-only (" in text and "): it was ignored, not changed." in text
        after = s.sandbox.state().contacts[bayside]
        assert after.supplier == before.supplier and after.fields["EmailAddress"] == "b@bs.co"
        # a fetched record echoed back unchanged (IsCustomer, ContactGroups as Xero holds them): no note
        record = (await s.ok("xero_contacts_get_contact", {"ContactID": bayside}))["Contacts"][0]
        assert record["IsCustomer"] is True and record["ContactGroups"]
        is_error, text, _ = await call(s, "xero_contacts_update_contact", {
            "ContactID": bayside, "Contacts": [record | {"EmailAddress": "c@bs.co"}]})
        assert not is_error and "read-only" not in text


async def test_an_update_says_what_it_replaced_whole(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        bayside = contact_id(s, "Bayside Club")
        is_error, text, _ = await call(s, "xero_contacts_update_contact", {"ContactID": bayside, "Contacts": [{
            "Addresses": [{"AddressType": "STREET", "City": "Newtown"}], "ContactPersons": [{"FirstName": "Al"}]}]})
        assert not is_error
        assert ("Note: replaced, not merged (what was there and not sent is gone): Contacts[0].ContactPersons "
                "(the whole list: now the 1 sent); Contacts[0].Addresses STREET (each whole; other AddressTypes "
                "kept).") in text
        is_error, text, _ = await call(s, "xero_contacts_update_contact", {
            "ContactID": bayside, "Contacts": [{"EmailAddress": "x@bs.co"}]})
        assert not is_error and "replaced" not in text


async def test_validation_errors_are_plain_sentences_with_the_expected_shape(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        bayside = contact_id(s, "Bayside Club")
        before = sent(s)
        text = await s.error("xero_contacts_update_contact", {"ContactID": bayside,
                                                              "Contacts": {"EmailAddress": "a@b.co"}})
        assert '- Contacts: must be a list (JSON array), e.g. [{"Name": …}]' in text and "Input should" not in text
        text = await s.error("xero_contacts_update_contact", {"ContactID": bayside, "Contacts": [{"Email": "a@b.co"}]})
        assert "- Contacts[0].Email: unknown field: did you mean EmailAddress?" in text
        text = await s.error("xero_contacts_update_contact", {"ContactID": bayside, "EmailAddress": "a@b.co"})
        assert "EmailAddress is a field of each Contacts item; put it inside Contacts[0]" in text
        text = await s.error("xero_contacts_update_contact", {"ContactID": bayside, "Contacts": [
            {"ContactPersons": [{"FirstName": str(n)} for n in range(6)]}]})
        assert "- Contacts[0].ContactPersons: at most 5 item(s) allowed; 6 were sent" in text
        assert "after validation" not in text
        assert sent(s) == before


async def test_an_unknown_where_or_order_field_lists_the_fields_that_filter(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        text = await s.error("xero_contacts_get_contacts", {"where": 'City=="Wellington"'})
        assert "Contacts filter and sort on Name, FirstName" in text and "addresses and phones cannot be" in text
        text = await s.error("xero_contacts_get_contact_groups", {"order": "Colour"})
        assert "Contact groups filter and sort on Name, Status and ContactGroupID" in text


async def test_upsert_errors_give_a_next_step(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        text = await s.error("xero_contacts_update_or_create_contacts", {
            "Contacts": [{"ContactID": "11111111-1111-4111-8111-111111111111", "Name": "Zed"}]})
        assert "could not be found. Find contact IDs with xero_contacts_get_contacts" in text
        text = await s.error("xero_contacts_update_or_create_contacts", {"Contacts": [{"ContactNumber": "NOPE-9"}]})
        assert "No contact matched this element's ContactID or ContactNumber, so it would create one" in text


async def test_an_update_with_nothing_to_change_is_refused_before_sending(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        bayside = contact_id(s, "Bayside Club")
        group = next(iter(s.sandbox.state().groups.values())).group_id
        before = sent(s)
        for tool, args in [
            ("xero_contacts_update_contact", {"ContactID": bayside, "Contacts": [{}]}),
            ("xero_contacts_update_contact", {"ContactID": bayside, "Contacts": [{"ContactID": bayside,
                                                                                   "IsSupplier": True}]}),
            ("xero_contacts_update_contact_group", {"ContactGroupID": group, "ContactGroups": [{}]}),
        ]:
            text = await s.error(tool, args)
            assert "[0]: has nothing to change" in text, text
        assert sent(s) == before


async def test_a_refused_parameter_is_named_before_the_missing_ones(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        category = next(iter(s.sandbox.state().tracking.values())).category_id
        text = await s.error("xero_contacts_update_tracking_category", {
            "TrackingCategoryID": category, "Options": [{"Name": "West"}]})
        assert "xero_contacts_create_tracking_options" in text and "give at least one" not in text


async def test_an_option_under_another_category_is_not_called_missing_from_the_organisation(
        settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        state = s.sandbox.state()
        with_options = next(c for c in state.tracking.values() if c.options)
        other = await s.ok("xero_contacts_create_tracking_category", {"Name": "Team"})
        other_id = other["TrackingCategories"][0]["TrackingCategoryID"]
        option = with_options.options[0].option_id
        text = await s.error("xero_contacts_update_tracking_options", {
            "TrackingCategoryID": other_id, "TrackingOptionID": option, "Name": "Renamed"})
        assert f"there is no TrackingOptionID {option} under TrackingCategoryID {other_id}" in text
        assert "does not exist in this organisation" not in text


async def test_a_failed_follow_up_says_how_to_retry_only_that_part(settings_factory: Any) -> None:
    async with session(settings_factory, Sandbox(SandboxConfig(max_tracking_options=1))) as s:
        text = await s.error("xero_contacts_create_tracking_category", {
            "Name": "Desk", "Options": [{"Name": "Front"}, {"Name": "Back"}]})
        assert "Nothing was saved" not in text and "Do not repeat this call" in text
        desk = next(c for c in s.sandbox.state().tracking.values() if c.name == "Desk").category_id
        assert ('Retry only this part, fixed: xero_contacts_create_tracking_options '
                f'{{"TrackingCategoryID":"{desk}","Name":"Back"}}') in text


async def test_creating_with_an_existing_contact_id_gives_one_clean_redirect(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        bayside = contact_id(s, "Bayside Club")
        text = await s.error("xero_contacts_create_contacts", {"Contacts": [{"ContactID": bayside,
                                                                             "Name": "Bayside Club"}]})
        assert f"use xero_contacts_update_contact (ContactID {bayside})" in text
        assert "POST" not in text and "already assigned" not in text


async def test_a_new_contact_named_like_an_archived_one_says_so(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        marine = contact_id(s, "Marine Systems", "ARCHIVED")
        is_error, text, data = await call(s, "xero_contacts_create_contacts", {
            "Contacts": [{"Name": "Marine Systems"}, {"Name": "Brand New Ltd"}]})
        assert not is_error and len(data["Contacts"]) == 2
        assert f'An archived contact is also named "Marine Systems" (ContactID {marine})' in text
        assert text.count("An archived contact") == 1
        is_error, text, _ = await call(s, "xero_contacts_update_or_create_contacts", {
            "Contacts": [{"Name": "Another New Ltd"}]})
        assert not is_error and "archived contact" not in text


async def test_an_empty_category_list_says_archived_ones_are_hidden_in_words(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        is_error, text, _ = await call(s, "xero_contacts_get_tracking_categories", {"where": 'Name=="Nowhere"'})
        assert not is_error and text.startswith("No active tracking categories matched; archived ones are hidden")


async def test_deleting_a_category_or_option_in_use_names_the_archive_tool(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        used = next(c for c in s.sandbox.state().tracking.values() if c.name == "Region")
        text = await s.error("xero_contacts_delete_tracking_category", {"TrackingCategoryID": used.category_id})
        assert "Archive it with xero_contacts_update_tracking_category (Status ARCHIVED)" in text
        text = await s.error("xero_contacts_delete_tracking_options", {
            "TrackingCategoryID": used.category_id, "TrackingOptionID": used.options[0].option_id})
        assert "Archive it with xero_contacts_update_tracking_options (Status ARCHIVED)" in text
