"""Xero's rate limits: concurrent, per-minute and per-day per tenant, per-minute per app.

Windows are fixed (they start at the first call after the previous one ended), which is how Xero's
limits behave in practice. Every number is read from the config on each call, so tests and the
control API can change limits on a live sandbox.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from xero_contacts_mcp.sandbox.clock import Clock
from xero_contacts_mcp.sandbox.config import SandboxConfig


@dataclass
class _Window:
    start: float = 0.0
    count: int = 0

    def roll(self, now: float, length: float) -> None:
        if now >= self.start + length:
            self.start, self.count = now, 0

    def retry_after(self, now: float, length: float) -> int:
        return max(1, math.ceil(self.start + length - now))


@dataclass(frozen=True)
class Rejection:
    """Why a call is refused: `X-Rate-Limit-Problem` and `Retry-After` (None for concurrency)."""

    problem: str
    retry_after: int | None


class RateLimiter:
    def __init__(self, config: SandboxConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        self.in_flight: Counter[str] = Counter()
        self.minute: dict[str, _Window] = {}
        self.day: dict[str, _Window] = {}
        self.app_minute = _Window()

    def _roll(self, tenant_id: str) -> tuple[_Window, _Window]:
        now = self.clock.time()
        minute = self.minute.setdefault(tenant_id, _Window(now))
        day = self.day.setdefault(tenant_id, _Window(now))
        minute.roll(now, self.config.minute_window)
        day.roll(now, self.config.day_window)
        self.app_minute.roll(now, self.config.minute_window)
        return minute, day

    def check(self, tenant_id: str) -> Rejection | None:
        """The limit this call would exceed, if limits are enforced."""
        if not self.config.enforce_limits:
            return None
        cfg, now = self.config, self.clock.time()
        minute, day = self._roll(tenant_id)
        if day.count >= cfg.day_limit:
            return Rejection("day", day.retry_after(now, cfg.day_window))
        if minute.count >= cfg.minute_limit:
            return Rejection("minute", minute.retry_after(now, cfg.minute_window))
        if self.app_minute.count >= cfg.app_minute_limit:
            return Rejection("appminute", self.app_minute.retry_after(now, cfg.minute_window))
        if self.in_flight[tenant_id] >= cfg.concurrent_limit:
            return Rejection("concurrent", None)
        return None

    def acquire(self, tenant_id: str) -> None:
        """Count a call that goes ahead and hold one concurrency slot until `release`."""
        minute, day = self._roll(tenant_id)
        minute.count += 1
        day.count += 1
        self.app_minute.count += 1
        self.in_flight[tenant_id] += 1

    def release(self, tenant_id: str) -> None:
        self.in_flight[tenant_id] -= 1

    def headers(self, tenant_id: str) -> dict[str, str]:
        """The remaining-calls headers Xero puts on every response."""
        cfg = self.config
        minute, day = self._roll(tenant_id)
        return {
            "X-DayLimit-Remaining": str(max(cfg.day_limit - day.count, 0)),
            "X-MinLimit-Remaining": str(max(cfg.minute_limit - minute.count, 0)),
            "X-AppMinLimit-Remaining": str(max(cfg.app_minute_limit - self.app_minute.count, 0)),
        }
