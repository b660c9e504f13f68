"""Who is calling: the person an authenticated MCP request stands for, read once per request from what
the bearer middleware put on the request (our provider's AccessToken: subject = Xero user id)."""

from __future__ import annotations

from typing import Any

from ...identity import Person


def person_of(request: Any) -> Person | None:
    """The Person behind `request` (a Starlette request the SDK hands to each handler), or None when the
    request carries no OAuth identity (stdio, static bearer token, or not hosted)."""
    scope = getattr(request, "scope", None)
    user = scope.get("user") if isinstance(scope, dict) else None
    token = getattr(user, "access_token", None)
    subject = getattr(token, "subject", None)
    if not subject:
        return None
    claims = getattr(token, "claims", None) or {}
    return Person(user_id=subject, email=claims.get("email"), name=claims.get("name"))
