"""Nothing is accepted and then dropped (issue 15 item 2), through a real MCP session against the sandbox.

A body ID that differs from the path's is refused before sending; each catalogue parameter Xero ignores
either works through a follow-up call (Options, Option and Status on a new tracking category, Status on a
new option) or is refused with one sentence naming the tool that does it; empty no-effect values pass.
"""

from __future__ import annotations

from typing import Any

import pytest

from conftest import API
from test_sandbox_e2e import Session, session
from xero_contacts_mcp.sandbox import Sandbox, SandboxConfig
from xero_contacts_mcp.sandbox.seed import REGION_ID

OTHER = "00000000-0000-4000-8000-0000000000aa"


def sent(s: Session) -> int:
    return int(s.sandbox.stats.snapshot()["api_requests_total"])


def category(s: Session, name: str) -> Any:
    found = [c for c in s.sandbox.state().tracking.values() if c.name == name]
    return found[0] if found else None


async def test_a_body_id_that_differs_from_the_path_is_refused_before_sending(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        contacts = list(s.sandbox.state().contacts.values())
        a, b = contacts[0], contacts[1]
        before = sent(s)
        text = await s.error("xero_contacts_update_contact", {
            "ContactID": a.contact_id, "Contacts": [{"ContactID": b.contact_id, "Name": "Renamed"}]})
        assert "Contacts[0].ContactID" in text and b.contact_id in text and a.contact_id in text
        assert sent(s) == before and "Renamed" not in {c.name for c in s.sandbox.state().contacts.values()}
        # the same ID (in any case) is the record echoed back: fine
        await s.ok("xero_contacts_update_contact", {
            "ContactID": a.contact_id, "Contacts": [{"ContactID": a.contact_id.upper(), "AccountNumber": "ACC-1"}]})
        assert s.sandbox.state().contacts[a.contact_id].fields["AccountNumber"] == "ACC-1"

        group = next(iter(s.sandbox.state().groups.values()))
        text = await s.error("xero_contacts_update_contact_group", {
            "ContactGroupID": group.group_id, "ContactGroups": [{"ContactGroupID": OTHER, "Name": "Moved"}]})
        assert "ContactGroups[0].ContactGroupID" in text and OTHER in text
        assert s.sandbox.state().groups[group.group_id].name != "Moved"


async def test_options_and_status_on_a_new_tracking_category_are_carried_out(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        result = await s.client.call_tool("xero_contacts_create_tracking_category", {
            "Name": "Team", "Options": [{"Name": "Sales"}, {"Name": "Ops", "Status": "ARCHIVED"}],
            "Option": "Legal", "Status": "ARCHIVED"})
        text = result.content[0].text  # type: ignore[union-attr]
        assert not result.is_error, text
        team = category(s, "Team")
        assert team.status == "ARCHIVED"
        assert {o.name: o.status for o in team.options} == {"Sales": "ACTIVE", "Ops": "ARCHIVED", "Legal": "ACTIVE"}
        follow = result.structured_content["FollowUps"]  # type: ignore[index]
        assert [f["For"] for f in follow] == ["Options[0]", "Options[1]", "Option", "Status"]
        assert all("Result" in f for f in follow) and "Options[1] via xero_contacts_create_tracking_options" in text


async def test_a_follow_up_that_fails_is_reported_and_the_rest_kept(settings_factory: Any) -> None:
    async with session(settings_factory, Sandbox(SandboxConfig(max_tracking_options=2))) as s:
        text = await s.error("xero_contacts_create_tracking_category", {
            "Name": "Desk", "Options": [{"Name": "Front"}, {"Name": "Back"}, {"Name": "Side"}]})
        desk = category(s, "Desk")
        assert desk is not None and [o.name for o in desk.options] == ["Front", "Back"]
        assert "1 of 3 follow-up calls failed" in text and "Do not repeat this call" in text
        assert "Options[2] via xero_contacts_create_tracking_options FAILED" in text


async def test_follow_ups_that_repeat_each_other_are_refused_before_sending(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        before = sent(s)
        text = await s.error("xero_contacts_create_tracking_category", {
            "Name": "Desk", "Options": [{"Name": "Front"}, {"Name": "FRONT "}], "Option": "front"})
        assert "- Options[1]: repeats Options[0]: the same Name, ignoring case" in text
        assert "- Option: repeats Options[0]" in text
        assert sent(s) == before and category(s, "Desk") is None


async def test_repeating_the_call_with_its_key_repeats_no_follow_up(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        args = {"Name": "Shift", "Options": [{"Name": "Day"}, {"Name": "Night"}], "Idempotency-Key": "k-shift"}
        await s.ok("xero_contacts_create_tracking_category", args)
        await s.ok("xero_contacts_create_tracking_category", args)
        assert [o.name for o in category(s, "Shift").options] == ["Day", "Night"]
        assert sum(c.name == "Shift" for c in s.sandbox.state().tracking.values()) == 1


async def test_follow_up_arguments_are_checked_before_anything_is_sent(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        before = sent(s)
        text = await s.error("xero_contacts_create_tracking_category", {
            "Name": "Zone", "Options": [{"Name": "A"}, {"Name": "x" * 101}]})
        assert "Options[1].Name" in text and "nothing was sent" in text
        text = await s.error("xero_contacts_create_tracking_category", {
            "Name": "Zone", "Options": [{"Name": "B", "Status": "DELETED"}]})
        assert "Options[0].Status" in text
        assert sent(s) == before and category(s, "Zone") is None


async def test_status_on_a_new_option_is_applied_by_a_follow_up(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        await s.ok("xero_contacts_create_tracking_options",
                   {"TrackingCategoryID": REGION_ID, "Name": "West", "Status": "ARCHIVED"})
        region = s.sandbox.state().tracking[REGION_ID]
        assert {o.name: o.status for o in region.options}["West"] == "ARCHIVED"


async def test_what_cannot_work_is_refused_naming_the_tool_that_does_it(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        before = sent(s)
        cases = [
            ("xero_contacts_create_contact_group", {"ContactGroups": [{"Name": "Gone", "Status": "DELETED"}]},
             "ContactGroups[0].Status", "xero_contacts_update_contact_group"),
            ("xero_contacts_create_contact_group", {"ContactGroups": [{"Name": "G", "ContactGroupID": OTHER}]},
             "ContactGroups[0].ContactGroupID", "xero_contacts_update_contact_group"),
            ("xero_contacts_create_tracking_category", {"Name": "Dead", "Status": "DELETED"},
             "Status", "xero_contacts_delete_tracking_category"),
            ("xero_contacts_create_tracking_category", {"Name": "T", "TrackingCategoryID": OTHER},
             "TrackingCategoryID", "xero_contacts_update_tracking_category"),
            ("xero_contacts_create_tracking_category", {"Name": "T", "Options": [{"Name": "A", "TrackingOptionID": OTHER}]},
             "Options[0].TrackingOptionID", "xero_contacts_update_tracking_options"),
            ("xero_contacts_update_tracking_category", {"TrackingCategoryID": REGION_ID, "Name": "R", "Option": "W"},
             "Option", "xero_contacts_create_tracking_options"),
            ("xero_contacts_update_tracking_category",
             {"TrackingCategoryID": REGION_ID, "Name": "R", "Options": [{"Name": "W"}]},
             "Options", "xero_contacts_update_tracking_options"),
            ("xero_contacts_update_tracking_category",
             {"TrackingCategoryID": REGION_ID, "Name": "R", "TrackingOptionID": OTHER},
             "TrackingOptionID", "xero_contacts_update_tracking_options"),
            ("xero_contacts_create_tracking_options", {"TrackingCategoryID": REGION_ID, "Name": "W", "TrackingOptionID": OTHER},
             "TrackingOptionID", "xero_contacts_update_tracking_options"),
            ("xero_contacts_create_contacts", {"Contacts": [{"Name": "P"}], "pagination": {"page": 2}},
             "pagination", "xero_contacts_get_contacts"),
            ("xero_contacts_update_or_create_contacts", {"Contacts": [{"Name": "P"}], "Warnings": [{"Message": "x"}]},
             "Warnings", "leave them out"),
        ]
        for tool, args, where, names in cases:
            text = await s.error(tool, args)
            assert f"- {where}: " in text and names in text, (tool, text)
        assert sent(s) == before
        assert not [g for g in s.sandbox.state().groups.values() if g.name in ("Gone", "G")]


async def test_empty_no_effect_values_pass(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        await s.ok("xero_contacts_create_contacts", {"Contacts": [{"Name": "Empty Echo"}], "pagination": {},
                                                     "Warnings": []})
        await s.ok("xero_contacts_update_tracking_category",
                   {"TrackingCategoryID": REGION_ID, "Name": "Regions", "Options": [], "Option": ""})
        await s.ok("xero_contacts_create_contact_group", {"ContactGroups": [{"Name": "Live", "Status": "ACTIVE"}]})


@pytest.mark.httpx2(assert_all_called=False)
async def test_a_follow_up_whose_id_xeros_answer_lacks_is_reported_not_guessed(runtime: Any,
                                                                               httpx2_mock: Any) -> None:
    create = httpx2_mock.put(f"{API}/TrackingCategories").respond(200, json={"TrackingCategories": []})
    options = httpx2_mock.put(url__startswith=f"{API}/TrackingCategories/")
    result = await runtime.runner.run("xero_contacts_create_tracking_category", {"Name": "Q", "Option": "East"})
    assert result.is_error and create.call_count == 1 and options.call_count == 0
    assert "did not include TrackingCategories.0.TrackingCategoryID" in result.text
    assert "do it with xero_contacts_create_tracking_options" in result.text


async def test_groups_on_a_new_contact_are_refused_but_echoed_groups_on_an_update_pass(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        group = next(iter(s.sandbox.state().groups.values()))
        before = sent(s)
        text = await s.error("xero_contacts_create_contacts", {"Contacts": [
            {"Name": "Grouped", "ContactGroups": [{"ContactGroupID": group.group_id}]}]})
        assert "- Contacts[0].ContactGroups: " in text and "xero_contacts_create_contact_group_contacts" in text
        assert sent(s) == before
        fetched = (await s.ok("xero_contacts_get_contact", {"ContactID": group.members[0]}))["Contacts"][0]
        await s.ok("xero_contacts_update_contact", {"ContactID": fetched["ContactID"], "Contacts": [fetched]})
