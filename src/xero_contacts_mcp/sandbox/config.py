"""Sandbox configuration: every limit, lifetime and app registration in one dataclass.

All numbers are knobs so tests can scale Xero's limits down (a 6-second "minute") instead of waiting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

AppKind = Literal["web", "pkce", "custom"]

DEFAULT_SCOPES = "offline_access accounting.contacts accounting.settings"
"""Scopes of `Sandbox.access_token` and of tokens issued without an explicit scope."""

KNOWN_SCOPES = frozenset(
    {
        "openid",
        "profile",
        "email",
        "offline_access",
        "accounting.contacts",
        "accounting.contacts.read",
        "accounting.settings",
        "accounting.settings.read",
        "accounting.transactions",
        "accounting.transactions.read",
        "accounting.attachments",
        "accounting.attachments.read",
        "accounting.reports.read",
        "accounting.journals.read",
        "accounting.budgets.read",
    }
)
"""Scopes the authorize endpoint accepts; anything else is `invalid_scope`, as at Xero."""


@dataclass(frozen=True)
class ClientApp:
    """An app registered with the sandbox's identity service.

    `web` apps are confidential (HTTP Basic client auth), `pkce` apps are public (client_id in the
    body, PKCE S256 mandatory), `custom` apps are Custom Connections (client_credentials, one tenant).
    An empty `redirect_uris` accepts any redirect URI, which keeps local test set-ups simple.
    """

    client_id: str
    kind: AppKind
    name: str
    client_secret: str | None = None
    redirect_uris: tuple[str, ...] = ()
    tenant_id: str | None = None
    """Custom Connection only: the tenant it is bound to (None: the sandbox's default tenant)."""
    scopes: str = DEFAULT_SCOPES.replace("offline_access ", "")
    """Custom Connection only: scopes granted when the token request names none."""


@dataclass(frozen=True)
class SandboxUser:
    """A person who can log in at the sandbox's Xero, with organisations of their own.

    `handle` is what `GET /_sandbox/login-as?user=` takes (so does the email or the user id);
    `user_id` is their Xero user id (the id_token's `xero_userid`). The organisations' tenant ids
    are derived from their names, so they are stable across runs.
    """

    handle: str
    user_id: str
    email: str
    given_name: str
    family_name: str
    organisations: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


DEFAULT_USER_HANDLE = "default"
"""The user the authorize endpoint logs in when no `login_hint` or `sandbox_user` cookie names another;
it owns "Demo Company (Global)" and the `extra_tenants`, so single-user set-ups see what they always did."""


def default_users() -> tuple[SandboxUser, ...]:
    """Two more people besides the default user: alice with two organisations, bob with one."""
    return (
        SandboxUser(
            "alice",
            "0a7c3e52-5b1d-4f6e-8a9b-1c2d3e4f5a61",
            "alice@example.com",
            "Alice",
            "Anders",
            ("Alice Bakery Ltd", "Alice Consulting Ltd"),
        ),
        SandboxUser(
            "bob", "0b8d4f63-6c2e-4a7f-9bac-2d3e4f5a6b72", "bob@example.com", "Bob", "Brown", ("Bob Plumbing Ltd",)
        ),
    )


def default_apps() -> tuple[ClientApp, ...]:
    """The three stock apps, with fixed ids so a `.env` written once keeps working."""
    return (
        ClientApp(
            client_id="5A1B0C0D0E0F4A1B8C2D3E4F50617281",
            kind="web",
            name="Web app",
            client_secret="sandbox-web-secret-3kQ9vX2mT7pL4wR8nY6cB1dF5hJ0sA",  # noqa: S106 - fake
        ),
        ClientApp(client_id="5A1B0C0D0E0F4A1B8C2D3E4F50617282", kind="pkce", name="Auth code with PKCE"),
        ClientApp(
            client_id="5A1B0C0D0E0F4A1B8C2D3E4F50617283",
            kind="custom",
            name="Custom Connection",
            client_secret="sandbox-custom-secret-8Hj2Lk5Pq9Zx3Cv7Bn1Mw4Er6Ty0U",  # noqa: S106 - fake
        ),
    )


@dataclass
class SandboxConfig:
    """Knobs of one sandbox instance; defaults are Xero's documented values."""

    enforce_limits: bool = False
    """Answer 429 when a limit is exceeded (the standalone server turns this on)."""
    concurrent_limit: int = 5
    minute_limit: int = 60
    day_limit: int = 5000
    app_minute_limit: int = 10_000
    minute_window: float = 60.0
    day_window: float = 86_400.0
    access_token_lifetime: float = 1800.0
    refresh_grace: float = 1800.0
    """How long a refresh token stays usable after its first use (Xero: 30 minutes)."""
    refresh_token_lifetime: float = 60 * 86_400.0
    """Unused refresh tokens expire after this (Xero: 60 days)."""
    auth_code_lifetime: float = 300.0
    id_token_lifetime: float = 300.0
    """Xero's id_tokens are valid for 5 minutes."""
    idempotency_ttl: float = 360.0
    seed: bool = True
    """Load the demo data into the default tenant; False starts every tenant empty."""
    extra_tenants: int = 1
    """Additional (empty) organisations besides "Demo Company (Global)"."""
    apps: tuple[ClientApp, ...] = field(default_factory=default_apps)
    users: tuple[SandboxUser, ...] = field(default_factory=default_users)
    """People besides the default user; each one's organisations are created (and seeded) for them."""
    issuer: str | None = None
    """The id_token `iss` and discovery `issuer`; None: the origin the request reached (in-process via
    `https://identity.xero.com` that is Xero's own issuer; served, `http://127.0.0.1:PORT`)."""
    control_api: bool = True
    """Serve `/_sandbox/...` (faults, stats, reset, clock) for out-of-process tests."""
    provider_name: str = "xero-contacts-mcp sandbox"
    max_tracking_options: int = 100
