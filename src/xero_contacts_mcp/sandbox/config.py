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
    idempotency_ttl: float = 360.0
    seed: bool = True
    """Load the demo data into the default tenant; False starts every tenant empty."""
    extra_tenants: int = 1
    """Additional (empty) organisations besides "Demo Company (Global)"."""
    apps: tuple[ClientApp, ...] = field(default_factory=default_apps)
    control_api: bool = True
    """Serve `/_sandbox/...` (faults, stats, reset, clock) for out-of-process tests."""
    provider_name: str = "xero-contacts-mcp sandbox"
    max_tracking_options: int = 100
