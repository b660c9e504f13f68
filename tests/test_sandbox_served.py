"""`xero-contacts-mcp sandbox` serves a Xero of its own on loopback; `serve` pointed at the URLs it
prints works exactly as against Xero (over real stdio, with a real MCP client)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client


@pytest.fixture(scope="module")
def served() -> Iterator[dict[str, str]]:
    process = subprocess.Popen([sys.executable, "-m", "xero_contacts_mcp", "sandbox", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    try:
        yield json.loads(line)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_prints_what_a_client_needs(served: dict[str, str]) -> None:
    for key in ("api_url", "token_url", "connections_url", "authorize_url", "tenant_id", "access_token"):
        assert served[key], key
    assert served["api_url"].startswith("http://127.0.0.1:") and served["api_url"].endswith("/api.xro/2.0")


async def test_serve_against_the_printed_urls(served: dict[str, str]) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
           "XERO_API_URL": served["api_url"], "XERO_ACCESS_TOKEN": served["access_token"],
           "XERO_TENANT_ID": served["tenant_id"], "XERO_MCP_LOG_LEVEL": "WARNING"}
    params = StdioServerParameters(command=sys.executable, args=["-m", "xero_contacts_mcp"], env=env)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        created = await session.call_tool("xero_contacts_create_contacts", {"Contacts": [{"Name": "Over The Wire"}]})
        assert not created.is_error, created.content
        found = await session.call_tool("xero_contacts_get_contacts", {"searchTerm": "over the wire"})
        assert [c["Name"] for c in (found.structured_content or {})["Contacts"]] == ["Over The Wire"]
        wrong_tenant = await session.call_tool("xero_contacts_get_contacts",
                                               {"xero-tenant-id": "11111111-2222-4333-8444-555555555555"})
        assert wrong_tenant.is_error and "403" in wrong_tenant.content[0].text  # type: ignore[union-attr]
