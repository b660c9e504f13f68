"""Fixtures for the sandbox tests: a fresh sandbox per test and an httpx2 client over its transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import pytest

from xero_contacts_mcp.sandbox import Sandbox, SandboxConfig

API = "https://api.xero.com/api.xro/2.0"


class Api:
    """Calls the sandbox API as the default tenant with the console token unless told otherwise."""

    def __init__(self, sandbox: Sandbox, http: httpx2.AsyncClient) -> None:
        self.sandbox = sandbox
        self.http = http
        self.token = sandbox.access_token
        self.tenant = sandbox.tenant_id

    def headers(self, extra: dict[str, str] | None = None, **overrides: str | None) -> dict[str, str]:
        base: dict[str, str | None] = {"Authorization": f"Bearer {self.token}", "xero-tenant-id": self.tenant}
        base |= {k.replace("_", "-"): v for k, v in overrides.items()}
        return {k: v for k, v in base.items() if v is not None} | (extra or {})

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx2.Response:
        return await self.http.request(
            method,
            API + path,
            json=json_body,
            content=content,
            params=params,
            headers=headers if headers is not None else self.headers(),
        )

    async def get(self, path: str, **kw: Any) -> httpx2.Response:
        return await self.request("GET", path, **kw)

    async def put(self, path: str, body: Any, **kw: Any) -> httpx2.Response:
        return await self.request("PUT", path, json_body=body, **kw)

    async def post(self, path: str, body: Any, **kw: Any) -> httpx2.Response:
        return await self.request("POST", path, json_body=body, **kw)

    async def delete(self, path: str, **kw: Any) -> httpx2.Response:
        return await self.request("DELETE", path, **kw)


@pytest.fixture
def config() -> SandboxConfig:
    return SandboxConfig()


@pytest.fixture
def sandbox(config: SandboxConfig) -> Sandbox:
    return Sandbox(config)


@pytest.fixture
async def http(sandbox: Sandbox) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(transport=sandbox.transport(), follow_redirects=False) as client:
        yield client


@pytest.fixture
def api(sandbox: Sandbox, http: httpx2.AsyncClient) -> Api:
    return Api(sandbox, http)


@pytest.fixture
def contract(openapi_spec: Any) -> Callable[[httpx2.Response], None]:
    """Validate a sandbox response (2xx or 400) against Xero's OpenAPI spec; raises when it does not match."""
    from openapi_core.testing import MockRequest, MockResponse

    def check(response: httpx2.Response) -> None:
        request = MockRequest(
            "https://api.xero.com",
            response.request.method.lower(),
            "/api.xro/2.0" + response.request.url.path.split("/api.xro/2.0", 1)[1],
            args=dict(response.request.url.params),
        )
        content_type = response.headers.get("content-type")
        result = MockResponse(
            response.content,
            status_code=response.status_code,
            content_type=content_type.split(";")[0] if content_type else None,  # type: ignore[arg-type]
        )
        openapi_spec.validate_response(request, result)

    return check
