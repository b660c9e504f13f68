"""Hosted mode's HTTP surface, mounted beside /mcp by server.http: the SDK's authorization-server
routes (metadata, /register, /authorize, /token, /revoke) over our provider, and our own /consent page
and /xero/callback.

    person's client ──/authorize──▶ consent page ──Allow──▶ Xero login ──▶ /xero/callback ──code──▶ client
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, MultiFernet
from mcp.server.auth.handlers.metadata import MetadataHandler
from mcp.server.auth.provider import construct_redirect_uri
from mcp.server.auth.routes import build_metadata, cors_middleware, create_auth_routes
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...state.cache import SharedStateUnavailable
from .cimd import MetadataFetcher
from .pages import consent_page, error_page
from .provider import SCOPE, HostedProvider, People, delete_person_grants, digest
from .store import FileGrantStore, GrantStore, RedisGrantStore

log = logging.getLogger(__name__)

CONSENT_COOKIE = "xcm_consent"
FLOW_COOKIE = "xcm_flow"
START_AGAIN = "Go back to the app you were connecting and start again."


class Hosted:
    """Everything hosted mode adds to the HTTP server; `server.http.build_app` mounts it."""

    def __init__(self, provider: HostedProvider, *, server_name: str = "Xero Contacts MCP") -> None:
        self.provider = provider
        self.public_url = provider.public_url
        self.secure = self.public_url.startswith("https://")
        self.server_name = server_name
        settings = self.auth_settings()
        self.metadata = build_metadata(settings.issuer_url, None, settings.client_registration_options or
                                       ClientRegistrationOptions(), settings.revocation_options or RevocationOptions())
        self.metadata.client_id_metadata_document_supported = True
        self.metadata.scopes_supported = [SCOPE]
        # RFC 9207: every answer we send back to a client names us, so it cannot be mixed up with another server's
        self.metadata.authorization_response_iss_parameter_supported = True
        self.issuer = str(self.metadata.issuer)

    @property
    def verifier(self) -> HostedProvider:
        return self.provider

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """The whole HTTP app as hosted mode serves it (a store outage is a 503, not a 500)."""
        return SharedStateDown(app)

    def auth_settings(self) -> AuthSettings:
        # validated from strings so that the issuer keeps its exact spelling (no trailing slash added)
        return AuthSettings.model_validate({
            "issuer_url": self.public_url, "resource_server_url": self.provider.resource,
            "validate_token_resource": True, "required_scopes": [SCOPE],
            "client_registration_options": ClientRegistrationOptions(enabled=True, valid_scopes=[SCOPE],
                                                                     default_scopes=[SCOPE]),
            "revocation_options": RevocationOptions(enabled=True)})

    def routes(self) -> list[Route]:
        settings = self.auth_settings()
        sdk = create_auth_routes(self.provider, settings.issuer_url,
                                 client_registration_options=settings.client_registration_options,
                                 revocation_options=settings.revocation_options)
        routes: list[Route] = []
        for route in sdk:
            if route.path == "/.well-known/oauth-authorization-server":
                handler = cors_middleware(MetadataHandler(self.metadata).handle, ["GET", "OPTIONS"])
                route = Route(route.path, endpoint=handler, methods=["GET", "OPTIONS"])
            elif route.path == "/authorize":
                route = Route(route.path, endpoint=HTMLErrors(route.app), methods=["GET", "POST"])
            routes.append(route)
        return [*routes,
                Route("/consent", self.consent, methods=["GET"]),
                Route("/consent", self.decide, methods=["POST"]),
                Route("/xero/callback", self.callback, methods=["GET"])]

    # ── the consent page ────────────────────────────────────────────────────────────────────────

    async def consent(self, request: Request) -> Response:
        ticket = request.query_params.get("request", "")
        record = await self.provider.pending(ticket) if ticket else None
        if record is None:
            return error_page("This request has expired", "This sign-in request has expired or was already "
                              f"answered. {START_AGAIN}")
        csrf = secrets.token_urlsafe(32)
        await self.provider.bind_consent(ticket, record, csrf)
        response = consent_page(client_name=record.get("client_name") or "", client_id=record["client_id"],
                                redirect_host=urlsplit(record["redirect_uri"]).netloc, request=ticket, csrf=csrf,
                                server_name=self.server_name)
        response.set_cookie(CONSENT_COOKIE, csrf, path="/consent", httponly=True, samesite="strict",
                            secure=self.secure, max_age=int(self.provider.request_ttl))
        return response

    async def decide(self, request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and origin.rstrip("/") != self.public_url:
            return error_page("Not allowed", f"This answer did not come from this server's own page. {START_AGAIN}",
                              403)
        form = await request.form()
        ticket, csrf, decision = (str(form.get(k) or "") for k in ("request", "csrf", "decision"))
        cookie = request.cookies.get(CONSENT_COOKIE, "")
        record = await self.provider.pending(ticket) if ticket else None
        if (record is None or not csrf or not cookie or not hmac.compare_digest(csrf.encode(), cookie.encode())
                or not hmac.compare_digest(digest(csrf), str(record.get("csrf", "")))):
            return error_page("Not allowed", f"This answer does not match the page this browser was shown. "
                              f"{START_AGAIN}", 403)
        record = await self.provider.take_pending(ticket)  # once only, whatever the answer
        if record is None:
            return error_page("This request has expired", f"This request was already answered. {START_AGAIN}")
        if decision != "allow":
            response: Response = self._back_to_client(record, error="access_denied",
                                                      error_description="the person denied access")
        else:
            url, browser = await self.provider.start_xero(record)
            response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
            response.set_cookie(FLOW_COOKIE, browser, path="/xero/callback", httponly=True, samesite="lax",
                                secure=self.secure, max_age=int(self.provider.request_ttl))
        response.delete_cookie(CONSENT_COOKIE, path="/consent")
        return response

    # ── back from Xero ──────────────────────────────────────────────────────────────────────────

    async def callback(self, request: Request) -> Response:
        state = request.query_params.get("state", "")
        flow = await self.provider.take_flow(state) if state else None
        if flow is None:
            return error_page("Sign-in not recognised", f"This Xero sign-in is unknown, expired or already used. "
                              f"{START_AGAIN}")
        browser = request.cookies.get(FLOW_COOKIE, "")
        if not browser or not hmac.compare_digest(digest(browser), str(flow.get("browser", ""))):
            return error_page("Sign-in not recognised", "This Xero sign-in was started in another browser. "
                              f"{START_AGAIN}", 403)
        error = request.query_params.get("error")
        code = request.query_params.get("code")
        if error or not code:
            log.info("Xero sign-in ended without a code (%s)", error or "no code")
            return self._back_to_client(flow, error="access_denied",
                                        error_description="the Xero sign-in was cancelled or refused")
        try:
            person = await self.provider.people.complete_login(code=code, code_verifier=flow["verifier"],
                                                               nonce=flow["nonce"])
        except Exception as exc:  # every failure here is the person's to retry, never a traceback
            log.warning("completing a Xero sign-in failed: %s", exc)
            return self._back_to_client(flow, error="server_error",
                                        error_description="the Xero sign-in could not be completed; try again")
        code_for_client = await self.provider.issue_code(flow, person)
        log.info("person %s connected client %s", person.user_id, flow["client_id"])
        return self._back_to_client(flow, code=code_for_client)

    def _back_to_client(self, record: dict[str, Any], **params: str) -> Response:
        """Only ever to the redirect URI checked against the client's registration at /authorize."""
        url = construct_redirect_uri(record["redirect_uri"], **params, state=record.get("state"), iss=self.issuer)
        response = RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
        response.delete_cookie(FLOW_COOKIE, path="/xero/callback")
        return response


