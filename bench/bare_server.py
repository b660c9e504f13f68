"""The floor for cold-start benchmarks: a bare `mcp` low-level Server over stdio with one trivial tool.

Run: `python bench/bare_server.py` (speaks MCP on stdin/stdout). Anything our server costs beyond this
process is ours: settings, catalogue, Xero client, tool models.
"""

from __future__ import annotations

from typing import Any

import anyio
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.types import ListToolsResult, PaginatedRequestParams, Tool

TOOLS = [Tool(name="noop", description="Does nothing.", input_schema={"type": "object", "properties": {}})]


async def list_tools(ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None) -> ListToolsResult:
    return ListToolsResult(tools=TOOLS)


server = Server("bare", on_list_tools=list_tools)


async def main() -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)
