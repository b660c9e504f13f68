"""Streamable HTTP at /mcp, closed by default.

An HTTP MCP server with a Xero token behind it is a door into a company's books, so: it binds
loopback unless told otherwise; a non-loopback bind needs a bearer token; every request to /mcp
must carry that token (compared in constant time); Host and Origin are checked against DNS
rebinding (the SDK's own checks: bad Host → 421, bad Origin → 403). `GET /healthz` answers without
a token, for load balancers.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from mcp.server import Server

log = logging.getLogger(__name__)

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
UNAUTHORIZED = b'{"error":"unauthorized","error_description":"send Authorization: Bearer <token>"}'


class HTTPConfigError(ValueError):
    """An unsafe or malformed HTTP configuration (exit status 2)."""


@dataclass(frozen=True)
class HTTPOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    stateless: bool = False
    allowed_origins: list[str] = field(default_factory=list)
    allowed_hosts: list[str] = field(default_factory=list)
    graceful_seconds: float = 10.0
    #: hosted mode (XERO_MCP_PUBLIC_URL): a server.hosted.routes.Hosted — per-person OAuth instead of `token`
    hosted: Any = None


def is_loopback(host: str) -> bool:
    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check(options: HTTPOptions) -> None:
    """Refuse configurations that would expose Xero data: raise HTTPConfigError naming the fix."""
    if not is_loopback(options.host) and not options.token and options.hosted is None:
        raise HTTPConfigError(
            f"refusing to serve HTTP on {options.host} without a token: set XERO_MCP_HTTP_TOKEN "
            "(clients then send 'Authorization: Bearer <token>'), or bind 127.0.0.1")
    for origin in options.allowed_origins:
        if origin == "*" or "*" in origin:
            raise HTTPConfigError("XERO_MCP_ALLOWED_ORIGINS may not contain '*': list each origin as scheme://host[:port]")
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
            raise HTTPConfigError(f"XERO_MCP_ALLOWED_ORIGINS entry {origin!r} is not of the form scheme://host[:port]")
    for host in options.allowed_hosts:
        if not host or "/" in host or " " in host or host == "*":
            raise HTTPConfigError(f"XERO_MCP_ALLOWED_HOSTS entry {host!r} is not of the form host[:port]")


def _security(options: HTTPOptions) -> Any:
    from mcp.server.transport_security import TransportSecuritySettings

    hosts: list[str] = []
    for name in [*LOOPBACK_NAMES, *([options.host] if not is_loopback(options.host) else [])]:
        hosts += [name, f"{name}:*"]
    public = [options.hosted.public_url] if options.hosted is not None else []
    for extra in [*options.allowed_hosts, *(urlsplit(p).netloc for p in public)]:
        hosts += [extra] if ":" in extra.lstrip("[").split("]")[-1] else [extra, f"{extra}:*"]
    origins = [f"{scheme}://{name}:*" for scheme in ("http", "https") for name in LOOPBACK_NAMES]
    origins += [f"{scheme}://{name}" for scheme in ("http", "https") for name in LOOPBACK_NAMES]
    origins += [o.rstrip("/") for o in [*options.allowed_origins, *public]]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts,
                                     allowed_origins=origins)


class Guard:
    """ASGI wrapper: bearer token on /mcp, and the stateless-GET fix; lifespan and /healthz pass through."""

    def __init__(self, app: Any, token: str | None, stateless: bool) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else None
        self.stateless = stateless

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] == "/healthz":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        presented = headers.get(b"authorization", b"")
        if self.expected is not None and not hmac.compare_digest(presented, self.expected):
            await _reply(send, 401, UNAUTHORIZED, [(b"www-authenticate", b'Bearer realm="xero-contacts-mcp"')])
            return
        if self.stateless and scope["method"] == "GET" and scope["path"] == "/mcp":
            # A stateless server has no stream to resume; the SDK would hold the GET open forever (#3492).
            await _reply(send, 405, b'{"error":"method not allowed in stateless mode"}', [(b"allow", b"POST, DELETE")])
            return
        await self.app(scope, receive, send)


async def _reply(send: Any, status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def build_app(server: Server, options: HTTPOptions) -> Any:
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    # JSON replies, not SSE: a tool call here streams nothing, and sse-starlette ends every SSE stream the
    # moment the server is told to stop, which would cut in-flight calls instead of letting them finish.
    routes = [Route("/healthz", healthz, methods=["GET"])]
    auth: dict[str, Any] = {}
    if options.hosted is not None:  # OAuth routes, the bearer middleware and 401 + resource_metadata on /mcp
        routes += options.hosted.routes()
        auth = {"auth": options.hosted.auth_settings(), "token_verifier": options.hosted.verifier}
    app = server.streamable_http_app(
        streamable_http_path="/mcp", stateless_http=options.stateless, json_response=True,
        transport_security=_security(options), host=options.host, custom_starlette_routes=routes, **auth,
    )
    if options.hosted is not None:
        return Guard(options.hosted.wrap(app), None, options.stateless)
    return Guard(app, options.token, options.stateless)


async def run_http(server: Server, options: HTTPOptions, sock: socket.socket | None = None) -> None:
    """Serve until SIGINT/SIGTERM; in-flight calls get `graceful_seconds` to finish, then exit status 0.

    `sock` is the listening socket, bound before start-up (see server.listen); without one it is bound here.
    """
    import contextlib

    import uvicorn

    from .listen import bound_url, listen

    class GracefulServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                yield
                # uvicorn re-raises the signal after shutting down; a graceful stop is a normal exit
                self._captured_signals.clear()

    check(options)
    if options.hosted is not None and options.token:
        log.warning("hosted mode: XERO_MCP_HTTP_TOKEN does not apply; each person's MCP client signs in with OAuth "
                    "and /mcp accepts only the tokens this server issued")
    config = uvicorn.Config(build_app(server, options), host=options.host.strip("[]"), port=options.port,
                            log_level="warning", lifespan="on", timeout_graceful_shutdown=int(options.graceful_seconds),
                            server_header=False)
    if sock is None:
        sock = listen(options.host, options.port)
    log.warning("serving MCP over Streamable HTTP at %s/mcp (%s, %s)", bound_url(options.host, sock),
                f"hosted: per-person OAuth for {options.hosted.public_url}" if options.hosted is not None
                else "token required" if options.token else "no token: loopback only",
                "stateless" if options.stateless else "stateful sessions")
    await GracefulServer(config).serve(sockets=[sock])
