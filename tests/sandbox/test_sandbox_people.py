"""Several people at the sandbox's Xero: who logs in (login_hint, login-as cookie, default), OpenID
Connect id_tokens verified against the served JWKS, and each person's own organisations and grants."""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError
from joserfc.jwk import KeySet

from xero_contacts_mcp.sandbox import Sandbox, SandboxConfig

IDENTITY = "https://identity.xero.com"
AUTHORIZE = "https://login.xero.com/identity/connect/authorize"
TOKEN = f"{IDENTITY}/connect/token"
LOGIN_AS = "https://login.xero.com/_sandbox/login-as"
CONNECTIONS = "https://api.xero.com/connections"
API = "https://api.xero.com/api.xro/2.0"
REDIRECT = "http://localhost:8719/callback"
OIDC_SCOPES = "openid profile email offline_access accounting.contacts accounting.settings"


def web(sandbox: Sandbox) -> tuple[str, str]:
    app = sandbox.apps["web"]
    assert app.client_secret is not None
    return app.client_id, app.client_secret


async def login(
    http: httpx2.AsyncClient, sandbox: Sandbox, *, scope: str = OIDC_SCOPES, **extra: str
) -> dict[str, list[str]]:
    """The authorize leg as a browser makes it (with whatever cookies `http` holds); the redirect's query."""
    params = {
        "response_type": "code",
        "client_id": web(sandbox)[0],
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "st-1",
    } | extra
    response = await http.get(AUTHORIZE, params=params)
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["location"]).query)


async def exchange(http: httpx2.AsyncClient, sandbox: Sandbox, code: str) -> dict[str, Any]:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    response = await http.post(TOKEN, data=form, auth=web(sandbox))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def verified_claims(http: httpx2.AsyncClient, id_token: str) -> dict[str, Any]:
    """What a relying party does: discovery → JWKS → verify the RS256 signature by `kid`."""
    discovery = (await http.get(f"{IDENTITY}/.well-known/openid-configuration")).json()
    keys = KeySet.import_key_set((await http.get(discovery["jwks_uri"])).json())
    token = jwt.decode(id_token, keys, algorithms=["RS256"])
    assert token.header["kid"] == keys.keys[0].kid
    return dict(token.claims)


Browsers = Callable[[], httpx2.AsyncClient]


@pytest.fixture
async def browsers(sandbox: Sandbox) -> AsyncIterator[Browsers]:
    """Makes browsers, each with its own cookie jar, all closed after the test."""
    async with contextlib.AsyncExitStack() as stack:

        def make() -> httpx2.AsyncClient:
            client = httpx2.AsyncClient(transport=sandbox.transport(), follow_redirects=False)
            stack.push_async_callback(client.aclose)
            return client

        yield make


async def person_logs_in(browser: httpx2.AsyncClient, sandbox: Sandbox, who: str, nonce: str) -> dict[str, Any]:
    """In a browser of its own (its own cookie jar): log in at Xero as `who`, then complete the flow."""
    logged = await browser.get(LOGIN_AS, params={"user": who})
    assert logged.status_code == 200, logged.text
    assert logged.json()["xero_userid"] == sandbox.user(who).user_id
    query = await login(browser, sandbox, nonce=nonce)
    return await exchange(browser, sandbox, query["code"][0])


async def test_login_as_then_id_token_names_that_person(sandbox: Sandbox, browsers: Browsers) -> None:
    alice = sandbox.user("alice")
    browser = browsers()
    tokens = await person_logs_in(browser, sandbox, "alice@example.com", "n-0S6_WzA2Mj")
    claims = await verified_claims(browser, tokens["id_token"])
    assert claims["iss"] == IDENTITY and claims["aud"] == web(sandbox)[0]
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["xero_userid"] == alice.user_id and claims["sub"] == alice.user_id.replace("-", "")
    assert (claims["email"], claims["given_name"], claims["family_name"]) == ("alice@example.com", "Alice", "Anders")
    assert claims["exp"] - claims["iat"] == 300
    assert claims["auth_time"] <= claims["iat"] and claims["global_session_id"] and claims["sid"]
    assert sandbox.stats.logins == {"alice": 1} and sandbox.stats.id_tokens == 1


