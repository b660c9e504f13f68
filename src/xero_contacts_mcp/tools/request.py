"""Validated arguments → a Xero `Request`: the one place that decides where each value goes."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..xero.http import Request
from .catalogue import ToolSpec


def encode_segment(value: str) -> str:
    """Percent-encode a value as exactly one path segment.

    `/` and every reserved character are encoded, and so are the dot-segments `.` and `..`
    (which URL normalisation would otherwise resolve, turning `/Contacts/..` into `/`).
    """
    if value == "":
        raise ValueError("a path value must not be empty")
    if set(value) == {"."}:
        return "%2E" * len(value)
    return quote(value, safe="")


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_query_value(v) for v in value)
    return str(value)


def build_request(tool: ToolSpec, args: dict[str, Any]) -> Request:
    """`args` are validated and keyed by wire name; absent values are simply not sent."""
    path = tool.path
    query: dict[str, str] = {}
    headers: dict[str, str] = {}
    body: dict[str, Any] = {}
    for param in tool.params:
        value = args.get(param.name, param.default)  # e.g. page 1: a list never arrives unpaged
        if value is None or param.ignored:
            continue
        if param.in_ == "path":
            path = path.replace("{" + param.name + "}", encode_segment(str(value)))
        elif param.in_ == "query":
            query[param.name] = _query_value(value)
        elif param.in_ == "header":
            headers[param.name] = str(value)
        else:
            body[param.name] = value
    return Request(tool.method, path, query, headers, body if tool.writes else None)
