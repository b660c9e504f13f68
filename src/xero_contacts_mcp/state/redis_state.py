"""Shared state in Redis, so several HTTP replicas share one login, one token cache and (with
`redis_limiter`) one rate limit.

Everything fails fast: short socket timeouts and one retry, and any Redis error becomes
SharedStateUnavailable, never a silent fall-back to per-process state (that is exactly what would
spend a rotating refresh token twice). The password in the URL stays out of every message,
`describe()` and log line: only scheme, host, port and database are ever shown.

Writes are made safe to retry (redis-py retries once after a lost connection, and the first
attempt may have landed): the compare-and-set accepts its own identical payload, and taking a lock
accepts a lock already holding our own token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from typing import Any, Self

import anyio
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import AuthenticationError, RedisError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .cache import SharedStateUnavailable
from .redis_url import RedisURL, parse_redis_url
from .tokens import DamagedLoginError, Login, LoginCodec, PlainCodec, StaleWriteError, TokenStoreError

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "xero-contacts-mcp:"

__all__ = ["DEFAULT_PREFIX", "RedisCache", "RedisState", "RedisTokenStore", "RedisURL", "SharedLockTimeout",
           "parse_redis_url"]


class SharedLockTimeout(SharedStateUnavailable):
    """Another replica held a shared lock for longer than this caller was prepared to wait."""


class RedisState:
    """One Redis client (a connection pool) and the key prefix every shared object writes under.

    Timeouts are short and retries bounded, so a Redis that does not answer surfaces as
    SharedStateUnavailable after at most (retries + 1) × (connect + read timeout), and at once when
    the connection is refused. The same object works again once Redis is back.
    """

    def __init__(self, url: str | SecretStr, prefix: str = DEFAULT_PREFIX, *, timeout: float = 2.0,
                 retries: int = 1) -> None:
        self.url = parse_redis_url(url)
        self.prefix = prefix
        self.timeout = timeout
        raw = url.get_secret_value() if isinstance(url, SecretStr) else url.strip()
        self.client: Redis = Redis.from_url(
            raw, decode_responses=True, socket_connect_timeout=timeout, socket_timeout=timeout,
            retry=Retry(ExponentialBackoff(cap=0.25, base=0.02), retries),
        )
        self._local_locks: dict[str, anyio.Lock] = {}
        self._scripts: dict[str, AsyncScript] = {}

    def describe(self) -> str:
        return f"{self.url.safe} (prefix {self.prefix!r})"

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def script(self, source: str) -> AsyncScript:
        """A Lua script registered once per client (EVALSHA, reloaded by redis-py after a restart)."""
        if source not in self._scripts:
            self._scripts[source] = self.client.register_script(source)
        return self._scripts[source]

    def local_lock(self, key: str) -> anyio.Lock:
        """An in-process queue in front of a shared lock: waiters here take turns instead of all polling."""
        return self._local_locks.setdefault(key, anyio.Lock())

    @contextmanager
    def guard(self, doing: str) -> Iterator[None]:
        """Turn any Redis failure into SharedStateUnavailable with one safe sentence."""
        try:
            yield
        except RedisTimeoutError:
            raise SharedStateUnavailable(f"Redis at {self.url.safe} did not answer while {doing} (each attempt "
                                         f"times out after {self.timeout:g} s).") from None
        except AuthenticationError:
            raise SharedStateUnavailable(f"Redis at {self.url.safe} rejected the credentials in the Redis URL "
                                         f"while {doing}.") from None
        except RedisConnectionError as exc:
            raise SharedStateUnavailable(f"Redis at {self.url.safe} could not be reached while {doing} "
                                         f"({type(exc).__name__}).") from None
        except RedisError as exc:
            raise SharedStateUnavailable(f"Redis at {self.url.safe} failed while {doing} "
                                         f"({type(exc).__name__}).") from None
        except OSError as exc:
            raise SharedStateUnavailable(f"Redis at {self.url.safe} could not be reached while {doing} "
                                         f"({type(exc).__name__}).") from None

    async def ping(self) -> None:
        """Raise SharedStateUnavailable unless Redis answers (start-up check, `doctor`).

        Pings through a Lua script: everything here relies on scripting, so a Redis that refuses
        EVAL (some managed services) fails this check rather than the first real call.
        """
        with self.guard("checking the connection"):
            await self.script("return redis.call('PING')")(keys=[], args=[])

    async def facts(self) -> dict[str, str]:
        """What `doctor` checks: version, persistence, eviction policy, cluster mode (from INFO; a ping first)."""
        await self.ping()
        facts: dict[str, str] = {}
        for section in ("server", "persistence", "memory", "cluster"):
            with self.guard(f"reading INFO {section}"):
                try:
                    info = await self.client.info(section)
                except ResponseError:  # a managed Redis may refuse INFO: then there is nothing to report
                    continue
            facts.update({k: str(v) for k, v in info.items()})
        return facts

    async def close(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.client.aclose(close_connection_pool=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# ── leased locks ────────────────────────────────────────────────────────────────────────────────

# Take the lock, or confirm we already hold it (a retried attempt whose first try landed).
_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# Extend the lease only while the lock is still ours.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

# Release only our own lock: after a lapsed lease the key may be someone else's.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@asynccontextmanager
async def leased_lock(state: RedisState, key: str, lease: float, wait: float,
                      timed_out: Callable[[], Exception]) -> AsyncIterator[None]:
    """An exclusive lock across processes: SET NX PX with a random token.

    While held, the lease is renewed every third of its length, so a slow holder keeps it and a dead
    one loses it within `lease` seconds. Release deletes the key only if it still holds our token; a
    release that fails (Redis down) is logged, not raised — the lease frees the lock by itself.
    Raises `timed_out()` if the lock is not ours within `wait` seconds.
    """
    token = uuid.uuid4().hex
    lease_ms = max(1, round(lease * 1000))
    give_up = time.monotonic() + wait
    local = state.local_lock(key)
    with anyio.move_on_after(wait) as queued:
        await local.acquire()
    if queued.cancelled_caught:
        raise timed_out()
    try:
        await _take(state, key, token, lease_ms, give_up, timed_out)
        keeper = asyncio.create_task(_keep(state, key, token, lease_ms))
        try:
            yield
        finally:
            keeper.cancel()
            with anyio.CancelScope(shield=True):
                await release_quietly(state, _RELEASE, [key], [token], f"releasing the lock {key}")
    finally:
        local.release()


async def _take(state: RedisState, key: str, token: str, lease_ms: int, give_up: float,
                timed_out: Callable[[], Exception]) -> None:
    delay = 0.01
    while True:
        with state.guard(f"taking the lock {key}"):
            if await state.script(_ACQUIRE)(keys=[key], args=[token, lease_ms]):
                return
        left = give_up - time.monotonic()
        if left <= 0:
            raise timed_out()
        await anyio.sleep(min(delay, left))
        delay = min(delay * 2, 0.2)


async def _keep(state: RedisState, key: str, token: str, lease_ms: int) -> None:
    while True:
        await asyncio.sleep(lease_ms / 3000)
        try:
            if not await state.script(_RENEW)(keys=[key], args=[token, lease_ms]):
                log.warning("the shared lock %s lapsed while held (its lease is %g s)", key, lease_ms / 1000)
                return
        except (RedisError, OSError) as exc:
            log.warning("could not renew the shared lock %s (%s); it lapses unless renewed",
                        key, type(exc).__name__)


async def release_quietly(state: RedisState, source: str, keys: list[str], args: list[str | int],
                          doing: str) -> None:
    """Run a releasing script; if Redis is down, log it and carry on (the lease frees it by itself)."""
    try:
        with state.guard(doing):
            await state.script(source)(keys=keys, args=args)
    except SharedStateUnavailable as exc:
        log.warning("%s Its lease frees it by itself.", exc)


# ── the login ───────────────────────────────────────────────────────────────────────────────────

# Compare-and-set on the stored login's version. ARGV: expected version, new JSON.
# Returns {1, new version} | {0, stored version (-1: nothing stored)} | {-1, 0} when the stored
# value is not a login. The stored value equal to ARGV[2] means a retried attempt already landed.
_SAVE = """
local current = redis.call('GET', KEYS[1])
local expected = tonumber(ARGV[1])
if current then
  if current == ARGV[2] then return {1, expected + 1} end
  local ok, data = pcall(cjson.decode, current)
  if not ok or type(data) ~= 'table' then return {-1, 0} end
  local version = tonumber(data['version']) or 0
  if version ~= expected then return {0, version} end
