"""`Sandbox`: one self-contained fake Xero (tenants, identity, limits, faults, stats, ASGI app)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from xero_contacts_mcp.sandbox.clock import Clock
from xero_contacts_mcp.sandbox.config import DEFAULT_SCOPES, ClientApp, SandboxConfig, SandboxUser
from xero_contacts_mcp.sandbox.faults import FaultController
from xero_contacts_mcp.sandbox.idempotency import IdempotencyStore
from xero_contacts_mcp.sandbox.limits import RateLimiter
from xero_contacts_mcp.sandbox.oauth import CONSOLE_CLIENT_ID, Identity
from xero_contacts_mcp.sandbox.oidc import DISCOVERY_PATH, JWKS_PATH
from xero_contacts_mcp.sandbox.seed import DEMO_TENANT_ID, build_tenants, organisation_id, populate_own, reset_data
from xero_contacts_mcp.sandbox.state import Tenant
from xero_contacts_mcp.sandbox.stats import Stats
from xero_contacts_mcp.sandbox.users import Users

if TYPE_CHECKING:
    import httpx2

    from xero_contacts_mcp.sandbox.app import SandboxApp

CONSOLE_TOKEN_LIFETIME = 10 * 365 * 86_400.0


class Sandbox:
    """A fake Xero for tests, benchmarks and the `sandbox` CLI command.

    Use `transport()` with an httpx2 client in-process (any host works: the app routes by path, so
    Xero's real URLs can be used unchanged), or serve `app` with uvicorn (see `serve.run`).
    """

    default_scopes = DEFAULT_SCOPES

    def __init__(self, config: SandboxConfig | None = None) -> None:
        from xero_contacts_mcp.sandbox.app import SandboxApp

        self.config = config or SandboxConfig()
        self.clock = Clock()
        self.stats = Stats()
        self.faults = FaultController()
        self.limiter = RateLimiter(self.config, self.clock)
        self.idempotency = IdempotencyStore(self.clock, self.config)
        self._tenants: dict[str, Tenant] = build_tenants(self.config)
        self.tenant_id: str = DEMO_TENANT_ID
        """The default tenant, "Demo Company (Global)"."""
        self.users = Users(self.config)
        """Who can log in: the default user (owner of `tenants`), then `config.users` (alice, bob)."""
        self.identity = Identity(
            self.config, self.clock, self.stats, self.faults, self._tenants, self.tenant_id, self.users
        )
        self.access_token: str = self.issue_token(lifetime=CONSOLE_TOKEN_LIFETIME)
        """A long-lived token with the default scopes for the default user's tenants (from an internal app)."""
        self.app: SandboxApp = SandboxApp(self)

    @property
    def tenants(self) -> list[str]:
        """The default user's tenant ids, the default tenant first (what a single-user sandbox has)."""
        return list(self.users.tenants(self.users.default))

    @property
    def all_tenants(self) -> list[str]:
        """Every tenant id: the default user's, then the other users' organisations."""
        return list(self._tenants)

    def add_user(
        self,
        handle: str,
        *,
        email: str | None = None,
        given_name: str | None = None,
        family_name: str | None = None,
        organisations: Iterable[str] | None = None,
    ) -> SandboxUser:
        """Another person who can log in (defaults: `{handle}@example.com`, one organisation "{Handle} Ltd").

        Organisations that do not exist yet are created (and seeded like alice's); naming an existing one
        (say "Demo Company (Global)") gives the new user access to it too, as a second bookkeeper of a
        client's organisation would have. ValueError if the handle, email or user id is taken."""
        user = self.users.new(
            handle,
            email=email,
            given_name=given_name,
            family_name=family_name,
            organisations=None if organisations is None else tuple(organisations),
        )
        self.users.add(user)
        self.config.users = (*self.config.users, user)
        for name in user.organisations:
            tenant_id = organisation_id(name)
            if tenant_id not in self._tenants:
                self._tenants[tenant_id] = Tenant(tenant_id, name)
                if self.config.seed:
                    populate_own(self._tenants[tenant_id])
        return user

    def user(self, key: str) -> SandboxUser:
        """A user by handle ("alice"), email or Xero user id; KeyError if there is none."""
        found = self.users.find(key)
        if found is None:
            raise KeyError(f"unknown sandbox user {key!r}; known: {[u.handle for u in self.users.all]}")
        return found

    @property
    def apps(self) -> dict[str, ClientApp]:
        """Registered apps by kind ("web", "pkce", "custom"); a second app of a kind is keyed by client id."""
        result: dict[str, ClientApp] = {}
        for app in self.config.apps:
            result[app.client_id if app.kind in result else app.kind] = app
        return result

    def state(self, tenant_id: str | None = None) -> Tenant:
        """The live records of a tenant (default: the default tenant) for assertions."""
        return self._tenants[tenant_id or self.tenant_id]

    def transport(self) -> httpx2.AsyncBaseTransport:
        """An in-process httpx2 transport; a dropped-connection fault raises `RemoteProtocolError`."""
        from xero_contacts_mcp.sandbox.transport import SandboxTransport

        return SandboxTransport(self.app)

    def grant(
        self,
        scopes: str | Iterable[str] = DEFAULT_SCOPES,
        tenants: Iterable[str] | None = None,
        lifetime: float | None = None,
        client_id: str | None = None,
        user: str | None = None,
        issuer: str | None = None,
    ) -> dict[str, Any]:
        """Consent without the browser dance: a token response (with a refresh token when the scopes
        include offline_access, an id_token with openid) for `client_id` (default: the internal console
        app), as `user` (default: the default user) on `tenants` (default: all of that user's); the
        id_token's `iss` is `issuer` (default: the configured one, else Xero's)."""
        wanted = scopes.split() if isinstance(scopes, str) else list(scopes)
        person = self.users.default if user is None else self.user(user)
        chosen = list(self.users.tenants(person)) if tenants is None else list(tenants)
        unknown = set(chosen) - set(self._tenants)
        if unknown:
            raise KeyError(f"unknown tenants {sorted(unknown)}")
        client = client_id or CONSOLE_CLIENT_ID
        if client != CONSOLE_CLIENT_ID and client not in self.identity.apps:
            raise KeyError(f"unknown client_id {client}")
        grant = self.identity.new_grant(client, wanted, chosen, person)
        return self.identity.mint(grant, lifetime=lifetime, issuer=issuer)

    def issue_token(
        self,
        scopes: str | Iterable[str] = DEFAULT_SCOPES,
        tenants: Iterable[str] | None = None,
        lifetime: float | None = None,
        client_id: str | None = None,
        user: str | None = None,
    ) -> str:
        """An access token with exactly these scopes and tenants (default: all of the user's)."""
        return str(self.grant(scopes, tenants, lifetime, client_id, user)["access_token"])

    def reset(self) -> None:
        """Back to the initial data; faults, stats, limits and idempotency keys cleared; tokens kept."""
        reset_data(self._tenants, self.config)
        self.faults.clear()
        self.stats.reset()
        self.limiter.reset()
        self.idempotency.reset()

    def describe(self, base_url: str) -> dict[str, Any]:
        """The startup JSON of the standalone server, for a sandbox reachable at `base_url`."""
        apps: dict[str, dict[str, Any]] = {}
        for key, app in self.apps.items():
            entry: dict[str, Any] = {"client_id": app.client_id, "name": app.name}
            if app.client_secret is not None:
                entry["client_secret"] = app.client_secret
            if app.kind == "custom":
                entry["tenant_id"] = app.tenant_id or self.tenant_id
            apps[key] = entry
        return {
            "api_url": f"{base_url}/api.xro/2.0",
            "token_url": f"{base_url}/connect/token",
            "connections_url": f"{base_url}/connections",
            "authorize_url": f"{base_url}/identity/connect/authorize",
            "revoke_url": f"{base_url}/connect/revocation",
            "control_url": f"{base_url}/_sandbox",
            "login_as_url": f"{base_url}/_sandbox/login-as",
            "issuer": self.config.issuer or base_url,
            "discovery_url": f"{base_url}{DISCOVERY_PATH}",
            "jwks_url": f"{base_url}{JWKS_PATH}",
            "userinfo_url": f"{base_url}/connect/userinfo",
            "tenant_id": self.tenant_id,
            "tenants": [{"tenantId": t.tenant_id, "tenantName": t.name} for t in self._tenants.values()],
            "access_token": self.access_token,
            "apps": apps,
            "users": [self.users.describe(u) for u in self.users.all],
        }
