"""tools/list size: what a client downloads on connect and many put into a model's context, ours vs Xero's official.

    python bench/tools_list_size.py [--json PATH] [--markdown]

Each server is started once (the raw JSON-RPC driver of cold_start.py) and its `tools/list` `result.tools`
array is measured as compact JSON (`separators=(",", ":")`, UTF-8) and as tokens of tiktoken's `cl100k_base`
(loaded offline, see harness.cl100k). The official server (`@xeroapi/xero-mcp-server`) is counted whole (51
tools) and for its 9 contact / contact-group / tracking tools, the ones that overlap ours. For our listing,
the bytes are also split by part (description, inputSchema, outputSchema, …) and the largest tools are
named: where to cut when over target. The budget is 8,000 cl100k tokens (issue 15: about 2,000 more than before
the schemas were made honest, spent on descriptions where they help most); tests/test_tools_budget.py asserts it.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from cold_start import OFFICIAL, OURS, child_env, measure
from harness import BenchError, check, cl100k, compact, count_tokens, finish, machine, versions

TARGET_TOKENS = 8_000
OFFICIAL_OVERLAP = ("list-contacts", "create-contact", "update-contact", "list-contact-groups",
                    "list-tracking-categories", "create-tracking-category", "update-tracking-category",
                    "create-tracking-options", "update-tracking-options")
PARTS = ("name", "title", "description", "inputSchema", "outputSchema", "annotations")


def _measure(tools: list[dict[str, Any]], encoding: Any | None) -> dict[str, Any]:
    data = compact(tools)
    tokens = count_tokens(encoding, data)
    return {"tools": len(tools), "bytes": len(data), "tokens": tokens,
            "bytes_per_tool": len(data) / len(tools), "tokens_per_tool": tokens / len(tools) if tokens else None}


def _parts(tools: list[dict[str, Any]]) -> dict[str, int]:
    """Bytes per top-level key of a tool, summed ("key":value, compact); the rest is punctuation."""
    totals = dict.fromkeys(PARTS, 0)
    for tool in tools:
        for key, value in tool.items():
            totals[key] = totals.get(key, 0) + len(compact({key: value})) - 2
    return totals


def _descriptions_in_schema(schema: Any) -> int:
    """Bytes of every "description" string inside a JSON Schema (property and nested descriptions)."""
    if isinstance(schema, dict):
        own = len(compact(schema["description"])) if isinstance(schema.get("description"), str) else 0
        return own + sum(_descriptions_in_schema(v) for k, v in schema.items() if k != "description")
    if isinstance(schema, list):
        return sum(_descriptions_in_schema(v) for v in schema)
    return 0


def run() -> dict[str, Any]:
    encoding, how = cl100k()
    with tempfile.TemporaryDirectory(prefix="tools-list-") as home:
        env = child_env(home)
        ours = measure(OURS, env, cwd=home).result["tools"]
        if not OFFICIAL.argv or not Path(OFFICIAL.argv[1]).exists():
            raise BenchError("the official server is not installed: run `npm ci --prefix bench`")
        official = measure(OFFICIAL, env, cwd=home).result["tools"]
    overlap = [t for t in official if t["name"] in OFFICIAL_OVERLAP]
    if len(overlap) != len(OFFICIAL_OVERLAP):
        raise BenchError(f"official overlap: expected {len(OFFICIAL_OVERLAP)} tools, found "
                         f"{sorted(t['name'] for t in overlap)}")
    figures: dict[str, Any] = {
        "machine": machine(), "versions": versions(), "tokenizer": how,
        "ours": _measure(ours, encoding),
        "official_all": _measure(official, encoding),
        "official_overlap": {**_measure(overlap, encoding), "names": list(OFFICIAL_OVERLAP)},
        "ours_parts_bytes": _parts(ours),
        "ours_schema_description_bytes": sum(_descriptions_in_schema(t.get("inputSchema")) for t in ours),
        "ours_output_schema_description_bytes": sum(_descriptions_in_schema(t.get("outputSchema")) for t in ours),
        "official_parts_bytes": _parts(official),
        "ours_largest": sorted(({"name": t["name"], "bytes": len(compact(t)),
                                 "inputSchema": len(compact(t.get("inputSchema"))),
                                 "outputSchema": len(compact(t.get("outputSchema"))) if t.get("outputSchema") else 0,
                                 "description": len(compact(t.get("description", "")))} for t in ours),
                               key=lambda r: -r["bytes"]),
    }
    size, tokens = figures["ours"]["bytes"], figures["ours"]["tokens"]
    figures["checks"] = [
        check(f"tools/list `result.tools` ≤ {TARGET_TOKENS:,} cl100k tokens", f"{_fmt(tokens)} tokens ({size:,} B)",
              None if tokens is None else tokens <= TARGET_TOKENS),
        check("tools/list tokens (cl100k_base), ours vs official (informational)",
              _tokens_line(figures), None),
    ]
    return figures


def _tokens_line(figures: dict[str, Any]) -> str:
    ours, whole, nine = figures["ours"], figures["official_all"], figures["official_overlap"]
    if ours["tokens"] is None:
        return f"tokens not counted (no tokenizer): {figures['tokenizer']}"
    return (f"ours {ours['tokens']:,} (22 tools), official {whole['tokens']:,} (51 tools), "
            f"official's 9 overlapping {nine['tokens']:,}")


def _fmt(value: float | None, spec: str = ",.0f") -> str:
    return "n/a" if value is None else format(value, spec)


def report(figures: dict[str, Any]) -> str:
    lines = ["tools/list result.tools (compact JSON, cl100k_base tokens)"]
    labels = (("ours", "ours"), ("official_all", "official, all"), ("official_overlap", "official, 9 overlap"))
    for key, label in labels:
        f = figures[key]
        lines.append(f"  {label:<20} {f['tools']:3d} tools  {f['bytes']:8,} B  {_fmt(f['tokens']):>7} tokens  "
                     f"{f['bytes_per_tool']:6,.0f} B/tool  {_fmt(f['tokens_per_tool'])} tokens/tool")
    lines.append(f"  tokenizer: {figures['tokenizer']}")
    parts = figures["ours_parts_bytes"]
    lines.append("  ours by part: " + ", ".join(f"{k} {v:,} B" for k, v in parts.items())
                 + f"; descriptions inside inputSchema {figures['ours_schema_description_bytes']:,} B, "
                   f"inside outputSchema {figures['ours_output_schema_description_bytes']:,} B")
    lines.append("  ours largest: " + ", ".join(f"{t['name']} {t['bytes']:,} B" for t in figures["ours_largest"][:5]))
    return "\n".join(lines)


def markdown(figures: dict[str, Any]) -> str:
    rows = []
    for key, label in (("ours", "ours (22 tools)"), ("official_all", "official, all 51 tools"),
                       ("official_overlap", "official, its 9 contact/group/tracking tools")):
        f = figures[key]
        rows.append(f"| {label} | {f['bytes']:,} | {_fmt(f['tokens'])} | {f['bytes_per_tool']:,.0f} | "
                    f"{_fmt(f['tokens_per_tool'])} |")
    ours, whole = figures["ours"], figures["official_all"]
    parts = figures["ours_parts_bytes"]
    largest = figures["ours_largest"][:5]
    return "\n".join([
        "| listing | bytes | tokens | bytes/tool | tokens/tool |",
        "|---|---:|---:|---:|---:|",
        *rows,
        f"| **ours/official (all)** | **{ours['bytes'] / whole['bytes']:.2f}** | "
        f"**{_ratio(ours['tokens'], whole['tokens'])}** | | |",
        "",
        f"Tokenizer: {figures['tokenizer']}.",
        "",
        "Where our bytes go: " + ", ".join(f"{k} {v:,} B" for k, v in parts.items())
        + f" (of which descriptions inside `inputSchema` {figures['ours_schema_description_bytes']:,} B, inside "
          f"`outputSchema` {figures['ours_output_schema_description_bytes']:,} B). Largest tools: "
        + ", ".join(f"`{t['name']}` {t['bytes']:,} B (input {t['inputSchema']:,}, output {t['outputSchema']:,})"
                    for t in largest) + ".",
    ])


def _ratio(a: int | None, b: int | None) -> str:
    return "n/a" if a is None or not b else f"{a / b:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON here")
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table")
    args = parser.parse_args()
    return finish("tools_list_size", lambda: run(), report, markdown, args)


if __name__ == "__main__":
    raise SystemExit(main())
