"""Issue 17 end to end, Xero side included: the SDK's own OAuth client (`OAuthClientProvider`) discovers,
registers, consents, signs in at the standalone sandbox's Xero as alice or bob, and calls tools on three
`--stateless` replicas sharing Redis behind a round-robin balancer; Xero's access tokens expire every 2 s;
`users revoke` (the real command) ends bob's access on his next call.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
from cryptography.fernet import Fernet

from fleet import Replica
from hosted_fleet import Balancer, environment
from hosted_helpers import Browser, MemoryTokens, oauth, text
from http_server import free_port
from sandbox_process import SandboxProcess

LIFETIME = 2.0  # seconds a Xero access token lives at the sandbox
REPLICAS = 3


@asynccontextmanager
async def spread_client(server_url: str, auth: Any) -> AsyncIterator[Any]:
    """The SDK's client over Streamable HTTP, a new connection per request (so the balancer alternates replicas)."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    limits = httpx2.Limits(max_keepalive_connections=0)
    async with httpx2.AsyncClient(auth=auth, timeout=httpx2.Timeout(30, read=60), limits=limits) as http, \
            Client(streamable_http_client(server_url, http_client=http)) as client:
        yield client


def groups(result: Any) -> set[str]:
    assert not result.is_error, text(result)
    return {g["Name"] for g in (result.structured_content or {}).get("ContactGroups", [])}


async def test_two_people_three_replicas_own_organisations_expiries_and_revoke(
        served: SandboxProcess, redis_server: Any, tmp_path: Path) -> None:
    sb = served.reset(access_token_lifetime=LIFETIME)
    users = {u["id"]: u for u in httpx2.get(f"{sb.control}/users", timeout=10).json()}
    alice_tenants, (bob_tenant,) = users["alice"]["tenant_ids"], users["bob"]["tenant_ids"]
    ports = [free_port() for _ in range(REPLICAS)]
    balancer = Balancer(ports)
    public = f"http://127.0.0.1:{balancer.port}"
    env = {**environment(sb, redis_server.url, f"e2e-{uuid.uuid4().hex[:8]}:", tmp_path),
           "XERO_MCP_PUBLIC_URL": public, "XERO_MCP_ENCRYPTION_KEY": Fernet.generate_key().decode(),
           "XERO_MCP_LOG_LEVEL": "INFO"}
    servers = [Replica(env, tmp_path / f"replica-{i}.log", port) for i, port in enumerate(ports)]
    alice, bob = await Browser.at_sandbox(sb.control, "alice"), await Browser.at_sandbox(sb.control, "bob")
    bob_tokens = MemoryTokens()
    try:
        for server in servers:
            server.wait_ready()
        await balancer.start()
        mcp = f"{public}/mcp"
        async with spread_client(mcp, oauth(mcp, alice, client_name="Alice's client")) as as_alice, \
                spread_client(mcp, oauth(mcp, bob, bob_tokens, client_name="Bob's client")) as as_bob:
            # each sees only their own organisations; a tenant of someone else's is refused with their own list
            create = "xero_contacts_create_contact_group"
            for tenant in alice_tenants:
                made = await as_alice.call_tool(create, {"xero-tenant-id": tenant,
                                                         "ContactGroups": [{"Name": f"alice {tenant[:8]}"}]})
                assert not made.is_error, text(made)
            assert not (await as_bob.call_tool(create, {"ContactGroups": [{"Name": "bob's"}]})).is_error
            refused = await as_alice.call_tool("xero_contacts_get_contact_groups", {"xero-tenant-id": bob_tenant})
            assert refused.is_error and "not one of your Xero organisations" in text(refused)
            assert all(t in text(refused) for t in alice_tenants) and "Bob" not in text(refused)
            unchosen = await as_alice.call_tool("xero_contacts_get_contact_groups", {})
            assert unchosen.is_error and all(t in text(unchosen) for t in alice_tenants)

            # several Xero token expiries, both people calling at once through all three replicas
            begun = time.monotonic()
            for _ in range(3):
                await anyio.sleep(LIFETIME)
                for tenant in alice_tenants:
                    seen = groups(await as_alice.call_tool("xero_contacts_get_contact_groups",
                                                          {"xero-tenant-id": tenant}))
                    assert f"alice {tenant[:8]}" in seen and "bob's" not in seen
                seen = groups(await as_bob.call_tool("xero_contacts_get_contact_groups", {}))
                assert "bob's" in seen and not any(name.startswith("alice ") for name in seen)
            elapsed = time.monotonic() - begun
            stats = sb.stats()
            assert stats["invalid_grants"] == 0
            assert stats["logins"] == {"alice": 1, "bob": 1}  # signed in once each, refreshed since
            # at least one refresh per expiry per person, at most one per expiry per person
            assert 2 * 3 <= stats["refreshes"] <= 2 * (int(elapsed / LIFETIME) + 1)

            # the operator revokes bob: his MCP token stops working on the next call, alice is untouched
            revoked = await anyio.run_process([sys.executable, "-m", "xero_contacts_mcp", "users", "revoke",
                                               users["bob"]["xero_userid"]], env=env, check=False)
            assert revoked.returncode == 0, revoked.stderr.decode()
            assert b"Xero access revoked" in revoked.stdout and b"1 MCP grant deleted" in revoked.stdout
            async with httpx2.AsyncClient(timeout=10) as http:
                reply = await http.post(mcp, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                        headers={"Authorization": f"Bearer {bob_tokens.tokens.access_token}",
                                                 "Accept": "application/json, text/event-stream"})
            assert reply.status_code == 401
            assert sb.stats()["revocations"] == 1
            assert not (await as_alice.call_tool("xero_contacts_get_contact_groups",
                                                 {"xero-tenant-id": alice_tenants[0]})).is_error
        listed = await anyio.run_process([sys.executable, "-m", "xero_contacts_mcp", "users"], env=env, check=False)
        assert listed.returncode == 0 and b"alice@example.com" in listed.stdout and b"bob@" not in listed.stdout
    except BaseException:
        for i, server in enumerate(servers):
            print(f"--- replica {i} ---\n{server.log()}")
        raise
    finally:
        await balancer.aclose()
        for server in servers:
            server.stop()
        await alice.aclose()
        await bob.aclose()
    served_by = [port for port in ports if balancer.connections[port] > 0]
    assert len(served_by) == REPLICAS, balancer.connections
