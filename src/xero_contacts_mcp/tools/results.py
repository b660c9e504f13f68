"""Xero's JSON → what the model reads: ISO dates, no nulls or empty values, no envelope noise."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..xerodates import parse_ms_date, to_iso

#: Envelope fields Xero adds to every reply; they say nothing about the records.
ENVELOPE = frozenset({"Id", "Status", "ProviderName", "DateTimeUTC"})


@dataclass(frozen=True)
class ToolResult:
    """A tool's outcome, free of MCP types: structured data, its text form, and whether it failed."""

    text: str
    data: dict[str, Any] | None = None
    is_error: bool = False


def compact_json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        parsed = parse_ms_date(value)
        return to_iso(parsed) if parsed is not None else value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = _clean(item)
            if item is None or item == "" or item == [] or item == {}:
                continue
            out[key] = item
        return out
    if isinstance(value, list):
        return [item for item in map(_clean, value) if not _blank_slot(item)]
    return value


def _blank_slot(item: Any) -> bool:
    """An entry that is only its type, e.g. {"PhoneType": "FAX"}: Xero returns every contact with blank
    phone and address slots of each type, which carry nothing once their empty values are gone."""
    return isinstance(item, dict) and (not item or (len(item) == 1 and next(iter(item)).endswith("Type")))


def normalise(body: Any, result_key: str | None, raw: bool = False) -> dict[str, Any]:
    """Shape a successful reply. The result list itself is kept even when empty ("none found")."""
    if not isinstance(body, dict):
        return {"Response": body} if body not in (None, "") else {}
    if raw:
        return body
    data: dict[str, Any] = _clean({k: v for k, v in body.items() if k not in ENVELOPE})
    if result_key is not None and result_key not in data and isinstance(body.get(result_key), list):
        data[result_key] = []
    return data