async def test_each_person_sees_only_their_own_organisations(sandbox: Sandbox, browsers: Browsers) -> None:
    alice_browser, bob_browser = browsers(), browsers()
    alice = await person_logs_in(alice_browser, sandbox, "alice", "a")
    bob = await person_logs_in(bob_browser, sandbox, "bob", "b")
    theirs = {}
    for name, tokens, browser in (("alice", alice, alice_browser), ("bob", bob, bob_browser)):
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        theirs[name] = [c["tenantName"] for c in (await browser.get(CONNECTIONS, headers=auth)).json()]
    assert theirs == {"alice": ["Alice Bakery Ltd", "Alice Consulting Ltd"], "bob": ["Bob Plumbing Ltd"]}
    bob_tenant = sandbox.users.describe(sandbox.user("bob"))["tenant_ids"][0]
    alice_tenant = sandbox.users.describe(sandbox.user("alice"))["tenant_ids"][0]
    as_alice = {"Authorization": f"Bearer {alice['access_token']}"}
    refused = await alice_browser.get(f"{API}/Contacts", headers=as_alice | {"xero-tenant-id": bob_tenant})
    assert refused.status_code == 403, "alice's token cannot reach bob's organisation"
    own = await alice_browser.get(f"{API}/Contacts", headers=as_alice | {"xero-tenant-id": alice_tenant})
    assert [c["Name"] for c in own.json()["Contacts"]] == ["Customer of Alice Bakery Ltd"]
    demo = await alice_browser.get(f"{API}/Contacts", headers=as_alice | {"xero-tenant-id": sandbox.tenant_id})
    assert demo.status_code == 403, "nor the default user's demo company"
    assert [
        json.loads(base64.urlsafe_b64decode(t["id_token"].split(".")[1] + "==").decode())["email"] for t in (alice, bob)
    ] == ["alice@example.com", "bob@example.com"]


async def test_login_hint_beats_the_cookie_and_unknown_people_are_refused(
    http: httpx2.AsyncClient, sandbox: Sandbox
) -> None:
    await http.get(LOGIN_AS, params={"user": "alice"})
    hinted = await login(http, sandbox, login_hint="BOB@example.com")
    claims = await verified_claims(http, (await exchange(http, sandbox, hinted["code"][0]))["id_token"])
    assert claims["email"] == "bob@example.com"
    unknown = await login(http, sandbox, login_hint="mallory@example.com")
    assert unknown["error"] == ["access_denied"] and unknown["state"] == ["st-1"] and "code" not in unknown
    missing = await http.get(LOGIN_AS, params={"user": "mallory"})
    assert missing.status_code == 404 and "alice" in missing.json()["error"]


async def test_no_cookie_no_hint_is_the_default_user_and_no_openid_no_id_token(
    http: httpx2.AsyncClient, sandbox: Sandbox
) -> None:
    query = await login(http, sandbox, scope="offline_access accounting.contacts")
    tokens = await exchange(http, sandbox, query["code"][0])
    assert "id_token" not in tokens
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert [c["tenantId"] for c in (await http.get(CONNECTIONS, headers=auth)).json()] == sandbox.tenants
    with_openid = await exchange(http, sandbox, (await login(http, sandbox))["code"][0])
    claims = await verified_claims(http, with_openid["id_token"])
    assert claims["email"] == "demo@example.com" and "nonce" not in claims
    assert claims["xero_userid"] == sandbox.users.default.user_id


async def test_login_as_redirects_to_next_with_the_cookie(http: httpx2.AsyncClient, sandbox: Sandbox) -> None:
    response = await http.get(LOGIN_AS, params={"user": "bob", "next": "https://login.xero.com/somewhere"})
    assert response.status_code == 302 and response.headers["location"] == "https://login.xero.com/somewhere"
    assert "sandbox_user=bob" in response.headers["set-cookie"]
    assert "httponly" in response.headers["set-cookie"].lower()
    script = await http.get(LOGIN_AS, params={"user": "bob", "next": "javascript:alert(1)"})
    assert script.status_code == 400 and "set-cookie" not in script.headers


