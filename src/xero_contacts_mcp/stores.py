"""Where state lives: a token file and this process (the default), or Redis when XERO_MCP_REDIS_URL is
set, so that every replica shares one login, one token cache and one set of rate-limit windows.

This is the only place that knows which; everything else sees `TokenStore`, `SharedCache` and `Limiter`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from .settings import Settings
from .state.cache import MemoryCache, SharedCache, SharedStateUnavailable
from .state.limiter import Limiter, Limits, LocalLimiter
from .state.tokens import FileTokenStore, TokenStore


class StoresUnavailable(Exception):
    """Redis is configured but does not answer at start-up: one sentence."""


class RedisNotInstalled(Exception):
    """XERO_MCP_REDIS_URL is set but the `redis` extra is not installed (a configuration error: exit 2)."""


@dataclass
class Stores:
    tokens: TokenStore
    cache: SharedCache
    limiter: Limiter
    redis: Any = None  # the RedisState when shared, for `doctor`'s checks

    def describe(self) -> str:
        return f"Redis {self.redis.describe()}" if self.redis is not None else "this process (no XERO_MCP_REDIS_URL)"


def limits(settings: Settings) -> Limits:
    return Limits(settings.xero_mcp_tenant_concurrency, settings.xero_mcp_tenant_per_minute,
                  settings.xero_mcp_app_per_minute, settings.xero_mcp_rate_window)


def token_file(settings: Settings) -> FileTokenStore:
    return FileTokenStore(settings.xero_token_file)


@asynccontextmanager
async def open_stores(settings: Settings, *, check: bool = True) -> AsyncIterator[Stores]:
    """The stores for these settings, closed on exit.

    With Redis, `check` pings it first so that an unreachable Redis is a start-up error rather than
    the first call's; `doctor` passes False to report it as a failed check instead.
    """
    if settings.xero_mcp_redis_url is None:
        yield Stores(token_file(settings), MemoryCache(), LocalLimiter(limits(settings)))
        return
    try:
        from .state.redis_limiter import RedisLimiter
        from .state.redis_state import RedisCache, RedisState, RedisTokenStore
    except ImportError:
        raise RedisNotInstalled("XERO_MCP_REDIS_URL is set but the Redis client is not installed: "
                                "pip install 'xero-contacts-mcp[redis]'.") from None
    state = RedisState(settings.xero_mcp_redis_url, settings.xero_mcp_redis_prefix)
    try:
        if check:
            try:
                await state.ping()
            except SharedStateUnavailable as exc:
                raise StoresUnavailable(f"{exc} Check XERO_MCP_REDIS_URL and that Redis is running.") from None
        lease = settings.xero_mcp_redis_lease
        yield Stores(RedisTokenStore(state, lease=lease), RedisCache(state),
                     RedisLimiter(state, limits(settings), slot_lease=lease, app=settings.xero_client_id or "app"),
                     state)
    finally:
        await state.close()
