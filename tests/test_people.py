"""Hosted mode, the Xero side: each person signs in at (the sandbox's) Xero, their token set is stored
sealed under their Xero user id, and every call acts as them, on their organisations only.

Everything runs in-process against the sandbox at Xero's own URLs (its transport routes by path), with
the local store and with a real Redis; two runtimes on one Redis are two replicas.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
import pytest
from cryptography.fernet import Fernet

from xero_contacts_mcp.identity import Person, acting_as
from xero_contacts_mcp.runtime import Runtime, open_runtime
from xero_contacts_mcp.sandbox import Sandbox, SandboxConfig
from xero_contacts_mcp.settings import HostedConfigError
from xero_contacts_mcp.xero.people import XeroLoginError, XeroPeople

PUBLIC = "https://mcp.example.com"
KEY = Fernet.generate_key().decode()
GET = "xero_contacts_get_contact_groups"


def make_sandbox(**config: Any) -> Sandbox:
    return Sandbox(SandboxConfig(**config))


@pytest.fixture(params=["local", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Where people live: a data directory, or a real Redis under a fresh prefix."""
    if request.param == "local":
        return {"xero_mcp_data_dir": tmp_path / "data"}
    server = request.getfixturevalue("redis_server")
    return {"xero_mcp_redis_url": server.url, "xero_mcp_redis_prefix": f"t{uuid.uuid4().hex[:8]}:"}


def hosted_settings(settings_factory: Callable[..., Any], sandbox: Sandbox, **overrides: Any) -> Any:
    web = sandbox.apps["web"]
    values: dict[str, Any] = dict(xero_access_token=None, xero_tenant_id=None, xero_client_id=web.client_id,
                                  xero_client_secret=web.client_secret, xero_mcp_public_url=PUBLIC,
                                  xero_mcp_encryption_key=KEY, xero_mcp_tenant_per_minute=1000,
                                  xero_mcp_tenant_concurrency=50)
    values.update(overrides)
    return settings_factory(**values)


@asynccontextmanager
async def hosted(settings: Any, sandbox: Sandbox) -> AsyncIterator[Runtime]:
    async with open_runtime(settings, transport=sandbox.transport(), hosted=True) as runtime:
        yield runtime


async def sign_in(people: XeroPeople, sandbox: Sandbox, user: str) -> Person:
    """What the HTTP layer and a browser do: our PKCE + state + nonce, Xero's login as `user`, the callback."""
    verifier, state, nonce = secrets.token_urlsafe(64), secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    url = people.authorize_url(state=state, code_challenge=challenge, nonce=nonce)
    async with httpx2.AsyncClient(transport=sandbox.transport()) as browser:
        await browser.get("https://login.xero.com/_sandbox/login-as", params={"user": user})
        reply = await browser.get(url)
    assert reply.status_code == 302, reply.text
    query = parse_qs(urlsplit(reply.headers["location"]).query)
    assert reply.headers["location"].startswith(f"{PUBLIC}/xero/callback?")
    assert query["state"] == [state]
    return await people.complete_login(code=query["code"][0], code_verifier=verifier, nonce=nonce)


def tenants_of(sandbox: Sandbox, user: str) -> list[str]:
    return list(sandbox.users.tenants(sandbox.user(user)))


async def call_as(runtime: Runtime, person: Person | None, arguments: dict[str, Any] | None = None) -> Any:
    with acting_as(person):
        return await runtime.runner.run(GET, arguments or {})


async def raw_store(settings: Any) -> list[str]:
    """Every byte at rest: each file under the data directory, or each Redis key and value."""
    if settings.xero_mcp_redis_url is None:
        root = Path(settings.xero_mcp_data_dir)
        return [f"{p.name}\n{p.read_bytes().decode('latin-1')}" for p in root.rglob("*") if p.is_file()]
    from redis.asyncio import Redis

    client = Redis.from_url(settings.xero_mcp_redis_url.get_secret_value(), decode_responses=True)
    try:
        found = []
        async for key in client.scan_iter(match=f"{settings.xero_mcp_redis_prefix}*"):
            kind = await client.type(key)
            value = (await client.get(key) if kind == "string"
                     else json.dumps(sorted(await client.smembers(key))) if kind == "set" else "")
            found.append(f"{key!s}\n{value!s}")
        return found
    finally:
        await client.aclose()


