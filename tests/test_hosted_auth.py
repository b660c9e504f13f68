"""Hosted mode's authorization server, driven by the SDK's own OAuth client and a scripted browser: the
happy path, identity reaching the tool run, and each attack from issue 17 as its own test."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx2
import pytest

from hosted_helpers import (
    CLIENT_REDIRECT,
    HIDDEN,
    INIT,
    Browser,
    FakeXero,
    ManualClient,
    hosted_server,
    mcp_client,
    mcp_status,
    oauth,
    text,
)


@pytest.mark.parametrize("stateless", [False, True])
async def test_sdk_client_discovers_registers_consents_and_calls_as_the_person(tmp_path: Path,
                                                                               stateless: bool) -> None:
    async with FakeXero.serve() as xero, hosted_server(xero, tmp_path, stateless=stateless) as server:
        browser = Browser(xero_user="alice")
        await browser.login_at_fake_xero(xero)
        async with mcp_client(server.mcp, oauth(server.mcp, browser)) as client:
            first = await client.call_tool("whoami", {})
            second = await client.call_tool("whoami", {})
        await browser.aclose()
    assert text(first) == text(second) == "xero-alice"
    assert len(browser.consent_pages) == 1 and xero.logins == 1


@pytest.fixture
async def env(tmp_path: Path) -> Any:
    async with FakeXero.serve() as xero, hosted_server(xero, tmp_path) as server:
        yield xero, server


async def person(xero: FakeXero, user: str = "alice", **kwargs: Any) -> Browser:
    browser = Browser(xero_user=user, **kwargs)
    await browser.login_at_fake_xero(xero)
    return browser


async def test_mcp_without_a_token_points_at_the_metadata(env: Any) -> None:
    _, server = env
    async with httpx2.AsyncClient(timeout=10) as http:
        reply = await http.post(server.mcp, json=INIT, headers={"Accept": "application/json, text/event-stream"})
        prm = (await http.get(f"{server.base}/.well-known/oauth-protected-resource/mcp")).json()
        asm = (await http.get(f"{server.base}/.well-known/oauth-authorization-server")).json()
        health = await http.get(f"{server.base}/healthz")
    assert reply.status_code == 401
    assert (f'resource_metadata="{server.base}/.well-known/oauth-protected-resource/mcp"'
            in reply.headers["www-authenticate"])
    assert (prm["resource"] == server.mcp and prm["authorization_servers"] == [f"{server.base}/"]) or \
        prm["authorization_servers"] == [server.base]
    assert asm["code_challenge_methods_supported"] == ["S256"]
    assert asm["client_id_metadata_document_supported"] is True
    assert asm["registration_endpoint"] == f"{server.base}/register"
    assert asm["revocation_endpoint"] == f"{server.base}/revoke"
    assert health.status_code == 200


async def test_registration_takes_https_or_loopback_redirects_only(env: Any) -> None:
    _, server = env
    async with httpx2.AsyncClient(timeout=10) as http:
        def register(uri: str) -> Any:
            return http.post(f"{server.base}/register", json={"redirect_uris": [uri], "client_name": "x"})
        refused = [await register(u) for u in ("http://evil.example/cb", "javascript://x/%0aalert(1)",
                                                "https://app.example/cb#frag")]
        accepted = [await register(u) for u in ("https://app.example/cb", "http://127.0.0.1:9/cb",
                                                 "http://localhost/cb")]
    assert [r.status_code for r in refused] == [400, 400, 400]
    assert all(r.json()["error"] in ("invalid_redirect_uri", "invalid_client_metadata") for r in refused)
    assert [r.status_code for r in accepted] == [201, 201, 201]
    async with httpx2.AsyncClient(timeout=10) as http:
        many = await http.post(f"{server.base}/register", json={
            "redirect_uris": [f"https://app.example/cb{i}" for i in range(11)]})
        long = await http.post(f"{server.base}/register", json={
            "redirect_uris": ["https://app.example/cb"], "client_name": "x" * 201})
    assert many.status_code == long.status_code == 400


async def test_token_for_another_resource_is_refused(tmp_path: Path) -> None:
    """RFC 8707: asking for another resource is refused at /authorize, and a token this store issued for
    another deployment (another public URL sharing the store) does not open this one."""
    async with FakeXero.serve() as xero, hosted_server(xero, tmp_path) as one:
        browser = await person(xero)
        client = await ManualClient.register(one.base)
        landed = await browser.go(client.authorize_url(resource="https://other.example/mcp"))
        assert landed["error"] == "invalid_target" and landed["state"] == "client-state"
        for other in ("https://other.example/mcp", f"{one.base}/mcp/other", "http://127.0.0.1:1/mcp"):
            refused = await browser.go(client.authorize_url(resource=other))
            assert refused["error"] == "invalid_target", other
        landed = await browser.go(client.authorize_url(resource=one.base))  # our origin names us too
        assert "code" in landed
        tokens = await client.connect(browser)
        assert await mcp_status(one.base, tokens["access_token"]) == 200
        async with hosted_server(xero, tmp_path, store=one.store) as two:
            assert await mcp_status(two.base, tokens["access_token"]) == 401
        await browser.aclose()


async def test_replayed_code_is_refused_and_its_grant_revoked(env: Any) -> None:
    xero, server = env
    browser = await person(xero)
    client = await ManualClient.register(server.base)
    landed = await browser.go(client.authorize_url())
    first = await client.exchange(landed["code"])
    assert first.status_code == 200
    tokens = first.json()
    assert await mcp_status(server.base, tokens["access_token"]) == 200
    replay = await client.exchange(landed["code"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert await mcp_status(server.base, tokens["access_token"]) == 401
    assert (await client.refresh(tokens["refresh_token"])).json()["error"] == "invalid_grant"
    await browser.aclose()


async def test_pkce_mismatch_and_plain_are_refused(env: Any) -> None:
    xero, server = env
    browser = await person(xero)
    client = await ManualClient.register(server.base)
    landed = await browser.go(client.authorize_url())
    wrong = await client.exchange(landed["code"], verifier="x" * 50)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    plain = await browser.go(client.authorize_url(code_challenge_method="plain", code_challenge=client.verifier))
    assert plain["error"] == "invalid_request"
    await browser.aclose()


async def test_unregistered_redirect_uri_gets_an_error_page_never_a_redirect(env: Any) -> None:
    _xero, server = env
    client = await ManualClient.register(server.base)
    async with httpx2.AsyncClient(timeout=10) as http:
        for uri in ("https://evil.example/cb", CLIENT_REDIRECT + "/", CLIENT_REDIRECT + "?x=1"):
            reply = await http.get(client.authorize_url(redirect_uri=uri))
            assert reply.status_code == 400 and "location" not in reply.headers
            assert reply.headers["content-type"].startswith("text/html")
            assert "not registered" in reply.text and "evil.example/cb\"" not in reply.text
        for unknown_id in ("no-such-client", "https://app.example/" + "x" * 600):
            unknown = await http.get(client.authorize_url(client_id=unknown_id))
            assert unknown.status_code == 400 and "location" not in unknown.headers


async def test_no_open_redirect_through_state_or_the_callback(env: Any) -> None:
    xero, server = env
    browser = await person(xero)
    client = await ManualClient.register(server.base)
    evil = "https://evil.example/steal"
    landed = await browser.go(client.authorize_url(state=evil))
    assert landed["state"] == evil and "code" in landed  # echoed as data, and we landed on the client's URI
    assert all(not url.startswith("https://evil.example") for url in browser.visited)
    async with httpx2.AsyncClient(timeout=10) as http:
        forged = await http.get(f"{server.base}/xero/callback", params={"code": "c", "state": evil})
    assert forged.status_code == 400 and "location" not in forged.headers
    await browser.aclose()


async def test_callback_from_another_browser_is_refused(env: Any) -> None:
    """A Xero callback URL lured into a victim's browser (login CSRF) does not complete there."""
    xero, server = env
    attacker = await person(xero, "mallory")
    client = await ManualClient.register(server.base)
    reply = await attacker.http.get(client.authorize_url())
    while "/xero/callback" not in reply.headers.get("location", ""):
        if reply.status_code == 200:  # the consent page
            reply = await attacker.http.post(f"{server.base}/consent", data={
                **dict(HIDDEN.findall(reply.text)), "decision": "allow"}, headers={"Origin": server.base})
        else:
            reply = await attacker.http.get(reply.headers["location"])
    victim = Browser()
    lured = await victim.http.get(reply.headers["location"])
    assert lured.status_code == 403 and "location" not in lured.headers
    await attacker.aclose()
    await victim.aclose()


