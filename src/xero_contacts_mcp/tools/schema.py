"""Catalogue nodes → the flat JSON Schemas advertised in tools/list.

Flat on purpose: several MCP clients drop `$defs` or reject top-level anyOf/oneOf/allOf, so every
shared schema is inlined where it is used and the root is always a plain object.
"""

from __future__ import annotations

from typing import Any

from .catalogue import Catalogue, Node, Param, ToolSpec

# Limits this generous are never approached by a model; they are enforced on input (the error names
# the limit) but not advertised, which keeps tools/list about 600 bytes smaller.
ADVERTISED_MAX_LENGTH_BELOW = 255

_COPIED = ("type", "enum", "format", "minLength", "maxLength", "pattern", "minimum", "maximum",
           "minItems", "maxItems", "minProperties")


#: what a parameter has beyond a schema node (where Xero reads it, refusals, …): never part of its schema
_PARAM_ONLY = frozenset(Param.model_fields) - frozenset(Node.model_fields)


def resolve(node: Node, schemas: dict[str, Node]) -> Node:
    """Inline `ref`: the shared schema, with this use's own keys (description, required) on top."""
    if node.ref is None:
        return node
    base = resolve(schemas[node.ref], schemas)
    own = node.model_dump(exclude_unset=True, exclude={"ref", "required", "publish", *_PARAM_ONLY})
    required = [*(base.required or []), *(node.required or [])] if isinstance(node.required, list) else None
    update: dict[str, Any] = {**own, "ref": None, "publish": node.publish}
    if required:
        update["required"] = required
    return base.model_copy(update=update)


def json_schema(node: Node, schemas: dict[str, Node]) -> dict[str, Any]:
    """The advertised schema of one node, refs inlined, `advertise` overrides applied."""
    node = resolve(node, schemas)
    out: dict[str, Any] = {}
    if node.advertise is not None:
        out.update(node.advertise)
    else:
        for key in _COPIED:
            value = getattr(node, key)
            if value is not None and not (key == "maxLength" and value >= ADVERTISED_MAX_LENGTH_BELOW):
                out[key] = value
    if node.description:
        out["description"] = node.description
    if node.advertise is not None:
        return out
    if node.items is not None:
        out["items"] = json_schema(node.items, schemas)
    if node.properties is not None:
        published = node.publish or {}
        out["properties"] = {
            k: json_schema(v if published.get(k) is None else v.model_copy(update=published[k]), schemas)
            for k, v in node.properties.items() if k not in published or published[k] is not None}
        for name, note in (node.read_only or {}).items():
            if name not in published or published[name] is not None:
                out["properties"][name] = {"readOnly": True, **({"description": note} if note else {})}
        if node.required:
            out["required"] = list(node.required)
    return out


def input_schema(tool: ToolSpec, catalogue: Catalogue) -> dict[str, Any]:
    """Root `type: object`, unknown arguments refused (`additionalProperties: false`)."""
    properties = {p.name: json_schema(p, catalogue.schemas) for p in tool.params}
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    required = [p.name for p in tool.params if p.required]
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def output_schema(tool: ToolSpec, catalogue: Catalogue) -> dict[str, Any] | None:
    """Declared only where it tells a client something (e.g. paging); clients validate it strictly."""
    return None if tool.output is None else json_schema(tool.output, catalogue.schemas)