# ── signing in, and acting as each person ───────────────────────────────────────────────────────


async def test_each_person_reaches_only_their_own_organisations(settings_factory: Any, store: dict[str, Any]
                                                                ) -> None:
    sandbox = make_sandbox()
    settings = hosted_settings(settings_factory, sandbox, **store)
    async with hosted(settings, sandbox) as runtime:
        assert runtime.people is not None
        alice = await sign_in(runtime.people, sandbox, "alice")
        bob = await sign_in(runtime.people, sandbox, "bob")
        assert (alice.user_id, alice.email, alice.name) == (sandbox.user("alice").user_id, "alice@example.com",
                                                            "Alice Anders")
        assert bob.user_id == sandbox.user("bob").user_id
        (bob_tenant,), alice_tenants = tenants_of(sandbox, "bob"), tenants_of(sandbox, "alice")

        # bob has one organisation: it is his default
        result = await call_as(runtime, bob)
        assert not result.is_error, result.text
        assert dict(sandbox.stats.api_requests) == {bob_tenant: 1}

        # alice has two and names none: fail closed with HER list, nothing sent
        result = await call_as(runtime, alice)
        assert result.is_error, result.text
        assert all(t in result.text for t in alice_tenants) and bob_tenant not in result.text, result.text
        assert "Bob Plumbing" not in result.text and "Alice Bakery Ltd" in result.text
        # alice naming bob's organisation: refused, her own list, nothing sent
        result = await call_as(runtime, alice, {"xero-tenant-id": bob_tenant})
        assert result.is_error and "not one of your Xero organisations" in result.text
        assert all(t in result.text for t in alice_tenants) and "Bob Plumbing" not in result.text
        # alice naming one of hers works
        result = await call_as(runtime, alice, {"xero-tenant-id": alice_tenants[1]})
        assert not result.is_error, result.text
        assert dict(sandbox.stats.api_requests) == {bob_tenant: 1, alice_tenants[1]: 1}

        # nobody signed in: isError, nothing sent
        result = await call_as(runtime, None, {"xero-tenant-id": bob_tenant})
        assert result.is_error and "no signed-in person" in result.text
        assert sum(sandbox.stats.api_requests.values()) == 2

        listed = {p.user_id: p for p in await runtime.people.people()}
        assert set(listed) == {alice.user_id, bob.user_id}
        assert [o["tenantId"] for o in listed[alice.user_id].organisations] == alice_tenants
        assert await runtime.people.is_active(alice.user_id)
        assert not await runtime.people.is_active(str(uuid.uuid4()))
        assert not await runtime.people.is_active("../../etc/passwd")


async def test_nothing_usable_is_at_rest_in_the_clear(settings_factory: Any, store: dict[str, Any]) -> None:
    sandbox = make_sandbox()
    settings = hosted_settings(settings_factory, sandbox, **store)
    async with hosted(settings, sandbox) as runtime:
        assert runtime.people is not None
        alice = await sign_in(runtime.people, sandbox, "alice")
        stored = runtime.people.tokens.login(alice.user_id)
        login = await stored.store.load()
        assert login is not None and login.refresh_token and login.access_token
    raw = await raw_store(settings)
    assert raw, "nothing was stored"
    blob = "\n".join(raw)
    assert alice.user_id in blob  # the key names the person (that is how they are found) …
    for secret in (login.access_token, login.refresh_token, "alice@example.com", "Alice Anders"):
        assert secret not in blob  # … but no token, nor who they are, is readable
    # (the shared connections cache names her organisations, as in single-login mode: no credential)
    if settings.xero_mcp_redis_url is None:
        for path in Path(settings.xero_mcp_data_dir).rglob("*"):
            assert path.stat().st_mode & 0o077 == 0, path
    # a copy of the store under another key opens nothing
    other = hosted_settings(settings_factory, sandbox, **{**store, "xero_mcp_encryption_key": Fernet.generate_key()})
    async with hosted(other, sandbox) as runtime:
        result = await call_as(runtime, alice, {"xero-tenant-id": tenants_of(sandbox, "alice")[0]})
        assert result.is_error and "cannot be opened with this server's keys" in result.text, result.text
        assert login.access_token not in result.text and str(settings.xero_mcp_data_dir) not in result.text


