"""Per-tenant rate limiting in front of the network, so calls queue instead of collecting 429s.

Xero allows each organisation 5 calls in flight, 60 a minute and 5,000 a day, and an app 10,000 a
minute. Calls wait their turn in order (FIFO locks and semaphores); a moving window (the `limits`
library) counts the minute; what Xero reports back (`X-MinLimit-Remaining`, `Retry-After`,
`X-DayLimit-Remaining: 0`) slows or stops the tenant for every caller, not just the one that saw it.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import anyio

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.aio.strategies import MovingWindowRateLimiter


@dataclass(frozen=True)
class Limits:
    concurrent: int = 5
    per_window: int = 60
    app_per_window: int = 10_000
    window: float = 60.0  # seconds: Xero's minute, scalable for tests and benchmarks


class LimitExceeded(Exception):
    """Waiting would break the call's deadline, or the day's allowance is spent."""

    def __init__(self, message: str, retry_after: float, daily: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.daily = daily


class Limiter(Protocol):
    """What the Xero client needs: a place to send from, and a way to report what Xero said."""

    def slot(self, tenant: str, deadline: float) -> AbstractAsyncContextManager[None]: ...

    async def observe(self, tenant: str, status: int, headers: Mapping[str, str]) -> None: ...


@dataclass
class _Tenant:
    in_flight: anyio.Semaphore
    turn: anyio.Lock = field(default_factory=anyio.Lock)
    paused_until: float = 0.0
    day_blocked_until: float = 0.0
    pending_debt: int = 0


class LocalLimiter:
    """One process's limiter (monotonic clock; the window storage uses wall time internally)."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._moving: tuple[MovingWindowRateLimiter, RateLimitItem, RateLimitItem] | None = None
        self._tenants: dict[str, _Tenant] = {}
        self.waits = 0  # how often a call had to wait for the window (observability, tests)

    def _windows(self) -> tuple[MovingWindowRateLimiter, RateLimitItem, RateLimitItem]:
        """The moving windows, built on first use (importing `limits` costs start-up ~20 ms)."""
        if self._moving is None:
            from limits import RateLimitItemPerSecond
            from limits.aio.storage import MemoryStorage
            from limits.aio.strategies import MovingWindowRateLimiter

            seconds = max(1, math.ceil(self.limits.window))
            self._moving = (MovingWindowRateLimiter(MemoryStorage()),
                            RateLimitItemPerSecond(self.limits.per_window, seconds),
                            RateLimitItemPerSecond(self.limits.app_per_window, seconds))
        return self._moving

    def _tenant(self, tenant: str) -> _Tenant:
        if tenant not in self._tenants:
            self._tenants[tenant] = _Tenant(anyio.Semaphore(self.limits.concurrent, fast_acquire=False))
        return self._tenants[tenant]

    @asynccontextmanager
    async def slot(self, tenant: str, deadline: float) -> AsyncIterator[None]:
        """Wait (in order) for a place in the tenant's minute and one of its in-flight slots."""
        state = self._tenant(tenant)
        now = time.monotonic()
        if state.day_blocked_until > now:
            raise LimitExceeded("daily limit", state.day_blocked_until - now, daily=True)
        try:
            # fail_after raises TimeoutError when its scope exits, so the handler must enclose the scope
            with anyio.fail_after(max(0.0, deadline - now)):
                async with state.turn:  # one waiter at a time takes the next place in the window
                    await self._take_place(tenant, state, deadline)
                await state.in_flight.acquire()
        except TimeoutError:
            raise LimitExceeded("queued past the deadline", self.limits.window / 2) from None
        try:
            yield
        finally:
            state.in_flight.release()

    async def _take_place(self, tenant: str, state: _Tenant, deadline: float) -> None:
        window, tenant_item, app_item = self._windows()
        while True:
            now = time.monotonic()
            if state.paused_until > now:
                await self._sleep(state.paused_until - now, deadline)
                continue
            if state.pending_debt:
                debt, state.pending_debt = state.pending_debt, 0
                await window.hit(tenant_item, tenant, cost=debt)
            if await window.hit(tenant_item, tenant):
                if await window.hit(app_item, "app"):
                    return
                stats = await window.get_window_stats(app_item, "app")
            else:
                stats = await window.get_window_stats(tenant_item, tenant)
            await self._sleep(max(0.01, stats.reset_time - time.time()), deadline)

    async def _sleep(self, seconds: float, deadline: float) -> None:
        if time.monotonic() + seconds > deadline:
            raise TimeoutError
        self.waits += 1
        await anyio.sleep(seconds)

    async def observe(self, tenant: str, status: int, headers: Mapping[str, str]) -> None:
        """Fold what Xero said into the tenant's state, for every caller."""
        state = self._tenant(tenant)
        now = time.monotonic()
        remaining = _int(headers.get("x-minlimit-remaining"))
        if remaining is not None:
            window, tenant_item, _ = self._windows()
            local = (await window.get_window_stats(tenant_item, tenant)).remaining
            if remaining < local:  # Xero counted calls we did not (another process, another app)
                state.pending_debt = max(state.pending_debt, local - remaining)
        if _int(headers.get("x-daylimit-remaining")) == 0:
            state.day_blocked_until = now + (_float(headers.get("retry-after")) or 900.0)
        if status == 429:
            problem = (headers.get("x-rate-limit-problem") or "").lower()
            wait = _float(headers.get("retry-after"))
            if problem == "day":
                state.day_blocked_until = now + (wait or 3600.0)
            elif wait is not None:
                state.paused_until = max(state.paused_until, now + wait)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
