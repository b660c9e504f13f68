"""`login`, `logout` and `tenants`: a person connecting (or disconnecting) a real Xero app.

Xero redirects only to a URI registered on the app, matched exactly, so the callback listens on
`XERO_REDIRECT_URI`'s own loopback host, port and path, before the URL is shown. Authorization code
with PKCE (S256) and a random `state`; a confidential "Web app" authenticates with HTTP Basic, a
public "Auth code with PKCE" app sends only its client_id. Nothing is written unless every step
succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import secrets
import sys
import webbrowser
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2

from .runtime import app, connections_key
from .settings import DEFAULT_SCOPES, Settings
from .state.cache import SharedStateUnavailable
from .state.tokens import Login, TokenStore, UnusableLoginError, replace_login
from .stores import Stores, StoresUnavailable, open_stores
from .xero.oauth import App, with_expiry
from .xero.tenants import ConnectionsUnavailable, fetch_connections

LOOPBACK = {"localhost": ("127.0.0.1", "::1"), "127.0.0.1": ("127.0.0.1",), "::1": ("::1",)}
PAGE = ("<!doctype html><meta charset=utf-8><title>xero-contacts-mcp</title>"
        "<body style='font-family:sans-serif;margin:3em'><h1>{title}</h1><p>{body}</p></body>")


class LoginError(Exception):
    """Login failed; the message is one sentence for the person at the terminal (exit status 1)."""


class RedirectError(ValueError):
    """XERO_REDIRECT_URI is unusable (exit status 2)."""


@dataclass(frozen=True)
class Redirect:
    uri: str
    host: str
    port: int
    path: str

    @property
    def addresses(self) -> tuple[str, ...]:
        return LOOPBACK[self.host]


def parse_redirect(uri: str) -> Redirect:
    parts = urlsplit(uri)
    host = (parts.hostname or "").lower()
    if parts.scheme != "http" or host not in LOOPBACK:
        raise RedirectError(f"XERO_REDIRECT_URI must be http:// on localhost, 127.0.0.1 or [::1] (got {uri!r})")
    try:
        port = parts.port or 80
    except ValueError:
        raise RedirectError(f"XERO_REDIRECT_URI has an invalid port: {uri!r}") from None
    return Redirect(uri, host, port, parts.path or "/")


def scopes(settings: Settings) -> str:
    chosen = settings.xero_scopes or DEFAULT_SCOPES
    if settings.xero_mcp_read_only:
        chosen = " ".join(s if s == "offline_access" or s.endswith(".read") else f"{s}.read" for s in chosen.split())
    return chosen


@dataclass
class Callback:
    code: str | None = None
    error: str | None = None
    description: str | None = None


class CallbackServer:
    """Listens on the redirect's loopback address(es); resolves with the first callback carrying our state."""

    def __init__(self, redirect: Redirect, state: str) -> None:
        self.redirect = redirect
        self.state = state
        self.result: asyncio.Future[Callback] = asyncio.get_running_loop().create_future()
        self.servers: list[asyncio.Server] = []

    async def start(self) -> None:
        for address in self.redirect.addresses:
            try:
                self.servers.append(await asyncio.start_server(self._handle, address, self.redirect.port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    await self.close()
                    raise LoginError(
                        f"port {self.redirect.port} of XERO_REDIRECT_URI ({self.redirect.uri}) is in use; stop "
                        "whatever holds it, or register another redirect URI on the app and set XERO_REDIRECT_URI"
                    ) from None
                if address == "::1" and self.redirect.host == "localhost":
                    continue  # no IPv6 loopback here; 127.0.0.1 serves localhost
                await self.close()
                raise LoginError(f"cannot listen on {address}:{self.redirect.port}: {exc.strerror}") from None

    async def close(self) -> None:
        for server in self.servers:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self.servers = []

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await asyncio.wait_for(reader.readline(), 10)).decode("latin-1")
            while (await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b"\n", b""):
                pass
            method, target, *_ = [*request_line.split(" "), "", ""]
            parts = urlsplit(target)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if method != "GET" or parts.path != self.redirect.path:
                await _respond(writer, 404, "Not found", "This is not the Xero login callback.")
            elif query.get("state") != self.state:
                await _respond(writer, 400, "Unexpected request",
                               "This callback does not belong to the login in progress; it was ignored.")
            elif "error" in query:
                await _respond(writer, 200, "Xero login not completed",
                               "Xero did not grant access. You can close this window.")
                self._resolve(Callback(error=query["error"], description=query.get("error_description")))
            elif "code" in query:
                await _respond(writer, 200, "Connected to Xero",
                               "xero-contacts-mcp received the authorisation. You can close this window.")
                self._resolve(Callback(code=query["code"]))
            else:
                await _respond(writer, 400, "Unexpected request", "The callback carried neither a code nor an error.")
        except (TimeoutError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    def _resolve(self, callback: Callback) -> None:
        if not self.result.done():
            self.result.set_result(callback)


async def _respond(writer: asyncio.StreamWriter, status: int, title: str, body: str) -> None:
    page = PAGE.format(title=title, body=body).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}[status]
    writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n"
                 f"Content-Length: {len(page)}\r\nConnection: close\r\n\r\n".encode() + page)
    await writer.drain()


