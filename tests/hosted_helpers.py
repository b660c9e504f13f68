"""Hosted mode under test: the real HTTP app (SDK auth routes + our provider) served by uvicorn on an
ephemeral port in this process, a scripted browser with its own cookie jar, and the SDK's own OAuth
client. `FakeXero` stands in for Xero's login where a test is about the MCP side only (it checks our
PKCE and nonce as Xero would); the end-to-end tests use the real XeroPeople and the sandbox.

    async with FakeXero.serve() as xero, hosted_server(xero, tmp_path) as server:
        browser = Browser(xero_user="alice")
        async with mcp_client(server, browser) as client: ...
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import re
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx2
import uvicorn
from cryptography.fernet import Fernet, MultiFernet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from xero_contacts_mcp.identity import Person, current_person
from xero_contacts_mcp.server.hosted.cimd import MetadataFetcher
from xero_contacts_mcp.server.hosted.provider import HostedProvider
from xero_contacts_mcp.server.hosted.routes import Hosted
from xero_contacts_mcp.server.hosted.store import FileGrantStore, GrantStore

CLIENT_REDIRECT = "http://127.0.0.1:53682/callback"  # never listened on: the browser stops at it


# ── serving ASGI apps on ephemeral ports ───────────────────────────────────────────────────────

@asynccontextmanager
async def serve(build: Callable[[str], Any]) -> AsyncIterator[str]:
    """Bind 127.0.0.1:0, build the app for that base URL, serve it until the block ends."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(build(base), log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield base
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        sock.close()


# ── a stand-in for Xero's login ────────────────────────────────────────────────────────────────

@dataclass
class FakeXero:
    """Xero's authorize page and token exchange as the provider sees them (People protocol).

    The browser chooses who logs in with a `user` cookie on this host; the code it returns is
    redeemed once, only with the verifier matching the challenge and the nonce sent."""

    base: str = ""
    public_url: str = ""
    active: set[str] = field(default_factory=set)
    codes: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    logins: int = 0

    def authorize_url(self, *, state: str, code_challenge: str, nonce: str) -> str:
        return f"{self.base}/authorize?" + urlencode({"state": state, "code_challenge": code_challenge,
                                                      "nonce": nonce, "code_challenge_method": "S256"})

    async def complete_login(self, *, code: str, code_verifier: str, nonce: str) -> Person:
        user, challenge, sent_nonce = self.codes.pop(code)
        digest = base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest()).decode().rstrip("=")
        if digest != challenge or nonce != sent_nonce:
            raise RuntimeError("PKCE or nonce mismatch at Xero")
        self.active.add(user)
        self.logins += 1
        return Person(user_id=f"xero-{user}", email=f"{user}@example.com", name=user.title())

    async def is_active(self, user_id: str) -> bool:
        return user_id.removeprefix("xero-") in self.active

    async def _authorize(self, request: Request) -> Response:
        user = request.cookies.get("user", "default")
        if user == "refuses":
            return RedirectResponse(f"{self.public_url}/xero/callback?error=access_denied&state="
                                    f"{request.query_params['state']}")
        code = secrets.token_urlsafe(16)
        self.codes[code] = (user, request.query_params["code_challenge"], request.query_params["nonce"])
        query = urlencode({"code": code, "state": request.query_params["state"]})
        return RedirectResponse(f"{self.public_url}/xero/callback?{query}", status_code=302)

    @classmethod
    @asynccontextmanager
    async def serve(cls) -> AsyncIterator[FakeXero]:
        xero = cls()
        async with serve(lambda base: Starlette(routes=[Route("/authorize", xero._authorize)])) as base:
            xero.base = base
            yield xero


# ── the server ─────────────────────────────────────────────────────────────────────────────────

@dataclass
class HostedServer:
    base: str
    hosted: Hosted
    store: GrantStore

    @property
    def provider(self) -> HostedProvider:
        return self.hosted.provider

    @property
    def mcp(self) -> str:
        return f"{self.base}/mcp"


class WhoAmI:
    """A one-tool runner answering with `identity.current_person`: what the layers below would act as."""

    @dataclass
    class Definition:
        name: str = "whoami"
        title: str = "Who am I"
        description: str = "Says which person this call acts as."
        input_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
        output_schema: dict[str, Any] | None = None
        annotations: dict[str, bool] = field(default_factory=lambda: {
            "readOnlyHint": True, "destructiveHint": False, "idempotentHint": True, "openWorldHint": False})

    @dataclass
    class Outcome:
        text: str
        data: dict[str, Any] | None = None
        is_error: bool = False

    def definitions(self) -> list[Any]:
        return [self.Definition()]

    async def run(self, name: str, arguments: dict[str, Any] | None) -> Any:
        if name != "whoami":
            raise LookupError(name)
        person = current_person.get()
        return self.Outcome(text=person.user_id if person else "nobody")