async def test_deny_returns_access_denied_with_state(env: Any) -> None:
    xero, server = env
    browser = await person(xero, decision="deny")
    client = await ManualClient.register(server.base)
    landed = await browser.go(client.authorize_url(state="s-42"))
    assert landed == {"error": "access_denied", "error_description": "the person denied access", "state": "s-42",
                      "iss": server.base}  # RFC 9207: the answer names this server
    assert xero.logins == 0
    refused = await person(xero, "refuses")  # says no at Xero instead
    assert (await refused.go(client.authorize_url(state="s-43")))["error"] == "access_denied"
    await browser.aclose()
    await refused.aclose()


async def test_an_unanswered_consent_request_expires(tmp_path: Path) -> None:
    async with FakeXero.serve() as xero, hosted_server(xero, tmp_path, request_ttl=1) as server, \
            httpx2.AsyncClient(timeout=10) as http:
        client = await ManualClient.register(server.base)
        consent = (await http.get(client.authorize_url())).headers["location"]
        await asyncio.sleep(1.2)
        page = await http.get(consent)
    assert page.status_code == 400 and "expired" in page.text and "location" not in page.headers


async def test_consent_page_is_not_frameable_and_names_the_client(env: Any) -> None:
    _xero, server = env
    client = await ManualClient.register(server.base, name="Ledger <b>Helper</b>")
    async with httpx2.AsyncClient(timeout=10) as http:
        reply = await http.get(client.authorize_url())
        page = await http.get(reply.headers["location"])
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "Ledger &lt;b&gt;Helper&lt;/b&gt;" in page.text and "<b>Helper" not in page.text
    assert "127.0.0.1:53682" in page.text


