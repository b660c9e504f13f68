"""Retries that tell the truth: a request that can never succeed is sent once, and the log counts attempts right."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import respx

from conftest import API
from xero_contacts_mcp.runtime import open_runtime


async def test_an_unsupported_scheme_is_not_retried(settings_factory: Any) -> None:
    settings = settings_factory(xero_api_url="ftp://api.example.invalid/api.xro/2.0", xero_mcp_retry_attempts=5)
    async with open_runtime(settings) as runtime:
        result = await runtime.runner.run("xero_contacts_get_contacts", {})
        assert result.is_error and "is not an http(s) URL" in result.text and "XERO_API_URL" in result.text
        assert runtime.client.retries == 0 and "Tried" not in result.text


async def test_the_attempt_counter_never_passes_the_limit(settings_factory: Any, httpx2_mock: respx.Router,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    route = httpx2_mock.get(f"{API}/Contacts").mock(return_value=respx.MockResponse(503, text="Offline"))
    caplog.set_level(logging.INFO, logger="xero_contacts_mcp.xero.client")
    async with open_runtime(settings_factory(xero_mcp_retry_attempts=3)) as runtime:
        result = await runtime.runner.run("xero_contacts_get_contacts", {})
        assert result.is_error and "Tried 3 times" in result.text
        assert route.call_count == 3 and runtime.client.retries == 2
    counted = [r.getMessage().rsplit("(", 1)[1] for r in caplog.records if "retrying" in r.getMessage()]
    assert counted == ["attempt 2 of 3)", "attempt 3 of 3)"]
