"""Which organisation a call uses when it names none: never a silent guess.

Order: `XERO_TENANT_ID` > the default stored by `login` > the only connected organisation. With
several and no choice the call fails closed, listing each organisation's name and tenant id so the
agent or person can pick. Connections are cached and refreshed after a 403 (a disconnected tenant).

In hosted mode (`PersonTenants`) the same logic runs per person, over that person's own connections,
and strictly: a tenant the call names must be one of theirs, else nothing is sent and the error lists
their own organisations (never anyone else's).
With an allow-list (XERO_MCP_ALLOWED_TENANTS) only the allowed organisations count: the only allowed
one is chosen, and only allowed ones are offered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx2

from ..identity import current_person
from ..state.cache import MemoryCache, SharedCache
from .errors import APIError, NotConfiguredError, TenantNotAllowedError, TenantRequiredError, TransportError

CACHE_SECONDS = 3600.0  # refreshed sooner after any 403 (a disconnected organisation)


class Tenants:
    """`strict` (hosted mode, one person's connections): a named tenant must be theirs, and the errors
    speak to that person rather than to the operator of a single login."""

    def __init__(self, http: Callable[[], httpx2.AsyncClient], connections_url: str,
                 stored_default: Callable[[], Awaitable[str | None]] | None = None,
                 cache: SharedCache | None = None, key: str = "connections", *, strict: bool = False,
                 allowed: frozenset[str] | None = None) -> None:
        self._http = http
        self._url = connections_url
        self._stored_default = stored_default
        self._cache = cache or MemoryCache()
        self._key = key
        self._lock = anyio.Lock()
        self.strict = strict
        #: XERO_MCP_ALLOWED_TENANTS as lower-case ids (None: every connected organisation may be chosen)
        self.allowed = allowed

    async def choose(self, named: str | None) -> str:
        """The tenant a call uses: `named` (checked against the connections when strict), else the default."""
        if not named:
            return await self.default()
        if not self.strict:
            return named
        connections = await self.connections()
        if not _holds(connections, named):  # perhaps connected since the list was cached
            connections = await self.connections(refresh=True)
        if not _holds(connections, named):
            raise TenantNotAllowedError(
                f"xero-tenant-id {named[:64]} is not one of your Xero organisations, so nothing was sent. "
                f"Yours: {_listed(connections) or 'none'}. Pass one of these ids (or omit xero-tenant-id when "
                "you have only one).")
        return named

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
        return organisations(_json(reply))

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
        if self.strict:
            if not connections:
                raise TenantRequiredError("None of your Xero organisations is connected to this server, so nothing "
                                          "was sent. Sign in again (disconnect and reconnect this server in your "
                                          "MCP client) and allow access to an organisation.")
            raise TenantRequiredError(
                f"You have several Xero organisations connected and none was chosen, so nothing was sent: "
                f"{_listed(connections)}. Pass xero-tenant-id with one of these ids.")
        if not connections:
            raise TenantRequiredError("No Xero organisation was named and none is connected to these credentials: "
                                      "pass xero-tenant-id, or set XERO_TENANT_ID, or run `xero-contacts-mcp login` "
                                      "and allow access to an organisation.")
        listed = _listed(connections)
        raise TenantRequiredError(
            f"Several Xero organisations are connected and none is chosen, so nothing was sent: {listed}. "
            "Pass xero-tenant-id with one of these ids (or set XERO_TENANT_ID, "
            "or run `xero-contacts-mcp login --tenant ID`).")


class PersonTenants:
    """Hosted mode: one strict `Tenants` per person, over their own connections (cached under their id).

    Which person is `identity.current_person`; with none, NotConfiguredError before anything is sent.
    """

    def __init__(self, http: Callable[[], httpx2.AsyncClient], connections_url: str,
                 stored_default: Callable[[], Awaitable[str | None]] | None = None,
                 cache: SharedCache | None = None, key: str = "connections", *, no_person: str) -> None:
        self._http = http
        self._url = connections_url
        self._stored_default = stored_default
        self._cache = cache or MemoryCache()
        self._key = key
        self._no_person = no_person
        self._by_person: dict[str, Tenants] = {}
        self.strict = True

    def _mine(self) -> Tenants:
        person = current_person.get()
        if person is None:
            raise NotConfiguredError(self._no_person)
        tenants = self._by_person.get(person.user_id)
        if tenants is None:
            tenants = self._by_person[person.user_id] = Tenants(
                self._http, self._url, self._stored_default, self._cache, person_key(self._key, person.user_id),
                strict=True)
        return tenants

    async def choose(self, named: str | None) -> str:
        return await self._mine().choose(named)

    async def connections(self, refresh: bool = False) -> list[dict[str, Any]]:
        return await self._mine().connections(refresh)

    async def default(self) -> str:
        return await self._mine().default()

    async def invalidate(self) -> None:
        await self._mine().invalidate()


def person_key(key: str, user_id: str) -> str:
    """Where one person's connections are cached (their sign-in stores them there first)."""
    return f"{key}:person:{user_id}"


def _holds(connections: list[dict[str, Any]], tenant: str) -> bool:
    return any(str(c.get("tenantId")) == tenant for c in connections)


def _listed(connections: list[dict[str, Any]]) -> str:
    return "; ".join(f"{c.get('tenantName') or '?'} ({c['tenantId']})" for c in connections)


class ConnectionsUnavailable(Exception):
    """Listing the organisations right after a sign-in failed: `detail` is the exception's type or the HTTP
    status, `answered` whether Xero replied at all (each caller words its own sentence)."""

    def __init__(self, detail: str, *, answered: bool) -> None:
        super().__init__(detail)
        self.detail, self.answered = detail, answered


async def fetch_connections(url: str, access_token: str,
                            transport: httpx2.AsyncBaseTransport | None) -> list[dict[str, Any]]:
    """The organisations a fresh access token reaches (`login` and a hosted sign-in, before any client exists)."""
    try:
        async with httpx2.AsyncClient(transport=transport, timeout=30) as http:
            reply = await http.get(url, headers={"Authorization": f"Bearer {access_token}"})
    except httpx2.HTTPError as exc:
        raise ConnectionsUnavailable(type(exc).__name__, answered=False) from None
    if reply.status_code != 200:
        raise ConnectionsUnavailable(str(reply.status_code), answered=True)
    return organisations(_json(reply))


def organisations(data: Any) -> list[dict[str, Any]]:
    """The connections that name an organisation, from Xero's /connections answer (anything else: none)."""
    return [c for c in data if isinstance(c, dict) and c.get("tenantId")] if isinstance(data, list) else []


def _json(reply: httpx2.Response) -> Any:
    try:
        return reply.json()
    except ValueError:
        return reply.text