async def test_consent_answer_needs_this_browsers_page(env: Any) -> None:
    """CSRF: an answer without the page's token and cookie, or from another origin, is refused."""
    xero, server = env
    client = await ManualClient.register(server.base)
    async with httpx2.AsyncClient(timeout=10) as shown, httpx2.AsyncClient(timeout=10) as other:
        page = await shown.get((await shown.get(client.authorize_url())).headers["location"])
        fields = dict(HIDDEN.findall(page.text))
        no_cookie = await other.post(f"{server.base}/consent", data={**fields, "decision": "allow"})
        wrong_token = await shown.post(f"{server.base}/consent", data={**fields, "csrf": "guess",
                                                                         "decision": "allow"})
        odd = await shown.post(f"{server.base}/consent", data={**fields, "csrf": "é" * 43, "decision": "allow"})
        foreign = await shown.post(f"{server.base}/consent", data={**fields, "decision": "allow"},
                                   headers={"Origin": "https://evil.example"})
        good = await shown.post(f"{server.base}/consent", data={**fields, "decision": "allow"},
                                headers={"Origin": server.base})
        again = await shown.post(f"{server.base}/consent", data={**fields, "decision": "allow"})
    assert [r.status_code for r in (no_cookie, wrong_token, odd, foreign)] == [403, 403, 403, 403]
    assert good.status_code == 303 and good.headers["location"].startswith(xero.base)
    assert again.status_code in (400, 403) and "location" not in again.headers


