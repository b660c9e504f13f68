"""The sandbox's OpenID Connect as a relying party sees it: authlib's OAuth client does the code flow
with PKCE and a nonce, a browser with its own cookie jar logs in at the sandbox as a chosen person, and
authlib's OIDC claim rules (`CodeIDToken`: iss, aud, exp, iat, nonce, at_hash, auth_time) accept the
id_token once its signature checks out against the JWKS the discovery document names."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx2
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidClaimError
from joserfc.jwk import KeySet

from xero_contacts_mcp.sandbox import Sandbox

BASE = "http://127.0.0.1:8765"  # any origin reaches the in-process sandbox; this one is its issuer
REDIRECT = "https://mcp.example.com/xero/callback"
SCOPES = "openid profile email offline_access accounting.contacts accounting.settings"


class RelyingParty:
    """What a server such as ours does with Xero: discovery, authorize URL, code exchange, verification."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        app = sandbox.apps["web"]
        assert app.client_secret is not None
        self.client_id = app.client_id
        self.oauth = AsyncOAuth2Client(
            app.client_id,
            app.client_secret,
            scope=SCOPES,
            redirect_uri=REDIRECT,
            code_challenge_method="S256",
            transport=sandbox.transport(),
        )
        self.nonce = secrets.token_urlsafe(16)
        self.verifier = secrets.token_urlsafe(48)

    async def public(self, url: str) -> httpx2.Response:
        """A GET that needs no token (discovery, JWKS)."""
        return await self.oauth.request("GET", url, withhold_token=True)

    async def discovery(self) -> dict[str, Any]:
        return dict((await self.public(f"{BASE}/.well-known/openid-configuration")).json())

    async def authorize_url(self) -> str:
        endpoint = (await self.discovery())["authorization_endpoint"]
        url, _state = self.oauth.create_authorization_url(endpoint, nonce=self.nonce, code_verifier=self.verifier)
        return str(url)

    async def finish(self, callback_url: str) -> dict[str, Any]:
        endpoint = (await self.discovery())["token_endpoint"]
        token = await self.oauth.fetch_token(endpoint, authorization_response=callback_url, code_verifier=self.verifier)
        return dict(token)

    async def claims(self, token: dict[str, Any], *, nonce: str | None = None) -> CodeIDToken:
        discovery = await self.discovery()
        keys = KeySet.import_key_set((await self.public(discovery["jwks_uri"])).json())
        decoded = jwt.decode(token["id_token"], keys, algorithms=discovery["id_token_signing_alg_values_supported"])
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            options={"iss": {"value": discovery["issuer"]}, "aud": {"value": self.client_id}},
            params={"nonce": nonce or self.nonce, "access_token": token["access_token"], "client_id": self.client_id},
        )
        claims.validate(leeway=60)
        return claims


async def browser_login(sandbox: Sandbox, who: str, authorize_url: str) -> str:
    """A person's browser: log in at the sandbox's Xero as `who` on the way to the authorize URL; the
    URL Xero sends the browser back to."""
    async with httpx2.AsyncClient(transport=sandbox.transport()) as browser:
        logged = await browser.get(f"{BASE}/_sandbox/login-as", params={"user": who, "next": authorize_url})
        assert logged.status_code == 302
        back = await browser.get(logged.headers["location"])
        assert back.status_code == 302, back.text
        return back.headers["location"]


@pytest.fixture
async def rp(sandbox: Sandbox) -> Any:
    party = RelyingParty(sandbox)
    async with party.oauth:
        yield party


async def test_authlib_code_flow_and_oidc_claim_checks(sandbox: Sandbox, rp: RelyingParty) -> None:
    callback = await browser_login(sandbox, "alice", await rp.authorize_url())
    assert callback.startswith(REDIRECT + "?")
    token = await rp.finish(callback)
    claims = await rp.claims(token)
    alice = sandbox.user("alice")
    assert (claims["xero_userid"], claims["email"]) == (alice.user_id, alice.email)
    assert claims["iss"] == BASE and abs(claims["auth_time"] - time.time()) < 60
    assert set(token) >= {"access_token", "refresh_token", "id_token", "expires_at"}
    connections = (await rp.oauth.get(f"{BASE}/connections")).json()  # with the fetched token
    assert [c["tenantName"] for c in connections] == ["Alice Bakery Ltd", "Alice Consulting Ltd"]


async def test_claim_checks_refuse_a_wrong_nonce_or_a_swapped_access_token(sandbox: Sandbox, rp: RelyingParty) -> None:
    token = await rp.finish(await browser_login(sandbox, "bob", await rp.authorize_url()))
    with pytest.raises(InvalidClaimError, match="nonce"):
        await rp.claims(token, nonce="another-login")
    other = sandbox.grant(scopes="openid", user="bob", client_id=rp.client_id)["access_token"]
    with pytest.raises(InvalidClaimError, match="at_hash"):
        await rp.claims(token | {"access_token": other})


async def test_refresh_through_authlib_names_the_same_person(sandbox: Sandbox, rp: RelyingParty) -> None:
    token = await rp.finish(await browser_login(sandbox, "bob@example.com", await rp.authorize_url()))
    refreshed = await rp.oauth.refresh_token(f"{BASE}/connect/token", refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"], "refresh tokens rotate"
    decoded = jwt.decode(refreshed["id_token"], KeySet.import_key_set(sandbox.identity.signer.jwks()))
    assert decoded.claims["xero_userid"] == sandbox.user("bob").user_id and "nonce" not in decoded.claims
