"""Our provider for the SDK's OAuth authorization server: clients, consent requests, codes, grants and
MCP tokens, each MCP token standing for one person (their Xero OpenID identity).

The SDK's handlers do the protocol (parsing, PKCE S256 check, redirect-URI and client checks, error
shapes); this class decides what exists and enforces the rules the SDK leaves to providers:

- a code is exchanged once; a second attempt revokes the grant the first one created;
- a refresh token rotates once; presenting a rotated one again revokes the whole grant;
- every token is bound to our resource (RFC 8707); a request for another resource is refused;
- a token works only while its grant exists and its person is still connected (`is_active`), so
  `users revoke` or `/revoke` ends it on the next call, on every replica.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import secrets
import time
from typing import Any, Protocol
from urllib.parse import urlsplit

from cryptography.fernet import InvalidToken, MultiFernet
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    IdentityAssertionParams,
    RefreshToken,
    RegistrationError,
    TokenError,
)
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from pydantic import AnyHttpUrl, AnyUrl, ValidationError

from ...identity import Person
from ...settings import LOOPBACK_HOSTS
from .cimd import MetadataDocumentError, MetadataFetcher
from .store import GrantStore

log = logging.getLogger(__name__)

#: the one scope: act in the person's own Xero organisations through this server's tools
SCOPE = "xero.contacts"
CLIENT_TTL = 400 * 86400.0
MAX_REDIRECT_URIS = 10
MAX_CLIENT_NAME = 200
MAX_CLIENT_ID = 512  # ours are UUIDs; a metadata document URL longer than this is not one we fetch
USED_MARKER_TTL = 600.0


class People(Protocol):
    """What the authorization server needs from the Xero side (xero.people.XeroPeople)."""

    def authorize_url(self, *, state: str, code_challenge: str, nonce: str) -> str: ...

    async def complete_login(self, *, code: str, code_verifier: str, nonce: str) -> Person: ...

    async def is_active(self, user_id: str) -> bool: ...


class Client(OAuthClientInformationFull):
    """A client as this server knows it (registered, or described by its metadata document). The SDK's
    redirect-URI check is already exact (URLs compared after RFC 3986 normalisation only)."""


class HostedCode(AuthorizationCode):
    grant: str


class HostedRefreshToken(RefreshToken):
    grant: str


class HostedAccessToken(AccessToken):
    grant: str


def digest(secret: str) -> str:
    """How a token, code or request id is known at rest: its SHA-256 (they are 256-bit random)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def pkce_challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def same_resource(a: str, b: str) -> bool:
    """RFC 8707 resources compared as URLs (case of scheme/host and default ports do not matter)."""
    try:
        return str(AnyHttpUrl(a)).removesuffix("/") == str(AnyHttpUrl(b)).removesuffix("/")
    except ValidationError:
        return False


def acceptable_redirect(uri: str) -> bool:
    """https anywhere, or http on a loopback host (native clients); never a fragment."""
    parts = urlsplit(uri)
    if parts.fragment or not parts.hostname:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS


class HostedProvider:
    """OAuthAuthorizationServerProvider + TokenVerifier over a GrantStore."""

    def __init__(self, *, public_url: str, store: GrantStore, people: People, fernet: MultiFernet,
                 fetcher: MetadataFetcher | None = None, access_ttl: float = 3600.0,
                 refresh_ttl: float = 30 * 86400.0, code_ttl: float = 120.0, request_ttl: float = 600.0) -> None:
        self.public_url = public_url.rstrip("/")
        self.resource = f"{self.public_url}/mcp"
        self.store = store
        self.people = people
        self.fernet = fernet
        self.fetcher = fetcher or MetadataFetcher()
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.code_ttl = code_ttl
        self.request_ttl = request_ttl

    # ── clients ─────────────────────────────────────────────────────────────────────────────────

    async def get_client(self, client_id: str) -> Client | None:
        if not client_id or len(client_id) > MAX_CLIENT_ID:
            return None
        if self.fetcher.is_url(client_id):
            return await self._metadata_client(client_id)
        record = await self.store.get(f"client:{client_id}")
        if record is None:
            return None
        sealed = record.pop("secret", None)
        if sealed is not None:
            try:
                record["client_secret"] = self.fernet.decrypt(sealed.encode()).decode()
            except InvalidToken:
                log.warning("client %s was registered under an encryption key no longer configured", client_id)
                return None
        return Client.model_validate(record)

    async def _metadata_client(self, url: str) -> Client | None:
        try:
            document = await self.fetcher.fetch(url)
            uris = document.get("redirect_uris")
            if not isinstance(uris, list) or not 0 < len(uris) <= MAX_REDIRECT_URIS or not all(
                    isinstance(u, str) and acceptable_redirect(u) for u in uris):
                raise MetadataDocumentError("the client metadata document's redirect_uris must be https or "
                                            "loopback URLs")
            if document.get("token_endpoint_auth_method", "none") != "none":
                raise MetadataDocumentError("only public clients (token_endpoint_auth_method none) may use a "
                                            "metadata document here")
            name = document.get("client_name")
            if isinstance(name, str) and len(name) > MAX_CLIENT_NAME:
                raise MetadataDocumentError(f"the client_name is longer than {MAX_CLIENT_NAME} characters")
            return Client(client_id=url, redirect_uris=uris, token_endpoint_auth_method="none",  # noqa: S106 - a method name
                          grant_types=["authorization_code", "refresh_token"], response_types=["code"],
                          scope=SCOPE, client_name=name if isinstance(name, str) else None)
        except (MetadataDocumentError, ValidationError) as exc:
            reason = exc if isinstance(exc, MetadataDocumentError) else "it is not valid client metadata"
            log.warning("refused the client metadata document %s: %s", url, reason)
            return None

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        if len(client_info.redirect_uris or []) > MAX_REDIRECT_URIS:
            raise RegistrationError("invalid_redirect_uri", f"at most {MAX_REDIRECT_URIS} redirect URIs")
        if len(client_info.client_name or "") > MAX_CLIENT_NAME:
            raise RegistrationError("invalid_client_metadata", f"client_name is longer than {MAX_CLIENT_NAME}")
        for uri in client_info.redirect_uris or []:
            if not acceptable_redirect(str(uri)):
                raise RegistrationError("invalid_redirect_uri",
                                        f"redirect URI {uri} must use https, or http on a loopback host")
        record = client_info.model_dump(mode="json", exclude_none=True)
        secret = record.pop("client_secret", None)
        if secret is not None:
            record["secret"] = self.fernet.encrypt(secret.encode()).decode()
        await self.store.put(f"client:{client_info.client_id}", record, CLIENT_TTL)

    # ── authorize → consent ─────────────────────────────────────────────────────────────────────

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        """Check the request and park it; the person is sent to our consent page next."""
        # our MCP endpoint, as the protected-resource metadata names it; a client that names our origin
        # alone still means this server (the token is bound to the endpoint either way)
        if params.resource is not None and not any(same_resource(params.resource, ours)
                                                   for ours in (self.resource, self.public_url)):
            raise AuthorizeError("invalid_target", f"this server only issues tokens for {self.resource}")
        scopes = params.scopes or [SCOPE]
        if any(scope != SCOPE for scope in scopes):
            raise AuthorizeError("invalid_scope", f"the only scope here is {SCOPE}")
        request = secrets.token_urlsafe(32)
        await self.store.put(f"request:{digest(request)}", {
            "client_id": client.client_id, "client_name": client.client_name,
            "redirect_uri": str(params.redirect_uri), "explicit": params.redirect_uri_provided_explicitly,
            "code_challenge": params.code_challenge, "state": params.state, "scopes": scopes,
            "resource": self.resource,
        }, self.request_ttl)
        return f"{self.public_url}/consent?request={request}"

    async def pending(self, request: str) -> dict[str, Any] | None:
        return await self.store.get(f"request:{digest(request)}")

    async def bind_consent(self, request: str, record: dict[str, Any], csrf: str) -> None:
        """Remember the CSRF token the consent page was served with (only its digest)."""
        await self.store.put(f"request:{digest(request)}", {**record, "csrf": digest(csrf)}, self.request_ttl)

    async def take_pending(self, request: str) -> dict[str, Any] | None:
        return await self.store.take(f"request:{digest(request)}")

    async def start_xero(self, record: dict[str, Any]) -> tuple[str, str]:
        """After Allow: our own PKCE, state and nonce for Xero's login. Returns (Xero URL, browser binding)."""
        verifier = secrets.token_urlsafe(64)
        nonce = secrets.token_urlsafe(24)
        state = secrets.token_urlsafe(32)
        browser = secrets.token_urlsafe(32)
        flow = {**record, "verifier": self.fernet.encrypt(verifier.encode()).decode(), "nonce": nonce,
                "browser": digest(browser)}
        flow.pop("csrf", None)
        await self.store.put(f"flow:{digest(state)}", flow, self.request_ttl)
        url = self.people.authorize_url(state=state, code_challenge=pkce_challenge(verifier), nonce=nonce)
        return url, browser

    async def take_flow(self, state: str) -> dict[str, Any] | None:
        flow = await self.store.take(f"flow:{digest(state)}")
        if flow is not None:
            try:
                flow["verifier"] = self.fernet.decrypt(flow["verifier"].encode()).decode()
            except (InvalidToken, KeyError, AttributeError):
                return None
        return flow

    async def issue_code(self, flow: dict[str, Any], person: Person) -> str:
        """The code the client exchanges; its grant id is chosen now, the grant made at the exchange."""
        code = secrets.token_urlsafe(32)
        await self.store.put(f"code:{digest(code)}", {
            "client_id": flow["client_id"], "redirect_uri": flow["redirect_uri"], "explicit": flow["explicit"],
            "code_challenge": flow["code_challenge"], "scopes": flow["scopes"], "resource": flow["resource"],
            "user_id": person.user_id, "email": person.email, "name": person.name,
            "grant": secrets.token_urlsafe(18), "expires_at": time.time() + self.code_ttl,
        }, max(self.code_ttl, USED_MARKER_TTL))
        return code

    # ── codes and tokens ────────────────────────────────────────────────────────────────────────

    async def load_authorization_code(self, client: OAuthClientInformationFull, authorization_code: str
                                      ) -> HostedCode | None:
        record = await self.store.get(f"code:{digest(authorization_code)}")
        if record is None or record["client_id"] != client.client_id:
            return None
        if record.get("used"):
            log.warning("an authorization code was presented again: revoking the grant it created")
            await self.revoke_grant(record["grant"])
            return None
        return HostedCode(code=authorization_code, scopes=record["scopes"], expires_at=record["expires_at"],
                          client_id=record["client_id"], code_challenge=record["code_challenge"],
                          redirect_uri=AnyUrl(record["redirect_uri"]),
                          redirect_uri_provided_explicitly=record["explicit"], resource=record["resource"],
                          subject=record["user_id"], grant=record["grant"])

    async def exchange_authorization_code(self, client: OAuthClientInformationFull,
                                          authorization_code: HostedCode) -> OAuthToken:
        key = digest(authorization_code.code)
        if not await self.store.claim(f"code-used:{key}", USED_MARKER_TTL):
            await self.revoke_grant(authorization_code.grant)
            raise TokenError("invalid_grant", "authorization code was already used; its grant is revoked")
        record = await self.store.get(f"code:{key}")
        if record is None:
            raise TokenError("invalid_grant", "authorization code does not exist")
        await self.store.put(f"code:{key}", {**record, "used": True}, USED_MARKER_TTL)
        user_id = record["user_id"]
        if not await self.people.is_active(user_id):
            raise TokenError("invalid_grant", "this person's Xero connection was revoked; connect again")
        grant = authorization_code.grant
        await self.store.put(f"grant:{grant}", {
            "user_id": user_id, "email": record.get("email"), "name": record.get("name"),
            "client_id": client.client_id, "scopes": record["scopes"], "resource": record["resource"],
            "created_at": time.time(),
        }, self.refresh_ttl)
        await self.store.add_member(f"person:{user_id}", grant, self.refresh_ttl)
        return await self._issue(grant, client.client_id, record["scopes"], record["resource"], user_id)

    async def _issue(self, grant: str, client_id: str, scopes: list[str], resource: str, user_id: str
                     ) -> OAuthToken:
        access = "xcm_at_" + secrets.token_urlsafe(32)
        refresh = "xcm_rt_" + secrets.token_urlsafe(32)
        now = time.time()
        common = {"grant": grant, "client_id": client_id, "scopes": scopes, "resource": resource,
                  "user_id": user_id}
        await self.store.put(f"at:{digest(access)}", {**common, "expires_at": now + self.access_ttl},
                             self.access_ttl)
        await self.store.put(f"rt:{digest(refresh)}", {**common, "expires_at": now + self.refresh_ttl},
                             self.refresh_ttl)
        return OAuthToken(access_token=access, token_type="Bearer",  # noqa: S106 - the token type
                          expires_in=int(self.access_ttl),
                          scope=" ".join(scopes) or None, refresh_token=refresh)

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str
                                 ) -> HostedRefreshToken | None:
        record = await self.store.get(f"rt:{digest(refresh_token)}")
        if record is None or record["client_id"] != client.client_id:
            return None
        if record.get("rotated"):
            log.warning("a rotated refresh token was presented again: revoking its whole grant")
            await self.revoke_grant(record["grant"])
            return None
        if await self.store.get(f"grant:{record['grant']}") is None:
            return None
        return HostedRefreshToken(token=refresh_token, client_id=record["client_id"], scopes=record["scopes"],
                                  expires_at=math.ceil(record["expires_at"]), resource=record["resource"],
                                  subject=record["user_id"], grant=record["grant"])

    async def exchange_refresh_token(self, client: OAuthClientInformationFull, refresh_token: HostedRefreshToken,
                                     scopes: list[str]) -> OAuthToken:
        key = digest(refresh_token.token)
        left = max(1.0, (refresh_token.expires_at or time.time() + self.refresh_ttl) - time.time())
        if not await self.store.claim(f"rt-used:{key}", left):
            await self.revoke_grant(refresh_token.grant)
            raise TokenError("invalid_grant", "refresh token was already used; its grant is revoked")
        record = await self.store.get(f"rt:{key}")
        if record is not None:
            await self.store.put(f"rt:{key}", {**record, "rotated": True}, left)
        grant = await self.store.get(f"grant:{refresh_token.grant}")
        user_id = refresh_token.subject or ""
        if grant is None:
            raise TokenError("invalid_grant", "this grant was revoked; connect again")
        if not await self.people.is_active(user_id):
            raise TokenError("invalid_grant", "this person's Xero connection was revoked; connect again")
        await self.store.put(f"grant:{refresh_token.grant}", grant, self.refresh_ttl)
        await self.store.add_member(f"person:{user_id}", refresh_token.grant, self.refresh_ttl)
        return await self._issue(refresh_token.grant, client.client_id, scopes,
                                 refresh_token.resource or self.resource, user_id)

    async def load_access_token(self, token: str) -> HostedAccessToken | None:
        record = await self.store.get(f"at:{digest(token)}")
        if record is None or record["expires_at"] < time.time():
            return None
        grant = await self.store.get(f"grant:{record['grant']}")
        if grant is None or not await self.people.is_active(record["user_id"]):
            return None
        return HostedAccessToken(token=token, client_id=record["client_id"], scopes=record["scopes"],
                                 expires_at=math.ceil(record["expires_at"]), resource=record["resource"],
                                 subject=record["user_id"], grant=record["grant"],
                                 claims={"email": grant.get("email"), "name": grant.get("name")})

    async def verify_token(self, token: str) -> AccessToken | None:
        """The bearer middleware's check (TokenVerifier)."""
        return await self.load_access_token(token)

    async def exchange_identity_assertion(self, client: OAuthClientInformationFull,
                                          params: IdentityAssertionParams) -> OAuthToken:
        """Not offered (not advertised either): a person connects through consent and Xero's login only."""
        raise TokenError("unsupported_grant_type", "the JWT bearer grant is not supported here")

    async def revoke_token(self, token: HostedAccessToken | HostedRefreshToken) -> None:
        """/revoke: either token ends the whole grant (its access and refresh tokens)."""
        await self.revoke_grant(token.grant)

    async def revoke_grant(self, grant: str) -> None:
        await self.store.delete(f"grant:{grant}")

    async def revoke_person(self, user_id: str) -> int:
        return await delete_person_grants(self.store, user_id)


async def delete_person_grants(store: GrantStore, user_id: str) -> int:
    """Delete every grant of this person (`users revoke`), so each of their MCP tokens stops working;
    returns how many grants there were."""
    grants = await store.members(f"person:{user_id}")
    existing = [g for g in grants if await store.get(f"grant:{g}") is not None]
    await store.delete(*[f"grant:{g}" for g in grants], f"person:{user_id}")
    return len(existing)