async def run_login(settings: Settings, *, tenant: str | None = None, wait: float = 300.0,
                    open_browser: Callable[[str], Any] = webbrowser.open, say: Callable[[str], None] | None = None,
                    ask: Callable[[str], str] | None = None,
                    transport: httpx2.AsyncBaseTransport | None = None) -> Login:
    """The whole login; returns what was stored. Raises LoginError or RedirectError."""
    say = say or _print
    if not settings.xero_client_id:
        raise LoginError("set XERO_CLIENT_ID (and XERO_CLIENT_SECRET for a \"Web app\") to the app's credentials "
                         "from developer.xero.com first")
    redirect = parse_redirect(settings.xero_redirect_uri)
    async with _stores(settings) as stores:  # Redis is checked before anyone signs in
        return await _login(settings, stores.tokens, redirect, tenant, wait, open_browser, say, ask, transport)


@asynccontextmanager
async def _stores(settings: Settings) -> AsyncIterator[Stores]:
    """Where login and logout keep the login; Redis trouble is a LoginError (one sentence, exit status 1)."""
    try:
        async with open_stores(settings) as stores:
            yield stores
    except (StoresUnavailable, SharedStateUnavailable) as exc:
        raise LoginError(str(exc)) from None


async def _login(settings: Settings, store: TokenStore, redirect: Redirect, tenant: str | None, wait: float,
                 open_browser: Callable[[str], Any], say: Callable[[str], None], ask: Callable[[str], str] | None,
                 transport: httpx2.AsyncBaseTransport | None) -> Login:
    xero_app = app(settings)
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters: within PKCE's 43-128
    server = CallbackServer(redirect, state)
    await server.start()  # listening before the URL exists anywhere
    try:
        async with xero_app.oauth_client(transport, redirect_uri=redirect.uri, scope=scopes(settings),
                                         code_challenge_method="S256") as oauth:
            url, _ = oauth.create_authorization_url(settings.xero_authorize_url, state=state,
                                                   code_verifier=verifier)
            say(f"Sign in to Xero and allow access. If no browser opens, visit:\n\n  {url}\n")
            with contextlib.suppress(Exception):
                open_browser(url)
            say(f"Waiting for Xero to redirect to {redirect.uri} (up to {wait:g} s)…")
            try:
                with anyio.fail_after(wait):
                    callback = await server.result
            except TimeoutError:
                raise LoginError(f"no callback from Xero within {wait:g} s; run `xero-contacts-mcp login` "
                                 "again (and check that XERO_REDIRECT_URI is registered on the app)") from None
            if callback.error:
                detail = f" ({callback.description})" if callback.description else ""
                reason = "access was not granted" if callback.error == "access_denied" else "Xero refused the login"
                raise LoginError(f"{reason}: {callback.error}{detail}")
            token = await _exchange(oauth, settings, xero_app, callback.code or "", verifier)
    finally:
        await server.close()
    connections = await _connections(settings, token["access_token"], transport)
    chosen = _choose(connections, tenant, say, ask)
    login = Login(token=token, client_id=xero_app.client_id, tenant_id=chosen, connections=connections)
    async with store.lock():
        login = await replace_login(store, login)
    _summary(login, store, say)
    return login


