"""Composition root: settings → catalogue → Xero client → tool runner. The CLI and tests start here."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx2

from . import logs
from .settings import HostedConfigError, Settings
from .state.cache import MemoryCache, SharedCache
from .state.limiter import Limiter, LocalLimiter
from .state.tokens import TokenStore, TokenStoreError, UnusableLoginError
from .stores import limits, open_stores
from .tools.catalogue import Catalogue, load_catalogue
from .tools.listing import Listing, from_catalogue, load_listing
from .tools.runner import ToolRunner
from .tools.selection import select, split_names
from .xero.auth import NoCredentials
from .xero.client import ClientConfig, XeroClient
from .xero.oauth import App, CustomConnection, OAuth2Auth, StaticToken, StoredLogin, TokenSource
from .xero.retry import RetryPolicy

if TYPE_CHECKING:
    from .state.people import PeopleStore
    from .stores import Stores
    from .xero.people import XeroPeople

log = logging.getLogger(__name__)

SANDBOX_API_URL = "http://sandbox.invalid/api.xro/2.0"


@dataclass
class Runtime:
    settings: Settings
    listing: Listing
    client: XeroClient
    runner: ToolRunner
    sandbox: Any = None  # the in-process Sandbox when --sandbox is on
    source: TokenSource | None = None  # where access tokens come from (None: no credentials)
    people: XeroPeople | None = None  # hosted mode: each person's Xero sign-in (handed to the HTTP layer)

    @property
    def catalogue(self) -> Catalogue:
        return self.runner.catalogue


def app(settings: Settings, client_id: str | None = None) -> App:
    """The Xero app from settings (a stored login may name its own client id)."""
    secret = settings.xero_client_secret
    return App(client_id or settings.xero_client_id or "", secret.get_secret_value() if secret else None,
               settings.xero_token_url, settings.xero_revoke_url, settings.xero_scopes)


async def token_source(settings: Settings, store: TokenStore, cache: SharedCache,
                       transport: httpx2.AsyncBaseTransport | None = None) -> TokenSource | None:
    """Which credentials win: XERO_ACCESS_TOKEN > a stored login > client id + secret (Custom Connection) > none."""
    if settings.xero_access_token is not None:
        return StaticToken(settings.xero_access_token.get_secret_value())
    try:
        login = await store.load()
    except UnusableLoginError as exc:  # serve anyway: each call says what to fix (a new login heals it)
        log.error("%s", exc)
        return StoredLogin(store, app(settings), transport)
    if login is not None:
        return StoredLogin(store, app(settings, login.client_id), transport)
    if settings.xero_client_id and settings.xero_client_secret is not None:
        return CustomConnection(app(settings), transport, cache)
    if settings.xero_mcp_redis_url is not None and settings.xero_client_id:
        # replicas may start before the operator logs in (from any machine): pick the login up when it lands
        return StoredLogin(store, app(settings), transport)
    return None


def _sandbox(settings: Settings, sandbox: Any) -> tuple[Any, httpx2.Auth, httpx2.AsyncBaseTransport, ClientConfig]:
    if sandbox is None:
        from .sandbox import Sandbox, SandboxConfig

        # A Xero with the limits this client is configured for (Xero's own by default), reported in its
        # headers but not enforced: trying tools should not meet 429s, and the client still paces itself.
        sandbox = Sandbox(SandboxConfig(concurrent_limit=settings.xero_mcp_tenant_concurrency,
                                        minute_limit=settings.xero_mcp_tenant_per_minute,
                                        app_minute_limit=settings.xero_mcp_app_per_minute,
                                        minute_window=settings.xero_mcp_rate_window))
    config = ClientConfig(SANDBOX_API_URL, settings.xero_tenant_id or sandbox.tenant_id, settings.xero_mcp_timeout,
                          retry_policy(settings))
    log.warning("SANDBOX MODE: serving the built-in in-memory Xero sandbox, not a real organisation. "
                "Nothing is sent to Xero and every change is lost when the server stops.")
    return sandbox, OAuth2Auth(StaticToken(sandbox.access_token)), sandbox.transport(), config


def connections_key(settings: Settings) -> str:
    """Where the connected organisations are cached (shared by replicas; `logout` clears it)."""
    return f"connections:{settings.xero_client_id or 'token'}"


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy.bounded(settings.xero_mcp_retry_attempts, settings.xero_mcp_retry_deadline,
                               settings.xero_mcp_retry_max_wait)


def selected_tools(settings: Settings, listing: Listing) -> list[str]:
    """The served tool names; raises SelectionError (exit status 2) for an unknown name."""
    return select(listing, toolsets=split_names(settings.xero_mcp_toolsets),
                  tools=split_names(settings.xero_mcp_tools), exclude=split_names(settings.xero_mcp_exclude_tools),
                  read_only=settings.xero_mcp_read_only)


def check_hosted(settings: Settings) -> None:
    """Hosted mode's start-up checks (HostedConfigError: exit status 2)."""
    settings.encryption_keys()  # raises when missing
    if not settings.xero_client_id or settings.xero_client_secret is None:
        raise HostedConfigError("hosted mode (XERO_MCP_PUBLIC_URL with --transport http) needs XERO_CLIENT_ID and "
                                "XERO_CLIENT_SECRET of a Xero \"Web app\" whose redirect URI is "
                                f"{settings.xero_mcp_public_url}/xero/callback")
    if settings.xero_mcp_sandbox:
        raise HostedConfigError("hosted mode (XERO_MCP_PUBLIC_URL with --transport http) serves each person's own "
                                "Xero; it does not combine with --sandbox (point XERO_*_URL at `xero-contacts-mcp "
                                "sandbox` instead)")


