"""The built-in Xero sandbox: a Xero of its own for tests, benchmarks and `xero-contacts-mcp sandbox`.

It implements the 22 Contacts / Contact Groups / Tracking Categories operations with Xero's rules,
the identity endpoints (authorize, token, revocation, connections; OpenID Connect id_tokens for
several users, each with their own organisations), rate limits, Idempotency-Key replay, and fault
injection. It shares nothing with the client side except `xerodates`.

    sandbox = Sandbox(SandboxConfig(enforce_limits=True))
    async with httpx2.AsyncClient(transport=sandbox.transport(), base_url="https://api.xero.com") as http:
        r = await http.get("/api.xro/2.0/Contacts", headers={
            "Authorization": f"Bearer {sandbox.access_token}", "xero-tenant-id": sandbox.tenant_id})
"""

from __future__ import annotations

from xero_contacts_mcp.sandbox.config import DEFAULT_SCOPES, ClientApp, SandboxConfig, SandboxUser, default_apps
from xero_contacts_mcp.sandbox.core import Sandbox
from xero_contacts_mcp.sandbox.faults import DropConnection, FaultController
from xero_contacts_mcp.sandbox.state import Tenant
from xero_contacts_mcp.sandbox.stats import Stats

__all__ = [
    "DEFAULT_SCOPES",
    "ClientApp",
    "DropConnection",
    "FaultController",
    "Sandbox",
    "SandboxConfig",
    "SandboxUser",
    "Stats",
    "Tenant",
    "default_apps",
]