async def _exchange(oauth: Any, settings: Settings, xero_app: App, code: str, verifier: str) -> dict[str, Any]:
    from authlib.integrations.base_client import OAuthError

    try:
        token = await oauth.fetch_token(settings.xero_token_url, grant_type="authorization_code", code=code,
                                        code_verifier=verifier)
    except OAuthError as exc:
        detail = f": {exc.description}" if exc.description else ""
        raise LoginError(f"Xero refused the authorisation code ({exc.error}{detail})") from None
    except httpx2.HTTPError as exc:
        raise LoginError(f"could not reach Xero's token endpoint at {xero_app.token_url} "
                         f"({type(exc).__name__})") from None
    except ValueError:
        raise LoginError("Xero's token endpoint answered something that is not a token") from None
    if not token.get("refresh_token"):
        raise LoginError("Xero returned no refresh token: include offline_access in XERO_SCOPES")
    return with_expiry(dict(token))


async def _connections(settings: Settings, access_token: str, transport: httpx2.AsyncBaseTransport | None,
                       ) -> list[dict[str, Any]]:
    try:
        return await fetch_connections(settings.xero_connections_url, access_token, transport)
    except ConnectionsUnavailable as exc:
        raise LoginError(f"signed in, but listing the connected organisations failed ({exc.detail})" if exc.answered
                         else f"signed in, but could not list the connected organisations ({exc.detail})") from None


def _choose(connections: list[dict[str, Any]], tenant: str | None, say: Callable[[str], None],
            ask: Callable[[str], str] | None) -> str | None:
    ids = [str(c["tenantId"]) for c in connections]
    if tenant is not None:
        if tenant not in ids:
            raise LoginError(f"--tenant {tenant} is not one of the connected organisations: "
                             + (", ".join(_label(c) for c in connections) or "none"))
        return tenant
    if len(ids) == 1:
        return ids[0]
    if len(ids) > 1 and ask is not None:
        say("Several organisations are connected:")
        for number, connection in enumerate(connections, 1):
            say(f"  {number}. {_label(connection)}")
        answer = ask("Default organisation number (Enter for none): ").strip()
        if answer.isdigit() and 1 <= int(answer) <= len(ids):
            return ids[int(answer) - 1]
    return None


def _print(text: str) -> None:
    """The default way to tell the person at the terminal (the CLI passes its own)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _label(connection: dict[str, Any]) -> str:
    return f"{connection.get('tenantName') or '?'} ({connection['tenantId']})"


def _summary(login: Login, store: TokenStore, say: Callable[[str], None]) -> None:
    names = {str(c["tenantId"]): _label(c) for c in login.connections}
    say(f"Logged in; tokens stored in {store.describe()}.")
    if login.tenant_id:
        say(f"Default organisation: {names.get(login.tenant_id, login.tenant_id)}.")
    elif login.connections:
        say("No default organisation: each call must pass xero-tenant-id (or set XERO_TENANT_ID, or run "
            "`xero-contacts-mcp login --tenant ID`). Connected: " + ", ".join(names.values()) + ".")


async def run_logout(settings: Settings, say: Callable[[str], None] | None = None,
                     transport: httpx2.AsyncBaseTransport | None = None) -> bool:
    """Revoke the refresh token at Xero, then delete the store. False if revocation failed (the file is gone anyway)."""
    say = say or _print
    async with _stores(settings) as stores:
        revoked = await _logout(settings, stores.tokens, say, transport)
        await stores.cache.delete(connections_key(settings))  # replicas must not list them from the cache
        return revoked


async def _logout(settings: Settings, store: TokenStore, say: Callable[[str], None],
                  transport: httpx2.AsyncBaseTransport | None) -> bool:
    try:
        login = await store.load()
    except UnusableLoginError:  # damaged or unsafe: nothing to revoke with, but it still goes
        async with store.lock():
            await store.delete()
        say(f"Deleted {store.describe()}, which held no usable login, so nothing was revoked at Xero; to be sure, "
            "disconnect the app under Settings → Connected apps in Xero.")
        return False
    if login is None:
        say(f"Not logged in (no tokens at {store.describe()}).")
        return True
    revoked = True
    if login.refresh_token:
        revoked = await app(settings, login.client_id).revoke_refresh(login.refresh_token, transport)
    async with store.lock():
        await store.delete()
    if revoked:
        say(f"Logged out: access revoked at Xero and {store.describe()} deleted.")
    else:
        say(f"Deleted {store.describe()}, but Xero did not confirm the revocation; to be sure, disconnect the app "
              "under Settings → Connected apps in Xero.")
    return revoked
