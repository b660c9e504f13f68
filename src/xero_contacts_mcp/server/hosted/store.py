"""Where the MCP authorization server keeps its records: registered clients, consent requests, codes,
grants and MCP tokens — a local file for one node, Redis for replicas.

Only what a copy could not use is kept: tokens and codes are stored under their SHA-256 (the token
itself never is), a registered client's secret is encrypted with XERO_MCP_ENCRYPTION_KEY, and every
record carries its expiry. The interface is a handful of atomic primitives (get / put / take / claim /
a per-person index), so the single-use rules — a code is exchanged once, a refresh token rotates
once — hold across replicas without a lock.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

from ...state.cache import SharedStateUnavailable
from ...state.tokens import write_private


class GrantStore(Protocol):
    """JSON records with a time to live (seconds); every operation is atomic on its own."""

    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def put(self, key: str, value: dict[str, Any], ttl: float) -> None: ...

    async def delete(self, *keys: str) -> None: ...

    async def take(self, key: str) -> dict[str, Any] | None:
        """Get and delete at once: the caller is the only one ever to see the record."""
        ...

    async def claim(self, key: str, ttl: float) -> bool:
        """Set a marker if absent: True for exactly one caller until it expires."""
        ...

    async def add_member(self, key: str, member: str, ttl: float) -> None:
        """Add to a set (the index of a person's grants); the set lives at least `ttl` more seconds."""
        ...

    async def members(self, key: str) -> set[str]: ...

    def describe(self) -> str: ...

    async def aclose(self) -> None: ...


class StoreUnavailable(SharedStateUnavailable):
    """The local store could not be read or written (a sentence for the operator)."""


class FileGrantStore:
    """One JSON file (0600, replaced atomically) under a file lock, so `users revoke` run from the
    command line and the serving process see the same records. Re-read only when the file changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_path = path.with_name(path.name + ".lock")
        self._seen: tuple[int, ...] | None = None
        self._data: dict[str, list[Any]] = {}

    def describe(self) -> str:
        return str(self.path)

    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[dict[str, list[Any]]]:
        from filelock import AsyncFileLock, Timeout

        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = AsyncFileLock(str(self._lock_path), timeout=10, mode=0o600)
        try:
            await lock.acquire()
        except Timeout:
            raise StoreUnavailable(f"another process held {self._lock_path} for more than 10 s") from None
        try:
            yield self._read()
        finally:
            await lock.release()

    def _read(self) -> dict[str, list[Any]]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._seen, self._data = None, {}
            return self._data
        seen = _identity(stat)
        if seen != self._seen:
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise StoreUnavailable(f"cannot read the MCP grant store {self.path}: {exc}") from None
            if not isinstance(loaded, dict):
                raise StoreUnavailable(f"the MCP grant store {self.path} is not one this program wrote")
            self._data, self._seen = loaded, seen
        return self._data

    def _write(self, data: dict[str, list[Any]]) -> None:
        now = time.time()
        live = {k: v for k, v in data.items() if v[0] > now}
        write_private(self.path, json.dumps(live, separators=(",", ":")).encode())
        self._data, self._seen = live, _identity(self.path.stat())

    @staticmethod
    def _live(data: dict[str, list[Any]], key: str) -> Any | None:
        entry = data.get(key)
        return entry[1] if entry is not None and entry[0] > time.time() else None

    async def get(self, key: str) -> dict[str, Any] | None:
        # no lock to read: writers replace the file atomically, so a reader sees one whole version
        value = self._live(self._read(), key)
        return dict(value) if isinstance(value, dict) else None

    async def put(self, key: str, value: dict[str, Any], ttl: float) -> None:
        async with self._locked() as data:
            self._write({**data, key: [time.time() + ttl, value]})

    async def delete(self, *keys: str) -> None:
        async with self._locked() as data:
            if any(k in data for k in keys):
                self._write({k: v for k, v in data.items() if k not in keys})

    async def take(self, key: str) -> dict[str, Any] | None:
        async with self._locked() as data:
            value = self._live(data, key)
            if key in data:
                self._write({k: v for k, v in data.items() if k != key})
        return dict(value) if isinstance(value, dict) else None

    async def claim(self, key: str, ttl: float) -> bool:
        async with self._locked() as data:
            if self._live(data, key) is not None:
                return False
            self._write({**data, key: [time.time() + ttl, 1]})
            return True

    async def add_member(self, key: str, member: str, ttl: float) -> None:
        async with self._locked() as data:
            current = self._live(data, key) or []
            entry = data.get(key)
            expires = max(time.time() + ttl, entry[0] if entry is not None else 0)
            self._write({**data, key: [expires, sorted({*current, member})]})

    async def members(self, key: str) -> set[str]:
        return set(self._live(self._read(), key) or [])

    async def aclose(self) -> None:
        return None


def _identity(stat: os.stat_result) -> tuple[int, ...]:
    """Which version of the file this is: each write is a new file (new inode, times, maybe size)."""
    return stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size


# Take: GET then DEL in one step (GETDEL needs Redis 6.2; a script works on every version we accept).
_TAKE = """
local value = redis.call('GET', KEYS[1])
if value then redis.call('DEL', KEYS[1]) end
return value
"""

# Add to a set and keep it at least ARGV[2] ms more.
_ADD = """
redis.call('SADD', KEYS[1], ARGV[1])
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
"""


class RedisGrantStore:
    """The same records in Redis under `<prefix>mcp:…`, shared by every replica."""

    def __init__(self, state: Any, *, owned: bool = False) -> None:
        self.state = state  # a state.redis_state.RedisState
        self.owned = owned

    def describe(self) -> str:
        return f"Redis {self.state.describe()}"

    def _key(self, key: str) -> str:
        return str(self.state.key("mcp", key))

    @staticmethod
    def _ms(ttl: float) -> int:
        return max(1, round(ttl * 1000))

    async def get(self, key: str) -> dict[str, Any] | None:
        with self.state.guard("reading an MCP grant"):
            raw = await self.state.client.get(self._key(key))
        return _decode(raw)

    async def put(self, key: str, value: dict[str, Any], ttl: float) -> None:
        with self.state.guard("saving an MCP grant"):
            await self.state.client.set(self._key(key), json.dumps(value, separators=(",", ":")), px=self._ms(ttl))

    async def delete(self, *keys: str) -> None:
        if keys:
            with self.state.guard("deleting an MCP grant"):
                await self.state.client.delete(*[self._key(k) for k in keys])

    async def take(self, key: str) -> dict[str, Any] | None:
        with self.state.guard("using a one-time MCP record"):
            raw = await self.state.script(_TAKE)(keys=[self._key(key)], args=[])
        return _decode(raw)

    async def claim(self, key: str, ttl: float) -> bool:
        with self.state.guard("claiming a one-time MCP record"):
            return bool(await self.state.client.set(self._key(key), "1", nx=True, px=self._ms(ttl)))

    async def add_member(self, key: str, member: str, ttl: float) -> None:
        with self.state.guard("indexing an MCP grant"):
            await self.state.script(_ADD)(keys=[self._key(key)], args=[member, self._ms(ttl)])

    async def members(self, key: str) -> set[str]:
        with self.state.guard("listing a person's MCP grants"):
            return set(await self.state.client.smembers(self._key(key)))

    async def aclose(self) -> None:
        if self.owned:
            await self.state.close()


def _decode(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
