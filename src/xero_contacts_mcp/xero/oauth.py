"""OAuth2 for the API: one httpx2 `Auth` flow over a token source that keeps tokens alive.

authlib speaks the protocol (refresh and client_credentials grants, client authentication). This
module closes the gaps it leaves open for Xero: a refresh is single-flight in the process (a lock)
and across processes (the token store's lock, re-reading the store inside it); the new token set is
persisted before it is used, and when the store refuses it (read-only directory, full disk, Redis
down) it is kept in memory, used, and saved again on every later call, and no second refresh is
spent until it is saved; `expires_at` is computed when only `expires_in` comes back; a 401
`TokenExpired` triggers one refresh and one retry; `invalid_grant` is latched so waiters fail fast
with one clear instruction instead of a retry storm. Token calls use their own client, so API-only
headers (`xero-tenant-id`, `Idempotency-Key`) never reach the token endpoint.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
import httpx2

from ..state.cache import MemoryCache, SharedCache, SharedStateUnavailable
from ..state.tokens import Login, StaleWriteError, TokenStore, TokenStoreError
from .errors import NotConfiguredError, XeroError

log = logging.getLogger(__name__)

LEEWAY = 60.0  # refresh this many seconds before expiry (a tenth of the lifetime for short-lived tokens)


class LoginRequiredError(NotConfiguredError):
    """The stored login or app credentials cannot produce a token; a person must act."""


class TokenEndpointError(XeroError):
    """Xero's identity service failed (5xx, unreachable, or an answer that is not a token)."""


class LoginUnsavedError(XeroError):
    """A refreshed login could not be saved and its access token has run out: refreshing again would spend
    the only copy of a rotated refresh token, so the call stops here until the operator fixes the store."""


class TokenSource(Protocol):
    async def token(self) -> str: ...

    async def renew(self, rejected: str) -> str | None:
        """A fresh token after `rejected` got a 401 TokenExpired, or None when this source cannot renew."""
        ...


@dataclass(frozen=True)
class App:
    """A Xero app as the token endpoint knows it."""

    client_id: str
    client_secret: str | None
    token_url: str
    revoke_url: str
    scope: str | None = None

    def oauth_client(self, transport: httpx2.AsyncBaseTransport | None = None, **kw: Any) -> Any:
        """An authlib client for token calls only.

        HTTP Basic for a confidential ("Web app") client; client_id in the body for a public (PKCE) one.
        """
        from authlib.integrations.httpx_client import AsyncOAuth2Client

        method = "client_secret_basic" if self.client_secret else "none"
        # surrounding whitespace (a pasted XERO_CLIENT_ID or secret) is no part of a credential
        secret = self.client_secret.strip() if self.client_secret else self.client_secret
        return AsyncOAuth2Client(client_id=self.client_id.strip(), client_secret=secret,
                                 token_endpoint_auth_method=method, revocation_endpoint_auth_method=method,
                                 transport=transport, timeout=30.0, **kw)

    async def revoke_refresh(self, refresh_token: str, transport: httpx2.AsyncBaseTransport | None = None) -> bool:
        """Revoke a refresh token (and so the grant) at Xero; whether Xero confirmed it."""
        try:
            async with self.oauth_client(transport) as oauth:
                reply = await oauth.revoke_token(self.revoke_url, token=refresh_token,
                                                 token_type_hint="refresh_token")  # noqa: S106 - a hint name
        except (httpx2.HTTPError, OSError):  # socket.gaierror is an OSError
            return False
        return bool(reply.status_code < 400)


def with_expiry(token: dict[str, Any]) -> dict[str, Any]:
    """A token set with `expires_at` counted from now (authlib floors it to the second, which matters for
    short-lived tokens); 0 (already expired) when Xero gave neither, so it is never trusted forever."""
    token = dict(token)
    expires_in = token.get("expires_in")
    try:
        if expires_in:
            token["expires_at"] = time.time() + float(expires_in)
    except (TypeError, ValueError):
        pass
    if not token.get("expires_at"):
        token["expires_at"] = 0
    return token


