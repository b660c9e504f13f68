"""The identity side: apps, grants, tokens, connections, and the OAuth endpoints.

Faithful where clients get it wrong: refresh tokens rotate on every use and the previous one stays
usable for a grace period (then `invalid_grant`); PKCE S256 is verified; confidential apps must use
HTTP Basic; client_credentials is for Custom Connections only; access tokens are JWT-shaped.
Undocumented choice: a refresh token reused within its grace period yields another fresh pair and
every refresh token issued so far stays valid under the same rules.

Several users: authorize logs in the user named by `login_hint` (an email), else by the `sandbox_user`
cookie (`GET /_sandbox/login-as`), else the default user; the grant, its connections and its tokens
are that user's. With the `openid` scope the token endpoint adds an RS256 id_token (see `oidc`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from xero_contacts_mcp.sandbox import oidc
from xero_contacts_mcp.sandbox.clock import Clock
from xero_contacts_mcp.sandbox.config import KNOWN_SCOPES, ClientApp, SandboxConfig, SandboxUser
from xero_contacts_mcp.sandbox.faults import FaultController, status_reply
from xero_contacts_mcp.sandbox.replies import Reply, unauthorized
from xero_contacts_mcp.sandbox.state import Tenant
from xero_contacts_mcp.sandbox.stats import Stats
from xero_contacts_mcp.sandbox.users import LOGIN_COOKIE, Users

CONSOLE_CLIENT_ID = "SANDBOX-CONSOLE"
"""The internal app behind `Sandbox.access_token`, so OAuth tests on the stock apps never disturb it."""
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass
class Grant:
    """One consent (Xero's auth event): a user, an app, its scopes and the tenants it may reach."""

    auth_event_id: str
    client_id: str
    scopes: frozenset[str]
    tenants: tuple[str, ...]
    user: SandboxUser
    auth_time: float
    """When the user logged in, in real time like every id_token time (see `oidc.id_token_claims`)."""
    session_id: str
    """The login session (`global_session_id`), fixed for the grant's life, as at Xero."""
    revoked: bool = False


@dataclass
class AccessToken:
    grant: Grant
    expires_at: float
    client_credentials: bool = False


@dataclass
class RefreshToken:
    grant: Grant
    issued_at: float
    used_at: float | None = None


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    tenants: tuple[str, ...]
    challenge: str | None
    expires_at: float
    user: SandboxUser
    nonce: str | None
    auth_time: float
    used: bool = False


@dataclass
class Connection:
    connection_id: str
    user_id: str
    tenant_id: str
    client_id: str
    auth_event_id: str
    created: datetime
    updated: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a code verifier."""
    return _b64(hashlib.sha256(verifier.encode()).digest())


def _connection_date(value: datetime) -> str:
    """Identity's date format: no offset, seven fractional digits (`2019-12-07T18:46:19.5165400`)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"


def as_response(reply: Reply) -> Response:
    headers = dict(reply.headers)
    if reply.content_type:
        headers["content-type"] = reply.content_type
    return Response(reply.body, status_code=reply.status, headers=headers)


class Identity:
    """Token, authorize, revocation and connections endpoints over in-memory grants."""

    def __init__(
        self,
        config: SandboxConfig,
        clock: Clock,
        stats: Stats,
        faults: FaultController,
        tenants: Mapping[str, Tenant],
        default_tenant: str,
        users: Users,
    ) -> None:
        self.config, self.clock, self.stats, self.faults = config, clock, stats, faults
        self.tenants = tenants
        self.default_tenant = default_tenant
        self.users = users
        self.signer = oidc.Signer()
        self.apps = {app.client_id: app for app in config.apps}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.codes: dict[str, AuthCode] = {}
        self.connections: dict[tuple[str, str, str], Connection] = {}
        """By (user id, client id, tenant id): each person's connections are their own."""
        self.consent_tenants: list[str] | None = None
        """Tenants the authorize endpoint consents to, among the user's own (None: all of them)."""
        for app in config.apps:
            if app.kind == "custom":
                tenant_id = app.tenant_id or default_tenant
                owner = users.owner(tenant_id) or users.default
                self._connect(owner.user_id, app.client_id, tenant_id, str(uuid.uuid4()))

    # -- grants and tokens -------------------------------------------------------------------

    def _connect(self, user_id: str, client_id: str, tenant_id: str, auth_event_id: str) -> None:
        now = self.clock.now()
        existing = self.connections.get((user_id, client_id, tenant_id))
        if existing is None:
            self.connections[(user_id, client_id, tenant_id)] = Connection(
                str(uuid.uuid4()), user_id, tenant_id, client_id, auth_event_id, now, now
            )
        else:
            existing.auth_event_id, existing.updated = auth_event_id, now

    def new_grant(
        self,
        client_id: str,
        scopes: Iterable[str],
        tenants: Iterable[str],
        user: SandboxUser | None = None,
        *,
        auth_time: float | None = None,
    ) -> Grant:
        """Record a consent by `user` (default: the default user) and (re)connect its tenants."""
        grant = Grant(
            str(uuid.uuid4()),
            client_id,
            frozenset(scopes),
            tuple(tenants),
            user or self.users.default,
            time.time() if auth_time is None else auth_time,
            uuid.uuid4().hex,
        )
        for tenant_id in grant.tenants:
            self._connect(grant.user.user_id, client_id, tenant_id, grant.auth_event_id)
        return grant

    def _jwt(self, grant: Grant, issued: float, expires: float) -> str:
        header = {"alg": "RS256", "kid": "sandbox", "typ": "JWT"}
        claims = {
            "nbf": int(issued),
            "exp": int(expires),
            "iss": "https://identity.xero.com",
            "aud": "https://identity.xero.com/resources",
            "client_id": grant.client_id,
            "sub": grant.user.user_id.replace("-", ""),
            "auth_time": int(grant.auth_time),
            "xero_userid": grant.user.user_id,
            "global_session_id": grant.session_id,
            "jti": uuid.uuid4().hex.upper(),
            "authentication_event_id": grant.auth_event_id,
            "scope": sorted(grant.scopes),
        }
        parts = [json.dumps(header).encode(), json.dumps(claims).encode(), secrets.token_bytes(64)]
        return ".".join(_b64(p) for p in parts)

    def mint(
        self,
        grant: Grant,
        *,
        lifetime: float | None = None,
        refresh: bool = True,
        client_credentials: bool = False,
        issuer: str | None = None,
        nonce: str | None = None,
    ) -> dict[str, Any]:
        """Issue an access token (and a refresh token) for `grant`; returns the token response.

        With the `openid` scope it also carries an id_token for the grant's user, issued by `issuer`
        (default: the configured one, else Xero's)."""
        now = self.clock.time()
        lifetime = self.config.access_token_lifetime if lifetime is None else lifetime
        token = self._jwt(grant, now, now + lifetime)
        self.access[token] = AccessToken(grant, now + lifetime, client_credentials)
        body: dict[str, Any] = {"access_token": token, "expires_in": int(lifetime), "token_type": "Bearer"}
        if refresh and "offline_access" in grant.scopes:
            refresh_token = secrets.token_hex(32)
            self.refresh[refresh_token] = RefreshToken(grant, now)
            body["refresh_token"] = refresh_token
        body["scope"] = " ".join(sorted(grant.scopes))
        if "openid" in grant.scopes and not client_credentials:
            body["id_token"] = self.id_token(grant, token, issuer=issuer, nonce=nonce)
        return body

    def issuer(self, request: Request | None = None) -> str:
        """The configured issuer, else the origin `request` reached, else Xero's."""
        if self.config.issuer:
            return self.config.issuer
        if request is None:
            return "https://identity.xero.com"
        return f"{request.url.scheme}://{request.url.netloc}"

    def id_token(self, grant: Grant, access_token: str, *, issuer: str | None, nonce: str | None) -> str:
        self.stats.id_tokens += 1
        claims = oidc.id_token_claims(
            issuer=issuer or self.issuer(),
            client_id=grant.client_id,
            user=grant.user,
            auth_time=grant.auth_time,
            session_id=grant.session_id,
            lifetime=self.config.id_token_lifetime,
            nonce=nonce,
            access_token=access_token,
        )
        return self.signer.sign(claims)

    def authenticate(self, header: str | None) -> AccessToken | Reply:
        """The bearer token of an API call, or the 401 Xero answers."""
        scheme, _, value = (header or "").partition(" ")
        token = self.access.get(value.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            return unauthorized("AuthenticationUnsuccessful")
        if self.clock.time() >= token.expires_at:
            expired = datetime.fromtimestamp(token.expires_at, tz=UTC)
            return unauthorized(f"TokenExpired: token expired at {expired:%m/%d/%Y %H:%M:%S}")
        return token

    def tenants_for(self, token: AccessToken) -> list[str]:
        """Tenants the token may call: its consent, minus disconnected ones."""
        grant = token.grant
        return [
            t
            for t in grant.tenants
            if (grant.user.user_id, grant.client_id, t) in self.connections and t in self.tenants
        ]

    # -- endpoints ---------------------------------------------------------------------------

    async def _form(self, request: Request) -> dict[str, str] | None:
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return None
        return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))

    def _error(self, error: str, status: int = 400) -> Response:
        self.stats.token_errors[error] += 1
        if error == "invalid_grant":
            self.stats.invalid_grants += 1
        return JSONResponse({"error": error}, status_code=status, headers=_NO_STORE)

    def _client(self, request: Request, form: Mapping[str, str]) -> ClientApp | None:
        """Authenticate the client: HTTP Basic for confidential apps, `client_id` alone for PKCE apps."""
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            app = self.apps.get(unquote(user))
            if app is None:
                return None
            secret = app.client_secret or ""
            return app if hmac.compare_digest(unquote(password).encode(), secret.encode()) else None
        app = self.apps.get(form.get("client_id", ""))
        return app if app is not None and app.client_secret is None else None

    async def token_endpoint(self, request: Request) -> Response:
        """POST /connect/token: authorization_code, refresh_token and client_credentials grants."""
        if self.faults.token_latency > 0:
            await asyncio.sleep(self.faults.token_latency)
        fault = self.faults.take("token", False)
        if fault is not None and fault.kind == "status":
            self.stats.faults[str(fault.status)] += 1
            return as_response(status_reply(fault.status))
        form = await self._form(request)
        if form is None:
            return self._error("invalid_request")
        app = self._client(request, form)
        if app is None:
            return self._error("invalid_client", 401)
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            body = self._code_grant(app, form, self.issuer(request))
        elif grant_type == "refresh_token":
            body = self._refresh_grant(app, form, self.issuer(request))
        elif grant_type == "client_credentials":
            body = self._client_credentials(app, form)
        else:
            return self._error("unsupported_grant_type")
        if isinstance(body, str):
            return self._error(body)
        self.stats.token_grants[grant_type] += 1
        return JSONResponse(body, headers=_NO_STORE)

    def _code_grant(self, app: ClientApp, form: Mapping[str, str], issuer: str) -> dict[str, Any] | str:
        code = self.codes.get(form.get("code", ""))
        if code is None or code.used or code.client_id != app.client_id or self.clock.time() > code.expires_at:
            return "invalid_grant"
        if form.get("redirect_uri") != code.redirect_uri:
            return "invalid_grant"
        if code.challenge is not None:
            verifier = form.get("code_verifier", "")
            if not 43 <= len(verifier) <= 128 or not hmac.compare_digest(s256(verifier), code.challenge):
                return "invalid_grant"
        code.used = True
        grant = self.new_grant(app.client_id, code.scopes, code.tenants, code.user, auth_time=code.auth_time)
        return self.mint(grant, issuer=issuer, nonce=code.nonce)

    def _refresh_grant(self, app: ClientApp, form: Mapping[str, str], issuer: str) -> dict[str, Any] | str:
        token = self.refresh.get(form.get("refresh_token", ""))
        now = self.clock.time()
        if token is None or token.grant.revoked or token.grant.client_id != app.client_id:
            return "invalid_grant"
        if token.used_at is None:
            if now - token.issued_at > self.config.refresh_token_lifetime:
                return "invalid_grant"
            token.used_at = now
        elif now - token.used_at > self.config.refresh_grace:
            return "invalid_grant"
        self.stats.refreshes += 1
        return self.mint(token.grant, issuer=issuer)

    def _client_credentials(self, app: ClientApp, form: Mapping[str, str]) -> dict[str, Any] | str:
        if app.kind != "custom":
            return "unauthorized_client"
        allowed = set(app.scopes.split())
        asked = set(form.get("scope", "").split()) or allowed
        if not asked <= allowed:
            return "invalid_scope"
        tenant_id = app.tenant_id or self.default_tenant
        grant = self.new_grant(app.client_id, asked, (tenant_id,), self.users.owner(tenant_id))
        return self.mint(grant, refresh=False, client_credentials=True)

    async def authorize(self, request: Request) -> Response:
        """GET /identity/connect/authorize: validates, auto-consents, redirects with a code."""
        self.stats.authorizations += 1
        q = request.query_params
        app = self.apps.get(q.get("client_id", ""))
        if app is None:
            return PlainTextResponse("Invalid client_id", status_code=400)
        redirect_uri = q.get("redirect_uri", "")
        if not redirect_uri or (app.redirect_uris and redirect_uri not in app.redirect_uris):
            return PlainTextResponse("Invalid redirect_uri", status_code=400)
        state = q.get("state")

        def back(**params: str) -> Response:
            if state is not None:
                params["state"] = state
            joiner = "&" if "?" in redirect_uri else "?"
            return RedirectResponse(redirect_uri + joiner + urlencode(params), status_code=302)

        scopes = set(q.get("scope", "").split())
        challenge, method = q.get("code_challenge"), q.get("code_challenge_method")
        if q.get("response_type") != "code":
            return back(error="unsupported_response_type")
        if app.kind == "custom":
            return back(error="unauthorized_client")
        if not scopes or not scopes <= KNOWN_SCOPES:
            return back(error="invalid_scope")
        if (challenge and method != "S256") or (app.kind == "pkce" and not challenge):
            return back(error="invalid_request", error_description="PKCE with code_challenge_method=S256 is required")
        user = self._login(request)
        if user is None:
            return back(error="access_denied", error_description="no sandbox user has that login_hint or cookie")
        if self.faults.deny_authorize:
            return back(error="access_denied")
        code = secrets.token_urlsafe(32)
        self.stats.logins[user.handle] += 1
        own = self.users.tenants(user)
        chosen = own if self.consent_tenants is None else tuple(t for t in self.consent_tenants if t in own)
        self.codes[code] = AuthCode(
            app.client_id,
            redirect_uri,
            frozenset(scopes),
            chosen,
            challenge,
            self.clock.time() + self.config.auth_code_lifetime,
            user,
            q.get("nonce"),
            time.time(),
        )
        return back(code=code, scope=" ".join(sorted(scopes)), session_state=secrets.token_urlsafe(16))

    def _login(self, request: Request) -> SandboxUser | None:
        """Who is logging in: `login_hint`, else the login cookie, else the default user (None: named
        but unknown, so the flow ends in access_denied instead of silently acting as someone else)."""
        named = request.query_params.get("login_hint") or request.cookies.get(LOGIN_COOKIE)
        return self.users.default if not named else self.users.find(named)

    async def login_as(self, request: Request) -> Response:
        """GET /_sandbox/login-as?user=<handle|email|user id>[&next=URL]: "log in at Xero" in this
        browser (a cookie), then go to `next` (302) or answer the user (200 JSON)."""
        user = self.users.find(request.query_params.get("user"))
        if user is None:
            known = [u.handle for u in self.users.all]
            return JSONResponse({"error": f"no sandbox user {request.query_params.get('user')!r}; known: {known}"}, 404)
        follow = request.query_params.get("next")
        if follow and not (urlsplit(follow).scheme in ("http", "https") or follow.startswith("/")):
            return JSONResponse({"error": "next must be an http(s) URL or a path"}, 400)
        response: Response = (
            RedirectResponse(follow, status_code=302) if follow else JSONResponse(self.users.describe(user))
        )
        response.set_cookie(LOGIN_COOKIE, user.handle, path="/", httponly=True, samesite="lax")
        return response

    async def discovery(self, request: Request) -> Response:
        """GET /.well-known/openid-configuration."""
        base = f"{request.url.scheme}://{request.url.netloc}"
        return JSONResponse(oidc.discovery(self.issuer(request), base))

    async def jwks(self, request: Request) -> Response:
        """GET /.well-known/openid-configuration/jwks: the public key id_tokens are signed with."""
        return JSONResponse(self.signer.jwks())

    async def userinfo(self, request: Request) -> Response:
        """GET /connect/userinfo: the token's user, for tokens granted the `openid` scope."""
        token = self._bearer(request)
        if isinstance(token, Response):
            return token
        if "openid" not in token.grant.scopes:
            return JSONResponse({"error": "insufficient_scope"}, 403)
        user = token.grant.user
        claims = {"sub": user.user_id.replace("-", ""), "xero_userid": user.user_id}
        if "email" in token.grant.scopes:
            claims |= {"email": user.email, "preferred_username": user.email}
        if "profile" in token.grant.scopes:
            claims |= {"given_name": user.given_name, "family_name": user.family_name}
        return JSONResponse(claims)

    async def revocation(self, request: Request) -> Response:
        """POST /connect/revocation: revokes a refresh token's grant and removes its connections."""
        form = await self._form(request)
        if form is None:
            return self._error("invalid_request")
        app = self._client(request, form)
        if app is None:
            return self._error("invalid_client", 401)
        token = self.refresh.get(form.get("token", ""))
        if token is not None and token.grant.client_id == app.client_id:
            token.grant.revoked = True
            self.stats.revocations += 1
            for tenant_id in token.grant.tenants:
                self.connections.pop((token.grant.user.user_id, app.client_id, tenant_id), None)
        return Response(status_code=200)

    def _bearer(self, request: Request) -> AccessToken | Response:
        token = self.authenticate(request.headers.get("authorization"))
        return as_response(token) if isinstance(token, Reply) else token

    async def list_connections(self, request: Request) -> Response:
        """GET /connections: the tenants this token's app is connected to, as Xero lists them."""
        token = self._bearer(request)
        if isinstance(token, Response):
            return token
        wanted_event = request.query_params.get("authEventId")
        rows = []
        for tenant_id in self.tenants_for(token):
            connection = self.connections[(token.grant.user.user_id, token.grant.client_id, tenant_id)]
            if wanted_event and connection.auth_event_id != wanted_event:
                continue
            tenant = self.tenants[tenant_id]
            rows.append(
                {
                    "id": connection.connection_id,
                    "authEventId": connection.auth_event_id,
                    "tenantId": tenant_id,
                    "tenantType": tenant.tenant_type,
                    "tenantName": tenant.name,
                    "createdDateUtc": _connection_date(connection.created),
                    "updatedDateUtc": _connection_date(connection.updated),
                }
            )
        return JSONResponse(rows)

    async def delete_connection(self, request: Request) -> Response:
        """DELETE /connections/{id}: disconnect one tenant from the token's app."""
        token = self._bearer(request)
        if isinstance(token, Response):
            return token
        wanted = str(request.path_params["connection_id"]).lower()
        grant = token.grant
        for slot, connection in list(self.connections.items()):
            if (
                slot == (grant.user.user_id, grant.client_id, connection.tenant_id)
                and connection.connection_id == wanted
            ):
                del self.connections[slot]
                return Response(status_code=204)
        return PlainTextResponse("Connection not found", status_code=404)
