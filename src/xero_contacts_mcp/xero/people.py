"""Hosted mode's Xero side: each person connects their own Xero, and every call acts as them.

`XeroPeople` is the facade the HTTP layer gets at start-up: it builds Xero's authorize URL (the
HTTP layer's own PKCE, `state` and `nonce`), completes the login at `/xero/callback` (code exchange
through the same authlib client as `login`, id_token verified against Xero's JWKS, connections
fetched, the token set stored encrypted under the person's Xero user id), and answers the operator
commands. `PersonTokens` is the token source the one Xero client uses in this mode: whoever
`identity.current_person` names, their own token set, refreshed through the same `StoredLogin`
(compare-and-set, per-person lease lock) as the single login.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlencode

import httpx2

from ..identity import Person, current_person
from ..state.cache import SharedCache
from ..state.people import PeopleStore, PersonRecord, check_user_id
from ..state.tokens import Login, UnreadableLoginError, replace_login
from .errors import NotConfiguredError
from .oauth import App, LoginRequiredError, StoredLogin, with_expiry
from .tenants import CACHE_SECONDS, ConnectionsUnavailable, fetch_connections, person_key

log = logging.getLogger(__name__)

__all__ = ["HOSTED_SCOPES", "IDENTITY_SCOPES", "NO_PERSON", "PersonRecord", "PersonTokens", "RevocationError",
           "XeroLoginError", "XeroPeople"]

#: who the person is (OpenID Connect) and a refresh token: asked for on top of the tools' scopes
IDENTITY_SCOPES = ("openid", "profile", "email", "offline_access")
#: what each person grants by default (the runtime adds XERO_SCOPES / --read-only's to IDENTITY_SCOPES)
HOSTED_SCOPES = "openid profile email offline_access accounting.contacts accounting.settings"
TOUCH_EVERY = 60.0  # seconds between "last use" writes for one person (per process)

NO_PERSON = ("This server serves each person with their own Xero login, and this call carries no signed-in "
             "person, so nothing was sent to Xero. Connect through your MCP client's sign-in (OAuth).")
RECONNECT = ("Your Xero sign-in on this server is no longer valid ({reason}), so nothing was sent to Xero. "
             "Sign in again: disconnect and reconnect this server in your MCP client (or ask its operator).")


class XeroLoginError(Exception):
    """The Xero half of a person's sign-in failed; one sentence safe to show them (no token, no secret)."""


class PersonTokens:
    """The TokenSource for hosted mode: the current person's token set, never anyone else's.

    One `StoredLogin` per person (its in-process lock and its store's cross-replica lock are that
    person's), created on first use. No person → NotConfiguredError before anything is sent.
    """

    def __init__(self, people: PeopleStore, app: App, transport: httpx2.AsyncBaseTransport | None = None) -> None:
        self.people = people
        self.app = app
        self._transport = transport
        self._logins: dict[str, StoredLogin] = {}

    def login(self, user_id: str) -> StoredLogin:
        stored = self._logins.get(user_id)
        if stored is None:
            stored = self._logins[user_id] = StoredLogin(self.people.tokens(user_id), self.app, self._transport)
        return stored

    def _current(self) -> StoredLogin:
        person = current_person.get()
        if person is None:
            raise NotConfiguredError(NO_PERSON)
        return self.login(person.user_id)

    async def token(self) -> str:
        """Read from the store on every call (one Redis GET): a sign-in again or a revocation on another
        replica takes effect at once, not when this process's copy expires."""
        stored = self._current()
        try:
            return await stored.token(reread=True)
        except (LoginRequiredError, UnreadableLoginError) as exc:
            raise _reconnect(exc) from None

    async def renew(self, rejected: str) -> str | None:
        stored = self._current()
        try:
            return await stored.renew(rejected)
        except (LoginRequiredError, UnreadableLoginError) as exc:
            raise _reconnect(exc) from None

    def forget(self, user_id: str) -> None:
        self._logins.pop(user_id, None)

    @property
    def refreshes(self) -> int:
        return sum(login.refreshes for login in self._logins.values())