def _warn_ignored_in_hosted_mode(settings: Settings) -> None:
    """Once, at start-up: the settings of a single login that hosted mode does not use (the HTTP layer says
    the same of XERO_MCP_HTTP_TOKEN)."""
    ignored = [name for name, value in (("XERO_ACCESS_TOKEN", settings.xero_access_token),
                                        ("XERO_TENANT_ID", settings.xero_tenant_id)) if value is not None]
    if ignored:
        log.warning("hosted mode: %s %s not apply (each person signs in through their MCP client and acts on "
                    "their own organisations); ignoring %s", ", ".join(ignored),
                    "does" if len(ignored) == 1 else "do", "it" if len(ignored) == 1 else "them")


def people_store(settings: Settings, stores: Stores) -> PeopleStore:
    """Where people's sealed token sets live: Redis when the stores are shared, else the data directory."""
    from .paths import user_dir
    from .state.people import LocalPeople, Sealer

    sealer = Sealer(settings.encryption_keys())
    if stores.redis is not None:
        from .state.redis_people import RedisPeople

        return RedisPeople(stores.redis, sealer, lease=settings.xero_mcp_redis_lease)
    directory = settings.xero_mcp_data_dir or user_dir("config") / "hosted"
    return LocalPeople(directory / "people", sealer)


def xero_people(settings: Settings, people: PeopleStore, transport: httpx2.AsyncBaseTransport | None,
                cache: SharedCache | None = None) -> tuple[XeroPeople, TokenSource]:
    """The hosted-mode facade and the token source the one Xero client uses: the current person's tokens."""
    from .login import scopes
    from .xero.people import IDENTITY_SCOPES, PersonTokens, XeroPeople

    xero_app = app(settings)
    wanted = scopes(settings).split()  # XERO_SCOPES, narrowed to .read with --read-only, as for `login`
    tokens = PersonTokens(people, xero_app, transport)
    facade = XeroPeople(app=xero_app, people=people, tokens=tokens, public_url=settings.xero_mcp_public_url or "",
                        authorize_url=settings.xero_authorize_url, connections_url=settings.xero_connections_url,
                        jwks_url=settings.xero_jwks_url, issuer=settings.xero_issuer, transport=transport,
                        cache=cache, cache_key=connections_key(settings),
                        scopes=" ".join([*IDENTITY_SCOPES, *(s for s in wanted if s not in IDENTITY_SCOPES)]))
    return facade, tokens


