"""Authentication as httpx2 `Auth` flows: the one place a bearer token is attached (and so the one place
that decides, request by request, whether credentials may go to an organisation at all)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Collection, Generator

import httpx2

from .errors import NotConfiguredError, TenantRequiredError

SETUP_HINT = (
    "Xero access is not configured. Run `xero-contacts-mcp login` (with XERO_CLIENT_ID set, and "
    "XERO_CLIENT_SECRET for a \"Web app\"), or set XERO_CLIENT_ID and XERO_CLIENT_SECRET of a Custom "
    "Connection, or XERO_ACCESS_TOKEN; then restart the server. Or run it with --sandbox to try every "
    "tool against the built-in sandbox."
)


class BearerAuth(httpx2.Auth):
    """A ready access token, used as is (it is never refreshed)."""

    def __init__(self, token: str) -> None:
        # surrounding whitespace (a pasted token) is no part of a token, and HTTP refuses it in a header
        self._header = f"Bearer {token.strip()}"

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


class NoCredentials(httpx2.Auth):
    """Refuses before anything is sent, with the setup instructions."""

    def sync_auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        raise NotConfiguredError(SETUP_HINT)
        yield request  # pragma: no cover - makes this a generator

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        raise NotConfiguredError(SETUP_HINT)
        yield request  # pragma: no cover - makes this a generator


class TenantNotAllowedError(TenantRequiredError):
    """The call names an organisation outside XERO_MCP_ALLOWED_TENANTS; nothing was sent."""


class AllowedTenants(httpx2.Auth):
    """XERO_MCP_ALLOWED_TENANTS: a request for any other organisation is refused before credentials are
    attached or anything is sent, whether the tenant came from the call, XERO_TENANT_ID or a stored default.

    Wraps the real flow, so every attempt (retries and the resend after a renewed token included) is
    checked. Requests without a tenant (listing the connections) pass.
    """

    def __init__(self, inner: httpx2.Auth, allowed: Collection[str]) -> None:
        self.inner = inner
        self.allowed = frozenset(allowed)

    def check(self, tenant: str | None) -> None:
        if tenant is None or _canonical(tenant) in self.allowed:
            return
        listed = ", ".join(sorted(self.allowed))
        raise TenantNotAllowedError(
            f"Organisation {tenant.strip()} is not one this server may reach, so nothing was sent to Xero: "
            f"its operator allows only {listed} (XERO_MCP_ALLOWED_TENANTS). Pass one of these as xero-tenant-id.")

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        self.check(request.headers.get("xero-tenant-id"))
        flow = self.inner.async_auth_flow(request)
        try:
            outgoing = await flow.__anext__()
            while True:
                self.check(outgoing.headers.get("xero-tenant-id"))
                response = yield outgoing
                outgoing = await flow.asend(response)
        except StopAsyncIteration:
            return
        finally:
            await flow.aclose()

    def sync_auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        self.check(request.headers.get("xero-tenant-id"))
        yield from self.inner.sync_auth_flow(request)


def _canonical(tenant: str) -> str:
    try:
        return str(uuid.UUID(tenant.strip()))
    except ValueError:
        return tenant.strip().lower()
