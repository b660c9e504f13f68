"""The Redis implementations of the shared state, against a real redis-server (never a fake).

Several replicas are played by several RedisState clients (and, where a holder must die, a killed
subprocess): one login with compare-and-set saves, locks that exclude across clients and lapse after
their holder dies, a cache with single flight, and one rate limit shared by every limiter.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from xero_contacts_mcp.state.cache import SharedStateUnavailable
from xero_contacts_mcp.state.limiter import LimitExceeded, Limits
from xero_contacts_mcp.state.redis_limiter import RedisLimiter
from xero_contacts_mcp.state.redis_state import (
    _SAVE,
    RedisCache,
    RedisState,
    RedisTokenStore,
    SharedLockTimeout,
    parse_redis_url,
)
from xero_contacts_mcp.state.tokens import Login, StaleWriteError, TokenStoreError

if TYPE_CHECKING:
    from redis_server import RedisServer


PASSWORD = "test-redis-password-7f3a"  # the session server's (see redis_server.py)
TENANT = "8d1bb3a3-3c1a-4b44-9c1e-0e6f0a7e2c11"


@pytest.fixture
def prefix() -> str:
    """A fresh key prefix per test: tests share one server but never each other's keys."""
    return f"test-{uuid.uuid4().hex[:8]}:"


@pytest.fixture
async def states(redis_server: RedisServer, prefix: str) -> AsyncIterator[tuple[RedisState, RedisState]]:
    """Two independent clients on the same Redis and prefix: two replicas."""
    async with RedisState(redis_server.url, prefix) as one, RedisState(redis_server.url, prefix) as two:
        yield one, two


def _login(refresh: str, version: int = 0) -> Login:
    return Login(token={"access_token": "a", "refresh_token": refresh, "expires_at": time.time() + 60},
                 client_id="c", tenant_id=TENANT, version=version)


# ── URLs and secrets ─────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("url", ["http://:hunter2pass@localhost:6379", "localhost:6379", "redis://:hunter2pass@/0",
                                 "redis://:hunter2pass@host:notaport/0", "redis://:hunter2pass@host:99999",
                                 "redis://:hunter2pass@host:6379/zero", "redis://:hunter2pass@host?db=x",
                                 "unix:///tmp/redis.sock"])
def test_a_malformed_url_is_one_sentence_without_the_password(url: str) -> None:
    with pytest.raises(ValueError, match=r"^The Redis URL") as caught:
        parse_redis_url(url)
    message = str(caught.value)
    assert "hunter2pass" not in message and message.count(". ") == 0 and message.endswith(".")


def test_a_good_url_is_parsed_and_shown_without_credentials() -> None:
    url = parse_redis_url("rediss://user:p%40ss@redis.internal:6380/3")
    assert (url.scheme, url.host, url.port, url.db, url.password) == ("rediss", "redis.internal", 6380, 3, "p@ss")
    assert url.safe == "rediss://redis.internal:6380/3" and "p@ss" not in repr(url)
    assert parse_redis_url("redis://[::1]").safe == "redis://[::1]:6379/0"
    assert parse_redis_url("redis://h/1?db=2").db == 2


async def test_describe_and_errors_never_show_the_password(redis_server: RedisServer, prefix: str) -> None:
    async with RedisState(redis_server.url, prefix) as state:
        store = RedisTokenStore(state)
        for text in (state.describe(), store.describe()):
            assert PASSWORD not in text and f"127.0.0.1:{redis_server.port}" in text
    wrong = redis_server.url.replace(PASSWORD, "not-the-password-91c2")
    async with RedisState(wrong, prefix) as state:
        with pytest.raises(SharedStateUnavailable, match="rejected the credentials") as caught:
            await RedisTokenStore(state).load()
        assert "not-the-password-91c2" not in str(caught.value) and PASSWORD not in str(caught.value)


# ── the login ───────────────────────────────────────────────────────────────────────────────


async def test_save_is_a_compare_and_set_across_clients(states: tuple[RedisState, RedisState]) -> None:
    one, two = RedisTokenStore(states[0]), RedisTokenStore(states[1])
    assert await one.load() is None
    first = await one.save(_login("r1"))
    assert first.version == 1 and first.saved_at > 0
    read_by_two = await two.load()
    assert read_by_two == first
    second = await one.save(_login("r2", version=first.version))
    assert second.version == 2
    with pytest.raises(StaleWriteError, match="version 2 is stored"):
        await two.save(_login("r-stale", version=read_by_two.version))  # read before r2 was written
    stored = await two.load()
    assert stored is not None and stored.refresh_token == "r2" and stored.version == 2


