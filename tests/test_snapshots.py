"""A reviewed snapshot per tool: any change to what clients are shown fails until it is regenerated.

Regenerate deliberately with `UPDATE_SNAPSHOTS=1 pytest tests/test_snapshots.py` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from xero_contacts_mcp.server.app import to_tool
from xero_contacts_mcp.tools.catalogue import load_catalogue
from xero_contacts_mcp.tools.runner import ToolRunner

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"


def _published() -> dict[str, dict[str, Any]]:
    runner = ToolRunner(load_catalogue(), sender=None)  # type: ignore[arg-type]
    tools = [to_tool(d).model_dump(mode="json", by_alias=True, exclude_none=True) for d in runner.definitions()]
    return {t["name"]: t for t in tools}


PUBLISHED = _published()


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_tool_matches_its_snapshot(name: str) -> None:
    path = SNAPSHOTS / f"{name}.json"
    text = json.dumps(PUBLISHED[name], indent=2, ensure_ascii=False) + "\n"
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no snapshot for {name}: run UPDATE_SNAPSHOTS=1 pytest {__file__} and review it"
    assert path.read_text() == text, f"{name} changed: review, then UPDATE_SNAPSHOTS=1 to accept"


def test_no_snapshot_of_a_tool_that_is_gone() -> None:
    stale = sorted(p.stem for p in SNAPSHOTS.glob("*.json") if p.stem not in PUBLISHED)
    if UPDATE:
        for name in stale:
            (SNAPSHOTS / f"{name}.json").unlink()
        stale = []
    assert not stale, f"snapshots without a tool: {stale}"
