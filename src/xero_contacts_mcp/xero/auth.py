"""Authentication as httpx2 `Auth` flows: the one place a bearer token is attached (and so the one place
that decides, request by request, whether credentials may go to an organisation at all)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator

import httpx2

from .errors import NotConfiguredError

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