async def test_delete_and_a_late_writer_after_a_logout(states: tuple[RedisState, RedisState]) -> None:
    store = RedisTokenStore(states[0])
    saved = await store.save(_login("r1"))
    assert await store.delete() is True
    assert await store.delete() is False
    with pytest.raises(StaleWriteError, match="no login is stored"):
        await store.save(_login("r-late", version=saved.version))  # a refresh racing a logout
    assert await store.load() is None
    assert (await store.save(_login("r-new"))).version == 1  # a new login starts again at version 0


async def test_a_retried_save_that_already_landed_is_not_refused(states: tuple[RedisState, RedisState]) -> None:
    store = RedisTokenStore(states[0])
    payload = json.dumps({"token": {"access_token": "a"}, "client_id": "c", "version": 1})
    save = states[0].script(_SAVE)
    assert await save(keys=[states[0].key("login")], args=[0, payload]) == [1, 1]
    assert await save(keys=[states[0].key("login")], args=[0, payload]) == [1, 1]  # the retry
    assert await save(keys=[states[0].key("login")], args=[0, payload + " "]) == [0, 1]  # someone else's
    loaded = await store.load()
    assert loaded is not None and loaded.version == 1


async def test_a_value_that_is_not_a_login_is_a_token_store_error(states: tuple[RedisState, RedisState]) -> None:
    await states[0].client.set(states[0].key("login"), "not json")
    store = RedisTokenStore(states[0])
    with pytest.raises(TokenStoreError, match="the stored login is damaged"):
        await store.load()
    with pytest.raises(TokenStoreError, match="the stored login is damaged"):
        await store.save(_login("r"))


async def test_the_login_lock_is_exclusive_across_clients(states: tuple[RedisState, RedisState]) -> None:
    stores = [RedisTokenStore(states[0], lease=2.0), RedisTokenStore(states[1], lease=2.0)]
    inside = peak = entered = 0

    async def holder(store: RedisTokenStore) -> None:
        nonlocal inside, peak, entered
        async with store.lock(wait=10):
            inside += 1
            entered += 1
            peak = max(peak, inside)
            await anyio.sleep(0.03)
            inside -= 1

    async with anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(holder, stores[i % 2])
    assert peak == 1 and entered == 8

    async with stores[0].lock():
        started = time.monotonic()
        with pytest.raises(TokenStoreError, match=r"held the login lock .* for more than 0.3 s"):
            async with stores[1].lock(wait=0.3):
                pass
        assert time.monotonic() - started < 1.0
    async with stores[1].lock(wait=1):  # released on exit
        pass


async def test_the_lock_is_released_when_its_body_fails(states: tuple[RedisState, RedisState]) -> None:
    store = RedisTokenStore(states[0])
    with pytest.raises(RuntimeError):
        async with store.lock():
            raise RuntimeError("refresh failed")
    async with RedisTokenStore(states[1]).lock(wait=0.5):
        pass


