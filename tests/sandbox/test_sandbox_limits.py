"""Rate limits with scaled-down numbers: 429s, X-Rate-Limit-Problem, Retry-After, remaining headers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from xero_contacts_mcp.sandbox import Sandbox, SandboxConfig

SCALED = SandboxConfig(
    enforce_limits=True, minute_limit=10, minute_window=6.0, day_limit=25, concurrent_limit=2, app_minute_limit=1000
)


def scaled(**changes: Any) -> SandboxConfig:
    from dataclasses import replace

    return replace(SCALED, **changes)


async def test_headers_count_down_even_when_not_enforced(api: Any) -> None:
    first = await api.get("/Contacts")
    second = await api.get("/ContactGroups")
    assert first.headers["X-MinLimit-Remaining"] == "59"
    assert second.headers["X-MinLimit-Remaining"] == "58"
    assert second.headers["X-DayLimit-Remaining"] == "4998"
    assert second.headers["X-AppMinLimit-Remaining"] == "9998"
    assert first.headers["Xero-Correlation-Id"] != second.headers["Xero-Correlation-Id"]
    not_found = await api.get("/Contacts/NOPE")
    assert not_found.headers["X-MinLimit-Remaining"] == "57", "errors from the API count too"


@pytest.mark.parametrize("config", [scaled()])
async def test_minute_limit_then_window_reset(api: Any, sandbox: Sandbox) -> None:
    for _ in range(10):
        assert (await api.get("/Contacts")).status_code == 200
    refused = await api.get("/Contacts")
    assert refused.status_code == 429
    assert refused.headers["X-Rate-Limit-Problem"] == "minute"
    assert 1 <= int(refused.headers["Retry-After"]) <= 6
    assert refused.headers["X-MinLimit-Remaining"] == "0"
    assert sandbox.stats.rate_limited["minute"] == 1
    sandbox.clock.advance(6)
    recovered = await api.get("/Contacts")
    assert recovered.status_code == 200
    assert recovered.headers["X-MinLimit-Remaining"] == "9"


@pytest.mark.parametrize("config", [scaled(minute_limit=100)])
async def test_day_limit(api: Any, sandbox: Sandbox) -> None:
    for _ in range(25):
        assert (await api.get("/ContactGroups")).status_code == 200
    refused = await api.get("/ContactGroups")
    assert refused.status_code == 429
    assert refused.headers["X-Rate-Limit-Problem"] == "day"
    assert int(refused.headers["Retry-After"]) > 80_000
    assert refused.headers["X-DayLimit-Remaining"] == "0"


@pytest.mark.parametrize("config", [scaled()])
async def test_limits_are_per_tenant(api: Any, sandbox: Sandbox) -> None:
    for _ in range(10):
        await api.get("/Contacts")
    assert (await api.get("/Contacts")).status_code == 429
    other = await api.get("/Contacts", headers=api.headers(xero_tenant_id=sandbox.tenants[1]))
    assert other.status_code == 200
    assert other.headers["X-MinLimit-Remaining"] == "9"


@pytest.mark.parametrize("config", [scaled(app_minute_limit=3, minute_limit=100)])
async def test_app_minute_limit_spans_tenants(api: Any, sandbox: Sandbox) -> None:
    await api.get("/Contacts")
    await api.get("/Contacts", headers=api.headers(xero_tenant_id=sandbox.tenants[1]))
    third = await api.get("/Contacts")
    assert third.headers["X-AppMinLimit-Remaining"] == "0"
    refused = await api.get("/Contacts", headers=api.headers(xero_tenant_id=sandbox.tenants[1]))
    assert refused.status_code == 429
    assert refused.headers["X-Rate-Limit-Problem"] == "appminute"


@pytest.mark.parametrize("config", [scaled(minute_limit=100)])
async def test_concurrent_limit_has_no_retry_after(api: Any, sandbox: Sandbox) -> None:
    sandbox.faults.set_latency(0.2)
    responses = await asyncio.gather(*(api.get("/Contacts") for _ in range(4)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200, 429, 429]
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.headers["X-Rate-Limit-Problem"] == "concurrent"
    assert "Retry-After" not in refused.headers
    sandbox.faults.set_latency(0)
    assert (await api.get("/Contacts")).status_code == 200, "slots are released"
    assert sandbox.limiter.in_flight[sandbox.tenant_id] == 0


@pytest.mark.parametrize("config", [scaled(minute_limit=100)])
async def test_rejected_calls_are_not_counted(api: Any) -> None:
    await api.get("/Contacts")
    unauthorised = await api.get("/Contacts", headers=api.headers(Authorization="Bearer nope"))
    assert unauthorised.status_code == 401 and "X-MinLimit-Remaining" not in unauthorised.headers
    after = await api.get("/Contacts")
    assert after.headers["X-MinLimit-Remaining"] == "98"


async def test_limits_can_be_enabled_at_runtime(api: Any, sandbox: Sandbox) -> None:
    sandbox.config.enforce_limits = True
    sandbox.config.minute_limit = 1
    assert (await api.get("/Contacts")).status_code == 200
    assert (await api.get("/Contacts")).status_code == 429
