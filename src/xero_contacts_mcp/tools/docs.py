"""The tool reference in docs/tools.md, generated from the catalogue (a test keeps it in sync)."""

from __future__ import annotations

from .catalogue import Catalogue, Node, Param
from .schema import resolve

START = "<!-- tools:start (generated from tools.yaml; run `UPDATE_DOCS=1 pytest tests/test_docs.py`) -->"
END = "<!-- tools:end -->"


def _type(node: Node, catalogue: Catalogue) -> str:
    node = resolve(node, catalogue.schemas)
    if node.type == "array" and node.items is not None:
        item = resolve(node.items, catalogue.schemas)
        inner = node.items.ref or _type(item, catalogue)
        return f"{inner}[]"
    enum = (node.advertise or {}).get("enum", node.enum)  # what tools/list shows (values refused are left out)
    if enum is not None and len(enum) <= 6:
        return " \\| ".join(f"`{v}`" for v in enum)
    if node.format is not None:
        return f"{node.type} ({node.format})"
    return node.type or "object"


def _notes(param: Param) -> str:
    notes = []
    if param.ignored and param.refuse:
        notes.append(f"refused unless empty: {param.refuse}")
    elif param.ignored:
        notes.append("accepted, not sent")
    if param.maxLength is not None:
        notes.append(f"max {param.maxLength}")
    if param.description:
        notes.append(param.description.replace("|", "\\|"))
    return "; ".join(notes)


def reference(catalogue: Catalogue) -> str:
    lines = [START, "", "| tool | toolset | kind | Xero call |", "|---|---|---|---|"]
    for tool in catalogue.tools:
        hints = tool.annotations
        kind = "read" if hints.readOnlyHint else ("write, destructive" if hints.destructiveHint else "write")
        lines.append(f"| [`{tool.name}`](#{tool.name}) | {tool.toolset} | {kind} | `{tool.method} {tool.path}` |")
    for tool in catalogue.tools:
        lines += ["", f"#### `{tool.name}`", "", f"**{tool.title}.** {tool.description}", "",
                  f"`{tool.method} {tool.path}` · scopes: {', '.join(tool.scopes)}", "",
                  "| parameter | in | type | required | notes |", "|---|---|---|---|---|"]
        for param in tool.params:
            required = "yes" if param.required else ""
            lines.append(f"| `{param.name}` | {param.in_} | {_type(param, catalogue)} | {required} | {_notes(param)} |")
    lines += ["", END]
    return "\n".join(lines)


def replace_section(readme: str, section: str) -> str:
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    return head + section + tail