def encryption() -> MultiFernet:
    return MultiFernet([Fernet(Fernet.generate_key())])


@asynccontextmanager
async def hosted_server(people: Any, workdir: Path, *, store: GrantStore | None = None, runner: Any = None,
                        stateless: bool = False, fetcher: MetadataFetcher | None = None,
                        fernet: MultiFernet | None = None, public_url: str | None = None,
                        **limits: float) -> AsyncIterator[HostedServer]:
    """The real HTTP app in hosted mode (whoami tool unless `runner` is given) on an ephemeral port;
    `public_url` (default: its own base) lets replicas share one, as behind a load balancer."""
    from xero_contacts_mcp.server.app import build_server
    from xero_contacts_mcp.server.http import HTTPOptions, build_app

    grants = store or FileGrantStore(workdir / "mcp-grants.json")
    made: dict[str, Hosted] = {}

    def build(base: str) -> Any:
        provider = HostedProvider(public_url=public_url or base, store=grants, people=people, fernet=fernet or encryption(),
                                  fetcher=fetcher or MetadataFetcher(allow_loopback=True), **limits)
        made["hosted"] = Hosted(provider)
        if hasattr(people, "public_url"):
            people.public_url = public_url or base
        server = build_server(runner or WhoAmI(), instructions="test")
        return build_app(server, HTTPOptions(hosted=made["hosted"], stateless=stateless))

    async with serve(build) as base:
        yield HostedServer(base, made["hosted"], grants)


# ── a person's browser ─────────────────────────────────────────────────────────────────────────

HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


