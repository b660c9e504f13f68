"""The tool reference (docs/tools.md) is generated from tools.yaml and must not drift from it."""

from __future__ import annotations

import os
from pathlib import Path

from xero_contacts_mcp.tools.catalogue import load_catalogue
from xero_contacts_mcp.tools.docs import END, START, reference, replace_section

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "tools.md"


def test_tool_reference_is_current() -> None:
    text = REFERENCE.read_text()
    assert START in text and END in text, "docs/tools.md lacks the generated tools section markers"
    expected = replace_section(text, reference(load_catalogue()))
    if os.environ.get("UPDATE_DOCS") == "1":
        REFERENCE.write_text(expected)
        text = expected
    assert text == expected, "docs/tools.md tool reference is stale: run UPDATE_DOCS=1 pytest tests/test_docs.py"
