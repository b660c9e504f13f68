"""Nothing is accepted and then dropped: the catalogue's declarative rules, applied to validated arguments.

- `refuse`: a value Xero would take and ignore is refused before sending, with the tool that does it.
- `same_as_path`: a body ID that differs from the path's ID is refused (the call would change the path's
  record, not the one the body names).
- `follow_ups`: a parameter Xero ignores on this call is carried out by another tool once this call
  succeeds (e.g. `Options` on a new tracking category), each outcome reported.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .catalogue import FollowUp, Node, ToolSpec
from .schema import resolve

#: stands in for a value only Xero's answer will give, when follow-up arguments are checked before sending
PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000"
_KEYS = uuid.UUID("5f3c1a8e-7a2b-4c1d-9e0f-2b6c8d4e1a37")  # namespace of follow-ups' derived Idempotency-Keys


def is_empty(value: Any) -> bool:
    """None, "", [] and {} (also nested): what a model sends for "nothing", which may pass unsent."""
    if value is None or value == "":
        return True
    if isinstance(value, list):
        return all(is_empty(v) for v in value)
    if isinstance(value, dict):
        return all(is_empty(v) for v in value.values())
    return False


def values_at(args: dict[str, Any], path: str) -> Iterator[tuple[str, Any]]:
    """(location, value) for `Param` or `Param.Field.Sub` (arrays crossed element by element)."""
    first, *rest = path.split(".")
    if first in args:
        yield from _walk(args[first], rest, first)


def _walk(value: Any, steps: list[str], loc: str) -> Iterator[tuple[str, Any]]:
    if not steps:
        yield loc, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, steps, f"{loc}[{index}]")
    elif isinstance(value, dict) and steps[0] in value:
        yield from _walk(value[steps[0]], steps[1:], f"{loc}.{steps[0]}")


def problems(tool: ToolSpec, args: dict[str, Any], given: dict[str, Any] | None = None,
             schemas: dict[str, Node] | None = None) -> list[tuple[str, str]]:
    """Each refused value and each body ID that differs from the path, as (location, sentence).

    `refuse` rules look at the arguments as `given` (valid, but before response-only fields such as a
    contact's ContactGroups are dropped), so a rule can refuse an echo field where echoing makes no sense.
    """
    found: list[tuple[str, str]] = [(param.name, " ".join(param.refuse.split())) for param in tool.params
                                    if param.refuse and not is_empty(args.get(param.name))]
    for rule in tool.refuse or []:
        for loc, value in values_at(args if given is None else given, rule.at):
            if rule.values is None:
                hit = not is_empty(value)
            else:
                hit = isinstance(value, str) and value.upper() in rule.values
            if hit:
                found.append((loc, " ".join(rule.say.split())))
    for field, path_param in (tool.same_as_path or {}).items():
        found.extend(_nothing_to_change(tool, args, field, given or {}, schemas or {}))
        expected = str(args.get(path_param, ""))
        for loc, value in values_at(args, field):
            if isinstance(value, str) and value.lower() != expected.lower():
                found.append((loc, f"is {value}, but the {path_param} argument is {expected}: this call would change "
                                   f"{expected} only. Leave it out, or call with {path_param} {value}."))
    return found


def _nothing_to_change(tool: ToolSpec, args: dict[str, Any], field: str, given: dict[str, Any],
                       schemas: dict[str, Node]) -> list[tuple[str, str]]:
    """An update item with nothing but its ID (read-only fields are dropped before this) would be an empty
    write that changes nothing: refused, as the tracking updates refuse an empty update, naming the read-only
    fields it did carry and why Xero sets them (a model that sent only IsSupplier learns it cannot)."""
    param, _, id_field = field.partition(".")
    value, sent = args.get(param), given.get(param)
    items = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
    sent_items = sent if isinstance(sent, list) else [sent]
    node = resolve(tool.by_name[param], schemas) if param in tool.by_name and schemas else None
    if node is not None and node.items is not None:
        node = resolve(node.items, schemas)
    ignore, said = (node.ignore or [], node.read_only or {}) if node is not None else ([], {})
    found = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not all(is_empty(v) for k, v in item.items() if k != id_field):
            continue
        original = sent_items[index] if index < len(sent_items) else None
        original = original if isinstance(original, dict) else {}
        dropped = [k for k in ignore if not is_empty(original.get(k))]
        why = "; ".join(_read_only(k, said.get(k)) for k in dropped)
        found.append((f"{param}[{index}]" if isinstance(value, list) else param,
                      f"has nothing to change: {why}; {'it' if len(dropped) == 1 else 'they'} cannot be set "
                      "here: give at least one other field"
                      if dropped else "has nothing to change: give at least one field to set"))
    return found


@dataclass(frozen=True)
class Planned:
    """One follow-up call: which rule, for which part of the arguments (`Options[1]`), with what value."""

    rule: FollowUp
    loc: str
    value: Any


def plan(tool: ToolSpec, args: dict[str, Any]) -> list[Planned]:
    planned: list[Planned] = []
    for rule in tool.follow_ups or []:
        value = args.get(rule.param)
        if is_empty(value) or (rule.when is not None and value not in rule.when):
            continue
        if rule.each and isinstance(value, list):
            planned.extend(Planned(rule, f"{rule.param}[{i}]", item) for i, item in enumerate(value))
        else:
            planned.append(Planned(rule, rule.param, value))
    return planned


def carried(planned: list[Planned]) -> set[str]:
    """Parameters the follow-ups carry out, so they are not sent with the call itself (Xero would ignore them)."""
    return {p.rule.param for p in planned}


def arguments(step: Planned, args: dict[str, Any], result: Any) -> dict[str, Any]:
    """The follow-up's arguments; `result` None stands in PLACEHOLDER_ID for what Xero's answer gives."""
    out: dict[str, Any] = {}
    for name, source in step.rule.args.items():
        head, _, rest = source.partition(".")
        if source == "value":
            value = step.value
        elif head == "item":
            value = step.value.get(rest) if isinstance(step.value, dict) else None
        elif head == "args":
            value = args.get(rest)
        else:
            value = PLACEHOLDER_ID if result is None else dig(result, rest.split("."))
        if value is not None:
            out[name] = value
    return out


def origin(step: Planned, name: str) -> str:
    """Where a follow-up argument came from in this call, for error messages (`Options[1].Name`)."""
    source = step.rule.args.get(name, "")
    head, _, rest = source.partition(".")
    if source == "value":
        return step.loc
    if head == "item":
        return f"{step.loc}.{rest}"
    if head == "args":
        return rest
    return f"{step.loc} ({name})"


def derived_key(key: str | None, index: int) -> str | None:
    """The follow-up's Idempotency-Key, derived from the call's: repeating the call with its key repeats
    every follow-up with the same keys too, so none is applied twice."""
    return str(uuid.uuid5(_KEYS, f"{key}/{index}")) if key else None


def dig(value: Any, steps: list[str]) -> Any:
    """The value at a path of keys and list indexes (`["TrackingCategories", "0", "Options"]`), or None."""
    for step in steps:
        if isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        elif isinstance(value, dict):
            value = value.get(step)
        else:
            return None
    return value


#: Xero's per-record answer status: echoed back by a model that copies a record, never worth a note.
_STATUS_ECHO = frozenset({"ValidationErrors", "HasValidationErrors", "StatusAttributeString", "Warnings"})


def ignored(tool: ToolSpec, schemas: dict[str, Node], given: dict[str, Any], answer: Any = None) -> list[str]:
    """A sentence for each response-only field the call sent with a value Xero's `answer` does not hold
    (dropped, so not changed): accepted so a fetched record can be echoed back, but a model that meant to
    set one must not think it did. An unchanged echo is not worth a note."""
    found: list[str] = []

    def walk(node: Node, value: Any, seen: Any, loc: str) -> None:
        node = resolve(node, schemas)
        if node.type == "array" and node.items is not None and isinstance(value, list):
            for index, item in enumerate(value):
                walk(node.items, item, seen[index] if isinstance(seen, list) and index < len(seen) else None,
                     f"{loc}[{index}]")
        elif isinstance(value, dict) and node.properties is not None:
            said = node.read_only or {}
            seen = seen if isinstance(seen, dict) else {}
            for key in node.ignore or []:
                if key in value and not is_empty(value[key]) and key not in _STATUS_ECHO and \
                        not (key in said and said[key] is None) and not _holds(seen.get(key), value[key]):
                    found.append(f"{loc}.{_read_only(key, said.get(key))}: it was ignored, not changed.")
            for key, child in node.properties.items():
                if key in value:
                    walk(child, value[key], seen.get(key), f"{loc}.{key}")

    for param in tool.params:
        if param.in_ == "body" and param.name in given:
            walk(param, given[param.name], answer.get(param.name) if isinstance(answer, dict) else None, param.name)
    return found


def _holds(seen: Any, sent: Any) -> bool:
    """Whether Xero's answer already holds what was sent (its extra keys aside): an echo, not a change."""
    if isinstance(sent, dict):
        return isinstance(seen, dict) and all(_holds(seen.get(k), v) for k, v in sent.items() if not is_empty(v))
    if isinstance(sent, list):
        return isinstance(seen, list) and len(seen) == len(sent) and all(map(_holds, seen, sent))
    return bool(seen == sent and type(seen) is type(sent))


def replaced(tool: ToolSpec, schemas: dict[str, Node], args: dict[str, Any]) -> str | None:
    """What an update replaced rather than merged, in one sentence: Xero replaces a list inside a record whole,
    or one entry per type where its items carry a `…Type` (an address per AddressType); said so nothing is
    lost unseen."""
    if tool.method != "POST":
        return None
    found: list[str] = []

    def walk(node: Node, value: Any, loc: str, depth: int) -> None:
        node = resolve(node, schemas)
        if node.type == "array" and node.items is not None and isinstance(value, list):
            item = resolve(node.items, schemas)
            if depth > 0 and item.type == "object":
                found.append(_replaced(item, value, loc))
                return
            for index, element in enumerate(value):
                walk(node.items, element, f"{loc}[{index}]", depth + 1)
        elif isinstance(value, dict) and node.properties is not None:
            for key, child in node.properties.items():
                if key in value:
                    walk(child, value[key], f"{loc}.{key}", depth + 1)

    for param in tool.params:
        if param.in_ == "body" and param.name in args:
            walk(param, args[param.name], param.name, 0)
    if not found:
        return None
    return "replaced, not merged (what was there and not sent is gone): " + "; ".join(found) + "."


def _replaced(item: Node, sent: list[Any], loc: str) -> str:
    kind = next((k for k, v in (item.properties or {}).items() if k.endswith("Type") and v.enum), None)
    if kind is None:
        return f"{loc} (the whole list: now the {len(sent)} sent)"
    types = [str(e.get(kind)) for e in sent if isinstance(e, dict) and e.get(kind)]
    return f"{loc} {', '.join(types)} (each whole; other {kind}s kept)"


def _read_only(key: str, why: str | None) -> str:
    """`IsSupplier is read-only (Xero sets it once a bill exists)`: the schema's own reason, when it gives one."""
    return f"{key} is read-only" + (f" ({why.rstrip('.')})" if why else "")
