"""Shared fixtures: the repository paths and Xero's OpenAPI spec for contract checks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = REPO.parent / "shared" / "reference" / "xero-openapi" / "xero_contacts_subset.yaml"


def spec_path() -> Path:
    """Where Xero's trimmed OpenAPI spec lives (`XERO_OPENAPI_SPEC` overrides the checkout default)."""
    return Path(os.environ.get("XERO_OPENAPI_SPEC", str(DEFAULT_SPEC)))


@pytest.fixture(scope="session")
def openapi_spec() -> Any:
    """An `openapi_core.OpenAPI` for Xero's spec, or a skip that says why it is missing."""
    path = spec_path()
    if not path.is_file():
        pytest.skip(f"Xero OpenAPI spec not found at {path} (set XERO_OPENAPI_SPEC to its path)")
    from openapi_core import Config, OpenAPI

    # Xero's spec writes some boolean defaults as strings ('false'), which the strict spec
    # validator rejects; the schemas themselves are sound, so only that check is skipped.
    return OpenAPI.from_file_path(str(path), config=Config(spec_validator_cls=None))
