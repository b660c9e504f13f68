"""Tool selection: toolsets, tools, exclusions; read-only beats every selector; unknown names fail at start."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client, MCPError

from xero_contacts_mcp.cli import main
from xero_contacts_mcp.runtime import open_runtime
from xero_contacts_mcp.server.app import build_server
from xero_contacts_mcp.tools.catalogue import load_catalogue
from xero_contacts_mcp.tools.listing import from_catalogue
from xero_contacts_mcp.tools.runner import UnknownToolError
from xero_contacts_mcp.tools.selection import SelectionError, select

CATALOGUE = load_catalogue()
LISTING = from_catalogue(CATALOGUE)
READS = [t.name for t in CATALOGUE.tools if t.annotations.readOnlyHint]


def test_default_is_every_tool() -> None:
    assert select(LISTING) == [t.name for t in CATALOGUE.tools]


def test_toolsets_pick_whole_groups() -> None:
    chosen = select(LISTING, toolsets=["tracking"])
    assert chosen and all(CATALOGUE.by_name[n].toolset == "tracking" for n in chosen)
    assert len(chosen) == 8


def test_tools_alone_serve_just_those_and_add_to_toolsets() -> None:
    assert select(LISTING, tools=["xero_contacts_get_contact"]) == ["xero_contacts_get_contact"]
    both = select(LISTING, toolsets=["tracking"], tools=["xero_contacts_get_contact"])
    assert "xero_contacts_get_contact" in both and len(both) == 9


def test_exclusion_always_wins() -> None:
    assert select(LISTING, tools=["xero_contacts_get_contact"], exclude=["xero_contacts_get_contact"]) == []


def test_read_only_beats_every_selector() -> None:
    assert select(LISTING, read_only=True) == READS
    assert select(LISTING, tools=["xero_contacts_create_contacts", "xero_contacts_get_contact"],
                  read_only=True) == ["xero_contacts_get_contact"]
    assert all(not CATALOGUE.by_name[n].writes for n in READS)
    assert all(CATALOGUE.by_name[n].method == "GET" for n in READS)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"toolsets": ["contact"]}, "unknown toolset contact; valid toolsets: contacts, contact_groups, tracking"),
    ({"tools": ["xero_contacts_nope"]}, "unknown tool xero_contacts_nope; valid tools: xero_contacts_get_contacts"),
    ({"exclude": ["nope"]}, "unknown tool nope"),
])
def test_unknown_names_are_refused_listing_valid_ones(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SelectionError, match=message):
        select(LISTING, **kwargs)


def test_cli_unknown_toolset_exits_2_with_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools", "--toolsets", "contcts"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xero-contacts-mcp: unknown toolset contcts") and "Traceback" not in err


def test_cli_read_only_from_the_environment(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XERO_MCP_READ_ONLY", "true")
    monkeypatch.setenv("XERO_MCP_TOOLS", "xero_contacts_create_contacts,xero_contacts_get_contact")
    assert main(["tools"]) == 0
    out = capsys.readouterr().out
    assert "xero_contacts_get_contact " in out and "create_contacts" not in out


async def test_server_lists_and_calls_only_the_selection(settings_factory: Any) -> None:
    settings = settings_factory(xero_mcp_read_only=True, xero_mcp_toolsets="contact_groups")
    async with open_runtime(settings) as runtime:
        server = build_server(runtime.runner, instructions="", unknown_tool=UnknownToolError)
        async with Client(server) as client:
            listing = await client.list_tools()
            assert sorted(t.name for t in listing.tools) == ["xero_contacts_get_contact_group",
                                                             "xero_contacts_get_contact_groups"]
            with pytest.raises(MCPError) as caught:
                await client.call_tool("xero_contacts_create_contact_group", {"ContactGroups": [{"Name": "x"}]})
    assert caught.value.error.code == -32602