async def test_refresh_keeps_the_person_and_revocation_ends_only_their_grant(
    http: httpx2.AsyncClient, sandbox: Sandbox, browsers: Browsers
) -> None:
    alice = await person_logs_in(browsers(), sandbox, "alice", "a")
    bob = await person_logs_in(browsers(), sandbox, "bob", "b")
    refreshed = await http.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": alice["refresh_token"]}, auth=web(sandbox)
    )
    claims = await verified_claims(http, refreshed.json()["id_token"])
    assert claims["xero_userid"] == sandbox.user("alice").user_id and "nonce" not in claims
    revoked = await http.post(
        f"{IDENTITY}/connect/revocation", data={"token": alice["refresh_token"]}, auth=web(sandbox)
    )
    assert revoked.status_code == 200
    again = await http.post(
        TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": refreshed.json()["refresh_token"]},
        auth=web(sandbox),
    )
    assert again.json() == {"error": "invalid_grant"}, "the whole grant ended, rotated tokens included"
    as_alice = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    assert (await http.get(CONNECTIONS, headers=as_alice)).json() == []
    as_bob = {"Authorization": f"Bearer {bob['access_token']}"}
    assert [c["tenantName"] for c in (await http.get(CONNECTIONS, headers=as_bob)).json()] == ["Bob Plumbing Ltd"]
    bob_refresh = await http.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": bob["refresh_token"]}, auth=web(sandbox)
    )
    assert bob_refresh.status_code == 200, "bob's grant on the same app is untouched"


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_forged_id_tokens_fail_verification(http: httpx2.AsyncClient, sandbox: Sandbox) -> None:
    other = Sandbox()
    foreign = other.grant(scopes="openid email", user="alice")["id_token"]
    assert other.identity.signer.kid != sandbox.identity.signer.kid, "a key pair per Sandbox"
    with pytest.raises(InvalidKeyIdError):
        await verified_claims(http, foreign)
    header, payload, signature = foreign.split(".")
    relabelled = ".".join([b64({"alg": "RS256", "kid": sandbox.identity.signer.kid, "typ": "JWT"}), payload, signature])
    with pytest.raises(BadSignatureError):
        await verified_claims(http, relabelled)
    genuine = sandbox.grant(scopes="openid email", user="bob")["id_token"]
    header, payload, signature = genuine.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    with pytest.raises(BadSignatureError):
        await verified_claims(http, ".".join([header, b64(claims | {"email": "alice@example.com"}), signature]))
    assert (await verified_claims(http, genuine))["email"] == "bob@example.com"


async def test_discovery_and_userinfo(http: httpx2.AsyncClient, sandbox: Sandbox) -> None:
    discovery = (await http.get(f"{IDENTITY}/.well-known/openid-configuration")).json()
    assert discovery["issuer"] == IDENTITY
    assert discovery["jwks_uri"] == f"{IDENTITY}/.well-known/openid-configuration/jwks"
    assert discovery["id_token_signing_alg_values_supported"] == ["RS256"]
    jwks = (await http.get(discovery["jwks_uri"])).json()
    assert set(jwks["keys"][0]) == {"kty", "n", "e", "kid", "use", "alg"}, "the public half only"
    token = sandbox.grant(scopes="openid email profile", user="bob")["access_token"]
    info = (await http.get(discovery["userinfo_endpoint"], headers={"Authorization": f"Bearer {token}"})).json()
    assert info["email"] == "bob@example.com" and info["family_name"] == "Brown"
    no_openid = await http.get(
        discovery["userinfo_endpoint"], headers={"Authorization": f"Bearer {sandbox.access_token}"}
    )
    assert no_openid.status_code == 403


async def test_configured_issuer_and_info() -> None:
    sandbox = Sandbox(SandboxConfig(issuer="https://issuer.test"))
    claims = jwt.decode(
        sandbox.grant(scopes="openid", user="bob")["id_token"], KeySet.import_key_set(sandbox.identity.signer.jwks())
    ).claims
    assert claims["iss"] == "https://issuer.test"
    info = sandbox.describe("http://127.0.0.1:9")
    assert info["issuer"] == "https://issuer.test"
    assert info["jwks_url"] == "http://127.0.0.1:9/.well-known/openid-configuration/jwks"
    users = {u["id"]: u for u in info["users"]}
    assert list(users) == ["default", "alice", "bob"]
    assert users["default"]["tenant_ids"] == sandbox.tenants
    assert len(users["alice"]["tenant_ids"]) == 2 and users["bob"]["email"] == "bob@example.com"
    assert secrets.compare_digest(users["alice"]["xero_userid"], sandbox.user("alice").user_id)