class SharedStateDown:
    """When the grant store (Redis) cannot answer, every hosted route answers 503 with one sentence and
    Retry-After instead of a 500 and a traceback: the client retries, nobody is signed out.

    Starlette's outermost middleware sends a 500 and re-raises; this wrapper holds a 500 back until the
    exception is known, and replaces it only when the cause is the shared state."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold_500(message: Message) -> None:
            if held or (message["type"] == "http.response.start" and message["status"] == 500):
                held.append(message)
            else:
                await send(message)

        try:
            await self.app(scope, receive, hold_500)
        except SharedStateUnavailable as exc:
            log.warning("answered 503: %s", exc)
            body = json.dumps({"error": "temporarily_unavailable", "error_description":
                               "this server's shared state is unavailable; try again shortly"}).encode()
            await send({"type": "http.response.start", "status": 503, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"2"), (b"cache-control", b"no-store")]})
            await send({"type": "http.response.body", "body": body})
            return
        for message in held:
            await send(message)


class HTMLErrors:
    """/authorize errors that cannot go back to the client (unknown client, unregistered redirect URI) are
    shown to the person as a page, not as JSON; everything else passes through unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start: Message | None = None
        body = b""

        async def capture(message: Message) -> None:
            nonlocal start, body
            if message["type"] == "http.response.start":
                start = message
            else:
                body += message.get("body", b"")

        await self.app(scope, receive, capture)
        assert start is not None
        if start["status"] == 400:
            try:
                detail = json.loads(body)
            except ValueError:
                detail = {}
            message = str(detail.get("error_description") or detail.get("error") or "invalid request")
            await error_page("This app's request was refused", f"{message}. Nothing was sent back to the app; "
                             "tell its maker, or start again from the app.")(scope, receive, send)
            return
        await send(start)
        await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def open_hosted(settings: Any, people: People, *, fetcher: MetadataFetcher | None = None,
                      **limits: float) -> AsyncIterator[Hosted]:
    """Hosted mode for these settings: the grant store (Redis when XERO_MCP_REDIS_URL is set, else a file
    under XERO_MCP_DATA_DIR), the provider and the routes; the store is closed on exit.

    `limits` may set access_ttl, refresh_ttl, code_ttl and request_ttl (seconds)."""
    if settings.xero_mcp_public_url is None:
        raise ValueError("hosted mode needs XERO_MCP_PUBLIC_URL")
    fernet = MultiFernet([Fernet(key) for key in settings.encryption_keys()])
    store = open_store(settings)
    try:
        provider = HostedProvider(public_url=settings.xero_mcp_public_url, store=store, people=people, fernet=fernet,
                                  fetcher=fetcher, **limits)
        yield Hosted(provider)
    finally:
        await store.aclose()


def open_store(settings: Any) -> GrantStore:
    if settings.xero_mcp_redis_url is not None:
        from ...state.redis_state import RedisState

        return RedisGrantStore(RedisState(settings.xero_mcp_redis_url, settings.xero_mcp_redis_prefix), owned=True)
    from ...paths import user_dir

    base = settings.xero_mcp_data_dir or (user_dir("config") / "hosted")
    return FileGrantStore(base / "mcp-grants.json")


async def revoke_person(settings: Any, user_id: str) -> int:
    """`users revoke ID`: delete that person's MCP grants (and so every token of theirs); how many there were."""
    store = open_store(settings)
    try:
        return await delete_person_grants(store, user_id)
    finally:
        await store.aclose()
