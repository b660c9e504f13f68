"""Through a real MCP client (the SDK's in-process Client, both protocol eras): every tool is listed
and a call of each sends a request that passes Xero's OpenAPI spec."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import respx
from mcp import Client

from test_requests import CASES, Case
from xero_contacts_mcp.server.app import build_server
from xero_contacts_mcp.tools.runner import UnknownToolError


def _server(runtime: Any) -> Any:
    return build_server(runtime.runner, instructions=runtime.catalogue.instructions, unknown_tool=UnknownToolError)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_real_client_lists_exactly_the_22_tools(runtime: Any, mode: str) -> None:
    async with Client(_server(runtime), mode=mode) as client:  # type: ignore[arg-type]
        listing = await client.list_tools()
    assert sorted(t.name for t in listing.tools) == sorted(c.tool for c in CASES)


async def test_every_call_through_mcp_sends_a_spec_valid_request(runtime: Any, httpx2_mock: respx.Router,
                                                                  openapi_spec: Any) -> None:
    from openapi_core.testing import MockRequest

    async def one(client: Client, case: Case) -> None:
        route = httpx2_mock.route(method=case.method, url__startswith="https://api.xero.com/")
        if case.reply is None:
            route.respond(case.status)
        else:
            route.respond(case.status, json=case.reply)
        result = await client.call_tool(case.tool, case.args)
        assert not result.is_error, (case.tool, result.content)
        assert result.structured_content is not None
        request = route.calls.last.request
        url = urlsplit(str(request.url))
        openapi_spec.validate_request(MockRequest(
            "https://api.xero.com", request.method.lower(), url.path, args=dict(parse_qsl(url.query)),
            headers=dict(request.headers.items()), data=request.content.decode() or None,
            content_type="application/json"))
        httpx2_mock.routes.clear()

    async with Client(_server(runtime)) as client:
        for case in CASES:
            await one(client, case)
