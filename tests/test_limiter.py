"""The per-tenant limiter: calls queue (in order) instead of failing, within Xero's limits."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
import respx

from conftest import API
from xero_contacts_mcp.runtime import open_runtime
from xero_contacts_mcp.state.limiter import LimitExceeded, Limits, LocalLimiter

OTHER = "0f9e8d7c-6b5a-4c3d-9e2f-1a0b9c8d7e6f"


async def test_at_most_n_in_flight_per_tenant(settings_factory: Any, httpx2_mock: respx.Router) -> None:
    in_flight = peak = 0

    async def slow(request: Any) -> respx.MockResponse:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await anyio.sleep(0.02)
        in_flight -= 1
        return respx.MockResponse(200, json={"Contacts": []})

    httpx2_mock.get(f"{API}/Contacts").mock(side_effect=slow)
    async with open_runtime(settings_factory(xero_mcp_tenant_concurrency=3)) as rt:
        results = []
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(lambda: _collect(rt, results))
    assert len(results) == 20 and not any(r.is_error for r in results)
    assert peak == 3


async def _collect(rt: Any, into: list[Any]) -> None:
    into.append(await rt.runner.run("xero_contacts_get_contacts", {}))


async def test_calls_past_the_window_wait_their_turn_and_all_succeed(settings_factory: Any,
                                                                     httpx2_mock: respx.Router) -> None:
    route = httpx2_mock.get(f"{API}/Contacts").respond(200, json={"Contacts": []})
    settings = settings_factory(xero_mcp_tenant_per_minute=5, xero_mcp_rate_window=1.0, xero_mcp_retry_deadline=10)
    async with open_runtime(settings) as rt:
        started = time.monotonic()
        results: list[Any] = []
        async with anyio.create_task_group() as tg:
            for _ in range(12):
                tg.start_soon(lambda: _collect(rt, results))
        elapsed = time.monotonic() - started
        waits = rt.client.limiter.waits
    assert route.call_count == 12 and not any(r.is_error for r in results)
    assert elapsed >= 2.0  # 12 calls at 5 per second-long window need two more windows
    assert waits > 0


async def test_tenants_do_not_share_a_window(settings_factory: Any, httpx2_mock: respx.Router) -> None:
    httpx2_mock.get(f"{API}/Contacts").respond(200, json={"Contacts": []})
    settings = settings_factory(xero_mcp_tenant_per_minute=3, xero_mcp_rate_window=30.0)
    async with open_runtime(settings) as rt:
        for tenant in (None, OTHER):
            for _ in range(3):
                args = {} if tenant is None else {"xero-tenant-id": tenant}
                assert not (await rt.runner.run("xero_contacts_get_contacts", args)).is_error
        assert rt.client.limiter.waits == 0


async def test_a_queue_longer_than_the_deadline_fails_before_sending(settings_factory: Any,
                                                                     httpx2_mock: respx.Router) -> None:
    route = httpx2_mock.get(f"{API}/Contacts").respond(200, json={"Contacts": []})
    settings = settings_factory(xero_mcp_tenant_per_minute=2, xero_mcp_rate_window=30.0, xero_mcp_retry_deadline=0.5)
    async with open_runtime(settings) as rt:
        for _ in range(2):
            await rt.runner.run("xero_contacts_get_contacts", {})
        result = await rt.runner.run("xero_contacts_get_contacts", {})
    assert result.is_error and "Nothing was sent" in result.text and "Retry in" in result.text
    assert route.call_count == 2


async def test_a_day_limit_stops_the_tenant_without_sending(runtime: Any, httpx2_mock: respx.Router) -> None:
    route = httpx2_mock.get(f"{API}/Contacts").respond(200, json={"Contacts": []},
                                                      headers={"X-DayLimit-Remaining": "0"})
    assert not (await runtime.runner.run("xero_contacts_get_contacts", {})).is_error
    result = await runtime.runner.run("xero_contacts_get_contacts", {})
    assert result.is_error and "daily limit" in result.text and "Do not retry now" in result.text
    assert route.call_count == 1


async def test_retry_after_from_one_call_pauses_every_caller() -> None:
    limiter = LocalLimiter(Limits(window=60.0))
    await limiter.observe("t", 429, {"retry-after": "0.3", "x-rate-limit-problem": "minute"})
    started = time.monotonic()
    async with limiter.slot("t", time.monotonic() + 5):
        pass
    assert time.monotonic() - started >= 0.3


async def test_fewer_remaining_at_xero_slows_us_down() -> None:
    limiter = LocalLimiter(Limits(per_window=10, window=30.0))
    async with limiter.slot("t", time.monotonic() + 1):
        pass
    await limiter.observe("t", 200, {"x-minlimit-remaining": "1"})  # Xero counted 8 calls we never saw
    async with limiter.slot("t", time.monotonic() + 1):
        pass
    with pytest.raises(LimitExceeded):
        async with limiter.slot("t", time.monotonic() + 0.2):
            pass


async def _holds_its_place_until_a_window_after_it_ends(limiter: Any, window: float) -> None:
    """Xero counts a call when it arrives, anywhere between our grant and its end. With 2 places: a slow
    call and a fast one start together; the fourth call must not start until a window after the slow one
    *ended* (a window after its grant, it could reach Xero while Xero still counts the slow one: a 429)."""
    deadline = time.monotonic() + 10
    ended: list[float] = []

    async def call(seconds: float) -> float:
        async with limiter.slot("t", deadline):
            started = time.monotonic()
            await anyio.sleep(seconds)
        ended.append(time.monotonic())
        return started

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, 0.4)
        tg.start_soon(call, 0.0)
    slow_end = max(ended)
    await call(0.0)  # the fast call's place frees first
    fourth = await call(0.0)
    assert fourth >= slow_end + window - 0.01, (fourth - slow_end)


async def test_a_call_holds_its_place_until_a_window_after_it_ends() -> None:
    await _holds_its_place_until_a_window_after_it_ends(LocalLimiter(Limits(per_window=2, window=0.6)), 0.6)