class Browser:
    """Follows redirects by hand, answers our consent page, logs in at (fake or sandbox) Xero, and stops
    at the client's redirect URI, returning its query."""

    def __init__(self, *, xero_user: str | None = None, decision: str = "allow") -> None:
        self.http = httpx2.AsyncClient(follow_redirects=False, timeout=30)
        self.xero_user = xero_user
        self.decision = decision
        self.visited: list[str] = []
        self.consent_pages: list[httpx2.Response] = []

    @classmethod
    async def at_sandbox(cls, control_url: str, user: str, **kwargs: Any) -> Browser:
        """A browser already logged in at the sandbox's Xero as `user` (handle or email), as a person would be."""
        browser = cls(**kwargs)
        reply = await browser.http.get(f"{control_url}/login-as", params={"user": user})
        assert reply.status_code == 200, reply.text
        return browser

    async def login_at_fake_xero(self, xero: FakeXero) -> None:
        self.http.cookies.set("user", self.xero_user or "default", domain=urlsplit(xero.base).hostname or "")

    async def go(self, url: str, stop_at: str = CLIENT_REDIRECT) -> dict[str, str]:
        """Visit `url` and follow on; returns the query the client's redirect URI received."""
        reply = await self.http.get(url)
        for _ in range(20):
            self.visited.append(str(reply.url))
            if reply.status_code in (302, 303, 307):
                target = urljoin(str(reply.url), reply.headers["location"])
                if target.startswith(stop_at):
                    return {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
                reply = await self.http.get(target)
            elif reply.status_code == 200 and urlsplit(str(reply.url)).path == "/consent":
                self.consent_pages.append(reply)
                fields = {name: unescape(value) for name, value in HIDDEN.findall(reply.text)}
                origin = "{0.scheme}://{0.netloc}".format(urlsplit(str(reply.url)))
                reply = await self.http.post(urljoin(str(reply.url), "/consent"),
                                             data={**fields, "decision": self.decision},
                                             headers={"Origin": origin})
            else:
                raise BrowserStopped(reply)
        raise AssertionError(f"too many redirects: {self.visited}")

    async def aclose(self) -> None:
        await self.http.aclose()


class BrowserStopped(Exception):
    """The browser ended on a page that is neither a redirect nor our consent page."""

    def __init__(self, reply: httpx2.Response) -> None:
        super().__init__(f"{reply.status_code} at {reply.url}: {reply.text[:300]}")
        self.reply = reply


# ── the SDK's OAuth client ─────────────────────────────────────────────────────────────────────

class MemoryTokens:
    """TokenStorage for OAuthClientProvider."""

    def __init__(self) -> None:
        self.tokens: Any = None
        self.client: Any = None

    async def get_tokens(self) -> Any:
        return self.tokens

    async def set_tokens(self, tokens: Any) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> Any:
        return self.client

    async def set_client_info(self, client_info: Any) -> None:
        self.client = client_info


def oauth(server_url: str, browser: Browser, storage: MemoryTokens | None = None,
          client_name: str = "Test MCP client") -> Any:
    """The SDK's OAuthClientProvider, its redirect handler being `browser`."""
    from mcp.client.auth import OAuthClientProvider
    from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

    landed: dict[str, str] = {}

    async def redirect(url: str) -> None:
        landed.clear()
        landed.update(await browser.go(url))

    async def callback() -> AuthorizationCodeResult:
        if "code" not in landed:
            raise RuntimeError(f"authorization failed: {landed}")
        return AuthorizationCodeResult(code=landed["code"], state=landed.get("state"), iss=landed.get("iss"))

    metadata = OAuthClientMetadata(client_name=client_name, redirect_uris=[CLIENT_REDIRECT],  # type: ignore[list-item]
                                   grant_types=["authorization_code", "refresh_token"], response_types=["code"])
    return OAuthClientProvider(server_url, metadata, storage or MemoryTokens(), redirect, callback)


@asynccontextmanager
async def mcp_client(server_url: str, auth: Any) -> AsyncIterator[Any]:
    """A connected `mcp.Client` over Streamable HTTP with the given httpx2 auth."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(auth=auth, timeout=httpx2.Timeout(30, read=60)) as http, \
            Client(streamable_http_client(server_url, http_client=http)) as client:
        yield client


def text(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


# ── a client by hand, for the attacks ──────────────────────────────────────────────────────────

@dataclass
class ManualClient:
    """A registered client speaking the protocol step by step (so each step can be tampered with)."""

    base: str
    client_id: str
    client_secret: str | None
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    redirect_uri: str = CLIENT_REDIRECT

    @classmethod
    async def register(cls, base: str, redirect_uri: str = CLIENT_REDIRECT, name: str = "Manual client"
                       ) -> ManualClient:
        async with httpx2.AsyncClient(timeout=10) as http:
            reply = await http.post(f"{base}/register", json={
                "redirect_uris": [redirect_uri], "client_name": name,
                "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_post"})
        assert reply.status_code == 201, reply.text
        info = reply.json()
        return cls(base, info["client_id"], info.get("client_secret"), redirect_uri=redirect_uri)

    def challenge(self) -> str:
        return base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest()).decode().rstrip("=")

    def authorize_url(self, state: str = "client-state", **overrides: str) -> str:
        query = {"response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
                 "code_challenge": self.challenge(), "code_challenge_method": "S256", "state": state,
                 "resource": f"{self.base}/mcp", **overrides}
        return f"{self.base}/authorize?" + urlencode({k: v for k, v in query.items() if v != ""})

    async def token(self, **form: str) -> httpx2.Response:
        body = {"client_id": self.client_id, **({"client_secret": self.client_secret} if self.client_secret else {}),
                **form}
        async with httpx2.AsyncClient(timeout=10) as http:
            return await http.post(f"{self.base}/token", data=body)

    async def exchange(self, code: str, verifier: str | None = None) -> httpx2.Response:
        return await self.token(grant_type="authorization_code", code=code, redirect_uri=self.redirect_uri,
                                code_verifier=verifier or self.verifier, resource=f"{self.base}/mcp")

    async def refresh(self, refresh_token: str) -> httpx2.Response:
        return await self.token(grant_type="refresh_token", refresh_token=refresh_token)

    async def connect(self, browser: Browser, state: str = "client-state") -> dict[str, Any]:
        """authorize → consent → Xero → code → tokens; returns the token response (what a benchmark needs
        to call /mcp as that person: `access_token`)."""
        landed = await browser.go(self.authorize_url(state))
        assert "code" in landed, landed
        reply = await self.exchange(landed["code"])
        assert reply.status_code == 200, reply.text
        return dict(reply.json())


INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}


async def mcp_status(base: str, access_token: str | None) -> int:
    """The HTTP status /mcp answers an initialize with this bearer token."""
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if access_token is not None:
        headers["Authorization"] = f"Bearer {access_token}"
    async with httpx2.AsyncClient(timeout=10) as http:
        return (await http.post(f"{base}/mcp", json=INIT, headers=headers)).status_code
