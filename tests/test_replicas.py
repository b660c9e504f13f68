"""Several stateless HTTP replicas behind a (client-side, round-robin) load balancer, sharing one real
Redis, against the standalone sandbox as Xero: one login refreshed once per expiry for the whole fleet,
Xero's limits kept by the fleet as a whole, replicas that die holding the refresh lock or in-flight
slots, and Redis going away and coming back."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest

from fleet import Fleet, Result
from redis_server import RedisServer, redis_or_skip
from sandbox_process import SandboxProcess

READS = [("xero_contacts_get_contacts", {"summaryOnly": True}), ("xero_contacts_get_contact_groups", {})]
UNLIMITED = {"XERO_MCP_TENANT_PER_MINUTE": "1000000", "XERO_MCP_TENANT_CONCURRENCY": "1000",
             "XERO_MCP_APP_PER_MINUTE": "100000000"}


@pytest.fixture
def sb(served: SandboxProcess) -> SandboxProcess:
    return served.reset()


def _count(stats: dict[str, Any], key: str) -> int:
    value = stats.get(key, 0)
    return sum(value.values()) if isinstance(value, dict) else int(value)


def _failures(results: list[Result]) -> list[str]:
    return [r.text[:300] for r in results if r.is_error]


async def test_four_replicas_share_one_login_through_several_expiries(sb: SandboxProcess, redis_server: RedisServer,
                                                                     tmp_path: Path) -> None:
    """Strict rotation (a used refresh token is dead at once) and 3-second tokens: 400 calls spread
    round-robin over 15 s cross five expiries; the fleet refreshes once per expiry, never twice."""
    lifetime, calls, duration = 3.0, 400, 15.0
    sb.post("limits", {"access_token_lifetime": lifetime, "refresh_grace": 0.0})
    async with Fleet(sb, redis_server.url, tmp_path, **UNLIMITED) as fleet:
        await fleet.login()
        logged_in = time.monotonic()  # the first token's life starts here
        replicas = fleet.start(4)
        before = sb.stats()
        results: list[Result] = []
        started = time.monotonic()

        async def one(i: int) -> None:
            await asyncio.sleep(max(0.0, started + i * duration / calls - time.monotonic()))
            tool, args = READS[i % 2]
            results.append(await fleet.call(replicas[i % len(replicas)], tool, args))

        await asyncio.gather(*(one(i) for i in range(calls)))
        ended = time.monotonic()
        after = sb.stats()
        logs = fleet.logs()
    refreshes = after["refreshes"] - before["refreshes"]
    expiries = math.floor((ended - logged_in) / lifetime)  # times the fleet's token ran out during the run
    assert len(results) == calls and not _failures(results), (_failures(results)[:3], logs)
    assert after["invalid_grants"] == 0 and not after["token_errors"], (after["token_errors"], logs)
    assert expiries >= 5 and expiries - 1 <= refreshes <= expiries + 1, (refreshes, expiries, logs)
    assert sum(log.count("refreshed the Xero access token") for log in logs.split("--- replica")[1:]) == refreshes


def _sustained(times: list[float], limit: int) -> float:
    """Calls per second through a moving window of `limit`: the (limit·k + 1)-th call can start no earlier
    than k windows after the first, so a perfect fleet reaches exactly limit / window."""
    ordered = sorted(times)
    k = (len(ordered) - 1) // limit
    return limit * k / (ordered[limit * k] - ordered[0])


async def test_four_replicas_keep_one_tenants_limits_as_a_fleet(sb: SandboxProcess, redis_server: RedisServer,
                                                                tmp_path: Path) -> None:
    """Xero's limits scaled down (20 calls per 2-second "minute", 5 in flight) and enforced by the sandbox;
    40 callers hammer one organisation through 4 replicas: no 429 reaches a model, and the fleet gets
    ≥ 90 % of the allowed rate (each replica alone would let 4 × the limit through)."""
    limit, window, calls = 20, 2.0, 160
    sb.post("limits", {"enforce_limits": True, "minute_limit": limit, "minute_window": window,
                       "concurrent_limit": 5})
    env = {"XERO_MCP_TENANT_PER_MINUTE": str(limit), "XERO_MCP_RATE_WINDOW": str(window),
           "XERO_MCP_TENANT_CONCURRENCY": "5"}
    async with Fleet(sb, redis_server.url, tmp_path, **env) as fleet:
        await fleet.login()
        replicas = fleet.start(4)
        await asyncio.sleep(window + 0.2)  # the login's own calls leave the window
        before = sb.stats()
        queue = list(range(calls))
        results: list[Result] = []
        finished: list[float] = []

        async def caller(index: int) -> None:
            replica = replicas[index % len(replicas)]
            while queue:
                queue.pop()
                results.append(await fleet.call(replica, *READS[0]))
                finished.append(time.monotonic())

        await asyncio.gather(*(caller(i) for i in range(40)))
        after = sb.stats()
        logs = fleet.logs()
    sent_429 = _count(after, "rate_limited") - _count(before, "rate_limited")
    rate = _sustained(finished, limit)
    assert len(results) == calls and not _failures(results), (_failures(results)[:3], logs)
    assert rate >= 0.9 * limit / window, (rate, sent_429)
    assert sent_429 == 0, (sent_429, after["rate_limited"], rate)


async def _until(redis_url: str, ready: Callable[[Any], Awaitable[bool]], what: str) -> None:
    """Poll Redis until `ready(client)` (a replica has taken the lock, or its slots): at most 10 s."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 10
        while not await ready(client):
            assert time.monotonic() < deadline, f"never saw {what}"
            await asyncio.sleep(0.02)
    finally:
        await client.aclose()


