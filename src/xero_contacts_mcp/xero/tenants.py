"""Which organisation a call uses when it names none: never a silent guess.

Order: `XERO_TENANT_ID` > the default stored by `login` > the only connected organisation. With
several and no choice the call fails closed, listing each organisation's name and tenant id so the
agent or person can pick. Connections are cached and refreshed after a 403 (a disconnected tenant).
With an allow-list (XERO_MCP_ALLOWED_TENANTS) only the allowed organisations count: the only allowed
one is chosen, and only allowed ones are offered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx2

from ..state.cache import MemoryCache, SharedCache
from .errors import APIError, TenantRequiredError, TransportError

CACHE_SECONDS = 3600.0  # refreshed sooner after any 403 (a disconnected organisation)


class Tenants:
    def __init__(self, http: Callable[[], httpx2.AsyncClient], connections_url: str,
                 stored_default: Callable[[], Awaitable[str | None]] | None = None,
                 cache: SharedCache | None = None, key: str = "connections") -> None:
        self._http = http
        self._url = connections_url
        self._stored_default = stored_default
        self._cache = cache or MemoryCache()
        self._key = key
        self._lock = anyio.Lock()
        #: XERO_MCP_ALLOWED_TENANTS as lower-case ids (None: every connected organisation may be chosen)
        self.allowed: frozenset[str] | None = None

    async def connections(self, refresh: bool = False) -> list[dict[str, Any]]:
        async with self._lock:
            cached = None if refresh else await self._cache.get(self._key)
            if not isinstance(cached, list):
                cached = await self._fetch()
                await self._cache.set(self._key, cached, ttl=CACHE_SECONDS)
            return list(cached)

    async def invalidate(self) -> None:
        await self._cache.delete(self._key)

    async def _fetch(self) -> list[dict[str, Any]]:
        try:
            reply = await self._http().get(self._url)
        except httpx2.TransportError as exc:
            raise TransportError(f"Could not list the connected Xero organisations ({type(exc).__name__}).",
                                 sent=False, method="GET", path=self._url) from None
        if reply.status_code >= 400:
            raise APIError(reply.status_code, _json(reply), dict(reply.headers), method="GET", path=self._url)
        data = _json(reply)
        return [c for c in data if isinstance(c, dict) and c.get("tenantId")] if isinstance(data, list) else []

    async def default(self) -> str:
        stored = await self._stored_default() if self._stored_default is not None else None
        if stored:
            return stored
        connections = await self.connections()
        if self.allowed is not None:
            connections = [c for c in connections if str(c["tenantId"]).lower() in self.allowed]
            if not connections:
                raise TenantRequiredError(
                    "None of the connected Xero organisations is in this server's allow-list "
                    f"(XERO_MCP_ALLOWED_TENANTS: {', '.join(sorted(self.allowed))}), so nothing was sent. Pass "
                    "xero-tenant-id with one of those ids, or ask the operator to connect or allow the organisation.")
        if len(connections) == 1:
            return str(connections[0]["tenantId"])
        if not connections:
            raise TenantRequiredError("No Xero organisation was named and none is connected to these credentials: "
                                      "pass xero-tenant-id, or set XERO_TENANT_ID, or run `xero-contacts-mcp login` "
                                      "and allow access to an organisation.")
        listed = "; ".join(f"{c.get('tenantName') or '?'} ({c['tenantId']})" for c in connections)
        raise TenantRequiredError(
            f"Several Xero organisations are connected and none is chosen, so nothing was sent: {listed}. "
            "Pass xero-tenant-id with one of these ids (or set XERO_TENANT_ID, "
            "or run `xero-contacts-mcp login --tenant ID`).")


def _json(reply: httpx2.Response) -> Any:
    try:
        return reply.json()
    except ValueError:
        return reply.text
