"""The one shared Xero HTTP client.

Every tool call goes through `XeroClient.send`, which adds what Xero needs on every request
(the tenant header, an Idempotency-Key on writes, Accept), attaches credentials through the
configured httpx2 `Auth` flow, and turns every failure into a typed `XeroError`.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2

from .. import __version__
from ..state.cache import SharedCache, SharedStateUnavailable
from ..state.limiter import Limiter, LimitExceeded, Limits, LocalLimiter
from ..state.tokens import TokenStoreError
from .auth import SETUP_HINT, NoCredentials
from .errors import (
    APIError,
    InvalidRequestError,
    NotConfiguredError,
    RateLimitedError,
    SharedStateError,
    TenantNotAllowedError,
    TenantRequiredError,
    TimeoutError_,
    TransportError,
    XeroError,
)
from .http import Request, Response
from .retry import RetryPolicy, decider, describe
from .tenants import PersonTenants, Tenants

log = logging.getLogger(__name__)

WRITE_METHODS = frozenset({"POST", "PUT"})
TENANT_HEADER = "xero-tenant-id"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_NOT_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout, httpx2.UnsupportedProtocol)
#: Xero answers that settle what happened to the request (it was processed and refused), even on a retry:
#: with the same Idempotency-Key, a request Xero had already applied would have been replayed instead.
#: 401, 403, 408 and 429 are refusals before processing, so an earlier attempt's outcome stays unknown.
_UNSETTLING = frozenset({401, 403, 408, 429})


@dataclass(frozen=True)
class ClientConfig:
    api_url: str
    tenant_id: str | None = None
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


class XeroClient:
    """Owns one pooled `httpx2.AsyncClient` for the life of the server."""

    def __init__(self, config: ClientConfig, auth: httpx2.Auth,
                 transport: httpx2.AsyncBaseTransport | None = None, limiter: Limiter | None = None,
                 connections_url: str | None = None,
                 stored_tenant: Callable[[], Awaitable[str | None]] | None = None,
                 cache: SharedCache | None = None, cache_key: str = "connections",
                 per_person: str | None = None, allowed: frozenset[str] | None = None) -> None:
        self.config = config
        #: XERO_MCP_ALLOWED_TENANTS (lower-case ids; None: no allow-list), checked before a call takes a place
        #: in the limiter or has credentials attached
        self.allowed = allowed
        self.retries = 0  # how many retries this client has made (observability, tests)
        self._auth = auth
        self._transport = transport
        self._client: httpx2.AsyncClient | None = None
        self.limiter = limiter or LocalLimiter()
        #: tenant discovery when a call names none and none is configured (None: no discovery); in hosted mode
        #: (`per_person`: what to say to a call without a person) the current person's own, strictly checked
        self.tenants: Tenants | PersonTenants | None = None
        if connections_url and per_person is not None:
            self.tenants = PersonTenants(lambda: self._http, connections_url, stored_tenant, cache, cache_key,
                                         no_person=per_person)
        elif connections_url:
            self.tenants = Tenants(lambda: self._http, connections_url, stored_tenant, cache, cache_key,
                                   allowed=allowed)

    @property
    def _http(self) -> httpx2.AsyncClient:
        """Built on first use: creating it (SSL context included) is ~40 ms that listing tools never needs."""
        if self._client is None:
            self._client = httpx2.AsyncClient(
                base_url=self.config.api_url.rstrip("/"),
                auth=self._auth,
                transport=self._transport,
                timeout=httpx2.Timeout(self.config.timeout, connect=min(10.0, self.config.timeout)),
                headers={"Accept": "application/json", "User-Agent": f"xero-contacts-mcp/{__version__}"},
                limits=httpx2.Limits(max_connections=20, max_keepalive_connections=10),
                follow_redirects=False,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def prepare(self, request: Request) -> Request:
        """Add the tenant and (on writes) an Idempotency-Key; refuse header values that could split a request."""
        if isinstance(self._auth, NoCredentials):  # the more fundamental problem is reported first
            raise NotConfiguredError(SETUP_HINT, method=request.method, path=request.path)
        headers = dict(request.headers)
        named = headers.get(TENANT_HEADER)
        tenant = named or self.config.tenant_id
        if self.tenants is not None and (self.tenants.strict or not tenant):
            with _shared_state(method=request.method, path=request.path):
                tenant = await self.tenants.choose(named)
        if not tenant:
            raise TenantRequiredError(
                "No Xero organisation was chosen: pass xero-tenant-id, or set XERO_TENANT_ID.",
                method=request.method, path=request.path,
            )
        headers[TENANT_HEADER] = tenant = tenant.strip()
        if self.allowed is not None and _canonical(tenant) not in self.allowed:
            raise TenantNotAllowedError(
                f"Organisation {tenant} is not one this server may reach, so nothing was sent to Xero: its operator "
                f"allows only {', '.join(sorted(self.allowed))} (XERO_MCP_ALLOWED_TENANTS). Pass one of these as "
                "xero-tenant-id.", method=request.method, path=request.path)
        if request.method in WRITE_METHODS and not headers.get(IDEMPOTENCY_HEADER, "").strip():
            headers[IDEMPOTENCY_HEADER] = str(uuid.uuid4())
        for name, value in headers.items():
            # HTTP forbids surrounding whitespace in a header value (httpx2 refuses it when sending): trim it
            value = headers[name] = value.strip(" \t")
            if any(ch in value for ch in "\r\n\x00"):
                raise InvalidRequestError(f"Refused to send header {name}: it contains a line break. "
                                          "Nothing was sent.", method=request.method, path=request.path)
            if not value.isascii() or not value.isprintable():
                raise InvalidRequestError(f"Refused to send header {name}: it must be printable ASCII. "
                                          "Nothing was sent.", method=request.method, path=request.path)
        return Request(request.method, request.path, dict(request.query), headers, request.body)

    async def send(self, request: Request) -> Response:
        """Send one request, retrying what is safe; return a 2xx/3xx Response or raise a XeroError.

        The request is prepared once, so every attempt carries the same Idempotency-Key.
        """
        stamina = _stamina()
        request = await self.prepare(request)
        policy = self.config.retry
        started = time.monotonic()
        attempts = 0
        earlier: XeroError | None = None  # the first attempt that may have reached Xero and got no answer

        def on_retry(exc: XeroError, wait: float | None) -> None:
            self.retries += 1
            after = f"in {wait:g} s (Retry-After)" if wait is not None else "with backoff"
            log.info("retrying %s %s %s after %s (attempt %d of %d)", request.method, request.path, after,
                     describe(exc), attempts + 1, policy.attempts)

        try:
            async for attempt in stamina.retry_context(
                on=decider(request, policy, started, on_retry, lambda: attempts),  # noqa: B023 - read on failure
                attempts=policy.attempts,
                timeout=policy.deadline, wait_initial=policy.wait_initial, wait_max=policy.wait_max,
                wait_jitter=policy.wait_jitter,
            ):
                with attempt:
                    attempts = attempt.num
                    try:
                        return await self._send_once(request, started + policy.deadline)
                    except XeroError as exc:
                        if exc.outcome_unknown and earlier is None:
                            earlier = exc
                        raise
        except XeroError as exc:
            exc.attempts = attempts
            exc.elapsed = time.monotonic() - started
            if earlier is not None and earlier is not exc and not exc.outcome_unknown and not _settles(exc):
                # An earlier attempt may have been applied: however this call ends, it must say so.
                exc.outcome_unknown = True
                exc.earlier = earlier.reason
                exc.method, exc.path = request.method, request.path
                exc.idempotency_key = request.headers.get(IDEMPOTENCY_HEADER)
                exc.tenant_id = exc.tenant_id or request.headers.get(TENANT_HEADER)
            raise
        raise AssertionError("unreachable: stamina either returns or raises")  # pragma: no cover

    async def _send_once(self, request: Request, deadline: float) -> Response:
        key = request.headers.get(IDEMPOTENCY_HEADER)
        tenant = request.headers[TENANT_HEADER]
        context: dict[str, Any] = {"method": request.method, "path": request.path,
                                   "idempotency_key": key, "tenant_id": tenant}
        try:
            with _shared_state(**context):  # the limiter's slot, and the auth flow's token store
                async with self.limiter.slot(tenant, deadline):
                    started = time.perf_counter()
                    reply = await self._http.request(
                        request.method, request.path, params=request.query or None, headers=request.headers,
                        json=request.body if request.body is not None else None,
                    )
        except LimitExceeded as exc:
            raise RateLimitedError(exc.retry_after, daily=exc.daily, limits=_limits_text(self.limiter),
                                   **context) from None
        except httpx2.LocalProtocolError as exc:
            # httpx2 refused to write the request (e.g. an illegal header value): nothing reached Xero, and
            # sending it again would fail the same way
            raise InvalidRequestError(f"The HTTP library refused to send this request ({exc}). Nothing was sent.",
                                      **context) from None
        except httpx2.TimeoutException as exc:
            sent = not isinstance(exc, _NOT_SENT)
            raise TimeoutError_(f"No response from Xero within {self.config.timeout:g} s.",
                                sent=sent, **context) from None
        except httpx2.UnsupportedProtocol:
            raise TransportError(f"Xero could not be reached: {self.config.api_url} is not an http(s) URL "
                                 "(UnsupportedProtocol).", sent=False, permanent=True, **context) from None
        except httpx2.TransportError as exc:
            sent = not isinstance(exc, _NOT_SENT)
            what = "the connection to Xero broke before a response arrived" if sent else "Xero could not be reached"
            raise TransportError(f"{what[0].upper()}{what[1:]} ({type(exc).__name__}).",
                                 sent=sent, **context) from None
        elapsed = (time.perf_counter() - started) * 1000
        log.debug("%s %s → %s in %.0f ms", request.method, request.path, reply.status_code, elapsed)
        headers = dict(reply.headers)
        try:
            await self.limiter.observe(tenant, reply.status_code, headers)
        except SharedStateUnavailable as exc:  # Xero has answered: report that, not a missed limit hint
            log.warning("could not share Xero's rate-limit headers: %s", exc)
        body = _parse(reply)
        if reply.status_code == 403 and self.tenants is not None:
            try:
                await self.tenants.invalidate()  # the organisation may have disconnected: list connections afresh
            except SharedStateUnavailable as exc:  # report Xero's 403, which is what the caller must act on
                log.warning("could not clear the cached connections: %s", exc)
        if reply.status_code >= 400:
            raise APIError(reply.status_code, body, headers, **context)
        return Response(reply.status_code, headers, body, idempotency_key=key, tenant_id=tenant)


def _settles(exc: XeroError) -> bool:
    """Whether this error is Xero's own verdict on the request, which settles an earlier attempt's outcome."""
    return isinstance(exc, APIError) and 400 <= exc.status < 500 and exc.status not in _UNSETTLING


def _limits_text(limiter: Limiter) -> str | None:
    """The limits this server paces each organisation by (configured, so not always Xero's 60 a minute)."""
    limits = getattr(limiter, "limits", None)
    if not isinstance(limits, Limits):
        return None
    per = "a minute" if limits.window == 60 else f"per {limits.window:g} s"
    calls = "1 call" if limits.per_window == 1 else f"{limits.per_window} calls"
    return f"{calls} {per} and {limits.concurrent} at once"


@contextmanager
def _shared_state(**context: Any) -> Iterator[None]:
    """Shared state that fails (Redis down, a lock held too long) becomes one clear, unretried error."""
    try:
        yield
    except SharedStateUnavailable as exc:
        shared = ("This server shares its Xero login and rate limits with its other replicas through Redis and "
                  "never falls back to per-process state.")
        raise SharedStateError(
            f"Shared state is unavailable, so nothing was sent to Xero: {exc} {shared} "
            "Retry in a minute (it reconnects by itself once Redis is back); if this persists, tell the operator.",
            reason=f"Shared state is unavailable: {exc} {shared} If this persists, tell the operator.",
            **context) from None
    except TokenStoreError as exc:
        raise SharedStateError(f"The stored Xero login could not be used, so nothing was sent to Xero: {exc}.",
                               reason=f"The stored Xero login could not be used: {exc}.", **context) from None


@functools.cache
def _stamina() -> Any:
    """stamina, imported on the first call (start-up never needs it), with its own retry logging off:
    we log each retry ourselves, with its reason."""
    import stamina

    stamina.instrumentation.set_on_retry_hooks([])
    return stamina


def _parse(reply: httpx2.Response) -> Any:
    """JSON when Xero sent JSON (it does not always say so); otherwise the text."""
    if not reply.content:
        return None
    text = reply.text
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            return reply.json()
        except ValueError:
            return text
    return text


def _canonical(tenant: str) -> str:
    """A tenant id as the allow-list holds it (UUIDs in canonical lower case)."""
    try:
        return str(uuid.UUID(tenant))
    except ValueError:
        return tenant.lower()