async def _lost(call: asyncio.Task[Result]) -> None:
    """The killed replica's caller sees its connection drop (a load balancer would retry elsewhere)."""
    with contextlib.suppress(httpx2.TransportError):
        await call


async def test_a_replica_killed_holding_the_refresh_lock_holds_the_others_up_one_lease(
        sb: SandboxProcess, redis_server: RedisServer, tmp_path: Path) -> None:
    """A refreshes (Xero is slow to answer), is SIGKILLed holding the lock; B waits out the lease — not
    the 30 s lock wait — re-reads the login and refreshes: no invalid_grant, no failed call. (Xero keeps
    a used refresh token valid for 30 minutes, which is what makes a refresh whose answer died usable.)"""
    lease = 2.0
    sb.post("limits", {"access_token_lifetime": 4.0})
    async with Fleet(sb, redis_server.url, tmp_path, XERO_MCP_REDIS_LEASE=str(lease), **UNLIMITED) as fleet:
        await fleet.login()
        logged_in = time.monotonic()
        a, b = fleet.start(2)
        for replica in (a, b):
            assert not (await fleet.call(replica, *READS[1])).is_error
        await asyncio.sleep(max(0.0, logged_in + 4.0 - time.monotonic()))  # both now hold an expired token
        sb.post("faults", {"kind": "latency", "seconds": 3.0, "target": "token"})
        refreshing = asyncio.create_task(fleet.call(a, *READS[1]))
        lock = f"{fleet.prefix}login:lock"
        await _until(fleet.redis_url, lambda redis: redis.exists(lock), "A holding the refresh lock")
        a.kill()
        killed = time.monotonic()
        await _lost(refreshing)
        sb.post("faults", {"kind": "latency", "seconds": 0.0, "target": "token"})
        result = await fleet.call(b, *READS[0])
        waited = time.monotonic() - killed
        stats, logs = sb.stats(), fleet.logs()
    assert not result.is_error, (result.text, logs)
    assert lease / 3 <= waited <= lease + 2.0, (waited, logs)  # the lease ran out (renewed every third of it)
    assert stats["invalid_grants"] == 0, logs


async def test_a_replica_killed_mid_call_frees_its_slots_after_the_lease(sb: SandboxProcess, redis_server: RedisServer,
                                                                        tmp_path: Path) -> None:
    """A holds all 5 in-flight slots of a tenant (Xero is slow) and is SIGKILLed: its slots stay taken
    until their lease lapses, then B's call goes through; Xero never sees more than 5 at once."""
    lease = 2.0
    sb.post("limits", {"enforce_limits": True, "concurrent_limit": 5})
    env = {**UNLIMITED, "XERO_MCP_TENANT_CONCURRENCY": "5", "XERO_MCP_REDIS_LEASE": str(lease)}
    async with Fleet(sb, redis_server.url, tmp_path, **env) as fleet:
        await fleet.login()
        a, b = fleet.start(2)
        for replica in (a, b):
            assert not (await fleet.call(replica, *READS[1])).is_error
        sb.post("faults", {"kind": "latency", "seconds": 1.0})
        calls = [asyncio.create_task(fleet.call(a, *READS[0])) for _ in range(5)]
        tenant = sb.info["tenant_id"]
        slots = f"{fleet.prefix}limiter:tenant:{tenant}:slots"

        async def five_taken(redis: Any) -> bool:
            return bool(await redis.zcard(slots) >= 5)

        await _until(fleet.redis_url, five_taken, "A holding 5 in-flight slots")
        a.kill()
        killed = time.monotonic()
        for call in calls:
            await _lost(call)
        sb.post("faults", {"kind": "latency", "seconds": 0.0})
        result = await fleet.call(b, *READS[1])
        waited = time.monotonic() - killed
        stats, logs = sb.stats(), fleet.logs()
    assert not result.is_error, (result.text, logs)
    assert lease / 3 <= waited <= lease + 2.0, (waited, logs)
    assert _count(stats, "rate_limited") == 0, stats["rate_limited"]


async def test_redis_down_fails_fast_and_the_fleet_recovers_when_it_returns(sb: SandboxProcess,
                                                                           tmp_path: Path) -> None:
    """Redis stopped: every call, read or write, fails within seconds with the shared-state error and
    nothing reaches Xero; Redis hung (SIGSTOP): the same, within the bounded timeout; Redis back (its
    append-only file keeps the login): the same replicas serve again, with no restart."""
    with redis_or_skip(password="fleet-redis-password-91c2", persistent=True) as server:
        async with Fleet(sb, server.url, tmp_path, **UNLIMITED) as fleet:
            await fleet.login()
            replicas = fleet.start(2)
            for replica in replicas:
                assert not (await fleet.call(replica, *READS[0])).is_error
            before = sb.stats()
            server.stop()
            down = [await fleet.call(r, *READS[i % 2]) for i, r in enumerate(replicas)]
            down.append(await fleet.call(replicas[0], "xero_contacts_create_contacts",
                                         {"Contacts": [{"Name": "Written While Redis Was Down"}]}))
            server.start()
            server.pause()
            hung = await fleet.call(replicas[1], *READS[0])
            server.resume()
            after = sb.stats()
            back = [await fleet.call(r, *READS[i % 2]) for i, r in enumerate(replicas * 3)]
            logs = fleet.logs()
    for result in [*down, hung]:
        assert result.is_error and result.text.startswith("Shared state is unavailable"), (result.text, logs)
        assert "fleet-redis-password" not in result.text
    assert max(r.elapsed for r in down) < 2.0, [r.elapsed for r in down]
    assert hung.elapsed < 6.0, hung.elapsed  # two attempts of a 2-second timeout, plus a little
    assert _count(after, "api_requests") == _count(before, "api_requests"), "nothing was sent to Xero"
    assert not _failures(back), (_failures(back), logs)
