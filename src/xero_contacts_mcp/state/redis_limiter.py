"""The rate limiter shared through Redis: LocalLimiter's behaviour, across every replica.

Per tenant, Redis holds a moving window of call timestamps, the in-flight slots (leases that free
themselves if a replica dies mid-call), and what Xero said (pause-until, day-blocked-until, and the
calls it counted that we did not). One Lua script takes a place in the tenant's window, the app's
window and an in-flight slot together, atomically, on Redis's clock (TIME), so replicas on machines
whose clocks disagree still share one minute. Waiters queue in order within a process and poll
across processes (FIFO-ish): a waiter sleeps exactly until the window frees a place, and polls
briefly for an in-flight slot (woken at once when one frees in its own process).

Why not the `limits` library's Redis storage: its moving window is per key, so the tenant window,
the app window and the in-flight slot could not be taken in one atomic step (a call could hold a
place in one window while waiting on the other); it stamps a call once, when it starts, where Xero's
window needs it counted until it ends; it has no leased slots; and its clock is the client's.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
from redis.exceptions import RedisError

from .limiter import LimitExceeded, Limits, XeroSignals
from .redis_state import RedisState, release_quietly

log = logging.getLogger(__name__)

_PRELUDE = """
if redis.replicate_commands then redis.replicate_commands() end
local function n(x) return string.format('%.0f', x) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
"""

# KEYS: tenant window, app window, tenant slots, tenant paused-until, tenant day-blocked-until.
# ARGV: window µs, tenant limit, app limit, concurrent, slot lease µs, slot id.
# Returns {code, µs to wait}: 0 granted, 1 a window is full, 2 paused, 3 day-blocked, 4 no free slot.
# Granting adds the slot id to both windows (scored now) and to the slots (scored by lease expiry);
# a slot id already present means a retried attempt already got it.
_ACQUIRE = _PRELUDE + """
local id = ARGV[6]
if redis.call('ZSCORE', KEYS[3], id) then return {0, 0} end
local day = tonumber(redis.call('GET', KEYS[5]) or 0)
if day > now then return {3, day - now} end
local paused = tonumber(redis.call('GET', KEYS[4]) or 0)
if paused > now then return {2, paused - now} end
local window = tonumber(ARGV[1])
local function full(key, limit)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', n(now - window))
  local used = redis.call('ZCARD', key)
  if used < limit then return nil end
  local entry = redis.call('ZRANGE', key, used - limit, used - limit, 'WITHSCORES')
  return tonumber(entry[2]) + window - now
end
local wait = full(KEYS[1], tonumber(ARGV[2]))
if wait then return {1, wait} end
wait = full(KEYS[2], tonumber(ARGV[3]))
if wait then return {1, wait} end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', n(now))
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[4]) then
  local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  return {4, tonumber(first[2]) - now}
end
local lease = tonumber(ARGV[5])
redis.call('ZADD', KEYS[1], n(now), id)
redis.call('ZADD', KEYS[2], n(now), id)
redis.call('ZADD', KEYS[3], n(now + lease), id)
redis.call('PEXPIRE', KEYS[1], n(math.ceil(window / 1000) + 1000))
redis.call('PEXPIRE', KEYS[2], n(math.ceil(window / 1000) + 1000))
redis.call('PEXPIRE', KEYS[3], n(math.ceil(lease / 1000) + 1000))
return {0, 0}
"""

# Free the slot, and move the call's place in both windows from when it was granted to now. Xero counts
# a call when it arrives, somewhere between the two; counting it until a window after it *ended* keeps
# this window behind Xero's whatever the network's jitter (stamped at the start, a slow call followed
# by a fast one can look one window apart here and less than that at Xero: a 429).
# KEYS: tenant slots, tenant window, app window. ARGV: slot id.
_FREE = _PRELUDE + """
redis.call('ZREM', KEYS[1], ARGV[1])
for i = 2, 3 do
  if redis.call('ZSCORE', KEYS[i], ARGV[1]) then redis.call('ZADD', KEYS[i], 'XX', n(now), ARGV[1]) end
end
return 1
"""

# Extend a held slot's lease (a live call outlasting it must not stop counting). ARGV: slot id, lease µs.
_RENEW = _PRELUDE + """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local lease = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', n(now + lease), ARGV[1])
redis.call('PEXPIRE', KEYS[1], n(math.ceil(lease / 1000) + 1000))
return 1
"""

# KEYS: tenant window, paused-until, day-blocked-until.
# ARGV: window µs, tenant limit, X-MinLimit-Remaining (-1: absent), day allowance spent (1/0),
#       status, 429 problem is "day" (1/0), Retry-After µs (-1: absent), id prefix for debt entries.
# Returns the debt added to the window: the calls Xero counted that this window did not.
_OBSERVE = _PRELUDE + """
local window = tonumber(ARGV[1])
local remaining = tonumber(ARGV[3])
local retry = tonumber(ARGV[7])
local debt = 0
if remaining >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', n(now - window))
  local ours = math.max(0, tonumber(ARGV[2]) - redis.call('ZCARD', KEYS[1]))
  if remaining < ours then
    debt = ours - remaining
    for i = 1, debt do redis.call('ZADD', KEYS[1], n(now), ARGV[8] .. ':' .. i) end
    redis.call('PEXPIRE', KEYS[1], n(math.ceil(window / 1000) + 1000))
  end
end
local function until_(key, value)
  if value > now then redis.call('SET', key, n(value), 'PX', n(math.ceil((value - now) / 1000))) end
end
if ARGV[4] == '1' then
  until_(KEYS[3], now + ((retry > 0) and retry or 900000000))