def _expiring(token: dict[str, Any]) -> bool:
    expires_at = float(token.get("expires_at") or 0)
    try:
        lifetime = float(token.get("expires_in") or 0)
    except (TypeError, ValueError):
        lifetime = 0.0
    leeway = min(LEEWAY, lifetime / 10) if lifetime > 0 else LEEWAY
    return expires_at - leeway <= time.time()


def _oauth_failure(exc: Exception, app: App) -> XeroError:
    """Map an authlib/httpx2 failure of a token call to the error the model (or person) reads."""
    from authlib.integrations.base_client import OAuthError

    if isinstance(exc, OAuthError):
        code, detail = exc.error, exc.description
        described = f"{code}" + (f": {detail}" if detail else "")
        if code == "invalid_grant":
            return LoginRequiredError("The stored Xero login is no longer valid (invalid_grant: the refresh token "
                                      "expired, was revoked or was used elsewhere). Run `xero-contacts-mcp login`.")
        if code == "unauthorized_client":
            return LoginRequiredError("XERO_CLIENT_ID belongs to an app that is not a Custom Connection "
                                      f"({described}). Run `xero-contacts-mcp login` to sign in with it instead.")
        if code == "invalid_client":
            return LoginRequiredError(f"Xero rejected the app credentials ({described}). Check XERO_CLIENT_ID "
                                      "and XERO_CLIENT_SECRET.")
        return LoginRequiredError(f"Xero's token endpoint refused the request ({described}).")
    if isinstance(exc, httpx2.HTTPStatusError):
        return TokenEndpointError(f"Xero's identity service failed ({exc.response.status_code}); try again shortly.")
    if isinstance(exc, httpx2.TransportError):
        return TokenEndpointError(f"Could not reach Xero's token endpoint at {app.token_url} "
                                  f"({type(exc).__name__}); check the network and XERO_TOKEN_URL.")
    return TokenEndpointError(f"Xero's token endpoint answered something that is not a token ({type(exc).__name__}).")