def _reconnect(exc: Exception) -> LoginRequiredError:
    """The person's own next step, without the operator's details (paths, keys) the log keeps."""
    if isinstance(exc, UnreadableLoginError):
        reason = "the token set stored for you cannot be opened with this server's keys"
        log.warning("a person's stored Xero token set is unusable: %s", exc)
    else:
        reason = "Xero refused its refresh token" if "invalid_grant" in str(exc) else "no token set is stored for you"
        log.info("a person's Xero login is unusable: %s", exc)
    return LoginRequiredError(RECONNECT.format(reason=reason))


class XeroPeople:
    """Created once at start-up in hosted mode; handed to the HTTP layer (seam 2 of issue 17)."""

    def __init__(self, *, app: App, people: PeopleStore, tokens: PersonTokens, public_url: str, authorize_url: str,
                 connections_url: str, jwks_url: str, issuer: str,
                 transport: httpx2.AsyncBaseTransport | None = None, scopes: str = HOSTED_SCOPES,
                 cache: SharedCache | None = None, cache_key: str = "connections") -> None:
        from .id_token import IdTokenVerifier

        self.app = app
        self.store = people
        self.tokens = tokens
        self.redirect_uri = public_url.rstrip("/") + "/xero/callback"
        self._authorize_url = authorize_url
        self._connections_url = connections_url
        self._transport = transport
        self.scopes = scopes
        self.verifier = IdTokenVerifier(jwks_url, issuer, app.client_id, transport)
        self._cache = cache
        self._cache_key = cache_key
        self._touched: dict[str, float] = {}

    def authorize_url(self, *, state: str, code_challenge: str, nonce: str) -> str:
        """Xero's authorize URL: our scopes, redirect URI `{XERO_MCP_PUBLIC_URL}/xero/callback`, PKCE S256
        with `code_challenge`, and `state` and `nonce` as given (the caller keeps the verifier)."""
        query = {"response_type": "code", "client_id": self.app.client_id, "redirect_uri": self.redirect_uri,
                 "scope": self.scopes, "state": state, "nonce": nonce, "code_challenge": code_challenge,
                 "code_challenge_method": "S256"}
        joiner = "&" if "?" in self._authorize_url else "?"
        return self._authorize_url + joiner + urlencode(query)

    async def complete_login(self, *, code: str, code_verifier: str, nonce: str) -> Person:
        """Exchange the code, verify the id_token (signature, iss, aud, exp, nonce), fetch the person's
        organisations and store their token set encrypted; returns who they are. Raises XeroLoginError."""
        from .id_token import IdTokenError

        token = await self._exchange(code, code_verifier)
        id_token = token.pop("id_token", None)  # identity only: never stored with the token set
        if not isinstance(id_token, str):
            raise XeroLoginError("Xero sent no id_token (the openid scope was not granted), so the person "
                                 "cannot be identified")
        try:
            person = await self.verifier.verify(id_token, nonce=nonce)
            check_user_id(person.user_id)
        except IdTokenError as exc:
            raise XeroLoginError(str(exc)) from None
        except ValueError:
            raise XeroLoginError("Xero's id_token names the person with an id this server cannot store") from None
        organisations = await self._connections(token["access_token"])
        default = str(organisations[0]["tenantId"]) if len(organisations) == 1 else None
        login = Login(token=token, client_id=self.app.client_id, tenant_id=default, connections=organisations)
        store = self.store.tokens(person.user_id)
        async with store.lock():
            await replace_login(store, login)  # even one sealed with a key since retired: they sign in afresh
            try:
                earlier = await self.store.record(person.user_id)
            except UnreadableLoginError:
                earlier = None
            now = time.time()
            await self.store.save_record(PersonRecord(
                user_id=person.user_id, email=person.email, name=person.name,
                organisations=[_organisation(c) for c in organisations],
                connected_at=earlier.connected_at if earlier is not None else now, last_used=now))
        self.tokens.forget(person.user_id)  # this process reads their new token set afresh
        if self._cache is not None:  # their organisations as of now, for every replica's tenant choice
            await self._cache.set(person_key(self._cache_key, person.user_id), organisations, ttl=CACHE_SECONDS)
        log.info("%s signed in to Xero with %d organisation(s)", person.email or person.user_id, len(organisations))
        return person

    async def _exchange(self, code: str, verifier: str) -> dict[str, Any]:
        from authlib.integrations.base_client import OAuthError

        try:
            async with self.app.oauth_client(self._transport, redirect_uri=self.redirect_uri) as oauth:
                token = await oauth.fetch_token(self.app.token_url, grant_type="authorization_code", code=code,
                                                code_verifier=verifier)
        except OAuthError as exc:
            detail = f": {exc.description}" if exc.description else ""
            raise XeroLoginError(f"Xero refused the authorisation code ({exc.error}{detail})") from None
        except httpx2.HTTPError as exc:
            raise XeroLoginError(f"could not reach Xero's token endpoint ({type(exc).__name__})") from None
        except ValueError:
            raise XeroLoginError("Xero's token endpoint answered something that is not a token") from None
        if not token.get("access_token"):
            raise XeroLoginError("Xero's token endpoint answered without an access token")
        if not token.get("refresh_token"):
            raise XeroLoginError("Xero returned no refresh token (offline_access was not granted)")
        return with_expiry(dict(token))

    async def _connections(self, access_token: str) -> list[dict[str, Any]]:
        try:
            return await fetch_connections(self._connections_url, access_token, self._transport)
        except ConnectionsUnavailable as exc:
            raise XeroLoginError(f"signed in, but listing Xero's organisations failed ({exc.detail})" if exc.answered
                                 else f"signed in, but Xero's organisations could not be listed ({exc.detail})"
                                 ) from None

    async def is_active(self, user_id: str) -> bool:
        """A person record exists (they signed in and were not revoked since); notes their last use."""
        try:
            active = await self.store.exists(user_id)
        except ValueError:  # not a user id we could have stored
            return False
        if active:
            await self._touch(user_id)
        return active

    async def _touch(self, user_id: str) -> None:
        """Record the last use, at most once a minute per person per process (a write per call is waste).
        Claimed before the first await, so concurrent calls of one person write it once."""
        now = time.time()
        if now - self._touched.get(user_id, 0.0) < TOUCH_EVERY:
            return
        self._touched[user_id] = now
        record = await self.store.record(user_id)
        if record is not None:
            record.last_used = now
            await self.store.save_record(record)

    async def people(self) -> list[PersonRecord]:
        """Everyone connected, for `users`."""
        return await self.store.records()

    async def revoke(self, user_id: str) -> bool:
        """Revoke their refresh token at Xero, then delete their token set and record (even when Xero
        does not confirm); False if nobody with that id is connected. RevocationError after deleting
        when Xero did not confirm."""
        store = self.store.tokens(user_id)
        login = await store.load()
        if login is None and await self.store.record(user_id) is None:
            return False
        confirmed = True
        if login is not None and login.refresh_token:
            confirmed = await self.app.revoke_refresh(login.refresh_token, self._transport)
        await self.store.forget(user_id)
        self.tokens.forget(user_id)
        self._touched.pop(user_id, None)
        if not confirmed:
            raise RevocationError(f"deleted {user_id}'s Xero token set here, but Xero did not confirm revoking it; "
                                  "they can disconnect this app under Settings → Connected apps in Xero")
        return True


class RevocationError(Exception):
    """The person was deleted here but Xero did not confirm the revocation (exit status 1 for `users revoke`)."""


def _organisation(connection: dict[str, Any]) -> dict[str, Any]:
    return {k: connection.get(k) for k in ("tenantId", "tenantName", "tenantType") if connection.get(k) is not None}
