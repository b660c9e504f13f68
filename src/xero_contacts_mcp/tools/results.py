"""Xero's JSON → what the model reads: ISO dates, no nulls, empty or default values, no envelope noise.

A page of 100 full contacts is ~24,000 tokens, about what clients cut a tool result at; so records leave
out fields holding their documented default (tools.yaml `omit_defaults`: "absent means …"), and a list
shows each record without its bulky parts (a tool's `compact`), saying where to get them and the next page.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..xerodates import parse_ms_date, to_iso
from .catalogue import ToolSpec

#: Envelope fields Xero adds to every reply; they say nothing about the records.
ENVELOPE = frozenset({"Id", "Status", "ProviderName", "DateTimeUTC"})
#: Xero's ID on an element it did not save: it names no record, and a model could copy it into a call.
NIL_UUID = "00000000-0000-0000-0000-000000000000"  # Xero's ContactID on an element it did not save


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
            if item is None or item == "" or item == [] or item == {} or item == NIL_UUID:
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


def _without_defaults(value: Any, omit: dict[str, dict[str, Any]], defaults: dict[str, Any] | None = None) -> Any:
    """Drop, at any depth, the fields of records listed under a key of `omit` that hold that key's default."""
    if isinstance(value, list):
        return [_without_defaults(item, omit, defaults) for item in value]
    if not isinstance(value, dict):
        return value
    return {k: _without_defaults(v, omit, omit.get(k)) for k, v in value.items()
            if defaults is None or k not in defaults or defaults[k] != v}


def present(tool: ToolSpec, args: dict[str, Any], body: Any, omit_defaults: dict[str, dict[str, Any]],
            raw: bool = False) -> tuple[dict[str, Any], str]:
    """(structured data, text) of a successful reply: normalised, defaults left out, a list compacted,
    and the text led by what the model needs to go on (where the dropped fields are, the next page)."""
    data = normalise(body, tool.result, raw=raw)
    if raw:
        return data, compact_json(data)
    data = _without_defaults(data, omit_defaults)
    key = tool.result
    records = data.get(key) if key is not None else None
    if key is None or not isinstance(records, list):
        return data, compact_json(data)
    compact = tool.compact
    if compact is not None and any(args.get(name) not in (None, [], "") for name in compact.unless):
        compact = None
    drop = frozenset(compact.drop) if compact is not None else frozenset()
    shown = records
    if drop:
        shown = [{k: v for k, v in r.items() if k not in drop} if isinstance(r, dict) else r for r in shown]
    data[key] = shown
    notes = []
    page = page_note(data.get("pagination"), _noun(key))
    paging = data.get("pagination")
    whole = not isinstance(paging, dict) or not isinstance(paging.get("pageCount"), int) or paging["pageCount"] <= 1
    missing = _not_returned(tool, args, records) if whole else ""  # others may be on the other pages
    if " is past the last page " in page:  # the cause of an empty page comes first, alone
        notes.append(page)
        page = ""
    elif missing:
        notes.append(missing)
    elif not shown and "includeArchived" in tool.by_name and args.get("includeArchived") is not True:
        notes.append(f"No active {_noun(key)} matched; archived ones are hidden: call again with includeArchived "
                     "true to include them.")
    if compact is not None and shown:
        notes.append(compact.note)
    notes.append(page)
    lead = " ".join(n for n in notes if n)
    return data, (lead + "\n" if lead else "") + compact_json(data)


def _not_returned(tool: ToolSpec, args: dict[str, Any], records: list[Any]) -> str:
    """The tool's `requested` note when some of the IDs asked for are not among the records: Xero drops them
    silently, and a model that takes "not listed" for "does not exist" may create a duplicate."""
    rule = tool.requested
    asked = args.get(rule.param) if rule is not None else None
    if rule is None or not isinstance(asked, list):
        return ""
    got = {str(r.get(rule.field, "")).casefold() for r in records if isinstance(r, dict)}
    missing = list(dict.fromkeys(str(a) for a in asked if str(a).casefold() not in got))
    if not missing:
        return ""
    say = next((text for name, text in rule.say_if.items() if args.get(name) is True), rule.say)
    return " ".join(say.split()).format(missing=len(missing), asked=len(set(map(str, asked))), ids=", ".join(missing))


def _noun(key: str) -> str:
    """`TrackingCategories` → "tracking categories": the result key as words."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", key).lower()


def page_note(pagination: Any, noun: str) -> str:
    """Where this page sits and how to get the next one; empty when everything is on this page."""
    if not isinstance(pagination, dict):
        return ""
    page, count, items = (pagination.get(k) for k in ("page", "pageCount", "itemCount"))
    if not (isinstance(page, int) and isinstance(count, int) and isinstance(items, int)):
        return ""
    if page > max(count, 1):
        last = f"use page 1 to {count}" if count > 1 else "use page 1"
        return f"Page {page} is past the last page ({count} page{'s' * (count != 1)}, {items} {noun}): {last}."
    if count <= 1:
        return ""
    if page < count:
        return f"Page {page} of {count} ({items} {noun} in all): call again with page {page + 1} for the next."
    return f"Page {page} of {count}, the last ({items} {noun} in all)."