HOLDER = """
import asyncio, sys, time
from xero_contacts_mcp.state.limiter import Limits
from xero_contacts_mcp.state.redis_limiter import RedisLimiter
from xero_contacts_mcp.state.redis_state import RedisState, RedisTokenStore

async def main():
    state = RedisState(sys.argv[1], sys.argv[2])
    limiter = RedisLimiter(state, Limits(concurrent=1), slot_lease=float(sys.argv[4]))
    async with RedisTokenStore(state, lease=float(sys.argv[3])).lock(wait=5), \\
            limiter.slot(sys.argv[5], time.monotonic() + 5):
        print("held", flush=True)
        await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_a_dead_holders_lock_and_slot_free_themselves(states: tuple[RedisState, RedisState],
                                                             redis_server: RedisServer, prefix: str) -> None:
    lease, slot_lease = 0.4, 1.0
    command = [sys.executable, "-c", HOLDER, redis_server.url, prefix, str(lease), str(slot_lease), TENANT]
    store = RedisTokenStore(states[0], lease=lease)
    limiter = RedisLimiter(states[0], Limits(concurrent=1), slot_lease=slot_lease)
    process = await anyio.open_process(command)
    try:
        assert process.stdout is not None
        with anyio.fail_after(15):
            assert (await process.stdout.receive()).startswith(b"held")
        held = time.monotonic()
        with pytest.raises(LimitExceeded):  # its one in-flight slot is taken
            async with limiter.slot(TENANT, time.monotonic() + 0.2):
                pass
        with pytest.raises(TokenStoreError):  # alive, it renews its lease: still held after 2.5 leases
            async with store.lock(wait=lease * 2.5):
                pass
        await anyio.sleep(max(0.0, held + slot_lease * 1.5 - time.monotonic()))
        with pytest.raises(LimitExceeded):  # alive, it renews its slot too: still in flight after 1.5 leases
            async with limiter.slot(TENANT, time.monotonic() + 0.2):
                pass
    finally:
        process.kill()  # SIGKILL: nothing is released
        await process.wait()
        await process.aclose()
    killed = time.monotonic()
    async with store.lock(wait=5):
        assert time.monotonic() - killed < lease + 0.3
    async with limiter.slot(TENANT, time.monotonic() + 5):
        assert time.monotonic() - killed < slot_lease + 0.3


# ── the cache ───────────────────────────────────────────────────────────────────────────────


async def test_cache_values_expire_and_delete(states: tuple[RedisState, RedisState]) -> None:
    one, two = RedisCache(states[0]), RedisCache(states[1])
    await one.set("cc-token:app", {"access_token": "x", "expires_at": 1.5}, ttl=0.3)
    assert await two.get("cc-token:app") == {"access_token": "x", "expires_at": 1.5}
    await anyio.sleep(0.4)
    assert await two.get("cc-token:app") is None
    await one.set("k", [1, "two"], ttl=10)
    await two.delete("k")
    assert await one.get("k") is None
    await one.set("k", 1, ttl=0)  # already expired
    assert await one.get("k") is None


async def test_cache_lock_is_single_flight_across_clients(states: tuple[RedisState, RedisState]) -> None:
    caches = [RedisCache(states[0]), RedisCache(states[1])]
    fetches = 0

    async def token(cache: RedisCache) -> Any:
        nonlocal fetches
        if (value := await cache.get("token")) is not None:
            return value
        async with cache.lock("token:fetch", lease=2.0):
            if (value := await cache.get("token")) is not None:
                return value
            fetches += 1
            await anyio.sleep(0.05)  # the token endpoint
            await cache.set("token", {"access_token": "t"}, ttl=30)
            return {"access_token": "t"}

    results: list[Any] = []
    async with anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(_append, results, token, caches[i % 2])
    assert fetches == 1 and results == [{"access_token": "t"}] * 10

    async with caches[0].lock("busy", lease=5.0):
        with pytest.raises(SharedLockTimeout, match="'busy'"):
            async with caches[1].lock("busy", lease=5.0, wait=0.2):
                pass


async def _append(into: list[Any], fn: Callable[[RedisCache], Awaitable[Any]], cache: RedisCache) -> None:
    into.append(await fn(cache))


# ── the limiter ─────────────────────────────────────────────────────────────────────────────


async def test_in_flight_slots_are_shared_by_two_limiters(states: tuple[RedisState, RedisState]) -> None:
    limits = Limits(concurrent=3, per_window=1000)
    limiters = [RedisLimiter(states[0], limits), RedisLimiter(states[1], limits)]
    in_flight = peak = done = 0

    async def call(limiter: RedisLimiter) -> None:
        nonlocal in_flight, peak, done
        async with limiter.slot(TENANT, time.monotonic() + 10):
            in_flight += 1
            peak = max(peak, in_flight)
            await anyio.sleep(0.03)
            in_flight -= 1
            done += 1

    async with anyio.create_task_group() as tg:
        for i in range(18):
            tg.start_soon(call, limiters[i % 2])
    assert peak == 3 and done == 18
    # every slot was given back, also by a call that failed
    with pytest.raises(RuntimeError):
        async with limiters[0].slot(TENANT, time.monotonic() + 1):
            raise RuntimeError("Xero broke")
    assert await states[0].client.zcard(states[0].key("limiter", "tenant", TENANT, "slots")) == 0


async def test_a_call_holds_its_shared_place_until_a_window_after_it_ends(
        states: tuple[RedisState, RedisState]) -> None:
    from test_limiter import _holds_its_place_until_a_window_after_it_ends

    limiter = RedisLimiter(states[0], Limits(per_window=2, window=0.6))
    await _holds_its_place_until_a_window_after_it_ends(limiter, 0.6)


async def test_the_rolling_window_is_shared_by_two_limiters(states: tuple[RedisState, RedisState]) -> None:
    limits = Limits(concurrent=5, per_window=5, window=0.5)
    limiters = [RedisLimiter(states[0], limits), RedisLimiter(states[1], limits)]
    times: list[float] = []

    async def call(limiter: RedisLimiter) -> None:
        async with limiter.slot(TENANT, time.monotonic() + 10):
            times.append(time.monotonic())

    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        for i in range(12):
            tg.start_soon(call, limiters[i % 2])
    assert len(times) == 12
    assert time.monotonic() - started >= 1.0  # 12 calls at 5 per half-second window need two more windows
    times.sort()
    assert all(later - earlier >= 0.45 for earlier, later in zip(times, times[5:], strict=False))  # never 6 in a window
    assert limiters[0].waits + limiters[1].waits > 0


async def test_the_app_window_and_the_deadline(states: tuple[RedisState, RedisState]) -> None:
    limits = Limits(concurrent=5, per_window=100, app_per_window=3, window=30.0)
    one, two = RedisLimiter(states[0], limits), RedisLimiter(states[1], limits)
    for limiter, tenant in ((one, "t1"), (two, "t2"), (one, "t3")):
        async with limiter.slot(tenant, time.monotonic() + 1):
            pass
    started = time.monotonic()
    with pytest.raises(LimitExceeded) as caught:
        async with two.slot("t4", time.monotonic() + 0.5):  # another tenant, but the app's minute is spent
            pass
    assert not caught.value.daily and caught.value.retry_after == 15.0
    assert time.monotonic() - started < 0.3  # the wait is known: it fails at once rather than at the deadline


async def test_a_retry_after_seen_by_one_replica_pauses_the_other(states: tuple[RedisState, RedisState]) -> None:
    one, two = RedisLimiter(states[0]), RedisLimiter(states[1])
    await one.observe(TENANT, 429, {"retry-after": "0.6", "x-rate-limit-problem": "minute"})
    started = time.monotonic()
    async with two.slot(TENANT, time.monotonic() + 5):
        waited = time.monotonic() - started
    assert 0.5 <= waited < 1.5 and two.waits >= 1
    async with two.slot("other-tenant", time.monotonic() + 1):  # only that tenant was paused
        pass


@pytest.mark.parametrize(("status", "headers", "retry_after"), [
    (200, {"x-daylimit-remaining": "0"}, 900.0),
    (200, {"x-daylimit-remaining": "0", "retry-after": "120"}, 120.0),
    (429, {"x-rate-limit-problem": "day", "retry-after": "7200"}, 7200.0),
    (429, {"x-rate-limit-problem": "Day"}, 3600.0),
])
async def test_a_spent_day_blocks_every_replica(states: tuple[RedisState, RedisState], status: int,
                                                headers: dict[str, str], retry_after: float) -> None:
    one, two = RedisLimiter(states[0]), RedisLimiter(states[1])
    await one.observe(TENANT, status, headers)
    for limiter in (one, two):
        with pytest.raises(LimitExceeded) as caught:
            async with limiter.slot(TENANT, time.monotonic() + 60):
                pass
        assert caught.value.daily and retry_after - 2 < caught.value.retry_after <= retry_after


async def test_calls_xero_counted_elsewhere_slow_every_replica(states: tuple[RedisState, RedisState]) -> None:
    limits = Limits(concurrent=5, per_window=10, window=30.0)
    one, two = RedisLimiter(states[0], limits), RedisLimiter(states[1], limits)
    async with one.slot(TENANT, time.monotonic() + 1):
        pass
    await one.observe(TENANT, 200, {"x-minlimit-remaining": "5"})  # we count 9 left; Xero says 5
    await one.observe(TENANT, 200, {"x-minlimit-remaining": "5"})  # the same news twice is one debt
    for _ in range(5):
        async with two.slot(TENANT, time.monotonic() + 1):
            pass
    with pytest.raises(LimitExceeded):
        async with two.slot(TENANT, time.monotonic() + 0.5):
            pass
    await two.observe(TENANT, 200, {"x-minlimit-remaining": "3"})  # more than we count: nothing changes


# ── Redis away and back ─────────────────────────────────────────────────────────────────────


async def test_redis_down_fails_fast_and_the_same_objects_recover(own_redis_server: RedisServer) -> None:
    server = own_redis_server
    async with RedisState(server.url, "test-down:") as state:
        store, cache = RedisTokenStore(state, lease=1.0), RedisCache(state)
        limiter = RedisLimiter(state, Limits(concurrent=2))
        await state.ping()
        await store.save(_login("r1"))
        async with store.lock():
            server.stop()  # Redis vanishes while the lock is held: leaving the block must not fail
        checks: list[Callable[[], Awaitable[Any]]] = [
            state.ping, store.load, lambda: store.save(_login("r2", 1)), store.delete,
            lambda: cache.get("k"), lambda: cache.set("k", 1, ttl=5), lambda: cache.delete("k"),
            lambda: _enter(store.lock(wait=5)), lambda: _enter(cache.lock("n")),
            lambda: _enter(limiter.slot(TENANT, time.monotonic() + 30)),
            lambda: limiter.observe(TENANT, 429, {"retry-after": "1"}),
        ]
        for check in checks:
            started = time.monotonic()
            with pytest.raises(SharedStateUnavailable) as caught:
                await check()
            assert time.monotonic() - started < 3.0
            message = str(caught.value)
            assert f"127.0.0.1:{server.port}" in message and "own-redis-password" not in message
            assert message.endswith(".") and message.startswith("Redis at ")

        server.start()  # same port, empty (no persistence)
        await state.ping()
        assert await store.load() is None
        assert (await store.save(_login("r3"))).version == 1
        await cache.set("k", {"v": 1}, ttl=5)
        assert await cache.get("k") == {"v": 1}
        async with store.lock(wait=1), cache.lock("n", lease=1), limiter.slot(TENANT, time.monotonic() + 1):
            pass


async def test_a_hung_redis_times_out_and_answers_again_later(own_redis_server: RedisServer) -> None:
    async with RedisState(own_redis_server.url, "test-hung:", timeout=0.4) as state:
        store, limiter = RedisTokenStore(state), RedisLimiter(state)
        await store.save(_login("r1"))
        own_redis_server.pause()
        try:
            for check in (store.load, lambda: _enter(limiter.slot(TENANT, time.monotonic() + 30))):
                started = time.monotonic()
                with pytest.raises(SharedStateUnavailable, match="did not answer"):
                    await check()
                assert time.monotonic() - started < 2 * 0.4 + 0.5  # two attempts, each timing out
        finally:
            own_redis_server.resume()
        loaded = await store.load()  # no late reply from the timed-out attempts is mistaken for this one
        assert loaded is not None and loaded.refresh_token == "r1"


async def _enter(manager: Any) -> None:
    async with manager:
        pass


# ── through the client: Redis failing after Xero has answered ───────────────────────────────────


@pytest.mark.parametrize(("status", "expected"), [
    (200, None),  # a write Xero applied is reported as applied, not as "nothing was sent"
    (403, "Xero refused access to organisation"),  # the 403 is what the caller must act on
])
async def test_redis_failing_after_xero_answered_keeps_xeros_answer(
        own_redis_server: RedisServer, settings_factory: Any, httpx2_mock: Any, status: int,
        expected: str | None) -> None:
    import respx

    from conftest import API
    from xero_contacts_mcp.runtime import open_runtime

    def answer(request: Any) -> respx.MockResponse:
        own_redis_server.stop()  # Redis goes away while the request is at Xero
        return respx.MockResponse(status, json={"Contacts": [{"ContactID": "c1", "Name": "Applied"}]}
                                  if status == 200 else {"Detail": "AuthorizationUnsuccessful"},
                                  headers={"X-MinLimit-Remaining": "10"})

    httpx2_mock.put(f"{API}/Contacts").mock(side_effect=answer)
    settings = settings_factory(xero_mcp_redis_url=own_redis_server.url, xero_tenant_id=None,
                                xero_connections_url="https://api.xero.com/connections")
    async with open_runtime(settings) as rt:
        result = await rt.runner.run("xero_contacts_create_contacts", {
            "xero-tenant-id": "8d1bb3a3-3c1a-4b44-9c1e-0e6f0a7e2c11", "Contacts": [{"Name": "Applied"}]})
    if expected is None:
        assert not result.is_error, result.text
        assert result.data["Contacts"][0]["Name"] == "Applied"
    else:
        assert result.is_error and expected in result.text and "Shared state" not in result.text