elseif expected ~= 0 then
  return {0, -1}
end
redis.call('SET', KEYS[1], ARGV[2])
return {1, expected + 1}
"""


class RedisTokenStore:
    """The TokenStore in Redis: one JSON value (with its version) under `<prefix><name>`.

    Same semantics as FileTokenStore, except that a save when nothing is stored must carry version 0:
    a login deleted (logout) since it was read is not brought back by a replica's late refresh.
    """

    def __init__(self, state: RedisState, name: str = "login", *, lease: float = 30.0,
                 codec: LoginCodec | None = None) -> None:
        self.state = state
        self.name = name
        self.lease = lease
        self.codec: LoginCodec = codec or PlainCodec()
        self._key = state.key(name)
        self._lock_key = state.key(name, "lock")

    def describe(self) -> str:
        return f"Redis {self.state.url.safe}, key {self._key}"

    async def load(self) -> Login | None:
        try:
            with self.state.guard("reading the login"):
                text = await self.state.client.get(self._key)
        except UnicodeDecodeError:  # the client decodes replies as UTF-8; this value is not text
            raise DamagedLoginError(self.describe(), "not UTF-8 text") from None
        return None if text is None else self._parse(str(text))

    def _parse(self, text: str) -> Login:
        try:
            return self.codec.loads(text)
        except ValueError as exc:
            raise DamagedLoginError(self.describe(), str(exc)) from None

    def _not_a_login(self) -> TokenStoreError:
        return DamagedLoginError(self.describe(), "not JSON")

    async def save(self, login: Login) -> Login:
        """Compare-and-set on the version, atomically in Redis (callers hold the lock; this guards
        against those that do not)."""
        saved = replace(login, saved_at=time.time(), version=login.version + 1)
        with self.state.guard("saving the login"):
            done, version = await self.state.script(_SAVE)(
                keys=[self._key], args=[login.version, self.codec.dumps(saved)])
        if int(done) == 1:
            return saved
        if int(done) == -1:
            raise self._not_a_login()
        stored = "no login is stored" if int(version) < 0 else f"version {int(version)} is stored"
        raise StaleWriteError(f"the login in {self.describe()} changed since it was read ({stored}, "
                              f"not version {login.version})")

    async def delete(self) -> bool:
        with self.state.guard("deleting the login"):
            return bool(await self.state.client.delete(self._key))

    def lock(self, wait: float = 30.0) -> contextlib.AbstractAsyncContextManager[None]:
        """The refresh lock: exclusive across replicas, freed `lease` seconds after its holder dies."""

        def timed_out() -> Exception:
            return TokenStoreError(f"another process held the login lock in {self.describe()} for more "
                                   f"than {wait:g} s")

        return leased_lock(self.state, self._lock_key, self.lease, wait, timed_out)


# ── the cache ───────────────────────────────────────────────────────────────────────────────────


class RedisCache:
    """The SharedCache in Redis: JSON values under `<prefix>cache:<key>` with a millisecond TTL."""

    def __init__(self, state: RedisState) -> None:
        self.state = state

    async def get(self, key: str) -> Any | None:
        with self.state.guard(f"reading the cached {key!r}"):
            text = await self.state.client.get(self.state.key("cache", key))
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return None  # not something this program wrote: a miss, refetched and overwritten

    async def set(self, key: str, value: Any, ttl: float) -> None:
        if ttl <= 0:
            await self.delete(key)  # already expired, as in MemoryCache
            return
        data = json.dumps(value)
        with self.state.guard(f"caching {key!r}"):
            await self.state.client.set(self.state.key("cache", key), data, px=max(1, round(ttl * 1000)))

    async def delete(self, key: str) -> None:
        with self.state.guard(f"deleting the cached {key!r}"):
            await self.state.client.delete(self.state.key("cache", key))

    def lock(self, name: str, lease: float = 30.0,
             wait: float | None = None) -> contextlib.AbstractAsyncContextManager[None]:
        """Single flight for `name` across replicas; waits up to `wait` seconds (default: one lease,
        after which even a dead holder's lock has lapsed) and then raises SharedLockTimeout."""
        patience = lease if wait is None else wait

        def timed_out() -> Exception:
            return SharedLockTimeout(f"another replica held the shared lock {name!r} in Redis at "
                                     f"{self.state.url.safe} for more than {patience:g} s.")

        return leased_lock(self.state, self.state.key("lock", name), lease, patience, timed_out)
