"""End to end through the SDK's own client over real stdio: the server as Claude Desktop runs it."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client

SEED = json.loads((Path(__file__).parent / "data" / "seed_tools.json").read_text())


def server_params(**env: str) -> StdioServerParameters:
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
            "XERO_MCP_LOG_LEVEL": "INFO"}
    return StdioServerParameters(command=sys.executable, args=["-m", "xero_contacts_mcp"], env={**base, **env},
                                 cwd=str(Path(__file__).parent))


@asynccontextmanager
async def connect(**env: str) -> AsyncIterator[ClientSession]:
    """A real client session over stdio (opened inside the test: anyio scopes must stay in one task)."""
    async with stdio_client(server_params(**env)) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def test_lists_the_22_tools_with_their_annotations() -> None:
    async with connect() as session:
        listing = await session.list_tools()
    assert sorted(t.name for t in listing.tools) == sorted(SEED)
    for tool in listing.tools:
        assert [*tool.input_schema["properties"]] == [p["name"] for p in SEED[tool.name]["params"]]
        hints = tool.annotations
        assert hints is not None and None not in (hints.read_only_hint, hints.destructive_hint,
                                                  hints.idempotent_hint, hints.open_world_hint)


async def test_a_call_without_credentials_says_how_to_connect() -> None:
    async with connect() as session:
        result = await session.call_tool("xero_contacts_get_contacts", {})
    assert result.is_error
    assert "XERO_ACCESS_TOKEN" in result.content[0].text  # type: ignore[union-attr]


async def test_invalid_arguments_are_a_tool_error() -> None:
    async with connect() as session:
        result = await session.call_tool("xero_contacts_get_contact", {"ContactID": 42})
    assert result.is_error
    assert "ContactID" in result.content[0].text  # type: ignore[union-attr]


async def test_unknown_tool_is_a_protocol_error_and_instructions_are_sent() -> None:
    async with connect() as session:
        with pytest.raises(MCPError) as caught:
            await session.call_tool("xero_contacts_delete_contact", {})
        instructions = session.instructions or ""
    assert caught.value.error.code == -32602
    assert "Idempotency-Key" in instructions and "xero-tenant-id" in instructions
