"""The one settings object: loaded once at start-up, passed down, never read from os.environ deeper in.

Precedence: command-line flag (passed as init arguments) > environment > `.env` > default.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SCOPES = "offline_access accounting.contacts accounting.settings"


class Settings(BaseSettings):
    """Field names are the interface's environment variables, lower-cased."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      case_sensitive=False)

    xero_client_id: str | None = None
    xero_client_secret: SecretStr | None = None
    xero_redirect_uri: str = "http://localhost:8749/callback"
    xero_access_token: SecretStr | None = None
    xero_tenant_id: str | None = None
    xero_scopes: str | None = None
    xero_token_file: Path | None = None
    xero_api_url: str = "https://api.xero.com/api.xro/2.0"
    xero_connections_url: str = "https://api.xero.com/connections"
    xero_token_url: str = "https://identity.xero.com/connect/token"  # noqa: S105 - a URL
    xero_authorize_url: str = "https://login.xero.com/identity/connect/authorize"
    xero_revoke_url: str = "https://identity.xero.com/connect/revocation"

    xero_mcp_sandbox: bool = False
    xero_mcp_read_only: bool = False
    xero_mcp_toolsets: str | None = None
    xero_mcp_tools: str | None = None
    xero_mcp_exclude_tools: str | None = None
    xero_mcp_http_token: SecretStr | None = None
    xero_mcp_allowed_origins: str | None = None
    xero_mcp_allowed_hosts: str | None = None
    xero_mcp_stateless: bool = False
    xero_mcp_redis_url: SecretStr | None = None
    xero_mcp_redis_prefix: str = "xero-contacts-mcp:"
    xero_mcp_log_level: str = "INFO"
    # Additions to the interface (documented in the README):
    xero_mcp_raw_results: bool = False
    xero_mcp_timeout: float = Field(default=30.0, gt=0)
    xero_mcp_tools_file: Path | None = None
    xero_mcp_retry_attempts: int = Field(default=5, ge=1, le=20)
    xero_mcp_retry_deadline: float = Field(default=45.0, gt=0)
    xero_mcp_retry_max_wait: float = Field(default=8.0, ge=0)
    xero_mcp_tenant_concurrency: int = Field(default=5, ge=1)
    xero_mcp_tenant_per_minute: int = Field(default=60, ge=1)
    xero_mcp_app_per_minute: int = Field(default=10_000, ge=1)
    xero_mcp_rate_window: float = Field(default=60.0, gt=0)
    #: with Redis: how long a dead replica's refresh lock and in-flight slots outlive it (renewed while alive)
    xero_mcp_redis_lease: float = Field(default=10.0, ge=1.0, le=300.0)
    # Hosted mode (per-person OAuth, issue 17):
    #: the origin people's MCP clients reach; with --transport http it turns hosted mode on
    xero_mcp_public_url: str | None = None
    #: comma-separated Fernet keys (first encrypts, all decrypt); required in hosted mode
    xero_mcp_encryption_key: SecretStr | None = None
    #: hosted mode without Redis: where people's (encrypted) Xero token sets and MCP grants live
    xero_mcp_data_dir: Path | None = None
    #: Xero's OpenID Connect keys and issuer, against which id_tokens are verified
    xero_jwks_url: str = "https://identity.xero.com/.well-known/openid-configuration/jwks"
    xero_issuer: str = "https://identity.xero.com"
    # HTTP hardening (docs/security.md):
    #: open connections at most (None: derived from the file-descriptor limit, RLIMIT_NOFILE)
    xero_mcp_max_connections: int | None = Field(default=None, ge=1)
    #: seconds a connection has to deliver a complete request, headers and body, before it is closed
    xero_mcp_read_timeout: float = Field(default=10.0, gt=0, le=600)
    #: stateful HTTP sessions at most, and the idle seconds after which one is closed
    xero_mcp_max_sessions: int = Field(default=1000, ge=1)
    xero_mcp_session_idle: float = Field(default=600.0, gt=0, le=86_400)
    #: on SIGTERM, seconds in-flight calls get to finish (None: the call deadline, XERO_MCP_RETRY_DEADLINE)
    xero_mcp_shutdown_grace: float | None = Field(default=None, ge=0, le=3600)
    #: the only organisations (tenant ids, comma-separated) calls may reach; unset: every connected one
    xero_mcp_allowed_tenants: str | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object, info: ValidationInfo) -> object:
        """`KEY=` (as in a copied .env.example) means "not set", not an empty path or secret."""
        if isinstance(value, str) and not value.strip() and info.field_name is not None:
            return cls.model_fields[info.field_name].default
        return value

    @field_validator("xero_mcp_redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        """A malformed Redis URL is a start-up error (exit 2), with a message that never shows the URL."""
        if value is not None:
            from .state.redis_url import parse_redis_url

            parse_redis_url(value)
        return value

    @field_validator("xero_mcp_public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        """An origin (no path, query or fragment), https unless the host is loopback."""
        if value is None:
            return None
        from urllib.parse import urlsplit

        url = value.strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an https:// origin such as https://mcp.example.com")
        if parts.path or parts.query or parts.fragment:
            raise ValueError("must be an origin only (scheme, host and port; no path)")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
            raise ValueError("must use https (plain http is allowed only on a loopback host)")
        return url

    @field_validator("xero_mcp_encryption_key")
    @classmethod
    def _encryption_key(cls, value: SecretStr | None) -> SecretStr | None:
        """Malformed keys are a start-up error (exit 2); the message never shows a key."""
        if value is not None:
            fernet_keys(value)
        return value

    def encryption_keys(self) -> list[bytes]:
        """The Fernet keys, the encrypting one first; HostedConfigError when none is set."""
        if self.xero_mcp_encryption_key is None:
            raise HostedConfigError("hosted mode (XERO_MCP_PUBLIC_URL with --transport http) needs "
                                    "XERO_MCP_ENCRYPTION_KEY: one or more comma-separated Fernet keys; make one with "
                                    "python -c \"from cryptography.fernet import Fernet; "
                                    "print(Fernet.generate_key().decode())\"")
        return fernet_keys(self.xero_mcp_encryption_key)
    @field_validator("xero_mcp_allowed_tenants")
    @classmethod
    def _allowed_tenants(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Tenant ids are UUIDs (kept in canonical lower-case form), and XERO_TENANT_ID must be one of
        them: anything else is a start-up error (exit 2)."""
        if value is None:
            return None
        allowed: list[str] = []
        for tenant in (part.strip() for part in value.split(",") if part.strip()):
            try:
                allowed.append(str(uuid.UUID(tenant)))
            except ValueError:
                raise ValueError(f"{tenant!r} is not a tenant id (a UUID, as `xero-contacts-mcp tenants` lists "
                                 "them); give a comma-separated list of them") from None
        allowed = list(dict.fromkeys(allowed))
        default = info.data.get("xero_tenant_id")
        if allowed and default and default.strip().lower() not in allowed:
            raise ValueError(f"XERO_TENANT_ID {default} is not one of them; add it, or change XERO_TENANT_ID")
        return ",".join(allowed) or None

    def allowed_tenants(self) -> frozenset[str] | None:
        """The tenant allow-list (lower-case ids), or None when every connected organisation is allowed."""
        value = self.xero_mcp_allowed_tenants
        return frozenset(value.split(",")) if value else None

    def secrets(self) -> list[str]:
        """Every configured secret value, for log redaction."""
        values = [self.xero_access_token, self.xero_client_secret, self.xero_mcp_http_token,
                  self.xero_mcp_redis_url, self.xero_mcp_encryption_key]
        found = [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]
        if self.xero_mcp_encryption_key is not None:
            found += [key.decode() for key in fernet_keys(self.xero_mcp_encryption_key)]
        return found


LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class HostedConfigError(ValueError):
    """Hosted mode is asked for but not fully configured: exit status 2, one sentence."""


def is_hosted(settings: Settings, transport: str) -> bool:
    """Hosted (per-person OAuth) mode: a public URL and the HTTP transport (never with --sandbox's stdio)."""
    return settings.xero_mcp_public_url is not None and transport == "http"


def fernet_keys(value: SecretStr | str) -> list[bytes]:
    """The comma-separated Fernet keys, each checked (urlsafe base64 of 32 bytes); ValueError names only
    the position of a bad one."""
    import base64
    import binascii

    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    keys = [part.strip() for part in raw.split(",") if part.strip()]
    if not keys:
        raise ValueError("must hold at least one Fernet key")
    for index, key in enumerate(keys, 1):
        try:
            decoded = base64.urlsafe_b64decode(key.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            decoded = b""
        if len(decoded) != 32:
            raise ValueError(f"key {index} is not a Fernet key (urlsafe base64 of 32 bytes, as "
                             "Fernet.generate_key() makes)")
    return [key.encode("ascii") for key in keys]
