"""Which tools a server serves: toolsets, tools and exclusions, with read-only beating every selector.

Rules (as in github-mcp-server): `toolsets` picks whole groups (default: all); `tools` adds single
tools (alone, it serves just those); `exclude` always removes; `read_only` keeps only tools whose
readOnlyHint is true, whatever else was asked. An unknown name is an error listing the valid ones.
"""

from __future__ import annotations

from collections.abc import Iterable

from .listing import Listing


class SelectionError(ValueError):
    """An unknown toolset or tool name (a start-up error, exit status 2)."""


def split_names(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    parts = value.split(",") if isinstance(value, str) else list(value)
    names = [p.strip() for p in parts if p.strip()]
    return names or None


def select(listing: Listing, *, toolsets: list[str] | None = None, tools: list[str] | None = None,
           exclude: list[str] | None = None, read_only: bool = False) -> list[str]:
    """Tool names in catalogue order."""
    known_sets = list(listing.toolsets)
    known_tools = [t.name for t in listing.tools]
    _check("toolset", toolsets, [*known_sets, "all"])
    _check("tool", tools, known_tools)
    _check("tool", exclude, known_tools)
    if toolsets is None and tools is not None:
        chosen_sets: set[str] = set()
    elif toolsets is None or "all" in toolsets:
        chosen_sets = set(known_sets)
    else:
        chosen_sets = set(toolsets)
    wanted = set(tools or [])
    excluded = set(exclude or [])
    return [
        t.name for t in listing.tools
        if (t.toolset in chosen_sets or t.name in wanted)
        and t.name not in excluded
        and (t.annotations["readOnlyHint"] or not read_only)
    ]


def _check(kind: str, names: list[str] | None, valid: list[str]) -> None:
    unknown = [n for n in names or [] if n not in valid]
    if unknown:
        raise SelectionError(f"unknown {kind} {', '.join(unknown)}; valid {kind}s: {', '.join(valid)}")
