"""A thin MCP shell around a tool runner: it lists definitions and relays calls, nothing more."""

from __future__ import annotations

import logging
import uuid
from typing import Any, Protocol

import anyio
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


class InFlight:
    """The tool calls being served, so that a stopping server can cut off those that outlive its grace
    period and still answer each one (an isError result) instead of dropping the connection."""

    def __init__(self) -> None:
        self.scopes: set[anyio.CancelScope] = set()
        self.reason = ""

    @property
    def count(self) -> int:
        return len(self.scopes)

    def interrupt(self, reason: str) -> int:
        """Cut off every call in flight; `reason` completes "<tool> was cut off: …". Returns how many."""
        self.reason = reason
        for scope in self.scopes:
            scope.cancel()
        return len(self.scopes)


def cut_off_text(definition: Definition | None, name: str, arguments: dict[str, Any], reason: str,
                 idempotency_argument: str | None) -> str:
    text = f"{name} was cut off: {reason}."
    if definition is not None and definition.annotations["readOnlyHint"]:
        return text + " It only reads, so nothing changed; call it again in a moment."
    key = arguments.get(idempotency_argument) if idempotency_argument else None
    if key:
        return text + (f" It may already have been applied. Call {name} again in a moment with the same arguments "
                       f"and {idempotency_argument} \"{key}\" so it is applied at most once.")
    return text + " It may already have been applied: check (read the record) before calling it again."


def build_server(runner: Runner, *, instructions: str, unknown_tool: type[Exception] = LookupError,
                 calls: InFlight | None = None, idempotency_argument: str | None = None) -> Server:
    """The MCP server. `unknown_tool` is the exception the runner raises for a name it does not serve.

    `calls` tracks calls in flight for a graceful stop. `idempotency_argument` names an argument that makes
    a write safe to repeat: a tool that writes and takes it gets a fresh one when the caller gave none, so
    that a call cut off by a shutdown can be answered with the key to repeat it with."""
    definitions = runner.definitions()
    listing = ListToolsResult(tools=[to_tool(d) for d in definitions])
    schemas = {d.name: d.input_schema for d in definitions}
    by_name: dict[str, Definition] = {d.name: d for d in definitions}
    in_flight = calls or InFlight()

    def keyed(definition: Definition | None, arguments: dict[str, Any]) -> dict[str, Any]:
        if (idempotency_argument is None or definition is None or definition.annotations["readOnlyHint"]
                or idempotency_argument not in definition.input_schema.get("properties", {})
                or arguments.get(idempotency_argument)):
            return arguments
        return {**arguments, idempotency_argument: str(uuid.uuid4())}

    async def list_tools(ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None) -> ListToolsResult:
        return listing

    async def call_tool(ctx: ServerRequestContext[Any], params: CallToolRequestParams) -> CallToolResult:
        definition = by_name.get(params.name)
        arguments = keyed(definition, params.arguments or {})
        scope = anyio.CancelScope()
        in_flight.scopes.add(scope)
        try:
            # hosted mode: the call acts as the person its MCP token stands for (None otherwise)
            with scope, acting_as(person_of(ctx.request)):
                outcome: Outcome = await runner.run(params.name, arguments)
            if scope.cancelled_caught:
                return error_result(cut_off_text(definition, params.name, arguments or {}, in_flight.reason,
                                                 idempotency_argument))
        except unknown_tool:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown tool: {params.name}") from None
        except Exception:
            # Never let an exception escape: the SDK would turn it into a JSON-RPC error the model never sees.
            log.exception("%s crashed", params.name)
            return error_result(f"{params.name} failed unexpectedly inside the server (details are in its log). "
                                "Nothing more is known about whether Xero received the call.")
        finally:
            in_flight.scopes.discard(scope)
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
