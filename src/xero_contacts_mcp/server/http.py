"""Streamable HTTP at /mcp, closed by default.

An HTTP MCP server with a Xero token behind it is a door into a company's books, so: it binds
loopback unless told otherwise; a non-loopback bind needs a bearer token of at least 32 characters;
every request to /mcp must carry that token (compared in constant time), and a client that keeps
presenting a wrong one is made to wait; Host and Origin are checked against DNS rebinding (the SDK's
own checks: bad Host → 421, bad Origin → 403). `GET /healthz` answers without a token, for load
balancers. Idle and slow connections are bounded (`connections`); on SIGTERM in-flight calls get a
grace period, and what outlives it is answered, not dropped. docs/security.md is the whole model.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import math
import socket
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from mcp.server import Server

from .app import InFlight
from .connections import ConnectionLimitError, plan_connections

log = logging.getLogger(__name__)

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
UNAUTHORIZED = b'{"error":"unauthorized","error_description":"send Authorization: Bearer <token>"}'
#: the shortest XERO_MCP_HTTP_TOKEN accepted off loopback (32 random characters are beyond guessing)
MIN_TOKEN_LENGTH = 32
#: seconds a shutdown keeps waiting after cutting off the calls that outlived the grace, for their answers
FLUSH_SECONDS = 3.0


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
    #: on SIGTERM, seconds in-flight calls get to finish before they are cut off (with an answer)
    graceful_seconds: float = 45.0
    max_connections: int | None = None  # None: derived from RLIMIT_NOFILE
    read_timeout: float = 10.0
    max_sessions: int = 1000
    session_idle: float = 600.0
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
    if not is_loopback(options.host) and options.token and len(options.token) < MIN_TOKEN_LENGTH:
        raise HTTPConfigError(
            f"refusing to serve HTTP on {options.host} with a {len(options.token)}-character XERO_MCP_HTTP_TOKEN: "
            f"use at least {MIN_TOKEN_LENGTH} random characters (e.g. `openssl rand -hex 32`), or bind 127.0.0.1")
    try:
        plan_connections(options.max_connections)
    except ConnectionLimitError as exc:
        raise HTTPConfigError(str(exc)) from None
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


class AuthFailures:
    """Wrong tokens per client address, to slow guessing: after `free` of them the address must wait before
    its next try — 1 s, doubling with each further wrong token, up to `longest` — and every request it sends
    meanwhile is answered 429 without looking at its token (else a guess could still be told right from
    wrong at full speed). A right token clears the address. Memory is bounded: at most `size` addresses,
    the least recently failing forgotten first; an IPv6 client counts as its /64, which one machine can
    fill with addresses."""

    def __init__(self, free: int = 5, longest: float = 60.0, forget_after: float = 900.0, size: int = 10_000) -> None:
        self.free, self.longest, self.forget_after, self.size = free, longest, forget_after, size
        self.entries: OrderedDict[str, tuple[int, float, float]] = OrderedDict()  # failures, blocked until, last

    @staticmethod
    def key(scope: dict[str, Any]) -> str:
        client = scope.get("client")
        host = str(client[0]) if client else ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return host
        if isinstance(address, ipaddress.IPv6Address):
            if address.ipv4_mapped is not None:
                return str(address.ipv4_mapped)
            return str(ipaddress.ip_network(f"{address}/64", strict=False))
        return str(address)

    def wait(self, key: str, now: float) -> float:
        """Seconds `key` must still wait before its token is looked at (0: now)."""
        entry = self.entries.get(key)
        if entry is None:
            return 0.0
        if now - entry[2] > self.forget_after:
            del self.entries[key]
            return 0.0
        return max(0.0, entry[1] - now)

    def failed(self, key: str, now: float) -> int:
        """Count a wrong token; returns the failures so far."""
        failures, _, last = self.entries.pop(key, (0, 0.0, now))
        failures = 1 if now - last > self.forget_after else failures + 1
        over = failures - self.free
        until = now + min(self.longest, 2.0 ** (over - 1)) if over > 0 else 0.0
        self.entries[key] = (failures, until, now)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return failures

    def succeeded(self, key: str) -> None:
        if self.entries:
            self.entries.pop(key, None)


class Guard:
    """ASGI wrapper: bearer token on /mcp (wrong ones slowed), the stateless-GET fix, and an answer for a
    request cut off by shutdown; lifespan and /healthz pass through."""

    def __init__(self, app: Any, token: str | None, stateless: bool) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else None
        self.stateless = stateless
        self.failures = AuthFailures()
        from .connections import Throttle

        self._warn = Throttle()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] == "/healthz":
            await self.app(scope, receive, send)
            return
        if self.expected is not None and not await self._authorized(scope, send):
            return
        if self.stateless and scope["method"] == "GET" and scope["path"] == "/mcp":
            # A stateless server has no stream to resume; the SDK would hold the GET open forever (#3492).
            await _reply(send, 405, b'{"error":"method not allowed in stateless mode"}', [(b"allow", b"POST, DELETE")])
            return
        if scope["method"] == "POST":
            await _answer_even_if_cut_off(self.app, scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _authorized(self, scope: dict[str, Any], send: Any) -> bool:
        key, now = self.failures.key(scope), time.monotonic()
        wait = self.failures.wait(key, now)
        if wait > 0:
            seconds = math.ceil(wait)
            body = json.dumps({"error": "too_many_attempts", "error_description":
                               f"too many wrong tokens from this address; retry in {seconds} s"}).encode()
            await _reply(send, 429, body, [(b"retry-after", str(seconds).encode())])
            return False
        presented = dict(scope.get("headers") or []).get(b"authorization", b"")
        assert self.expected is not None
        if hmac.compare_digest(presented, self.expected):
            self.failures.succeeded(key)
            return True
        failures = self.failures.failed(key, now)
        if failures > self.failures.free and self._warn.ready() is not None:
            log.warning("%d wrong HTTP tokens in a row from %s: slowing it down (429 until it waits)", failures, key)
        await _reply(send, 401, UNAUTHORIZED, [(b"www-authenticate", b'Bearer realm="xero-contacts-mcp"')])
        return False


async def _answer_even_if_cut_off(app: Any, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Run a POST; if the server cancels it (a shutdown's grace ran out) before it answered, answer with a
    JSON-RPC error for its id instead of the server's plain-text 500. Calls are normally answered earlier
    (`InFlight`); this catches whatever else a shutdown cuts off."""
    body = bytearray()
    started = False

    async def watch_receive() -> Any:
        message = await receive()
        if message.get("type") == "http.request" and len(body) < 65_536:
            body.extend(message.get("body", b""))
        return message

    async def watch_send(message: dict[str, Any]) -> None:
        nonlocal started
        started = started or message.get("type") == "http.response.start"
        await send(message)

    try:
        await app(scope, watch_receive, watch_send)
    except asyncio.CancelledError:
        if not started:
            reply = {"jsonrpc": "2.0", "id": _request_id(bytes(body)), "error": {
                "code": -32603, "message": "The server is shutting down and cut this request off before it "
                "finished; send it again in a moment (another replica, or this server once restarted, answers). "
                "If it was a tool call that writes, Xero may have applied it: read the record before repeating "
                "it, or repeat it with the same Idempotency-Key."}}
            with contextlib.suppress(Exception):
                await _reply(send, 503, json.dumps(reply).encode(), [(b"connection", b"close")])
        raise


