"""Per-tenant rate limiting in front of the network, so calls queue instead of collecting 429s.

Xero allows each organisation 5 calls in flight, 60 a minute and 5,000 a day, and an app 10,000 a
minute. Calls wait their turn in order (FIFO locks and semaphores); a moving window counts the minute;
what Xero reports back (`X-MinLimit-Remaining`, `Retry-After`, `X-DayLimit-Remaining: 0`) slows or
stops the tenant for every caller, not just the one that saw it.

The window counts a call from when it is granted until a window after it *ends*. Xero counts it when
it arrives, somewhere in between, so this window always frees a place after Xero's does: counted from
the grant, a slow call followed by a fast one could look a window apart here and less than that at
Xero (a 429). `RedisLimiter` keeps the same rule across replicas.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

import anyio


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


class Window:
    """A moving window of `limit` calls per `span` seconds (monotonic clock), counting each call from
    `take()` until `span` seconds after `end()`."""

    def __init__(self, limit: int, span: float) -> None:
        self.limit = limit
        self.span = span
        self.ended: deque[float] = deque()  # when counted calls ended, oldest first
        self.open = 0  # calls taken and not yet ended
        self.freed = anyio.Event()  # set when an open call ends (for a window held entirely by open calls)

    def wait(self, now: float) -> float | None:
        """0 when there is a place now, else the seconds until one frees; None when only an end can free one."""
        ended = self.ended
        while ended and ended[0] <= now - self.span:
            ended.popleft()
        excess = len(ended) + self.open - self.limit + 1
        if excess <= 0:
            return 0.0
        if excess > len(ended):
            return None
        return ended[excess - 1] + self.span - now

    def remaining(self, now: float) -> int:
        self.wait(now)
        return max(0, self.limit - len(self.ended) - self.open)

    def take(self) -> None:
        self.open += 1

    def end(self, now: float, *, counted: bool = True) -> None:
        """The call ended (`counted=False`: it was never sent, so it frees its place at once)."""
        self.open -= 1
        if counted:
            self.ended.append(now)
        self.freed.set()
        self.freed = anyio.Event()

    def charge(self, calls: int, now: float) -> None:
        """Count calls Xero saw and we did not (another process, another app)."""
        self.ended.extend([now] * calls)


@dataclass
class _Tenant:
    in_flight: anyio.Semaphore
    window: Window
    turn: anyio.Lock = field(default_factory=anyio.Lock)
    paused_until: float = 0.0
    day_blocked_until: float = 0.0


class LocalLimiter:
    """One process's limiter."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._app = Window(self.limits.app_per_window, self.limits.window)
        self._tenants: dict[str, _Tenant] = {}
        self.waits = 0  # how often a call had to wait for the window (observability, tests)

    def _tenant(self, tenant: str) -> _Tenant:
        if tenant not in self._tenants:
            self._tenants[tenant] = _Tenant(anyio.Semaphore(self.limits.concurrent, fast_acquire=False),
                                            Window(self.limits.per_window, self.limits.window))
        return self._tenants[tenant]

    @asynccontextmanager
    async def slot(self, tenant: str, deadline: float) -> AsyncIterator[None]:
        """Wait (in order) for a place in the tenant's and the app's window and one of its in-flight slots."""
        state = self._tenant(tenant)
        now = time.monotonic()
        if state.day_blocked_until > now:
            raise LimitExceeded("daily limit", state.day_blocked_until - now, daily=True)
        placed = False
        try:
            # fail_after raises TimeoutError when its scope exits, so the handler must enclose the scope
            with anyio.fail_after(max(0.0, deadline - now)):
                async with state.turn:  # one waiter at a time takes the next place in the window
                    await self._take_place(state, deadline)
                    placed = True
                await state.in_flight.acquire()
        except TimeoutError:
            if placed:  # never sent: its place frees at once
                self._end(state, counted=False)
            raise LimitExceeded("queued past the deadline", self.limits.window / 2) from None
        except BaseException:
            if placed:
                self._end(state, counted=False)
            raise
        try:
            yield
        finally:
            state.in_flight.release()
            self._end(state, counted=True)

    def _end(self, state: _Tenant, *, counted: bool) -> None:
        now = time.monotonic()
        state.window.end(now, counted=counted)
        self._app.end(now, counted=counted)

    async def _take_place(self, state: _Tenant, deadline: float) -> None:
        while True:
            now = time.monotonic()
            if state.paused_until > now:
                await self._sleep(state.paused_until - now, deadline)
                continue
            waits = (state.window.wait(now), self._app.wait(now))
            if waits == (0.0, 0.0):
                state.window.take()
                self._app.take()
                return
            if None in waits:  # every place is held by a call still running: wait for one to end
                window = state.window if waits[0] is None else self._app
                self.waits += 1
                await window.freed.wait()
                continue
            await self._sleep(max(0.001, *(w for w in waits if w is not None)), deadline)

    async def _sleep(self, seconds: float, deadline: float) -> None:
        if time.monotonic() + seconds > deadline:
            raise TimeoutError
        self.waits += 1
        await anyio.sleep(seconds)

    async def observe(self, tenant: str, status: int, headers: Mapping[str, str]) -> None:
        """Fold what Xero said into the tenant's state, for every caller."""
        said = XeroSignals.read(status, headers)
        state = self._tenant(tenant)
        now = time.monotonic()
        if said.remaining is not None:
            local = state.window.remaining(now)
            if said.remaining < local:  # Xero counted calls we did not (another process, another app)
                state.window.charge(local - said.remaining, now)
        if said.day_spent:
            state.day_blocked_until = now + (said.retry_after or 900.0)
        if status == 429:
            if said.problem == "day":
                state.day_blocked_until = now + (said.retry_after or 3600.0)
            elif said.retry_after is not None:
                state.paused_until = max(state.paused_until, now + said.retry_after)


@dataclass(frozen=True)
class XeroSignals:
    """What one Xero response says about the limits (both limiters read it the same way)."""

    status: int
    remaining: int | None  # X-MinLimit-Remaining
    retry_after: float | None  # Retry-After in seconds; absent unless a finite, non-negative number
    day_spent: bool  # X-DayLimit-Remaining: 0
    problem: str  # X-Rate-Limit-Problem, lower-cased

    @classmethod
    def read(cls, status: int, headers: Mapping[str, str]) -> XeroSignals:
        return cls(status, _int(headers.get("x-minlimit-remaining")), _seconds(headers.get("retry-after")),
                   _int(headers.get("x-daylimit-remaining")) == 0, (headers.get("x-rate-limit-problem") or "").lower())

    @property
    def anything(self) -> bool:
        return self.remaining is not None or self.day_spent or self.status == 429


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _seconds(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None