end
if ARGV[5] == '429' then
  if ARGV[6] == '1' then
    until_(KEYS[3], now + ((retry > 0) and retry or 3600000000))
  elseif retry >= 0 then
    local paused = tonumber(redis.call('GET', KEYS[2]) or 0)
    if now + retry > paused then until_(KEYS[2], now + retry) end
  end
end
return debt
"""

_GRANTED, _WINDOW, _PAUSED, _DAY, _NO_SLOT = range(5)


@dataclass
class _Waiters:
    """This process's queue for one tenant: one waiter at a time asks Redis; a freed slot wakes it."""

    turn: anyio.Lock = field(default_factory=anyio.Lock)
    freed: anyio.Event = field(default_factory=anyio.Event)


class RedisLimiter:
    """The Limiter shared by every replica using the same Redis and prefix.

    `slot_lease` bounds how long a slot outlives a replica that died mid-call; a live call renews its
    slot every third of the lease, however long it takes. `poll` is how often a
    waiter asks again for an in-flight slot freed in another process. `app` names the app-wide
    window (replicas of different Xero apps sharing a Redis should use different names).
    """

    def __init__(self, state: RedisState, limits: Limits | None = None, *, slot_lease: float = 10.0,
                 poll: float = 0.05, app: str = "app") -> None:
        self.state = state
        self.limits = limits or Limits()
        self.slot_lease = slot_lease
        self.poll = poll
        self._app_window = state.key("limiter", "app", app, "window")
        self._window_us = max(1, round(self.limits.window * 1_000_000))
        self._waiters: dict[str, _Waiters] = {}
        self.waits = 0  # how often a call had to wait for the window or a pause (observability, tests)

    def _keys(self, tenant: str) -> tuple[str, str, str, str]:
        """The tenant's window, slots, paused-until and day-blocked-until keys."""
        return (self.state.key("limiter", "tenant", tenant, "window"),
                self.state.key("limiter", "tenant", tenant, "slots"),
                self.state.key("limiter", "tenant", tenant, "paused"),
                self.state.key("limiter", "tenant", tenant, "day"))

    def _local(self, tenant: str) -> _Waiters:
        if tenant not in self._waiters:
            self._waiters[tenant] = _Waiters()
        return self._waiters[tenant]

    def _late(self) -> LimitExceeded:
        return LimitExceeded("queued past the deadline", self.limits.window / 2)

    @asynccontextmanager
    async def slot(self, tenant: str, deadline: float) -> AsyncIterator[None]:
        """Wait (in order) for a place in the tenant's and the app's window and an in-flight slot."""
        local = self._local(tenant)
        slot_id = uuid.uuid4().hex
        with anyio.move_on_after(max(0.0, deadline - time.monotonic())) as queued:
            await local.turn.acquire()
        if queued.cancelled_caught:
            raise self._late()
        try:
            await self._take(tenant, slot_id, deadline, local)
        finally:
            local.turn.release()
        keeper = asyncio.create_task(self._keep(tenant, slot_id))
        try:
            yield
        finally:
            keeper.cancel()
            with anyio.CancelScope(shield=True):
                window, slots, _, _ = self._keys(tenant)
                await release_quietly(self.state, _FREE, [slots, window, self._app_window], [slot_id],
                               f"freeing an in-flight slot of tenant {tenant}")
            local.freed.set()
            local.freed = anyio.Event()

    async def _keep(self, tenant: str, slot_id: str) -> None:
        lease_us = max(1, round(self.slot_lease * 1_000_000))
        while True:
            await asyncio.sleep(self.slot_lease / 3)
            try:
                if not await self.state.script(_RENEW)(keys=[self._keys(tenant)[1]], args=[slot_id, lease_us]):
                    return  # freed, or lapsed while Redis was away: nothing left to renew
            except (RedisError, OSError) as exc:
                log.warning("could not renew an in-flight slot of tenant %s (%s)", tenant, type(exc).__name__)

    async def _take(self, tenant: str, slot_id: str, deadline: float, local: _Waiters) -> None:
        window, slots, paused, day = self._keys(tenant)
        limits = self.limits
        args: list[str | int] = [self._window_us, limits.per_window, limits.app_per_window, limits.concurrent,
                max(1, round(self.slot_lease * 1_000_000)), slot_id]
        while True:
            with self.state.guard(f"taking an in-flight slot for tenant {tenant}"):
                code, wait_us = await self.state.script(_ACQUIRE)(
                    keys=[window, self._app_window, slots, paused, day], args=args)
            code, wait = int(code), max(0.0, int(wait_us) / 1_000_000)
            if code == _GRANTED:
                return
            if code == _DAY:
                raise LimitExceeded("daily limit", wait, daily=True)
            if code == _NO_SLOT:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._late()
                freed = local.freed
                with anyio.move_on_after(min(self.poll, wait or self.poll, left)):
                    await freed.wait()
                continue
            wait = max(0.01, wait)
            if time.monotonic() + wait > deadline:
                raise self._late()
            self.waits += 1
            await anyio.sleep(wait)

    async def observe(self, tenant: str, status: int, headers: Mapping[str, str]) -> None:
        """Fold what Xero said into the tenant's shared state, for every replica."""
        said = XeroSignals.read(status, headers)
        if not said.anything:
            return  # nothing to fold in: no round trip
        window, _, paused, day = self._keys(tenant)
        retry = said.retry_after
        args: list[str | int] = [
            self._window_us, self.limits.per_window, -1 if said.remaining is None else max(0, said.remaining),
            int(said.day_spent), status, int(said.problem == "day"),
            -1 if retry is None else round(retry * 1_000_000), f"debt:{uuid.uuid4().hex}",
        ]
        with self.state.guard(f"recording Xero's limits for tenant {tenant}"):
            await self.state.script(_OBSERVE)(keys=[window, paused, day], args=args)
