"""Shared fixtures: the repository paths and Xero's OpenAPI spec for contract checks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["redis_server"]  # the real-Redis fixtures `redis_server` and `own_redis_server`

REPO = Path(__file__).resolve().parent.parent
#: Xero's own OpenAPI spec (MIT, see its LICENSE), trimmed to our 22 operations: in the repository, so a fresh
#: clone runs every contract test
DEFAULT_SPEC = REPO / "tests" / "data" / "xero-openapi" / "xero_contacts_subset.yaml"


def spec_path() -> Path:
    """Where Xero's trimmed OpenAPI spec lives (`XERO_OPENAPI_SPEC` overrides the checkout default)."""
    return Path(os.environ.get("XERO_OPENAPI_SPEC", str(DEFAULT_SPEC)))


@pytest.fixture(scope="session")
def openapi_spec() -> Any:
    """An `openapi_core.OpenAPI` for Xero's spec; a missing file fails (a skipped contract test proves nothing)."""
    path = spec_path()
    if not path.is_file():
        pytest.fail(f"Xero OpenAPI spec not found at {path} (it ships in tests/data/xero-openapi/; "
                    "XERO_OPENAPI_SPEC overrides the path)")
    from openapi_core import Config, OpenAPI

    # Xero's spec writes some boolean defaults as strings ('false'), which the strict spec
    # validator rejects; the schemas themselves are sound, so only that check is skipped.
    return OpenAPI.from_file_path(str(path), config=Config(spec_validator_cls=None))


TENANT = "8d1bb3a3-3c1a-4b44-9c1e-0e6f0a7e2c11"
TOKEN = "test-access-token-5f1c9e"  # recognisable, so tests can assert it never leaks
API = "https://api.xero.com/api.xro/2.0"


@pytest.fixture(scope="module")
def served() -> Iterator[Any]:
    """The standalone sandbox (`xero-contacts-mcp sandbox`) as a process, one per test module; tests reset it."""
    from sandbox_process import sandbox_process

    with sandbox_process() as process:
        yield process


@pytest.fixture
def settings_factory() -> Any:
    """Settings built from explicit values only (no environment, no .env)."""
    from xero_contacts_mcp.settings import Settings

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"xero_access_token": TOKEN, "xero_tenant_id": TENANT,
                                  # retries stay on, but back off in milliseconds and give up fast
                                  "xero_mcp_retry_max_wait": 0.01, "xero_mcp_retry_deadline": 2.0}
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture(autouse=True)
def _no_xero_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests see only the configuration they set, never the developer's XERO_* variables or caches."""
    for name in list(os.environ):
        if name.startswith("XERO_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
async def runtime(settings_factory: Any) -> Any:
    """A runtime against https://api.xero.com with a static token and default tenant (mock it with respx)."""
    from xero_contacts_mcp.runtime import open_runtime

    async with open_runtime(settings_factory()) as rt:
        yield rt
