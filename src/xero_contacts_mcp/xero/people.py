"""Hosted mode's Xero side: each person connects their own Xero, and every call acts as them.

`XeroPeople` is the facade the HTTP layer gets at start-up: it builds Xero's authorize URL (our own
PKCE, `state` and `nonce`), completes the login at `/xero/callback` (code exchange through the same
OAuth helpers as `login`, id_token verified against Xero's JWKS, connections fetched, the token set
stored encrypted under the person's Xero user id), and answers the operator commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..identity import Person


@dataclass
class PersonRecord:
    """What `users` lists about one connected person (nothing secret)."""

    user_id: str
    email: str | None = None
    name: str | None = None
    #: their organisations as Xero's /connections names them: tenantId, tenantName, tenantType
    organisations: list[dict[str, Any]] = field(default_factory=list)
    connected_at: float = 0.0
    last_used: float = 0.0


class XeroPeople:
    """Created once at start-up in hosted mode; handed to the HTTP layer (seam 2 of issue 17)."""

    def authorize_url(self, *, state: str, code_challenge: str, nonce: str) -> str:
        """Xero's authorize URL: scopes `openid profile email offline_access accounting…`, redirect URI
        `{XERO_MCP_PUBLIC_URL}/xero/callback`, PKCE S256 with `code_challenge`, `state` and `nonce`."""
        raise NotImplementedError

    async def complete_login(self, *, code: str, code_verifier: str, nonce: str) -> Person:
        """Exchange the code, verify the id_token (signature, iss, aud, exp, nonce), fetch the person's
        connections and store their token set encrypted; returns who they are. Raises XeroLoginError."""
        raise NotImplementedError

    async def is_active(self, user_id: str) -> bool:
        """A person record exists (they logged in and were not revoked)."""
        raise NotImplementedError

    async def people(self) -> list[PersonRecord]:
        """Everyone connected, for `users`."""
        raise NotImplementedError

    async def revoke(self, user_id: str) -> bool:
        """Revoke their refresh token at Xero and delete their token set and record; False if unknown."""
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError
