"""The grant store in Redis: replicas share clients, consent requests, codes and tokens, the
single-use rules hold across them, and a copy of every key holds nothing usable."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from hosted_helpers import Browser, FakeXero, HostedServer, ManualClient, encryption, hosted_server, mcp_status
from redis_server import RedisServer, redis_or_skip
from xero_contacts_mcp.server.hosted.store import RedisGrantStore
from xero_contacts_mcp.state.redis_state import RedisState


@pytest.fixture
async def fleet(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[tuple[FakeXero, list[HostedServer], Any]]:
    """Three stateless replicas, each with its own Redis client, one key prefix, one public URL (the
    first's: there the browser is sent, while API calls below go to each replica directly)."""
    prefix = f"hosted-{uuid.uuid4().hex[:8]}:"
    async with AsyncExitStack() as stack:
        xero = await stack.enter_async_context(FakeXero.serve())
        replicas, key = [], encryption()  # replicas share XERO_MCP_ENCRYPTION_KEY
        for _ in range(3):
            store = RedisGrantStore(RedisState(redis_server.url, prefix), owned=True)
            stack.push_async_callback(store.aclose)
            public = replicas[0].base if replicas else None
            replicas.append(await stack.enter_async_context(hosted_server(
                xero, tmp_path, store=store, stateless=True, fernet=key, public_url=public)))
        raw = RedisState(redis_server.url, prefix)
        stack.push_async_callback(raw.close)
        yield xero, replicas, raw


async def test_a_flow_spread_over_replicas_and_rotation_enforced_across_them(fleet: Any) -> None:
    xero, (one, two, three), _ = fleet
    browser = Browser(xero_user="alice")
    await browser.login_at_fake_xero(xero)
    client = await ManualClient.register(one.base)
    on_two = ManualClient(two.base, client.client_id, client.client_secret, verifier=client.verifier)
    reply = await browser.http.get(on_two.authorize_url(resource=one.mcp))  # /authorize on replica two
    assert reply.status_code == 302
    consent = reply.headers["location"]
    # every public URL names one replica's origin here; the record itself is shared through Redis
    pending = await three.provider.pending(consent.split("request=")[1])
    assert pending is not None and pending["client_id"] == client.client_id
    landed = await browser.go(client.authorize_url())
    tokens = (await client.exchange(landed["code"])).json()
    for replica in (one, two, three):
        assert await mcp_status(replica.base, tokens["access_token"]) == 200
    client_two = ManualClient(two.base, client.client_id, client.client_secret)
    rotated = (await client_two.refresh(tokens["refresh_token"])).json()
    assert "access_token" in rotated
    client_three = ManualClient(three.base, client.client_id, client.client_secret)
    reuse = await client_three.refresh(tokens["refresh_token"])
    assert reuse.json()["error"] == "invalid_grant"
    assert await mcp_status(one.base, rotated["access_token"]) == 401
    await browser.aclose()


async def test_one_refresh_token_rotates_once_when_two_replicas_race(fleet: Any) -> None:
    """Both replicas have loaded the token (neither sees it rotated yet) and exchange it at once: at most
    one gets new tokens, the other is refused as a reuse and the whole grant revoked (the claim in Redis
    is atomic), so no two live token pairs come from one refresh token."""
    xero, (one, two, _), _ = fleet
    browser = Browser(xero_user="bob")
    await browser.login_at_fake_xero(xero)
    client = await ManualClient.register(one.base)
    tokens = await client.connect(browser)
    info = await one.provider.get_client(client.client_id)
    loaded = [await r.provider.load_refresh_token(info, tokens["refresh_token"]) for r in (one, two)]
    outcomes = await asyncio.gather(*[r.provider.exchange_refresh_token(info, token, token.scopes)
                                      for r, token in zip((one, two), loaded, strict=True)], return_exceptions=True)
    names = [type(o).__name__ for o in outcomes]
    assert names.count("TokenError") >= 1 and set(names) <= {"OAuthToken", "TokenError"}
    for winner in [o for o in outcomes if not isinstance(o, BaseException)]:
        assert await mcp_status(one.base, winner.access_token) == 401  # the reuse revoked the grant
    assert (await client.refresh(tokens["refresh_token"])).json()["error"] == "invalid_grant"
    await browser.aclose()


async def test_a_copy_of_redis_holds_no_usable_token(fleet: Any) -> None:
    xero, (one, two, _), raw = fleet
    browser = Browser(xero_user="alice")
    await browser.login_at_fake_xero(xero)
    client = await ManualClient.register(one.base)
    unused = (await browser.go(client.authorize_url()))["code"]
    tokens = await client.connect(browser)
    refreshed = (await client.refresh(tokens["refresh_token"])).json()
    dump: list[str] = []
    async for key in raw.client.scan_iter(match=f"{raw.prefix}*"):
        dump.append(key)
        kind = await raw.client.type(key)
        dump += [await raw.client.get(key)] if kind == "string" else list(await raw.client.smembers(key))
    text = "\n".join(dump)
    assert any(":mcp:at:" in k for k in dump) and any(":mcp:client:" in k for k in dump)
    for secret in (tokens["access_token"], tokens["refresh_token"], refreshed["access_token"],
                   refreshed["refresh_token"], unused, client.client_secret or "-"):
        assert secret not in text
    candidates = {part for item in dump for part in item.replace('"', " ").replace(":", " ").split() if len(part) > 20}
    for candidate in list(candidates)[:60]:
        assert await mcp_status(two.base, candidate) == 401
    await browser.aclose()


async def test_redis_down_is_a_503_with_retry_after_and_nobody_is_signed_out(tmp_path: Path) -> None:
    """Redis as production runs it (append-only file): stopped, every hosted route says 503 and to retry;
    back, the same tokens work again."""
    with redis_or_skip(persistent=True) as redis:
        await _outage(redis, tmp_path)


async def _outage(redis: RedisServer, tmp_path: Path) -> None:
    store = RedisGrantStore(RedisState(redis.url, "down:", timeout=0.5), owned=True)
    async with FakeXero.serve() as xero, hosted_server(xero, tmp_path, store=store) as server:
        browser = Browser(xero_user="erin")
        await browser.login_at_fake_xero(xero)
        client = await ManualClient.register(server.base)
        tokens = await client.connect(browser)
        redis.stop()
        try:
            assert await mcp_status(server.base, tokens["access_token"]) == 503
            refused = await client.refresh(tokens["refresh_token"])
            assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
            assert refused.json()["error"] == "temporarily_unavailable"
        finally:
            redis.start()
        assert await mcp_status(server.base, tokens["access_token"]) == 200
        assert (await client.refresh(tokens["refresh_token"])).status_code == 200
        await browser.aclose()
