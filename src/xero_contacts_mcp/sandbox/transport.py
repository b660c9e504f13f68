"""In-process httpx2 transport that turns the app's drop signal into a real transport error."""

from __future__ import annotations

from typing import Any

import httpx2

from xero_contacts_mcp.sandbox.faults import DropConnection


class SandboxTransport(httpx2.AsyncBaseTransport):
    """`httpx2.ASGITransport` over the sandbox app; a dropped connection surfaces as
    `httpx2.RemoteProtocolError`, the same class a real socket close raises."""

    def __init__(self, app: Any) -> None:
        self._inner = httpx2.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            return await self._inner.handle_async_request(request)
        except DropConnection:
            raise httpx2.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None

    async def aclose(self) -> None:
        await self._inner.aclose()
