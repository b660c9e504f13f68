"""`xero-contacts-mcp demo`: a scripted agent session over real MCP stdio against the sandbox.

It spawns `xero-contacts-mcp serve --sandbox` exactly as an MCP client would and drives it with the
SDK's own client, printing each call and a short readable result, errors included: the point is to
show what a model sees.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.types import CallToolResult, TextContent

#: the marks the demo prints, and their ASCII stand-ins for a terminal that cannot show them (cp1252, ascii…)
_MARKS = {"─": "-", "✓": "ok", "✗": "x", "→": "->", "…": "..."}


def _fits(encoding: str | None) -> bool:
    try:
        "".join(_MARKS).encode(encoding or "ascii")
    except (LookupError, UnicodeEncodeError):
        return False
    return True


def _print(text: str = "") -> None:
    if not _fits(sys.stdout.encoding):
        for mark, plain in _MARKS.items():
            text = text.replace(mark, plain)
    print(text, flush=True)


_RULE = "─" * 72


def _short(args: dict[str, Any]) -> str:
    text = json.dumps(args, ensure_ascii=False)
    return text if len(text) <= 110 else text[:107] + "…"


def _summary(result: CallToolResult) -> str:
    text = "".join(c.text for c in result.content if isinstance(c, TextContent))
    if result.is_error:
        lines = text.splitlines()
        shown = [line for line in lines if not line.startswith("{")][:6]
        return "\n".join(f"  ✗ {line}" if i == 0 else f"    {line}" for i, line in enumerate(shown))
    data = result.structured_content or {}
    for key, items in data.items():
        if isinstance(items, list):
            names = [str(i.get("Name") or i.get("ContactID") or i) for i in items if isinstance(i, dict)]
            listed = ", ".join(names[:6]) + (f" … (+{len(names) - 6})" if len(names) > 6 else "")
            members = items[0].get("Contacts") if len(items) == 1 and isinstance(items[0], dict) else None
            if isinstance(members, list):
                listed += f" (members: {', '.join(str(m.get('Name') or m.get('ContactID')) for m in members)})"
            return f"  ✓ {len(items)} {key}: {listed}" if items else f"  ✓ no {key}"
    return f"  ✓ {json.dumps(data, ensure_ascii=False)[:200]}"


class Script:
    """Runs calls in order, printing each; keeps the last result for the next step to use."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session
        self.step = 0

    async def call(self, say: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        self.step += 1
        _print(f"\n{self.step:>2}. {say}")
        _print(f"  → {tool} {_short(args)}")
        result = await self.session.call_tool(tool, args)
        _print(_summary(result))
        return result.structured_content or {}


def _first_id(data: dict[str, Any], key: str, field: str) -> str:
    return str(data[key][0][field])


async def _session(script: Script) -> None:
    tools = await script.session.list_tools()
    _print(f"Connected: {len(tools.tools)} tools "
           f"({sum(1 for t in tools.tools if t.annotations and t.annotations.read_only_hint)} read-only).")

    created = await script.call(
        "Create two contacts", "xero_contacts_create_contacts",
        {"Contacts": [
            {"Name": "Ridgeway Builders", "EmailAddress": "accounts@ridgeway.example",
             "Phones": [{"PhoneType": "MOBILE", "PhoneNumber": "555-0101"}]},
            {"Name": "Harbour Cafe", "ContactNumber": "DEMO-001"},
        ]})
    ridgeway = _first_id(created, "Contacts", "ContactID")
    await script.call("Create one whose name is taken (the model sees Xero's validation message)",
                      "xero_contacts_create_contacts", {"Contacts": [{"Name": "Harbour Cafe"}]})
    await script.call("Search", "xero_contacts_get_contacts", {"searchTerm": "harbour"})
    await script.call("Look one up by its contact number", "xero_contacts_get_contact_by_contact_number",
                      {"ContactNumber": "DEMO-001"})
    await script.call("Update: add a street address", "xero_contacts_update_contact",
                      {"ContactID": ridgeway, "Contacts": [{"Addresses": [
                          {"AddressType": "STREET", "AddressLine1": "1 Quay St", "City": "Auckland"}]}]})
    await script.call("Archive it (contacts are never deleted)", "xero_contacts_update_contact",
                      {"ContactID": ridgeway, "Contacts": [{"ContactStatus": "ARCHIVED"}]})
    await script.call("Default listing leaves archived contacts out", "xero_contacts_get_contacts",
                      {"where": 'Name=="Ridgeway Builders"'})
    await script.call("…includeArchived brings it back", "xero_contacts_get_contacts",
                      {"where": 'Name=="Ridgeway Builders"', "includeArchived": True})
    await script.call("Ask for an ID that does not exist", "xero_contacts_get_contact",
                      {"ContactID": "00000000-0000-0000-0000-000000000001"})

    group = await script.call("Create a contact group", "xero_contacts_create_contact_group",
                              {"ContactGroups": [{"Name": "Demo Wholesale"}]})
    group_id = _first_id(group, "ContactGroups", "ContactGroupID")
    cafe = await script.call("Find the cafe", "xero_contacts_get_contacts", {"where": 'ContactNumber=="DEMO-001"'})
    cafe_id = _first_id(cafe, "Contacts", "ContactID")
    await script.call("Add it to the group", "xero_contacts_create_contact_group_contacts",
                      {"ContactGroupID": group_id, "Contacts": [{"ContactID": cafe_id}]})
    await script.call("The group's members", "xero_contacts_get_contact_group", {"ContactGroupID": group_id})

    category = await script.call("Create a tracking category", "xero_contacts_create_tracking_category",
                                 {"Name": "Project"})
    category_id = _first_id(category, "TrackingCategories", "TrackingCategoryID")
    for option in ("Alpha", "Beta"):
        await script.call(f"Add option {option}", "xero_contacts_create_tracking_options",
                          {"TrackingCategoryID": category_id, "Name": option})
    await script.call("A third active category is over Xero's limit of 2", "xero_contacts_create_tracking_category",
                      {"Name": "Department"})

    await script.call(
        "Bulk upsert with summarizeErrors=false: one update, one new, one name clash",
        "xero_contacts_update_or_create_contacts",
        {"summarizeErrors": False, "Contacts": [
            {"ContactNumber": "DEMO-001", "EmailAddress": "hello@harbour.example"},
            {"Name": "Kauri Timber"},
            {"Name": "Harbour Cafe"},
        ]})


async def _main() -> int:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "SYSTEMROOT", "LANG")}
    env["XERO_MCP_LOG_LEVEL"] = "ERROR"
    params = StdioServerParameters(command=sys.executable, args=["-m", "xero_contacts_mcp", "serve", "--sandbox"],
                                   env=env)
    _print(_RULE)
    _print("xero-contacts-mcp demo: a scripted agent session over MCP stdio against the built-in sandbox.")
    _print("Starting `xero-contacts-mcp serve --sandbox` …")
    _print(_RULE)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        await _session(Script(session))
    _print(f"\n{_RULE}\nDone. Nothing was sent to Xero: the sandbox lives in memory and is gone now.")
    _print("Next: add the server to your MCP client. `xero-contacts-mcp claude-config --sandbox` prints the entry\n"
           "for Claude Desktop (the same command and env suit VS Code and Cursor); drop --sandbox once\n"
           "`xero-contacts-mcp login` has connected your Xero organisation. The README's \"Use with Claude Desktop,\n"
           "VS Code and Cursor\" shows each client's file.")
    return 0


def run_demo() -> int:
    import anyio

    if hasattr(sys.stdout, "reconfigure"):  # Xero's data may hold what the terminal cannot show: replace, never fail
        sys.stdout.reconfigure(errors="replace")

    return anyio.run(_main)
