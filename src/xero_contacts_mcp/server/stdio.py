"""The stdio transport: stdout carries only MCP messages."""

from __future__ import annotations

import contextlib
import sys

from mcp.server import Server


async def run_stdio(server: Server) -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):  # claims the real stdout first
        with contextlib.redirect_stdout(sys.stderr):  # then any stray print() goes to stderr
            await server.run(read, write, server.create_initialization_options())