@asynccontextmanager
async def open_runtime(settings: Settings, *, transport: httpx2.AsyncBaseTransport | None = None,
                       catalogue: Catalogue | None = None, sandbox: Any = None,
                       hosted: bool = False) -> AsyncIterator[Runtime]:
    """Everything a server needs, with the HTTP client closed on exit.

    `sandbox` (with `XERO_MCP_SANDBOX` on) lets a test or benchmark supply a configured Sandbox.
    `hosted` (XERO_MCP_PUBLIC_URL with --transport http; see `settings.is_hosted`): every call acts as
    `identity.current_person`, with their own token set and organisations; `Runtime.people` is the facade
    the HTTP layer signs people in through. Raises HostedConfigError when hosted mode is misconfigured.
    """
    listing = from_catalogue(catalogue) if catalogue is not None else load_listing(settings.xero_mcp_tools_file)
    source: TokenSource | None = None
    connections_url: str | None = None
    people: XeroPeople | None = None
    per_person: str | None = None
    cache: SharedCache
    limiter: Limiter
    if hosted:
        check_hosted(settings)
        _warn_ignored_in_hosted_mode(settings)
    async with AsyncExitStack() as stack:
        if hosted:
            from .xero.people import NO_PERSON

            stores = await stack.enter_async_context(open_stores(settings))
            cache, limiter = stores.cache, stores.limiter
            with contextlib.suppress(TokenStoreError):  # an unreadable one does not apply either
                if await stores.tokens.load() is not None:
                    log.warning("hosted mode: the login stored by `xero-contacts-mcp login` (%s) does not apply; "
                                "each person signs in through their MCP client", stores.tokens.describe())
            people, source = xero_people(settings, people_store(settings, stores), transport, cache)
            auth: httpx2.Auth = OAuth2Auth(source)
            config = ClientConfig(settings.xero_api_url, None, settings.xero_mcp_timeout, retry_policy(settings))
            connections_url, per_person = settings.xero_connections_url, NO_PERSON
        elif settings.xero_mcp_sandbox:  # one in-memory Xero per process: nothing to share, Redis or not
            sandbox, auth, transport, config = _sandbox(settings, sandbox)
            cache, limiter = MemoryCache(), LocalLimiter(limits(settings))
        else:
            stores = await stack.enter_async_context(open_stores(settings))
            cache, limiter = stores.cache, stores.limiter
            source = await token_source(settings, stores.tokens, cache, transport)
            auth = OAuth2Auth(source) if source is not None else NoCredentials()
            config = ClientConfig(settings.xero_api_url, settings.xero_tenant_id, settings.xero_mcp_timeout,
                                  retry_policy(settings))
            connections_url = settings.xero_connections_url
        # the sandbox is no real organisation: the allow-list is for real ones
        allowed = None if settings.xero_mcp_sandbox else settings.allowed_tenants()
        # hosted: a person's default is their only organisation, read from their connections (shared, and
        # replaced when they sign in again), never from a token set another replica may hold an older copy of
        stored_tenant = source.tenant_id if isinstance(source, StoredLogin) else None
        client = XeroClient(config, auth, transport, limiter, connections_url=connections_url,
                            stored_tenant=stored_tenant, cache=cache, cache_key=connections_key(settings),
                            per_person=per_person, allowed=allowed)
        stack.push_async_callback(client.aclose)
        redactor = logs.RedactingFilter(settings.secrets())
        if sandbox is not None:
            redactor.add(sandbox.access_token)
            logs.setup(settings.xero_mcp_log_level, [sandbox.access_token])
        chosen = catalogue if catalogue is not None else (lambda: load_catalogue(settings.xero_mcp_tools_file))
        runner = ToolRunner(chosen, client, listing=listing, names=selected_tools(settings, listing),
                            raw_results=settings.xero_mcp_raw_results, redact=redactor.redact)
        yield Runtime(settings, listing, client, runner, sandbox, source, people)