async def test_people_added_at_run_time_and_a_shared_organisation(
    http: httpx2.AsyncClient, sandbox: Sandbox, browsers: Browsers
) -> None:
    control = "http://sandbox/_sandbox/users"
    added = await http.post(control, json=[{"id": "carol", "organisations": ["Alice Bakery Ltd"]}, {"id": "p2"}])
    assert added.status_code == 200, added.text
    carol, p2 = added.json()
    assert (
        carol["email"] == "carol@example.com"
        and carol["tenant_ids"] == sandbox.users.describe(sandbox.user("alice"))["tenant_ids"][:1]
    )
    assert [t["tenantName"] for t in p2["tenants"]] == ["P2 Ltd"]
    assert sandbox.state(p2["tenant_ids"][0]).contacts, "a new organisation is seeded like alice's"
    assert (await http.post(control, json={"id": "alice"})).status_code == 400
    assert (await http.post(control, json={"email": "x@example.com"})).status_code == 400
    assert [u["id"] for u in (await http.get(control)).json()] == ["default", "alice", "bob", "carol", "p2"]

    alice = await person_logs_in(browsers(), sandbox, "alice", "a")
    carol_tokens = await person_logs_in(browsers(), sandbox, "carol", "c")
    as_carol = {"Authorization": f"Bearer {carol_tokens['access_token']}"}
    assert [c["tenantName"] for c in (await http.get(CONNECTIONS, headers=as_carol)).json()] == ["Alice Bakery Ltd"]
    await http.post(f"{IDENTITY}/connect/revocation", data={"token": alice["refresh_token"]}, auth=web(sandbox))
    still = (await http.get(CONNECTIONS, headers=as_carol)).json()
    assert [c["tenantName"] for c in still] == ["Alice Bakery Ltd"], "alice's revocation leaves carol's connection"
    sandbox.reset()
    assert sandbox.state(p2["tenant_ids"][0]).contacts, "reset reseeds added people's organisations too"


async def test_id_tokens_keep_real_time_when_the_sandbox_clock_moves(
    http: httpx2.AsyncClient, sandbox: Sandbox, browsers: Browsers
) -> None:
    """`/_sandbox/clock` expires Xero tokens early, but the id_token is checked against the client's clock."""
    sandbox.clock.advance(3 * 3600)
    claims = await verified_claims(http, (await person_logs_in(browsers(), sandbox, "bob", "n"))["id_token"])
    now = time.time()
    assert abs(claims["iat"] - now) < 60 and abs(claims["auth_time"] - now) < 60 and claims["exp"] > now


async def test_control_tokens_for_a_person_carry_the_served_issuer(http: httpx2.AsyncClient, sandbox: Sandbox) -> None:
    body = {"scopes": "openid email accounting.contacts", "user": "alice"}
    minted = (await http.post("http://127.0.0.1:8765/_sandbox/tokens", json=body)).json()
    claims = jwt.decode(minted["id_token"], KeySet.import_key_set(sandbox.identity.signer.jwks())).claims
    assert claims["iss"] == "http://127.0.0.1:8765" and claims["email"] == "alice@example.com"
    auth = {"Authorization": f"Bearer {minted['access_token']}"}
    assert [c["tenantName"] for c in (await http.get(CONNECTIONS, headers=auth)).json()] == [
        "Alice Bakery Ltd",
        "Alice Consulting Ltd",
    ]
    unknown = await http.post("http://127.0.0.1:8765/_sandbox/tokens", json={"user": "mallory"})
    assert unknown.status_code == 400 and "mallory" in unknown.text


async def test_key_rollover(http: httpx2.AsyncClient, sandbox: Sandbox) -> None:
    before = sandbox.grant(scopes="openid", user="alice")["id_token"]
    first_kid = sandbox.identity.signer.kid
    rotated = (await http.post("http://sandbox/_sandbox/keys", json={"rotate": True})).json()
    assert rotated["kid"] != first_kid and [k["kid"] for k in rotated["jwks"]["keys"]] == [first_kid, rotated["kid"]]
    after = sandbox.grant(scopes="openid", user="alice")["id_token"]
    assert jwt.decode(after, KeySet.import_key_set(rotated["jwks"])).header["kid"] == rotated["kid"]
    assert (await verified_claims(http, before))["xero_userid"] == sandbox.user("alice").user_id, "old tokens verify"
    withdrawn = (await http.post("http://sandbox/_sandbox/keys", json={"rotate": True, "keep_previous": False})).json()
    assert [k["kid"] for k in withdrawn["jwks"]["keys"]] == [withdrawn["kid"]]
    with pytest.raises(InvalidKeyIdError):
        await verified_claims(http, after)
