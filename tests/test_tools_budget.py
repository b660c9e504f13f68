"""Honest schemas within a budget (issue 15, items 3 and 6), checked on tools/list as a real MCP client sees it.

- tools/list costs at most 8,000 cl100k tokens (the count is deterministic: any growth fails here first);
- what the server insists on is published: a call with only the published required arguments is never refused
  for a missing one, and a call without a published required argument is;
- every parameter an agent cannot guess has a description; read-only echo fields are marked readOnly.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp import Client

from test_results_fit import tokens
from test_sandbox_e2e import session as sandbox_session
from xero_contacts_mcp.tools.catalogue import load_catalogue

TOOLS_LIST_TOKEN_BUDGET = 8_000
CATALOGUE = load_catalogue()
# Explained by their tool's description ("give Name, Status or both"), which the test checks.
EXPLAINED_BY_THE_TOOL = {"Name", "Status"}


@asynccontextmanager
async def session(settings_factory: Any) -> AsyncIterator[Client]:
    async with sandbox_session(settings_factory) as s:
        yield s.client


async def listed(client: Client) -> list[dict[str, Any]]:
    result = await client.list_tools()
    return [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in result.tools]


async def test_tools_list_fits_the_token_budget(settings_factory: Any) -> None:
    async with session(settings_factory) as client:
        tools = await listed(client)
    assert len(tools) == 22
    count = tokens(json.dumps(tools, separators=(",", ":"), ensure_ascii=False))
    assert count <= TOOLS_LIST_TOKEN_BUDGET, f"tools/list is {count:,} cl100k tokens"


def _minimal(schema: dict[str, Any]) -> Any:
    """A smallest value that satisfies `schema`: what a model that follows only the schema would send."""
    if schema.get("format") == "uuid":
        return "00000000-0000-4000-8000-00000000abcd"
    kind = schema.get("type")
    if kind == "array":
        return [_minimal(schema["items"])] * max(1, schema.get("minItems", 1))
    if kind == "object":
        value = {k: _minimal(schema["properties"][k]) for k in schema.get("required", [])}
        if len(value) < schema.get("minProperties", 0):  # an update item must set something: a plain text field
            key = next(k for k, v in schema["properties"].items() if v.get("type") == "string" and "format" not in v)
            value[key] = _minimal(schema["properties"][key])
        return value
    if "enum" in schema:
        return schema["enum"][0]
    return {"string": "Budget Test", "integer": 1, "boolean": True}[str(kind)]


async def test_a_call_with_the_published_required_arguments_is_never_refused_for_a_missing_one(
        settings_factory: Any) -> None:
    async with session(settings_factory) as client:
        for tool in await listed(client):
            schema, name = tool["inputSchema"], tool["name"]
            required = schema.get("required", [])
            args = {k: _minimal(schema["properties"][k]) for k in required}
            one_of = CATALOGUE.by_name[name].require_any
            if one_of:  # not expressible without a top-level anyOf, so the description says it
                assert all(p in tool["description"] for p in one_of) and "or both" in tool["description"], name
                args[one_of[0]] = _minimal(schema["properties"][one_of[0]])
            result = await client.call_tool(name, args)
            text = result.content[0].text  # type: ignore[union-attr]
            assert "Invalid arguments" not in text, (name, text)
            for missing in required:
                result = await client.call_tool(name, {k: v for k, v in args.items() if k != missing})
                text = result.content[0].text  # type: ignore[union-attr]
                assert result.is_error and f"- {missing}: required" in text, (name, missing, text)


async def test_body_parameters_the_server_insists_on_are_published_required(settings_factory: Any) -> None:
    async with session(settings_factory) as client:
        tools = {t["name"]: t for t in await listed(client)}
    for name, body in (("xero_contacts_create_contacts", "Contacts"), ("xero_contacts_update_contact", "Contacts"),
                       ("xero_contacts_update_or_create_contacts", "Contacts"),
                       ("xero_contacts_create_contact_group", "ContactGroups"),
                       ("xero_contacts_update_contact_group", "ContactGroups"),
                       ("xero_contacts_create_contact_group_contacts", "Contacts"),
                       ("xero_contacts_create_tracking_category", "Name"),
                       ("xero_contacts_create_tracking_options", "Name")):
        assert body in tools[name]["inputSchema"]["required"], name
    item = tools["xero_contacts_create_contacts"]["inputSchema"]["properties"]["Contacts"]["items"]
    assert item["required"] == ["Name"]


async def test_every_parameter_an_agent_cannot_guess_is_described(settings_factory: Any) -> None:
    async with session(settings_factory) as client:
        tools = await listed(client)
    for tool in tools:
        spec = CATALOGUE.by_name[tool["name"]]
        for param in spec.params:
            published = tool["inputSchema"]["properties"][param.name]
            if param.in_ == "path" and param.format == "uuid":
                continue  # an ID, named by the tool; a wrong one gets a "not found" naming the tool that lists them
            if param.name in EXPLAINED_BY_THE_TOOL and spec.require_any:
                continue
            assert published.get("description"), (tool["name"], param.name)
    contact = next(t for t in tools if t["name"] == "xero_contacts_update_contact")
    fields = contact["inputSchema"]["properties"]["Contacts"]["items"]["properties"]
    for key, words in (("ContactPersons", "whole"), ("Addresses", "AddressType"), ("Phones", "PhoneType"),
                       ("Name", "active"), ("TaxNumberType", "US"), ("ContactStatus", "GDPR"),
                       ("IsSupplier", "bill"), ("IsCustomer", "invoice")):
        assert words in fields[key]["description"], key
    for key in ("IsSupplier", "IsCustomer", "UpdatedDateUTC", "Balances", "ContactGroups"):
        assert fields[key]["readOnly"] is True, key
    group = next(t for t in tools if t["name"] == "xero_contacts_update_contact_group")
    status = group["inputSchema"]["properties"]["ContactGroups"]["items"]["properties"]["Status"]
    assert "for good" in status["description"]
    members = group["inputSchema"]["properties"]["ContactGroups"]["items"]["properties"]["Contacts"]
    assert members["readOnly"] is True and "xero_contacts_create_contact_group_contacts" in members["description"]
    summarize = next(t for t in tools if t["name"] == "xero_contacts_create_contacts")["inputSchema"]
    assert "all-or-nothing" in summarize["properties"]["summarizeErrors"]["description"]


async def test_the_where_examples_in_the_descriptions_work_and_a_bad_one_is_taught(settings_factory: Any) -> None:
    """Each `e.g.` filter a description teaches is accepted; a malformed one answers with the syntax."""
    import re

    async with session(settings_factory) as client:
        tools = {t["name"]: t for t in await listed(client)}
        for name in ("xero_contacts_get_contacts", "xero_contacts_get_contact_groups",
                     "xero_contacts_get_tracking_categories"):
            description = " ".join(tools[name]["inputSchema"]["properties"]["where"]["description"].split())
            example = re.search(r"e\.g\. (.+?)(?:;| or [A-Z]|\.$)", description)
            assert example, description
            result = await client.call_tool(name, {"where": example.group(1)})
            assert not result.is_error, (name, example.group(1), result.content[0].text)  # type: ignore[union-attr]
        for where in ("Name.Contains('Ltd')", 'Name contains "Ltd"', 'IsSupplier=="true"'):
            result = await client.call_tool("xero_contacts_get_contacts", {"where": where})
            text = result.content[0].text  # type: ignore[union-attr]
            assert result.is_error and "strings in double quotes" in text and 'Name.Contains("Ltd")' in text, text
        result = await client.call_tool("xero_contacts_get_contacts", {"order": "Name descending"})
        assert "Field ASC or Field DESC" in result.content[0].text  # type: ignore[union-attr]