async def test_keys_rotate_new_key_first_old_sets_still_open(settings_factory: Any, tmp_path: Path) -> None:
    sandbox = make_sandbox()
    store = {"xero_mcp_data_dir": tmp_path / "data"}
    async with hosted(hosted_settings(settings_factory, sandbox, **store), sandbox) as runtime:
        assert runtime.people is not None
        bob = await sign_in(runtime.people, sandbox, "bob")
    rotated = f"{Fernet.generate_key().decode()},{KEY}"
    async with hosted(hosted_settings(settings_factory, sandbox, xero_mcp_encryption_key=rotated, **store),
                      sandbox) as runtime:
        assert not (await call_as(runtime, bob)).is_error
        assert [p.user_id for p in await runtime.people.people()] == [bob.user_id]  # type: ignore[union-attr]


async def test_a_person_whose_key_was_retired_signs_in_again(settings_factory: Any, store: dict[str, Any]) -> None:
    sandbox = make_sandbox()
    async with hosted(hosted_settings(settings_factory, sandbox, **store), sandbox) as runtime:
        assert runtime.people is not None
        alice = await sign_in(runtime.people, sandbox, "alice")
    retired = hosted_settings(settings_factory, sandbox, **{**store, "xero_mcp_encryption_key": Fernet.generate_key()})
    async with hosted(retired, sandbox) as runtime:
        assert runtime.people is not None
        assert (await call_as(runtime, alice)).is_error  # their token set cannot be opened any more …
        again = await sign_in(runtime.people, sandbox, "alice")  # … so they sign in afresh, and it works
        assert again.user_id == alice.user_id
        assert not (await call_as(runtime, alice, {"xero-tenant-id": tenants_of(sandbox, "alice")[0]})).is_error


# ── refreshing: several expiries, one refresh per expiry per person, across replicas ──────────────


async def test_refresh_through_several_expiries_once_per_expiry_per_person_across_replicas(
        settings_factory: Any, redis_server: Any) -> None:
    lifetime = 1.0
    sandbox = make_sandbox(access_token_lifetime=lifetime)
    store = {"xero_mcp_redis_url": redis_server.url, "xero_mcp_redis_prefix": f"t{uuid.uuid4().hex[:8]}:"}
    settings = hosted_settings(settings_factory, sandbox, **store)
    async with AsyncExitStack() as stack:
        replicas = [await stack.enter_async_context(hosted(settings, sandbox)) for _ in range(2)]
        people = replicas[0].people
        assert people is not None
        alice, bob = await sign_in(people, sandbox, "alice"), await sign_in(people, sandbox, "bob")
        mine = {alice.user_id: {"xero-tenant-id": tenants_of(sandbox, "alice")[0]}, bob.user_id: {}}
        expiries = 3
        failures: list[str] = []
        for _ in range(expiries):
            await anyio.sleep(lifetime)  # every token set has expired
            before, begun = sandbox.stats.refreshes, time.monotonic()
            async with anyio.create_task_group() as group:
                for runtime in replicas:
                    for person in (alice, bob):
                        for _ in range(5):
                            async def one(runtime: Runtime = runtime, person: Person = person) -> None:
                                result = await call_as(runtime, person, mine[person.user_id])
                                if result.is_error:
                                    failures.append(result.text)
                            group.start_soon(one)
            took, added = time.monotonic() - begun, sandbox.stats.refreshes - before
            # one refresh per person for this expiry, whichever replica made it (10 concurrent callers per
            # person would otherwise make up to 10); only a round slower than a token's life may need more
            if took < 0.8 * lifetime:
                assert added == 2, f"{added} refreshes in a round of {took:.2f} s"
            else:
                assert 2 <= added <= 2 * (math.ceil(took / lifetime) + 1), f"{added} in {took:.2f} s"
        assert failures == []
        assert sandbox.stats.invalid_grants == 0
        made = sum(r.people.tokens.refreshes for r in replicas if r.people is not None)
        assert made == sandbox.stats.refreshes