class StaticToken:
    """XERO_ACCESS_TOKEN (or the sandbox's): used as is, never refreshed."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def token(self) -> str:
        return self._token

    async def renew(self, rejected: str) -> str | None:
        return None


class StoredLogin:
    """A `login` token set that refreshes itself, once per expiry across every process sharing the store."""

    def __init__(self, store: TokenStore, app: App, transport: httpx2.AsyncBaseTransport | None = None) -> None:
        self.store = store
        self.app = app
        self._transport = transport
        self._lock = anyio.Lock()
        self._login: Login | None = None
        self._failed: XeroError | None = None
        self._failed_version = -1  # the stored login's version that failed (a new `login` clears the latch)
        self._failed_refresh: str | None = None
        #: a refreshed login the store refused: the only copy of its refresh token, saved again on each call
        self._unsaved: Login | None = None
        self._unsaved_why = self._unsaved_fix = ""
        self.refreshes = 0  # refreshes this process made (observability, tests)

    async def current(self) -> Login | None:
        """The login as last seen (loaded on first use)."""
        if self._login is None:
            self._login = await self.store.load()
        return self._login

    async def tenant_id(self) -> str | None:
        login = await self.current()
        return login.tenant_id if login is not None else None

    async def token(self, *, reread: bool = False) -> str:
        """The access token, refreshed first when it is near expiry. `reread`: read the store first rather than
        trust the copy in memory (hosted mode: the person may have signed in again, or been revoked, elsewhere)."""
        async with self._lock:
            if reread and self._failed is None:
                self._login = await self.store.load()
            login = await self._current()
            if not _expiring(login.token):
                return login.access_token
            return (await self._refresh(login.access_token)).access_token

    async def renew(self, rejected: str) -> str | None:
        async with self._lock:
            login = await self._current()
            if login.access_token != rejected and not _expiring(login.token):
                return login.access_token  # someone already renewed it
            return (await self._refresh(rejected)).access_token

    async def _current(self) -> Login:
        if self._unsaved is not None:
            await self._save_unsaved()
            if self._unsaved is not None:
                return self._unsaved
        if self._failed is not None:
            stored = await self.store.load()  # one read per call while failed: a new `login` heals every replica
            if stored is None or (stored.version == self._failed_version
                                  and stored.refresh_token == self._failed_refresh):
                raise self._failed
            self._failed, self._login = None, stored
        login = await self.current()
        if login is None:
            raise LoginRequiredError("There is no stored Xero login. Run `xero-contacts-mcp login`.")
        return login

    def _latch(self, error: XeroError, login: Login) -> XeroError:
        """Every waiter fails fast and nobody retries the dead token, until a new login is stored."""
        # version and refresh token: a login deleted and made again starts again at version 1
        self._failed, self._failed_version, self._failed_refresh = error, login.version, login.refresh_token
        return error

    async def _save_unsaved(self) -> None:
        """Try again to save the refreshed login kept in memory (it stays in memory while the store refuses)."""
        pending = self._unsaved
        assert pending is not None
        try:
            async with self.store.lock():
                saved = await self.store.save(pending)
        except StaleWriteError:
            # a new `login` (or a logout) since: it wins, and our rotated token is no longer needed
            self._unsaved, self._login = None, await self.store.load()
            log.warning("the stored Xero login changed while a refreshed one waited to be saved; using the stored one")
            if self._login is None:
                raise _logged_out() from None
            return
        except (TokenStoreError, SharedStateUnavailable) as exc:
            self._note_unsaved(exc)
            return
        self._unsaved, self._login = None, saved
        log.warning("saved the refreshed Xero login to %s; the store works again", self.store.describe())

    def _note_unsaved(self, exc: Exception) -> None:
        """One log line for the operator per distinct reason (not one per call)."""
        why = str(exc).rstrip(". ")
        fix = getattr(exc, "fix", "") if isinstance(exc, TokenStoreError) else ""
        fix = fix or "make the shared state (Redis at XERO_MCP_REDIS_URL) answer again"
        if why != self._unsaved_why:
            self._unsaved_why, self._unsaved_fix = why, fix
            log.error("KEEPING A REFRESHED XERO LOGIN IN MEMORY ONLY: %s. Fix: %s; the next call then saves it. "
                      "If this process stops first, the login is lost and `xero-contacts-mcp login` is needed.",
                      why, fix)

    def _unsaved_error(self) -> LoginUnsavedError:
        return LoginUnsavedError(
            f"The refreshed Xero login could not be saved ({self._unsaved_why}) and its access token has now "
            "expired, so this server will not refresh it again until it is saved (that would spend the only copy "
            f"of its refresh token): ask the operator to {self._unsaved_fix}, then call the tool again.")

    async def _refresh(self, stale: str) -> Login:
        if self._unsaved is not None:
            raise self._unsaved_error()
        async with self.store.lock():
            disk = await self.store.load()
            if disk is None:  # logged out (perhaps from another machine) since this process read it
                self._login = None
                raise _logged_out()
            if disk.access_token != stale and not _expiring(disk.token):
                self._login = disk  # another process refreshed while we waited for the lock
                return disk
            base = disk
            if not base.refresh_token:
                raise self._latch(LoginRequiredError("The stored Xero login has no refresh token (was "
                                                     "offline_access granted?). Run `xero-contacts-mcp login`."), base)
            try:
                async with self.app.oauth_client(self._transport) as oauth:
                    fresh = await oauth.refresh_token(self.app.token_url, refresh_token=base.refresh_token)
            except Exception as exc:
                error = _oauth_failure(exc, self.app)
                if isinstance(error, LoginRequiredError):
                    raise self._latch(error, base) from None
                raise error from None
            token = with_expiry(dict(fresh))
            token.setdefault("refresh_token", base.refresh_token)
            login = Login(token=token, client_id=base.client_id, tenant_id=base.tenant_id,
                          connections=base.connections, version=base.version)
            self.refreshes += 1
            try:
                # persisted before use: a crash now cannot lose the rotated refresh token
                login = await self.store.save(login)
            except StaleWriteError:
                # only a writer that skipped the lock (or a lapsed lease) gets here; keep what is stored
                newer = await self.store.load()
                if newer is None:
                    self._login = None
                    raise _logged_out() from None
                login = newer
            except (TokenStoreError, SharedStateUnavailable) as exc:
                # the only copy of the rotated refresh token is this one: keep it, use it, save it later
                self._unsaved = self._login = login
                self._note_unsaved(exc)
                return login
            self._login = login
            log.info("refreshed the Xero access token (valid until %s)",
                     time.strftime("%H:%M:%S", time.localtime(login.expires_at)))
            return login


def _logged_out() -> LoginRequiredError:
    return LoginRequiredError("The stored Xero login was removed (`xero-contacts-mcp logout`, perhaps on another "
                              "machine). Run `xero-contacts-mcp login`.")


class CustomConnection:
    """client_credentials for a Custom Connection: fetched once, cached until near expiry, then fetched again."""

    def __init__(self, app: App, transport: httpx2.AsyncBaseTransport | None = None,
                 cache: SharedCache | None = None) -> None:
        self.app = app
        self._transport = transport
        self._cache = cache or MemoryCache()
        self._key = f"cc-token:{app.client_id}"
        self._lock = anyio.Lock()
        self._failed: XeroError | None = None
        self.fetches = 0

    async def token(self) -> str:
        return await self._get(rejected=None)

    async def renew(self, rejected: str) -> str | None:
        return await self._get(rejected=rejected)

    async def _get(self, rejected: str | None) -> str:
        """The cached token unless missing, expiring or just rejected; fetched once (single flight)."""
        async with self._lock:
            if self._failed is not None:
                raise self._failed
            cached = await self._usable(rejected)
            if cached is not None:
                return cached
            async with self._cache.lock(f"{self._key}:fetch"):
                cached = await self._usable(rejected)  # another replica may have fetched it meanwhile
                if cached is not None:
                    return cached
                token = await self._fetch()
            return str(token["access_token"])

    async def _usable(self, rejected: str | None) -> str | None:
        token = await self._cache.get(self._key)
        if not isinstance(token, dict) or _expiring(token):
            return None
        access = str(token.get("access_token"))
        return None if access == rejected else access

    async def _fetch(self) -> dict[str, Any]:
        extra = {"scope": self.app.scope} if self.app.scope else {}
        try:
            async with self.app.oauth_client(self._transport) as oauth:
                token = await oauth.fetch_token(self.app.token_url, grant_type="client_credentials", **extra)
        except Exception as exc:
            error = _oauth_failure(exc, self.app)
            if isinstance(error, LoginRequiredError):
                self._failed = error
            raise error from None
        fetched = with_expiry(dict(token))
        self.fetches += 1
        await self._cache.set(self._key, fetched, ttl=max(1.0, float(fetched["expires_at"]) - time.time()))
        return fetched


class OAuth2Auth(httpx2.Auth):
    """The one auth flow for OAuth tokens: attach, and on a 401 TokenExpired renew once and resend."""

    def __init__(self, source: TokenSource) -> None:
        self.source = source

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        token = await self.source.token()
        # surrounding whitespace (a pasted XERO_ACCESS_TOKEN) is no part of a token, and HTTP refuses it
        request.headers["Authorization"] = f"Bearer {token.strip()}"
        response = yield request
        if response.status_code == 401:
            await response.aread()
        if response.status_code == 401 and _token_expired(response):
            renewed = await self.source.renew(token)
            if renewed is not None:
                log.info("access token rejected as expired; renewed it and resending once")
                request.headers["Authorization"] = f"Bearer {renewed.strip()}"
                yield request


def _token_expired(response: httpx2.Response) -> bool:
    try:
        detail = response.json().get("Detail", "")
    except (ValueError, AttributeError):
        return False
    return isinstance(detail, str) and detail.startswith("TokenExpired")
