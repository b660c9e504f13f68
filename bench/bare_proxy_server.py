"""The floor for per-call benchmarks: a bare `mcp` low-level Server over stdio whose one tool is a plain GET.

Run: `python bench/bare_proxy_server.py` with XERO_API_URL, XERO_ACCESS_TOKEN and XERO_TENANT_ID set (speaks
MCP on stdin/stdout). Its tool `get_contact {"ContactID": …}` sends `GET {XERO_API_URL}/Contacts/{id}` through
one pooled `httpx2.AsyncClient` with the headers our server sends and returns Xero's JSON as is, as text and
as structured content: no validation, no limiter, no retries, no result shaping. What our server costs per
call beyond this process is ours; what this process costs beyond a direct GET is the SDK's and stdio's.
"""

from __future__ import annotations

import json
import os
from typing import Any

import anyio
import httpx2
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.types import (
    CallToolRequestParams,
    CallToolResult,
    ListToolsResult,
    PaginatedRequestParams,
    TextContent,
    Tool,
)

TOOLS = [Tool(name="get_contact", description="GET /Contacts/{ContactID}, returned as is.",
              input_schema={"type": "object", "properties": {"ContactID": {"type": "string"}},
                            "required": ["ContactID"]})]
HTTP = httpx2.AsyncClient(
    base_url=os.environ.get("XERO_API_URL", "http://127.0.0.1:8765/api.xro/2.0"),
    headers={"Authorization": f"Bearer {os.environ.get('XERO_ACCESS_TOKEN', '')}",
             "xero-tenant-id": os.environ.get("XERO_TENANT_ID", ""), "Accept": "application/json"},
    timeout=30)


async def list_tools(ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None) -> ListToolsResult:
    return ListToolsResult(tools=TOOLS)


async def call_tool(ctx: ServerRequestContext[Any], params: CallToolRequestParams) -> CallToolResult:
    reply = await HTTP.get(f"/Contacts/{(params.arguments or {}).get('ContactID', '')}")
    body = reply.json()
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(body, separators=(",", ":")))],
                          structured_content=body, is_error=reply.status_code >= 400)


server = Server("bare-proxy", on_list_tools=list_tools, on_call_tool=call_tool)


async def main() -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)