# ── revoking ────────────────────────────────────────────────────────────────────────────────────


async def test_revoke_ends_the_grant_at_xero_and_deletes_the_token_set(settings_factory: Any,
                                                                       store: dict[str, Any]) -> None:
    sandbox = make_sandbox()
    settings = hosted_settings(settings_factory, sandbox, **store)
    async with hosted(settings, sandbox) as runtime:
        people = runtime.people
        assert people is not None
        bob, alice = await sign_in(people, sandbox, "bob"), await sign_in(people, sandbox, "alice")
        login = await people.tokens.login(bob.user_id).store.load()
        assert login is not None and not (await call_as(runtime, bob)).is_error

        assert await people.revoke(bob.user_id)
        assert sandbox.stats.revocations == 1
        assert not await people.is_active(bob.user_id)
        assert [p.user_id for p in await people.people()] == [alice.user_id]
        assert await people.tokens.login(bob.user_id).store.load() is None
        async with httpx2.AsyncClient(transport=sandbox.transport()) as http:
            refused = await http.post("https://identity.xero.com/connect/token",
                                      data={"grant_type": "refresh_token", "refresh_token": login.refresh_token},
                                      auth=(settings.xero_client_id, settings.xero_client_secret.get_secret_value()))
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
        result = await call_as(runtime, bob)
        assert result.is_error and "Sign in again" in result.text
        assert not await people.revoke(bob.user_id)  # nobody left to revoke
        # alice is untouched
        assert not (await call_as(runtime, alice, {"xero-tenant-id": tenants_of(sandbox, "alice")[0]})).is_error
        # bob signs in again: a fresh token set, usable at once (the old failure does not stick)
        assert (await sign_in(people, sandbox, "bob")).user_id == bob.user_id
        assert not (await call_as(runtime, bob)).is_error


# ── the id_token: who signed in, verified ──────────────────────────────────────────────────────


def minted_id_token(sandbox: Sandbox, *, user: str = "alice", client_id: str | None = None,
                    nonce: str = "n-1", issuer: str = "https://identity.xero.com") -> str:
    identity = sandbox.identity
    grant = identity.new_grant(client_id or sandbox.apps["web"].client_id, ["openid", "profile", "email"],
                               tenants_of(sandbox, user), sandbox.user(user))
    return str(identity.mint(grant, issuer=issuer, nonce=nonce)["id_token"])


