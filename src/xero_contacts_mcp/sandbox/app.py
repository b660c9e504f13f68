"""The ASGI application: the Accounting API pipeline in front of the handlers, plus Starlette
routes for the identity endpoints and the control API.

Per API request: route → bearer token (401) → tenant header (403) → scope (401) → rate limits (429)
→ injected fault → concurrency slot, latency → Idempotency-Key → handler. Limit headers go on every
answer for a resolved tenant. A "drop" fault lets the write happen, records it for idempotent
replay, then starts the response and raises `DropConnection` so the connection dies mid-answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from xero_contacts_mcp.sandbox import routes
from xero_contacts_mcp.sandbox.control import control_routes
from xero_contacts_mcp.sandbox.faults import DropConnection, status_reply
from xero_contacts_mcp.sandbox.idempotency import fingerprint
from xero_contacts_mcp.sandbox.limits import Rejection
from xero_contacts_mcp.sandbox.oauth import AccessToken
from xero_contacts_mcp.sandbox.oidc import DISCOVERY_PATH, JWKS_PATH
from xero_contacts_mcp.sandbox.replies import (
    Reply,
    XeroError,
    envelope,
    forbidden,
    json_reply,
    problem,
    query_error,
    unauthorized,
)
from xero_contacts_mcp.sandbox.state import parse_uuid
from xero_contacts_mcp.sandbox.where import QueryError

if TYPE_CHECKING:
    from xero_contacts_mcp.sandbox.core import Sandbox

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

API_PREFIX = "/api.xro/2.0"


async def send_reply(send: Send, reply: Reply, *, body: bool = True) -> None:
    headers = [(b"content-length", str(len(reply.body)).encode())]
    if reply.content_type:
        headers.append((b"content-type", reply.content_type.encode()))
    headers += [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    if body:
        await send({"type": "http.response.body", "body": reply.body})


class ApiPipeline:
    """Everything under /api.xro/2.0."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        tail = raw_path[len(API_PREFIX) :].strip("/")
        segments = tuple(unquote(s) for s in tail.split("/")) if tail else ()
        found = routes.match(request.method, segments)
        if isinstance(found, Reply):
            await self._reject(send, found)
            return
        op, params = found
        token = self.sb.identity.authenticate(request.headers.get("authorization"))
        if isinstance(token, Reply):
            await self._reject(send, token)
            return
        tenant_id = self._tenant(request, token)
        if tenant_id is None:
            await self._reject(send, forbidden())
            return
        scopes = token.grant.scopes
        if op.scope not in scopes and (op.write or f"{op.scope}.read" not in scopes):
            refused = unauthorized("AuthorizationUnsuccessful")
            refused.headers |= self.sb.limiter.headers(tenant_id)
            await self._reject(send, refused)
            return
        self.sb.stats.api_requests[tenant_id] += 1
        reply, dropped = await self._answer(request, op, params, tenant_id)
        reply.headers |= self.sb.limiter.headers(tenant_id)
        reply.headers["Xero-Correlation-Id"] = str(uuid.uuid4())
        if dropped:
            self.sb.stats.faults["drop"] += 1
            await send_reply(send, reply, body=False)
            raise DropConnection(f"{op.operation_id} applied, connection dropped by fault injection")
        await send_reply(send, reply)

    async def _reject(self, send: Send, reply: Reply) -> None:
        self.sb.stats.rejected[reply.status] += 1
        await send_reply(send, reply)

    def _tenant(self, request: Request, token: AccessToken) -> str | None:
        """The tenant the call may act on; Custom Connections may omit the header."""
        allowed = self.sb.identity.tenants_for(token)
        header = request.headers.get("xero-tenant-id", "").strip()
        if not header:
            return allowed[0] if token.client_credentials and len(allowed) == 1 else None
        tenant_id = parse_uuid(header)
        return tenant_id if tenant_id in allowed else None

    def _too_many(self, rejection: Rejection) -> Reply:
        self.sb.stats.rate_limited[rejection.problem] += 1
        reply = problem(429, "Too Many Requests", f"Rate limit exceeded: {rejection.problem}")
        reply.headers["X-Rate-Limit-Problem"] = rejection.problem
        if rejection.retry_after is not None:
            reply.headers["Retry-After"] = str(rejection.retry_after)
        return reply

    async def _answer(
        self, request: Request, op: routes.Operation, params: tuple[str, ...], tenant_id: str
    ) -> tuple[Reply, bool]:
        """The reply, and whether a drop fault asks to withhold it (only after the handler ran).

        Real limits are checked first; injected faults are not counted against them.
        """
        rejection = self.sb.limiter.check(tenant_id)
        if rejection is not None:
            return self._too_many(rejection), False
        fault = self.sb.faults.take("api", op.write)
        if fault is not None and fault.kind == "status":
            self.sb.stats.faults[str(fault.status)] += 1
            return status_reply(fault.status), False
        if fault is not None and fault.kind == "rate_limit":
            self.sb.stats.faults["rate_limit"] += 1
            return self._too_many(Rejection(fault.problem, fault.retry_after)), False
        self.sb.limiter.acquire(tenant_id)
        try:
            if self.sb.faults.latency > 0:
                await asyncio.sleep(self.sb.faults.latency)
            reply = await self._execute(request, op, params, tenant_id)
        finally:
            self.sb.limiter.release(tenant_id)
        return reply, fault is not None and fault.kind == "drop"

    async def _execute(self, request: Request, op: routes.Operation, params: tuple[str, ...], tenant_id: str) -> Reply:
        body = await request.body()
        key = request.headers.get("idempotency-key") if op.method in ("PUT", "POST") else None
        store = self.sb.idempotency
        if key is not None:
            print_ = fingerprint(
                op.method, request.scope.get("raw_path", b"").decode("latin-1"), request.url.query, body
            )
            try:
                cached = await store.begin(tenant_id, key, print_)
            except XeroError as exc:
                return exc.reply
            if cached is not None:
                self.sb.stats.idempotent_replays += 1
                return dataclasses.replace(cached, headers=dict(cached.headers))
        try:
            reply = self._run(request, op, params, tenant_id, body)
        except BaseException:
            if key is not None:
                store.abandon(tenant_id, key)
            raise
        if key is not None:
            store.finish(tenant_id, key, dataclasses.replace(reply, headers=dict(reply.headers)))
        return reply

    def _run(
        self, request: Request, op: routes.Operation, params: tuple[str, ...], tenant_id: str, body: bytes
    ) -> Reply:
        now = self.sb.clock.now()
        call = routes.Call(
            tenant=self.sb.state(tenant_id),
            params=params,
            query=routes.canonical_query(request.query_params.multi_items()),
            headers=request.headers,
            body=body,
            now=now,
            config=self.sb.config,
        )
        self.sb.stats.operations[op.operation_id] += 1
        try:
            payload = op.handler(call)
        except XeroError as exc:
            return exc.reply
        except QueryError as exc:
            return query_error(str(exc)).reply
        if op.write:
            self.sb.stats.writes_applied += 1
        if payload is None:
            return Reply(204)
        return json_reply(envelope(self.sb.config.provider_name, now, **payload))


class SandboxApp:
    """The ASGI callable: API paths go to the pipeline, everything else to Starlette."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.api = ApiPipeline(sandbox)
        identity = sandbox.identity
        table: list[BaseRoute] = [
            Route("/connect/token", identity.token_endpoint, methods=["POST"]),
            Route("/connect/revocation", identity.revocation, methods=["POST"]),
            Route("/identity/connect/authorize", identity.authorize, methods=["GET"]),
            Route("/connections", identity.list_connections, methods=["GET"]),
            Route("/connections/{connection_id}", identity.delete_connection, methods=["DELETE"]),
            Route("/connect/userinfo", identity.userinfo, methods=["GET"]),
            Route(DISCOVERY_PATH, identity.discovery, methods=["GET"]),
            Route(JWKS_PATH, identity.jwks, methods=["GET"]),
            # the sandbox's stand-in for Xero's login page, so served even without the control API
            Route("/_sandbox/login-as", identity.login_as, methods=["GET"]),
        ]
        if sandbox.config.control_api:
            table += control_routes(sandbox)
        self.other = Starlette(routes=table)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] == "http" and (path.lower() + "/").startswith(API_PREFIX.lower() + "/"):
            await self.api(scope, receive, send)
        else:
            await self.other(scope, receive, send)
