"""The local state implementations behind the interfaces: compare-and-set saves, cache expiry, locks."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from xero_contacts_mcp.state.cache import MemoryCache
from xero_contacts_mcp.state.tokens import FileTokenStore, Login, StaleWriteError


def _login(refresh: str, version: int = 0) -> Login:
    return Login(token={"access_token": "a", "refresh_token": refresh, "expires_at": time.time() + 60},
                 client_id="c", version=version)


async def test_a_stale_writer_cannot_overwrite_a_newer_login(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    first = await store.save(_login("r1"))
    assert first.version == 1
    second = await store.save(_login("r2", version=first.version))
    assert second.version == 2
    with pytest.raises(StaleWriteError):
        await store.save(_login("r-stale", version=first.version))  # read before r2 was written
    stored = await store.load()
    assert stored is not None and stored.refresh_token == "r2"


async def test_the_store_lock_is_exclusive(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    inside = peak = 0

    async def holder() -> None:
        nonlocal inside, peak
        async with store.lock():
            inside += 1
            peak = max(peak, inside)
            await anyio.sleep(0.05)
            inside -= 1

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(holder)
    assert peak == 1


async def test_memory_cache_expires_and_locks() -> None:
    cache = MemoryCache()
    await cache.set("k", {"v": 1}, ttl=0.05)
    assert await cache.get("k") == {"v": 1}
    await anyio.sleep(0.08)
    assert await cache.get("k") is None
    await cache.set("k", 1, ttl=10)
    await cache.delete("k")
    assert await cache.get("k") is None
    order: list[int] = []

    async def worker(i: int) -> None:
        async with cache.lock("x"):
            order.append(i)
            await anyio.sleep(0.01)
            order.append(i)

    async with anyio.create_task_group() as tg:
        for i in range(3):
            tg.start_soon(worker, i)
    assert all(order[k] == order[k + 1] for k in range(0, len(order), 2))  # never interleaved


async def test_a_lock_held_too_long_is_a_store_error_not_a_crash(tmp_path: Path) -> None:
    from xero_contacts_mcp.state.tokens import TokenStoreError

    holder, waiter = FileTokenStore(tmp_path / "tokens.json"), FileTokenStore(tmp_path / "tokens.json")
    async with holder.lock():
        with pytest.raises(TokenStoreError, match="held the login lock"):
            async with waiter.lock(wait=0.2):
                pass
