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
                  self.xero_mcp_redis_url]
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]
