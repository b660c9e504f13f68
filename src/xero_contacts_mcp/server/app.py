"""A thin MCP shell around a tool runner: it lists definitions and relays calls, nothing more."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from mcp import MCPError
from mcp.server import Server, ServerRequestContext
from mcp.types import (
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    ListToolsResult,
    PaginatedRequestParams,
    TextContent,
    Tool,
    ToolAnnotations,
)

from .. import __version__
from ..identity import acting_as
from .hosted.principal import person_of

log = logging.getLogger(__name__)


class Definition(Protocol):
    name: str
    title: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    annotations: dict[str, bool]


class Outcome(Protocol):
    text: str
    data: dict[str, Any] | None
    is_error: bool


class Runner(Protocol):
    def definitions(self) -> list[Any]: ...

    async def run(self, name: str, arguments: dict[str, Any] | None) -> Any: ...


def to_tool(definition: Definition) -> Tool:
    hints = definition.annotations
    return Tool(
        name=definition.name,
        title=definition.title,
        description=definition.description,
        input_schema=definition.input_schema,
        output_schema=definition.output_schema,
        annotations=ToolAnnotations(
            read_only_hint=hints["readOnlyHint"],
            destructive_hint=hints["destructiveHint"],
            idempotent_hint=hints["idempotentHint"],
            open_world_hint=hints["openWorldHint"],
        ),
    )


def error_result(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def build_server(runner: Runner, *, instructions: str, unknown_tool: type[Exception] = LookupError) -> Server:
    """The MCP server. `unknown_tool` is the exception the runner raises for a name it does not serve."""
    definitions = runner.definitions()
    listing = ListToolsResult(tools=[to_tool(d) for d in definitions])
    schemas = {d.name: d.input_schema for d in definitions}

    async def list_tools(ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None) -> ListToolsResult:
        return listing

    async def call_tool(ctx: ServerRequestContext[Any], params: CallToolRequestParams) -> CallToolResult:
        try:
            # hosted mode: the call acts as the person its MCP token stands for (None otherwise)
            with acting_as(person_of(ctx.request)):
                outcome: Outcome = await runner.run(params.name, params.arguments)
        except unknown_tool:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown tool: {params.name}") from None
        except Exception:
            # Never let an exception escape: the SDK would turn it into a JSON-RPC error the model never sees.
            log.exception("%s crashed", params.name)
            return error_result(f"{params.name} failed unexpectedly inside the server (details are in its log). "
                                "Nothing more is known about whether Xero received the call.")
        return CallToolResult(
            content=[TextContent(type="text", text=outcome.text)],
            structured_content=outcome.data,
            is_error=outcome.is_error,
        )

    return Server(
        "xero-contacts-mcp",
        version=__version__,
        title="Xero Contacts",
        instructions=instructions,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        get_tool_input_schema=schemas.get,
    )