async def test_id_token_is_verified_against_the_jwks_and_cached(settings_factory: Any, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    from xero_contacts_mcp.xero.id_token import IdTokenError

    sandbox = make_sandbox()
    settings = hosted_settings(settings_factory, sandbox, xero_mcp_data_dir=tmp_path)
    async with hosted(settings, sandbox) as runtime:
        assert runtime.people is not None
        verifier = runtime.people.verifier
        good = minted_id_token(sandbox)
        assert (await verifier.verify(good, nonce="n-1")).user_id == sandbox.user("alice").user_id
        refused = {
            "another login's nonce": (good, "n-2"),
            "another app's token": (minted_id_token(sandbox, client_id=sandbox.apps["pkce"].client_id), "n-1"),
            "another issuer": (minted_id_token(sandbox, issuer="https://evil.example"), "n-1"),
            "not a JWT": ("not-a-jwt", "n-1"),
        }
        claims = jwt.decode(good, RSAKey.import_key(sandbox.identity.signer.jwks()["keys"][0])).claims
        forged_key = RSAKey.generate_key(2048, parameters={"kid": sandbox.identity.signer.kid})
        refused["a forged signature"] = (jwt.encode({"alg": "RS256", "kid": sandbox.identity.signer.kid},
                                                    claims, forged_key), "n-1")
        refused["an unknown kid"] = (jwt.encode({"alg": "RS256", "kid": "other"}, claims, forged_key), "n-1")
        expired = {**claims, "exp": int(time.time()) - 120, "iat": int(time.time()) - 600}
        refused["an expired token"] = (jwt.encode({"alg": "RS256", "kid": sandbox.identity.signer.kid}, expired,
                                                  sandbox.identity.signer.key), "n-1")
        for why, (token, nonce) in refused.items():
            try:
                await verifier.verify(token, nonce=nonce)
            except IdTokenError:
                continue
            pytest.fail(f"accepted {why}")
        await sign_in(runtime.people, sandbox, "bob")
        assert verifier.fetches == 1  # cached; an unknown kid refetches at most once every 5 s
        monkeypatch.setattr("xero_contacts_mcp.xero.id_token.REFETCH_AFTER", 0.0)
        with pytest.raises(IdTokenError, match="kid 'other'"):
            await verifier.verify(refused["an unknown kid"][0], nonce="n-1")
        assert verifier.fetches == 2  # Xero may have rotated its keys: fetched again, still unknown


async def test_a_sign_in_whose_id_token_does_not_verify_stores_nothing(settings_factory: Any, tmp_path: Path
                                                                       ) -> None:
    sandbox = make_sandbox(issuer="https://not-xero.example")
    settings = hosted_settings(settings_factory, sandbox, xero_mcp_data_dir=tmp_path)
    async with hosted(settings, sandbox) as runtime:
        assert runtime.people is not None
        with pytest.raises(XeroLoginError, match="id_token did not verify"):
            await sign_in(runtime.people, sandbox, "alice")
        assert await runtime.people.people() == []
    assert list(tmp_path.rglob("*.login")) == []


@pytest.mark.parametrize(("change", "message"), [
    ({"xero_mcp_encryption_key": None}, "needs XERO_MCP_ENCRYPTION_KEY"),
    ({"xero_client_secret": None}, "needs XERO_CLIENT_ID and XERO_CLIENT_SECRET"),
    ({"xero_mcp_sandbox": True}, "does not combine with --sandbox"),
])
async def test_hosted_mode_refuses_to_start_half_configured(settings_factory: Any, tmp_path: Path,
                                                            change: dict[str, Any], message: str) -> None:
    sandbox = make_sandbox()
    settings = hosted_settings(settings_factory, sandbox, xero_mcp_data_dir=tmp_path, **change)
    with pytest.raises(HostedConfigError, match=message):
        async with hosted(settings, sandbox):
            pass


# ── the operator's commands ─────────────────────────────────────────────────────────────────────


async def test_users_lists_people_and_revoke_ends_their_access(settings_factory: Any, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from xero_contacts_mcp import cli
    from xero_contacts_mcp.users import run_users

    sandbox = make_sandbox()
    settings = hosted_settings(settings_factory, sandbox, xero_mcp_data_dir=tmp_path)
    async with hosted(settings, sandbox) as runtime:
        assert runtime.people is not None
        alice, bob = await sign_in(runtime.people, sandbox, "alice"), await sign_in(runtime.people, sandbox, "bob")
    for name, value in (("XERO_MCP_DATA_DIR", str(tmp_path)), ("XERO_MCP_ENCRYPTION_KEY", KEY)):
        monkeypatch.setenv(name, value)
    capsys.readouterr()

    assert await anyio.to_thread.run_sync(cli.main, ["users"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["XERO", "USER"]
    by_id = {line.split()[0]: line for line in lines[1:]}
    assert set(by_id) == {alice.user_id, bob.user_id}
    assert "alice@example.com" in by_id[alice.user_id] and "Alice Consulting Ltd" in by_id[alice.user_id]
    assert "Bob Plumbing Ltd" in by_id[bob.user_id] and "Alice" not in by_id[bob.user_id]

    said: list[str] = []
    assert await run_users(settings, bob.user_id, say=said.append, transport=sandbox.transport()) == 0
    assert said == [f"Revoked {bob.user_id} (bob@example.com): Xero access revoked, Xero token set deleted, "
                    "0 MCP grants deleted."]
    assert sandbox.stats.revocations == 1
    assert await anyio.to_thread.run_sync(cli.main, ["users"]) == 0
    assert bob.user_id not in capsys.readouterr().out

    monkeypatch.setenv("XERO_CLIENT_ID", settings.xero_client_id)
    monkeypatch.setenv("XERO_CLIENT_SECRET", settings.xero_client_secret.get_secret_value())
    assert await anyio.to_thread.run_sync(cli.main, ["users", "revoke", bob.user_id]) == 1
    assert "no connected person has the id" in capsys.readouterr().err
    monkeypatch.delenv("XERO_MCP_ENCRYPTION_KEY")
    assert await anyio.to_thread.run_sync(cli.main, ["users"]) == 2
    assert "needs XERO_MCP_ENCRYPTION_KEY" in capsys.readouterr().err
    monkeypatch.setenv("XERO_MCP_ENCRYPTION_KEY", "not-a-key")
    assert await anyio.to_thread.run_sync(cli.main, ["users"]) == 2
    err = capsys.readouterr().err
    assert "key 1 is not a Fernet key" in err and "not-a-key" not in err


def test_serve_in_hosted_mode_without_a_key_or_app_exits_2(monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from xero_contacts_mcp import cli

    monkeypatch.setenv("XERO_MCP_PUBLIC_URL", PUBLIC)
    assert cli.main(["serve", "--transport", "http", "--host", "0.0.0.0", "--port", "0"]) == 2  # noqa: S104
    assert "needs XERO_MCP_ENCRYPTION_KEY" in capsys.readouterr().err
    monkeypatch.setenv("XERO_MCP_ENCRYPTION_KEY", KEY)
    assert cli.main(["serve", "--transport", "http", "--port", "0"]) == 2
    assert "needs XERO_CLIENT_ID and XERO_CLIENT_SECRET" in capsys.readouterr().err
    monkeypatch.setenv("XERO_MCP_PUBLIC_URL", "http://mcp.example.com")
    assert cli.main(["serve", "--transport", "http", "--port", "0"]) == 2
    assert "must use https" in capsys.readouterr().err


def test_serve_starts_hosted_mode_from_the_environment(tmp_path: Path) -> None:
    """The command line wires the runtime's XeroPeople into the MCP authorization server: metadata is
    served, /mcp wants a person's token, and the static token and shared login are reported as not applying."""
    import os
    import subprocess
    import sys

    from http_server import free_port, wait_healthy

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("XERO_")}
    env.update(XERO_MCP_PUBLIC_URL=base, XERO_MCP_ENCRYPTION_KEY=KEY, XERO_MCP_DATA_DIR=str(tmp_path),
               XERO_CLIENT_ID="app-id", XERO_CLIENT_SECRET="app-secret",
               XERO_MCP_HTTP_TOKEN="static-token-x", XERO_MCP_LOG_LEVEL="WARNING")
    process = subprocess.Popen([sys.executable, "-m", "xero_contacts_mcp", "serve", "--transport", "http",
                                "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    try:
        wait_healthy(base, process, lambda: process.stderr.read() if process.stderr and process.poll() is not None
                     else "")
        metadata = httpx2.get(f"{base}/.well-known/oauth-protected-resource/mcp")
        assert metadata.status_code == 200 and metadata.json()["resource"].startswith(base)
        refused = httpx2.post(f"{base}/mcp", json={}, headers={"Authorization": "Bearer static-token-x"})
        assert refused.status_code == 401 and "resource_metadata=" in refused.headers["www-authenticate"]
    finally:
        process.terminate()
        _, err = process.communicate(timeout=15)
    assert "XERO_MCP_HTTP_TOKEN does not apply" in err and "static-token-x" not in err


async def test_signing_in_again_with_other_organisations_takes_effect_at_once(settings_factory: Any,
                                                                              store: dict[str, Any]) -> None:
    """Even on another replica (with Redis) that served her before."""
    sandbox = make_sandbox()
    first, second = tenants_of(sandbox, "alice")
    settings = hosted_settings(settings_factory, sandbox, **store)
    shared = settings.xero_mcp_redis_url is not None
    async with hosted(settings, sandbox) as runtime, hosted(settings, sandbox) as elsewhere:
        replica = elsewhere if shared else runtime
        assert runtime.people is not None
        sandbox.identity.consent_tenants = [first]  # she allows only one organisation
        alice = await sign_in(runtime.people, sandbox, "alice")
        assert not (await call_as(replica, alice)).is_error  # her only one is her default
        refused = await call_as(replica, alice, {"xero-tenant-id": second})
        assert refused.is_error and "not one of your Xero organisations" in refused.text
        sandbox.identity.consent_tenants = None  # she signs in again and allows both
        await sign_in(runtime.people, sandbox, "alice")
        unchosen = await call_as(replica, alice)
        assert unchosen.is_error and first in unchosen.text and second in unchosen.text
        assert not (await call_as(replica, alice, {"xero-tenant-id": second})).is_error
        assert dict(sandbox.stats.api_requests) == {first: 1, second: 1}


@pytest.mark.parametrize(("read_only", "tools_scopes"), [
    (False, "accounting.contacts accounting.settings"),
    (True, "accounting.contacts.read accounting.settings.read"),
])
async def test_the_xero_authorize_url_asks_who_they_are_and_the_tools_scopes(
        settings_factory: Any, tmp_path: Path, read_only: bool, tools_scopes: str) -> None:
    sandbox = make_sandbox()
    settings = hosted_settings(settings_factory, sandbox, xero_mcp_data_dir=tmp_path, xero_mcp_read_only=read_only)
    async with hosted(settings, sandbox) as runtime:
        assert runtime.people is not None
        url = runtime.people.authorize_url(state="s-1", code_challenge="c" * 43, nonce="n-1")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == settings.xero_authorize_url
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {"response_type": "code", "client_id": settings.xero_client_id,
                     "redirect_uri": f"{PUBLIC}/xero/callback", "scope": f"openid profile email offline_access "
                     f"{tools_scopes}", "state": "s-1", "nonce": "n-1", "code_challenge": "c" * 43,
                     "code_challenge_method": "S256"}


async def test_last_use_is_noted_at_most_once_a_minute(settings_factory: Any, tmp_path: Path) -> None:
    sandbox = make_sandbox()
    async with hosted(hosted_settings(settings_factory, sandbox, xero_mcp_data_dir=tmp_path), sandbox) as runtime:
        people = runtime.people
        assert people is not None
        bob = await sign_in(people, sandbox, "bob")
        record = await people.store.record(bob.user_id)
        assert record is not None
        record.last_used = 1.0
        await people.store.save_record(record)
        assert await people.is_active(bob.user_id)
        noted = await people.store.record(bob.user_id)
        assert noted is not None and noted.last_used > time.time() - 60
        noted.last_used = 2.0
        await people.store.save_record(noted)
        assert all(await asyncio.gather(*(people.is_active(bob.user_id) for _ in range(5))))
        again = await people.store.record(bob.user_id)
        assert again is not None and again.last_used == 2.0  # within the minute: not written again


async def test_a_xero_key_rollover_is_followed(settings_factory: Any, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Xero signs with a new key: the cached JWKS lacks its kid, so it is fetched again (not more often than
    REFETCH_AFTER) and the sign-in succeeds."""
    sandbox = make_sandbox()
    async with hosted(hosted_settings(settings_factory, sandbox, xero_mcp_data_dir=tmp_path), sandbox) as runtime:
        people = runtime.people
        assert people is not None
        await sign_in(people, sandbox, "alice")
        sandbox.identity.signer.rotate(keep_previous=False)
        monkeypatch.setattr("xero_contacts_mcp.xero.id_token.REFETCH_AFTER", 3600.0)
        with pytest.raises(XeroLoginError, match="a key Xero does not publish"):
            await sign_in(people, sandbox, "bob")  # too soon after the last fetch: not fetched again
        monkeypatch.setattr("xero_contacts_mcp.xero.id_token.REFETCH_AFTER", 0.0)
        assert (await sign_in(people, sandbox, "bob")).email == "bob@example.com"
        assert people.verifier.fetches == 2