def _request_id(body: bytes) -> Any:
    try:
        message = json.loads(body)
    except ValueError:
        return None
    request_id = message.get("id") if isinstance(message, dict) else None
    return request_id if isinstance(request_id, str | int) else None


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
        transport_security=_security(options), host=options.host, custom_starlette_routes=routes,
        max_sessions=options.max_sessions, session_idle_timeout=options.session_idle, **auth,
    )
    if options.hosted is not None:
        return Guard(options.hosted.wrap(app), None, options.stateless)
    return Guard(app, options.token, options.stateless)


async def run_http(server: Server, options: HTTPOptions, sock: socket.socket, calls: InFlight) -> None:
    """Serve until SIGINT/SIGTERM, then exit status 0. In-flight calls get `graceful_seconds` to finish;
    `calls` still running then are cut off with an isError answer, and whatever else is still open a few
    seconds later is cancelled (a POST cut off so still gets a JSON-RPC error).

    `sock` is the listening socket, bound before start-up (see server.listen).
    """
    import uvicorn

    from .connections import (
        ACCEPT_BATCH,
        Pool,
        ensure_descriptors,
        protocol_class,
        quiet_accept_errors,
        throttle_logs,
    )
    from .listen import bound_url

    grace = options.graceful_seconds

    class GracefulServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                yield
                # uvicorn re-raises the signal after shutting down; a graceful stop is a normal exit
                self._captured_signals.clear()

        async def shutdown(self, sockets: Any = None) -> None:
            if calls.count:
                log.warning("stopping: waiting up to %g s for %d call(s) in flight", grace, calls.count)
            cut = asyncio.get_running_loop().call_later(grace, _cut_off)
            try:
                await super().shutdown(sockets)
            finally:
                cut.cancel()

    def _cut_off() -> None:
        cut = calls.interrupt(f"the server is shutting down and the call was still running after its {grace:g}-s "
                              "shutdown grace (XERO_MCP_SHUTDOWN_GRACE)")
        if cut:
            log.warning("stopping: cut off %d call(s) still running after %g s", cut, grace)

    check(options)
    if options.hosted is not None and options.token:
        log.warning("hosted mode: XERO_MCP_HTTP_TOKEN does not apply; each person's MCP client signs in with OAuth "
                    "and /mcp accepts only the tokens this server issued")
    cap, descriptors = plan_connections(options.max_connections)
    ensure_descriptors(descriptors)
    pool = Pool(cap=cap, read_timeout=options.read_timeout)
    config = uvicorn.Config(build_app(server, options), host=options.host.strip("[]"), port=options.port,
                            http=protocol_class(pool), ws="none", backlog=ACCEPT_BATCH,
                            log_level="warning", lifespan="on", server_header=False,
                            timeout_graceful_shutdown=math.ceil(grace + FLUSH_SECONDS))
    throttle_logs()
    quiet_accept_errors(asyncio.get_running_loop())
    log.warning("serving MCP over Streamable HTTP at %s/mcp (%s, %s; at most %d connections)",
                bound_url(options.host, sock),
                f"hosted: per-person OAuth for {options.hosted.public_url}" if options.hosted is not None
                else "token required" if options.token else "no token: loopback only",
                "stateless" if options.stateless else f"stateful sessions: at most {options.max_sessions}, "
                f"closed after {options.session_idle:g} s idle", cap)
    await GracefulServer(config).serve(sockets=[sock])
