"""All 22 tools through a real MCP client against the built-in sandbox: behaviour, not canned replies.

Each flow checks what really happened (in the sandbox's state and through the tools), and each
tool's main Xero error reaching the model as an isError that says what to do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import Client

from xero_contacts_mcp.runtime import open_runtime
from xero_contacts_mcp.sandbox import Sandbox, SandboxConfig
from xero_contacts_mcp.server.app import build_server
from xero_contacts_mcp.tools.runner import UnknownToolError

MISSING = "00000000-0000-4000-8000-000000000001"


class Session:
    def __init__(self, client: Client, runtime: Any) -> None:
        self.client = client
        self.runtime = runtime
        self.sandbox: Sandbox = runtime.sandbox

    async def ok(self, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        result = await self.client.call_tool(tool, args)
        text = result.content[0].text  # type: ignore[union-attr]
        assert not result.is_error, f"{tool}: {text}"
        assert result.structured_content is not None
        return result.structured_content

    async def error(self, tool: str, args: dict[str, Any]) -> str:
        result = await self.client.call_tool(tool, args)
        assert result.is_error, tool
        return str(result.content[0].text)  # type: ignore[union-attr]


@asynccontextmanager
async def session(settings_factory: Any, sandbox: Sandbox | None = None, **overrides: Any) -> AsyncIterator[Session]:
    settings = settings_factory(xero_mcp_sandbox=True, xero_access_token=None, xero_tenant_id=None, **overrides)
    async with open_runtime(settings, sandbox=sandbox) as runtime:
        server = build_server(runtime.runner, instructions=runtime.catalogue.instructions,
                              unknown_tool=UnknownToolError)
        async with Client(server) as client:
            yield Session(client, runtime)


async def test_contacts_lifecycle(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        created = await s.ok("xero_contacts_create_contacts", {"Contacts": [
            {"Name": "Kea Roofing", "ContactNumber": "KEA-1", "EmailAddress": "a@kea.example",
             "Phones": [{"PhoneType": "MOBILE", "PhoneNumber": "555"}]}]})
        kea = created["Contacts"][0]["ContactID"]
        assert s.sandbox.state().contacts[kea].name == "Kea Roofing"

        clash = await s.error("xero_contacts_create_contacts", {"Contacts": [{"Name": "kea roofing"}]})
        assert "already assigned to another contact" in clash and "Contacts[0]" in clash

        fetched = await s.ok("xero_contacts_get_contact", {"ContactID": kea})
        assert fetched["Contacts"][0]["EmailAddress"] == "a@kea.example"
        assert fetched["Contacts"][0]["UpdatedDateUTC"].endswith("Z")  # ISO 8601, not /Date()/
        by_number = await s.ok("xero_contacts_get_contact_by_contact_number", {"ContactNumber": "KEA-1"})
        assert by_number["Contacts"][0]["ContactID"] == kea

        # echo the fetched record back with one change: read-only fields are dropped, others kept
        record = {**fetched["Contacts"][0], "AccountNumber": "ACC-9"}
        await s.ok("xero_contacts_update_contact", {"ContactID": kea, "Contacts": [record]})
        await s.ok("xero_contacts_update_contact", {"ContactID": kea, "Contacts": [{"FirstName": "Ana"}]})
        again = (await s.ok("xero_contacts_get_contact", {"ContactID": kea}))["Contacts"][0]
        assert (again["FirstName"], again["AccountNumber"], again["EmailAddress"]) == ("Ana", "ACC-9", "a@kea.example")

        await s.ok("xero_contacts_update_contact", {"ContactID": kea, "Contacts": [{"ContactStatus": "ARCHIVED"}]})
        listed = await s.ok("xero_contacts_get_contacts", {"searchTerm": "kea"})
        assert listed["Contacts"] == []
        listed = await s.ok("xero_contacts_get_contacts", {"searchTerm": "kea", "includeArchived": True})
        assert [c["ContactID"] for c in listed["Contacts"]] == [kea]

        missing = await s.error("xero_contacts_update_contact", {"ContactID": MISSING, "Contacts": [{"Name": "X"}]})
        assert "xero_contacts_get_contacts" in missing
        missing = await s.error("xero_contacts_get_contact", {"ContactID": MISSING})
        assert "404" in missing and "xero_contacts_get_contacts" in missing
        missing = await s.error("xero_contacts_get_contact_by_contact_number", {"ContactNumber": "NOPE-404"})
        assert "ContactNumber NOPE-404" in missing


async def test_upsert_with_partial_failure_saves_the_rest(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        await s.ok("xero_contacts_create_contacts", {"Contacts": [{"Name": "Tui Traders", "ContactNumber": "TUI"}]})
        before = len(s.sandbox.state().contacts)
        result = await s.client.call_tool("xero_contacts_update_or_create_contacts", {
            "summarizeErrors": False,
            "Contacts": [{"ContactNumber": "TUI", "EmailAddress": "hi@tui.example"}, {"Name": "Moa Mills"},
                         {"Name": "Tui Traders"}]})
        assert result.is_error
        assert "Xero saved 2 of 3; 1 rejected" in result.content[0].text  # type: ignore[union-attr]
        assert len(s.sandbox.state().contacts) == before + 1  # Moa Mills created, the clash not
        tui = await s.ok("xero_contacts_get_contacts", {"where": 'ContactNumber=="TUI"'})
        assert tui["Contacts"][0]["EmailAddress"] == "hi@tui.example"
        rejected = await s.error("xero_contacts_update_or_create_contacts", {"Contacts": [{"Name": "Moa Mills"}]})
        assert "already assigned" in rejected


async def test_paging_filters_and_cis(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        page = await s.ok("xero_contacts_get_contacts", {"page": 1, "pageSize": 2, "order": "Name ASC"})
        assert len(page["Contacts"]) == 2 and page["pagination"]["pageSize"] == 2
        assert page["pagination"]["itemCount"] >= 4
        names = [c["Name"] for c in page["Contacts"]]
        assert names == sorted(names)
        bad = await s.error("xero_contacts_get_contacts", {"where": "Name > 3"})
        assert "400" in bad
        everyone = await s.ok("xero_contacts_get_contacts", {"summaryOnly": True})
        ids = [c["ContactID"] for c in everyone["Contacts"]][:2]
        chosen = await s.ok("xero_contacts_get_contacts", {"IDs": ids})
        assert sorted(c["ContactID"] for c in chosen["Contacts"]) == sorted(ids)

        carlton = await s.ok("xero_contacts_get_contacts", {"where": 'Name=="Carlton Builders Ltd"'})
        cis = await s.ok("xero_contacts_get_contact_cissettings", {"ContactID": carlton["Contacts"][0]["ContactID"]})
        assert cis["CISSettings"][0]["CISEnabled"] is True
        other = ids[0] if ids[0] != carlton["Contacts"][0]["ContactID"] else ids[1]
        no_cis = await s.error("xero_contacts_get_contact_cissettings", {"ContactID": other})
        assert "never enabled as a CIS subcontractor" in no_cis


async def test_contact_groups(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        groups = await s.ok("xero_contacts_get_contact_groups", {})
        assert "Preferred Suppliers" in [g["Name"] for g in groups["ContactGroups"]]
        group = (await s.ok("xero_contacts_create_contact_group", {"ContactGroups": [{"Name": "Wholesale"}]}))
        gid = group["ContactGroups"][0]["ContactGroupID"]
        contacts = (await s.ok("xero_contacts_get_contacts", {"order": "Name"}))["Contacts"]
        a, b = contacts[0]["ContactID"], contacts[1]["ContactID"]

        await s.ok("xero_contacts_create_contact_group_contacts",
                   {"ContactGroupID": gid, "Contacts": [{"ContactID": a}, {"ContactID": b}]})
        assert sorted(s.sandbox.state().groups[gid].members) == sorted([a, b])
        members = (await s.ok("xero_contacts_get_contact_group", {"ContactGroupID": gid}))["ContactGroups"][0]
        assert sorted(m["ContactID"] for m in members["Contacts"]) == sorted([a, b])
        unknown = await s.error("xero_contacts_create_contact_group_contacts",
                                {"ContactGroupID": gid, "Contacts": [{"ContactID": MISSING}]})
        assert "400" in unknown

        await s.ok("xero_contacts_delete_contact_group_contact", {"ContactGroupID": gid, "ContactID": a})
        assert s.sandbox.state().groups[gid].members == [b]
        not_member = await s.error("xero_contacts_delete_contact_group_contact", {"ContactGroupID": gid, "ContactID": a})
        assert "not a member" in not_member
        deleted = await s.ok("xero_contacts_delete_contact_group_contacts", {"ContactGroupID": gid})
        assert deleted["Deleted"] == {"ContactGroupID": gid}
        assert s.sandbox.state().groups[gid].members == []

        await s.ok("xero_contacts_update_contact_group", {"ContactGroupID": gid, "ContactGroups": [{"Name": "Retail"}]})
        assert s.sandbox.state().groups[gid].name == "Retail"
        await s.ok("xero_contacts_update_contact_group", {"ContactGroupID": gid, "ContactGroups": [{"Status": "DELETED"}]})
        assert "Retail" not in [g["Name"] for g in (await s.ok("xero_contacts_get_contact_groups", {}))["ContactGroups"]]
        gone = await s.error("xero_contacts_get_contact_group", {"ContactGroupID": gid})
        assert "xero_contacts_get_contact_groups" in gone
        gone = await s.error("xero_contacts_delete_contact_group_contacts", {"ContactGroupID": MISSING})
        assert "404" in gone
        duplicate = await s.error("xero_contacts_create_contact_group", {"ContactGroups": [{"Name": "Preferred Suppliers"}]})
        assert "400" in duplicate
        rename_missing = await s.error("xero_contacts_update_contact_group",
                                       {"ContactGroupID": MISSING, "ContactGroups": [{"Name": "X"}]})
        assert "404" in rename_missing


async def test_tracking_categories_and_options(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        region = (await s.ok("xero_contacts_get_tracking_categories", {}))["TrackingCategories"][0]
        category = await s.ok("xero_contacts_create_tracking_category", {"Name": "Project"})
        cid = category["TrackingCategories"][0]["TrackingCategoryID"]
        over = await s.error("xero_contacts_create_tracking_category", {"Name": "Third"})
        assert "2 active tracking categories" in over

        option = await s.ok("xero_contacts_create_tracking_options", {"TrackingCategoryID": cid, "Name": "Alpha"})
        oid = option["Options"][0]["TrackingOptionID"]
        dup = await s.error("xero_contacts_create_tracking_options", {"TrackingCategoryID": cid, "Name": "Alpha"})
        assert "400" in dup
        await s.ok("xero_contacts_create_tracking_options", {"TrackingCategoryID": cid, "Name": "Beta"})
        await s.ok("xero_contacts_update_tracking_options",
                   {"TrackingCategoryID": cid, "TrackingOptionID": oid, "Name": "Alpha 2"})
        fetched = (await s.ok("xero_contacts_get_tracking_category", {"TrackingCategoryID": cid}))["TrackingCategories"][0]
        assert sorted(o["Name"] for o in fetched["Options"]) == ["Alpha 2", "Beta"]
        deleted = await s.ok("xero_contacts_delete_tracking_options", {"TrackingCategoryID": cid, "TrackingOptionID": oid})
        assert deleted["Options"][0]["Status"] == "DELETED"
        gone = await s.error("xero_contacts_update_tracking_options",
                             {"TrackingCategoryID": cid, "TrackingOptionID": oid, "Name": "Z"})
        assert "404" in gone or "400" in gone

        await s.ok("xero_contacts_update_tracking_category", {"TrackingCategoryID": cid, "Status": "ARCHIVED"})
        active = await s.ok("xero_contacts_get_tracking_categories", {})
        assert cid not in [c["TrackingCategoryID"] for c in active["TrackingCategories"]]
        everything = await s.ok("xero_contacts_get_tracking_categories", {"includeArchived": True})
        assert cid in [c["TrackingCategoryID"] for c in everything["TrackingCategories"]]

        await s.ok("xero_contacts_delete_tracking_category", {"TrackingCategoryID": cid})
        assert (await s.error("xero_contacts_get_tracking_category", {"TrackingCategoryID": cid})).find(
            "xero_contacts_get_tracking_categories") > 0
        missing = await s.error("xero_contacts_delete_tracking_category", {"TrackingCategoryID": MISSING})
        assert "404" in missing
        missing = await s.error("xero_contacts_delete_tracking_options",
                                {"TrackingCategoryID": region["TrackingCategoryID"], "TrackingOptionID": MISSING})
        assert "404" in missing
        renamed = await s.ok("xero_contacts_update_tracking_category",
                             {"TrackingCategoryID": region["TrackingCategoryID"], "Name": "Area"})
        assert renamed["TrackingCategories"][0]["Name"] == "Area"


async def test_faults_are_absorbed_without_duplicating_writes(settings_factory: Any) -> None:
    async with session(settings_factory) as s:
        s.sandbox.faults.fail_next(2, 503)
        assert (await s.ok("xero_contacts_get_contacts", {}))["Contacts"]
        s.sandbox.faults.drop_next_writes(1)  # Xero applies the create, then the connection drops
        await s.ok("xero_contacts_create_contacts", {"Contacts": [{"Name": "Once Only Ltd"}]})
        named = [c for c in s.sandbox.state().contacts.values() if c.name == "Once Only Ltd"]
        assert len(named) == 1
        assert s.sandbox.stats.idempotent_replays == 1  # the retry replayed, it did not create again


async def test_xero_limits_never_reach_the_model(settings_factory: Any) -> None:
    sandbox = Sandbox(SandboxConfig(enforce_limits=True, minute_limit=10, minute_window=2.0, concurrent_limit=2))
    async with session(settings_factory, sandbox=sandbox, xero_mcp_tenant_per_minute=10, xero_mcp_rate_window=2.0,
                       xero_mcp_tenant_concurrency=2, xero_mcp_retry_deadline=20.0) as s:
        results: list[Any] = []

        async def one() -> None:
            results.append(await s.client.call_tool("xero_contacts_get_contacts", {"summaryOnly": True}))

        async with anyio.create_task_group() as tg:
            for _ in range(25):
                tg.start_soon(one)
    assert len(results) == 25 and not any(r.is_error for r in results)
    assert sandbox.stats.rate_limited.total() == 0  # the client's limiter kept within Xero's window


@pytest.mark.parametrize("tool", ["xero_contacts_get_contacts", "xero_contacts_get_tracking_categories"])
async def test_missing_scope_says_which(settings_factory: Any, tool: str) -> None:
    sandbox = Sandbox()
    sandbox.access_token = sandbox.issue_token(scopes="accounting.contacts.read")  # no settings scope
    async with session(settings_factory, sandbox=sandbox) as s:
        if tool == "xero_contacts_get_contacts":
            await s.ok(tool, {})
        else:
            assert "accounting.settings" in await s.error(tool, {})