async def test_reused_rotated_refresh_token_revokes_the_grant(env: Any) -> None:
    xero, server = env
    browser = await person(xero)
    client = await ManualClient.register(server.base)
    first = await client.connect(browser)
    second = (await client.refresh(first["refresh_token"])).json()
    third = (await client.refresh(second["refresh_token"])).json()
    assert await mcp_status(server.base, third["access_token"]) == 200
    assert await mcp_status(server.base, first["access_token"]) == 200  # not yet expired, grant alive
    reuse = await client.refresh(first["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    assert await mcp_status(server.base, third["access_token"]) == 401
    assert (await client.refresh(third["refresh_token"])).json()["error"] == "invalid_grant"
    await browser.aclose()


async def test_revoke_endpoint_ends_the_grant(env: Any) -> None:
    xero, server = env
    browser = await person(xero)
    client = await ManualClient.register(server.base)
    tokens = await client.connect(browser)
    reply = await client.token(token=tokens["refresh_token"])  # /token needs grant_type: use /revoke
    assert reply.status_code == 400
    async with httpx2.AsyncClient(timeout=10) as http:
        revoked = await http.post(f"{server.base}/revoke", data={
            "token": tokens["refresh_token"], "client_id": client.client_id, "client_secret": client.client_secret})
    assert revoked.status_code == 200
    assert await mcp_status(server.base, tokens["access_token"]) == 401
    await browser.aclose()


async def test_a_revoked_person_is_refused_on_the_next_call(env: Any) -> None:
    xero, server = env
    alice, bob = await person(xero, "alice"), await person(xero, "bob")
    client = await ManualClient.register(server.base)
    a, b = await client.connect(alice), await client.connect(bob)
    assert await server.provider.revoke_person("xero-alice") == 1
    assert await mcp_status(server.base, a["access_token"]) == 401
    assert (await client.refresh(a["refresh_token"])).json()["error"] == "invalid_grant"
    assert await mcp_status(server.base, b["access_token"]) == 200
    xero.active.discard("bob")  # revoked at the Xero side (`users revoke` deletes the person record)
    assert await mcp_status(server.base, b["access_token"]) == 401
    await alice.aclose()
    await bob.aclose()


async def test_a_copy_of_the_local_store_holds_no_usable_token(env: Any, tmp_path: Path) -> None:
    xero, server = env
    browser = await person(xero)
    client = await ManualClient.register(server.base)
    landed = await browser.go(client.authorize_url())
    unused_code = landed["code"]
    tokens = await client.connect(browser)
    raw = (tmp_path / "mcp-grants.json").read_text()
    assert oct((tmp_path / "mcp-grants.json").stat().st_mode & 0o777) == "0o600"
    for secret in (tokens["access_token"], tokens["refresh_token"], unused_code, client.client_secret or "-"):
        assert secret not in raw
    import json
    values = sorted({v for key, entry in json.loads(raw).items() for v in [*key.split(":"), *_strings(entry)]
                     if len(v) >= 16})
    assert any(len(v) == 64 for v in values)  # the hashes are there, and they are all there is
    statuses = await asyncio.gather(*[mcp_status(server.base, v) for v in values])
    assert set(statuses) == {401}
    refreshes = await asyncio.gather(*[client.refresh(v) for v in values])
    assert {r.status_code for r in refreshes} == {400}
    await browser.aclose()


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [*value.keys(), *[s for v in value.values() for s in _strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


async def test_sdk_client_refreshes_through_several_expiries_with_rotation(tmp_path: Path) -> None:
    """Access tokens living 2 s: each call after an expiry makes the SDK client refresh (a new refresh
    token each time), never sign in again, and never meet invalid_grant."""
    from hosted_helpers import MemoryTokens
    async with FakeXero.serve() as xero, hosted_server(xero, tmp_path, access_ttl=2) as server:
        browser = await person(xero, "dana")
        storage = MemoryTokens()
        refresh_tokens = []
        async with mcp_client(server.mcp, oauth(server.mcp, browser, storage)) as client:
            for _ in range(4):
                assert text(await client.call_tool("whoami", {})) == "xero-dana"
                refresh_tokens.append(storage.tokens.refresh_token)
                await asyncio.sleep(2.2)
            assert text(await client.call_tool("whoami", {})) == "xero-dana"
            refresh_tokens.append(storage.tokens.refresh_token)
        await browser.aclose()
    assert len(set(refresh_tokens)) >= 4  # rotated at (nearly) every expiry
    assert len(browser.consent_pages) == 1 and xero.logins == 1


async def test_users_revoke_from_another_process_reaches_the_serving_one(env: Any, tmp_path: Path) -> None:
    """`users revoke` opens the local store on its own (as a separate command would): the server's next
    read sees the change, and both of that person's grants end."""
    from xero_contacts_mcp.server.hosted.routes import revoke_person
    from xero_contacts_mcp.settings import Settings

    xero, server = env
    alice, bob = await person(xero, "alice"), await person(xero, "bob")
    client = await ManualClient.register(server.base)
    first, second, b = await client.connect(alice), await client.connect(alice), await client.connect(bob)
    assert await mcp_status(server.base, first["access_token"]) == 200
    settings = Settings(_env_file=None, xero_mcp_data_dir=tmp_path)  # type: ignore[call-arg]
    assert await revoke_person(settings, "xero-alice") == 2
    assert await mcp_status(server.base, first["access_token"]) == 401
    assert await mcp_status(server.base, second["access_token"]) == 401
    assert await mcp_status(server.base, b["access_token"]) == 200
    assert await revoke_person(settings, "xero-alice") == 0
    await alice.aclose()
    await bob.aclose()


async def test_a_session_belongs_to_the_person_who_opened_it(tmp_path: Path) -> None:
    """Stateful mode: two people of the same client (as with a metadata-document client_id, shared by all
    its users); bob presenting alice's session id is told the session does not exist."""
    async with FakeXero.serve() as xero, hosted_server(xero, tmp_path) as server, \
            httpx2.AsyncClient(timeout=10) as http:
        alice, bob = await person(xero, "alice"), await person(xero, "bob")
        client = await ManualClient.register(server.base)
        a, b = await client.connect(alice), await client.connect(bob)
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                   "mcp-protocol-version": "2025-11-25"}
        opened = await http.post(server.mcp, json=INIT, headers={**headers, "Authorization": f"Bearer {a['access_token']}"})
        session = opened.headers["mcp-session-id"]
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}}
        as_bob = await http.post(server.mcp, json=call, headers={
            **headers, "mcp-session-id": session, "Authorization": f"Bearer {b['access_token']}"})
        as_alice = await http.post(server.mcp, json=call, headers={
            **headers, "mcp-session-id": session, "Authorization": f"Bearer {a['access_token']}"})
        await alice.aclose()
        await bob.aclose()
    assert as_bob.status_code == 404
    assert as_alice.status_code == 200 and as_alice.json()["result"]["content"][0]["text"] == "xero-alice"
