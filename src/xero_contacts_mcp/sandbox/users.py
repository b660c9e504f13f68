"""The people who can log in at the sandbox's Xero, and which organisations each one owns.

The default user owns what a single-user sandbox always had ("Demo Company (Global)" and the
`extra_tenants`); `SandboxConfig.users` adds others (alice and bob by default) with their own
organisations, so hosted-mode tests can show that each person reaches only their own.
"""

from __future__ import annotations

import uuid
from typing import Any

from xero_contacts_mcp.sandbox.config import DEFAULT_USER_HANDLE, SandboxConfig, SandboxUser
from xero_contacts_mcp.sandbox.seed import default_organisations, organisation_id
from xero_contacts_mcp.sandbox.state import parse_uuid

DEFAULT_USER_ID = "7d5a4c8e-1b2f-4e3a-9c6d-0f1e2d3c4b5a"
"""The default user's Xero user id (the `xero_userid` of every token minted before users existed)."""
_USER_NAMESPACE = uuid.UUID("9b3f1e0a-2c4d-4e5f-8a6b-7c8d9e0f1a2b")
LOGIN_COOKIE = "sandbox_user"
"""Set by `GET /_sandbox/login-as`: the browser's "logged in at Xero" session (the user's handle)."""


class Users:
    """Every sandbox user, the default one first, with lookups by handle, email or Xero user id."""

    def __init__(self, config: SandboxConfig) -> None:
        self.default = SandboxUser(
            DEFAULT_USER_HANDLE, DEFAULT_USER_ID, "demo@example.com", "Demo", "User", default_organisations(config)
        )
        self.all: list[SandboxUser] = [self.default]
        for user in config.users:
            self.add(user)

    def add(self, user: SandboxUser) -> None:
        """Register `user`; ValueError if their handle, email or user id is taken or they own nothing."""
        for key in (user.handle, user.email, user.user_id):
            if self.find(key) is not None:
                raise ValueError(f"a sandbox user with {key!r} exists already")
        if not user.organisations:
            raise ValueError(f"sandbox user {user.handle!r} needs at least one organisation")
        self.all.append(user)

    def find(self, key: str | None) -> SandboxUser | None:
        """The user whose handle, email (any case) or Xero user id is `key`."""
        if not key:
            return None
        wanted, user_id = key.strip().casefold(), parse_uuid(key.strip())
        for user in self.all:
            if wanted in (user.handle.casefold(), user.email.casefold()) or user_id == user.user_id:
                return user
        return None

    @staticmethod
    def new(
        handle: str,
        *,
        email: str | None = None,
        given_name: str | None = None,
        family_name: str | None = None,
        organisations: tuple[str, ...] | None = None,
    ) -> SandboxUser:
        """A user with stable defaults derived from the handle: `{handle}@example.com`, a user id from
        the handle, and one organisation of their own, "{Handle} Ltd"."""
        if not handle.strip() or any(c in handle for c in " ;,=/"):
            raise ValueError(f"a sandbox user handle must be one word, not {handle!r}")
        return SandboxUser(
            handle,
            str(uuid.uuid5(_USER_NAMESPACE, f"user:{handle}")),
            email or f"{handle}@example.com",
            given_name or handle.capitalize(),
            family_name or "Sandbox",
            organisations or (f"{handle.capitalize()} Ltd",),
        )

    @staticmethod
    def tenants(user: SandboxUser) -> tuple[str, ...]:
        """The tenant ids of the user's organisations, in their order."""
        return tuple(organisation_id(name) for name in user.organisations)

    def owner(self, tenant_id: str) -> SandboxUser | None:
        return next((u for u in self.all if tenant_id in self.tenants(u)), None)

    def describe(self, user: SandboxUser) -> dict[str, Any]:
        """What `/_sandbox/info` and `login-as` tell about a user (nothing secret: there is no password)."""
        return {
            "id": user.handle,
            "xero_userid": user.user_id,
            "email": user.email,
            "name": user.name,
            "tenant_ids": list(self.tenants(user)),
            "tenants": [{"tenantId": organisation_id(n), "tenantName": n} for n in user.organisations],
        }
