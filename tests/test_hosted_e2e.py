"""Hosted mode end to end, as a team runs it: three `serve --transport http --stateless` replicas
sharing one Redis behind a round-robin load balancer (the public URL), the standalone sandbox as
Xero, and for each person the SDK's OAuth client (discovery, registration, our consent page, the
sandbox's login as that person, the callback, the token exchange) and real tool calls.

Each person sees only their own organisations, Xero tokens expire and refresh several times with no
invalid_grant, and `users revoke` ends a person's MCP token on the next call."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
from cryptography.fernet import Fernet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fleet import Replica
from hosted_helpers import Browser, MemoryTokens, mcp_client, mcp_status, oauth, serve, text
from sandbox_process import SandboxProcess

if TYPE_CHECKING:
    from redis_server import RedisServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class LoadBalancer:
    """Round robin over the replicas, every request (a browser's or a client's) to the next one."""

    def __init__(self) -> None:
        self.replicas: list[str] = []
        self._next = itertools.count()
        self.http = httpx2.AsyncClient(timeout=60)
        self.served: dict[str, int] = {}

    def app(self) -> Starlette:
        async def forward(request: Request) -> Response:
            target = self.replicas[next(self._next) % len(self.replicas)]
            self.served[target] = self.served.get(target, 0) + 1
            headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
            reply = await self.http.request(request.method, target + request.url.path, params=request.query_params,
                                            headers=[*headers, ("host", request.headers["host"])],
                                            content=await request.body())
            response = Response(reply.content, status_code=reply.status_code)
            response.raw_headers = [(k.encode(), v.encode()) for k, v in reply.headers.multi_items()
                                    if k.lower() not in HOP_BY_HOP] + [
                (b"content-length", str(len(reply.content)).encode())]
            return response

        methods = ["GET", "POST", "DELETE", "OPTIONS"]
        return Starlette(routes=[Route("/{path:path}", forward, methods=methods)])


@dataclass
class Team:
    sandbox: SandboxProcess
    public: str
    env: dict[str, str]
    balancer: LoadBalancer

    def user(self, handle: str) -> dict[str, Any]:
        return next(u for u in self.sandbox.info["users"] if u["id"] == handle)

    async def person(self, handle: str) -> Browser:
        return await Browser.at_sandbox(self.sandbox.control, handle)


@pytest.fixture
async def team(served: SandboxProcess, redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[Team]:
    sandbox = served.reset(access_token_lifetime=3.0)
    balancer = LoadBalancer()
    async with serve(lambda base: balancer.app()) as public:
        app, info = sandbox.app("web"), sandbox.info
        env = {k: v for k, v in os.environ.items() if not k.startswith("XERO_")}
        env.update({
            "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
            "XERO_CLIENT_ID": app["client_id"], "XERO_CLIENT_SECRET": app["client_secret"],
            "XERO_API_URL": info["api_url"], "XERO_TOKEN_URL": info["token_url"],
            "XERO_CONNECTIONS_URL": info["connections_url"], "XERO_REVOKE_URL": info["revoke_url"],
            "XERO_AUTHORIZE_URL": info["authorize_url"], "XERO_JWKS_URL": info["jwks_url"],
            "XERO_ISSUER": info["issuer"], "XERO_MCP_PUBLIC_URL": public,
            "XERO_MCP_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "XERO_MCP_REDIS_URL": redis_server.url, "XERO_MCP_REDIS_PREFIX": f"team-{uuid.uuid4().hex[:8]}:",
            "XERO_MCP_LOG_LEVEL": "INFO",
        })
        replicas = [Replica(env, tmp_path / f"replica-{i}.log") for i in range(3)]
        try:
            for replica in replicas:
                replica.wait_ready(60)
            balancer.replicas = [r.base for r in replicas]
            yield Team(sandbox, public, env, balancer)
        finally:
            for replica in replicas:
                replica.stop()
            await balancer.http.aclose()


async def test_two_people_on_three_replicas_each_see_only_their_own(team: Team) -> None:
    alice, bob = team.user("alice"), team.user("bob")
    mcp = f"{team.public}/mcp"
    browsers = {"alice": await team.person("alice"), "bob": await team.person("bob")}
    storage = {"alice": MemoryTokens(), "bob": MemoryTokens()}
    async with mcp_client(mcp, oauth(mcp, browsers["alice"], storage["alice"])) as as_alice, \
            mcp_client(mcp, oauth(mcp, browsers["bob"], storage["bob"])) as as_bob:
        groups = "xero_contacts_get_contact_groups"
        own = await as_alice.call_tool(groups, {"xero-tenant-id": alice["tenant_ids"][0]})
        assert not own.is_error, text(own)
        theirs = await as_alice.call_tool(groups, {"xero-tenant-id": bob["tenant_ids"][0]})
        assert theirs.is_error and "Alice Bakery" in text(theirs) and "Bob" not in text(theirs)
        unchosen = await as_alice.call_tool(groups, {})  # two organisations, no choice: fail closed
        assert unchosen.is_error and "Alice Consulting" in text(unchosen) and "Bob" not in text(unchosen)
        only = await as_bob.call_tool(groups, {})  # one organisation: it is the one
        assert not only.is_error, text(only)
        created = await as_bob.call_tool("xero_contacts_create_contact_group",
                                          {"ContactGroups": [{"Name": "Bob's suppliers"}]})
        assert not created.is_error, text(created)
        peek = await as_bob.call_tool(groups, {"xero-tenant-id": alice["tenant_ids"][1]})
        assert peek.is_error and "Bob Plumbing" in text(peek) and "Alice" not in text(peek)

        # Xero's access tokens live 3 s: several expiries, each person refreshing their own
        failures: list[str] = []
        for _ in range(3):
            await asyncio.sleep(3.2)
            results = await asyncio.gather(
                *[as_alice.call_tool(groups, {"xero-tenant-id": alice["tenant_ids"][0]}) for _ in range(3)],
                *[as_bob.call_tool(groups, {}) for _ in range(3)])
            failures += [text(r) for r in results if r.is_error]
        assert failures == []
    stats = team.sandbox.stats()
    assert stats["invalid_grants"] == 0 and stats["refreshes"] >= 6
    assert len(team.balancer.served) == 3  # every replica served part of it
    assert [len(b.consent_pages) for b in browsers.values()] == [1, 1]

    # the operator revokes alice: her MCP token stops working on the next call; bob's goes on
    command = [sys.executable, "-m", "xero_contacts_mcp", "users", "revoke", alice["xero_userid"]]
    revoke = await asyncio.to_thread(subprocess.run, command, env=team.env, capture_output=True, text=True,
                                     timeout=60)
    assert revoke.returncode == 0, revoke.stderr
    assert await mcp_status(team.public, storage["alice"].tokens.access_token) == 401
    assert await mcp_status(team.public, storage["bob"].tokens.access_token) == 200
    for browser in browsers.values():
        await browser.aclose()


async def test_one_node_with_the_local_store(served: SandboxProcess, tmp_path: Path) -> None:
    """A single `serve` with no Redis: grants in XERO_MCP_DATA_DIR (0600, nothing usable in it); a static
    XERO_MCP_HTTP_TOKEN is reported at start-up as not applying, and is not accepted at /mcp."""
    from http_server import free_port, wait_healthy

    sandbox = served.reset()
    app, info = sandbox.app("web"), sandbox.info
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("XERO_")}
    env.update({
        "XDG_CONFIG_HOME": str(tmp_path / "config"), "XERO_MCP_DATA_DIR": str(tmp_path / "data"),
        "XERO_CLIENT_ID": app["client_id"], "XERO_CLIENT_SECRET": app["client_secret"],
        "XERO_API_URL": info["api_url"], "XERO_TOKEN_URL": info["token_url"],
        "XERO_CONNECTIONS_URL": info["connections_url"], "XERO_REVOKE_URL": info["revoke_url"],
        "XERO_AUTHORIZE_URL": info["authorize_url"], "XERO_JWKS_URL": info["jwks_url"], "XERO_ISSUER": info["issuer"],
        "XERO_MCP_PUBLIC_URL": base, "XERO_MCP_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "XERO_MCP_HTTP_TOKEN": "static-token-that-must-not-open-mcp",
    })
    log = tmp_path / "serve.log"
    with log.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "xero_contacts_mcp", "serve", "--transport", "http",
                                    "--port", str(port)], env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        await asyncio.to_thread(wait_healthy, base, process, log.read_text, 60)
        assert await mcp_status(base, "static-token-that-must-not-open-mcp") == 401
        browser = await Browser.at_sandbox(sandbox.control, "bob")
        storage = MemoryTokens()
        async with mcp_client(f"{base}/mcp", oauth(f"{base}/mcp", browser, storage)) as client:
            result = await client.call_tool("xero_contacts_get_contact_groups", {})
        assert not result.is_error, text(result)
        await browser.aclose()
        grants = tmp_path / "data" / "mcp-grants.json"
        assert oct(grants.stat().st_mode & 0o777) == "0o600"
        raw = grants.read_text()
        assert storage.tokens.access_token not in raw and storage.tokens.refresh_token not in raw
        assert storage.client.client_secret not in raw
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 15)
    assert "XERO_MCP_HTTP_TOKEN does not apply" in log.read_text()


def test_a_public_bind_needs_no_static_token_in_hosted_mode() -> None:
    from xero_contacts_mcp.server.http import HTTPConfigError, HTTPOptions, check

    check(HTTPOptions(host="0.0.0.0", hosted=object()))  # noqa: S104 - each request carries an OAuth token
    with pytest.raises(HTTPConfigError, match="XERO_MCP_HTTP_TOKEN"):
        check(HTTPOptions(host="0.0.0.0"))  # noqa: S104
