"""A small shared cache with a single-flight lock: the Custom Connection token and the connections list.

In one process a dict does; with several replicas the Redis implementation makes the token fetched
once for all of them instead of once each.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

import anyio


class SharedCache(Protocol):
    async def get(self, key: str) -> Any | None: ...

    async def set(self, key: str, value: Any, ttl: float) -> None: ...

    async def delete(self, key: str) -> None: ...

    def lock(self, name: str, lease: float = 30.0) -> AbstractAsyncContextManager[None]:
        """Single flight for `name`: one holder at a time; a shared lock expires after `lease` seconds
        if its holder dies."""
        ...


class MemoryCache:
    """The in-process SharedCache (JSON-like values, time-to-live in seconds)."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[float, Any]] = {}
        self._locks: dict[str, anyio.Lock] = {}

    async def get(self, key: str) -> Any | None:
        entry = self._values.get(key)
        if entry is None or entry[0] <= time.monotonic():
            self._values.pop(key, None)
            return None
        return entry[1]

    async def set(self, key: str, value: Any, ttl: float) -> None:
        self._values[key] = (time.monotonic() + ttl, value)

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)

    @asynccontextmanager
    async def lock(self, name: str, lease: float = 30.0) -> AsyncIterator[None]:
        async with self._locks.setdefault(name, anyio.Lock()):
            yield


class SharedStateUnavailable(Exception):
    """The shared store (Redis) did not answer in time: calls fail fast rather than falling back to
    per-process state, which is exactly what would spend a rotating refresh token twice."""
