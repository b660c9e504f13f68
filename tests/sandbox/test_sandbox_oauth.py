"""The identity endpoints: authorize + PKCE, token grants, refresh rotation and grace, revocation."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from xero_contacts_mcp.sandbox import Sandbox, SandboxConfig

AUTHORIZE = "https://login.xero.com/identity/connect/authorize"
TOKEN = "https://identity.xero.com/connect/token"
REVOKE = "https://identity.xero.com/connect/revocation"
REDIRECT = "http://localhost:8719/callback"
SCOPES = "offline_access accounting.contacts accounting.settings"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def authorize(http: httpx2.AsyncClient, client_id: str, **extra: str) -> dict[str, list[str]]:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": SCOPES,
        "state": "st-123",
    } | extra
    response = await http.get(AUTHORIZE, params=params)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return parse_qs(location.query)


async def token(http: httpx2.AsyncClient, data: dict[str, str], auth: tuple[str, str] | None = None) -> httpx2.Response:
    return await http.post(TOKEN, data=data, auth=auth)


def web(sandbox: Sandbox) -> tuple[str, str]:
    app = sandbox.apps["web"]
    assert app.client_secret is not None
    return app.client_id, app.client_secret


async def web_tokens(http: httpx2.AsyncClient, sandbox: Sandbox) -> dict[str, Any]:
    client_id, secret = web(sandbox)
    verifier, challenge = pkce()
    query = await authorize(http, client_id, code_challenge=challenge, code_challenge_method="S256")
    response = await token(
        http,
        {
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(client_id, secret),
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_web_app_code_flow_gives_tokens_that_work(http: httpx2.AsyncClient, sandbox: Sandbox, api: Any) -> None:
    client_id, secret = web(sandbox)
    query = await authorize(http, client_id)
    assert query["state"] == ["st-123"]
    response = await token(
        http,
        {"grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": REDIRECT},
        (client_id, secret),
    )
    body = response.json()
    assert response.headers["cache-control"] == "no-store"
    assert body["token_type"] == "Bearer" and body["expires_in"] == 1800
    assert set(body["scope"].split()) == set(SCOPES.split())
    assert body["refresh_token"]
    assert body["access_token"].count(".") == 2, "access tokens are JWT-shaped like Xero's"
    api.token = body["access_token"]
    assert (await api.get("/Contacts")).status_code == 200
    reuse = await token(
        http,
        {"grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": REDIRECT},
        (client_id, secret),
    )
    assert reuse.status_code == 400 and reuse.json() == {"error": "invalid_grant"}
    assert sandbox.stats.token_grants["authorization_code"] == 1
    assert sandbox.stats.invalid_grants == 1


async def test_pkce_app_sends_client_id_and_verifier(http: httpx2.AsyncClient, sandbox: Sandbox) -> None:
    client_id = sandbox.apps["pkce"].client_id
    verifier, challenge = pkce()
    query = await authorize(http, client_id, code_challenge=challenge, code_challenge_method="S256")
    form = {
        "grant_type": "authorization_code",
        "code": query["code"][0],
        "redirect_uri": REDIRECT,
        "client_id": client_id,
    }
    wrong = await token(http, form | {"code_verifier": pkce()[0]})
    assert wrong.status_code == 400 and wrong.json() == {"error": "invalid_grant"}
    query = await authorize(http, client_id, code_challenge=challenge, code_challenge_method="S256")
    form["code"] = query["code"][0]
    good = await token(http, form | {"code_verifier": verifier})
    assert good.status_code == 200 and good.json()["refresh_token"]
    refreshed = await token(
        http, {"grant_type": "refresh_token", "refresh_token": good.json()["refresh_token"], "client_id": client_id}
    )
    assert refreshed.status_code == 200


async def test_pkce_app_must_use_s256(http: httpx2.AsyncClient, sandbox: Sandbox) -> None:
    client_id = sandbox.apps["pkce"].client_id
    assert (await authorize(http, client_id))["error"] == ["invalid_request"]
    plain = await authorize(http, client_id, code_challenge="abc", code_challenge_method="plain")
    assert plain["error"] == ["invalid_request"]


async def test_authorize_errors(http: httpx2.AsyncClient, sandbox: Sandbox) -> None:
    client_id = web(sandbox)[0]
    assert (await authorize(http, client_id, scope="accounting.everything"))["error"] == ["invalid_scope"]
    assert (await authorize(http, client_id, response_type="token"))["error"] == ["unsupported_response_type"]
    custom = sandbox.apps["custom"].client_id
    assert (await authorize(http, custom))["error"] == ["unauthorized_client"]
    unknown = await http.get(AUTHORIZE, params={"client_id": "nope", "redirect_uri": REDIRECT, "response_type": "code"})
    assert unknown.status_code == 400 and "location" not in unknown.headers
    sandbox.faults.deny_authorize = True
    denied = await authorize(http, client_id)
    assert denied == {"error": ["access_denied"], "state": ["st-123"]}


async def test_registered_redirect_uris_are_enforced() -> None:
    from xero_contacts_mcp.sandbox import ClientApp

    config = SandboxConfig(apps=(ClientApp("STRICT", "web", "Strict", client_secret="s", redirect_uris=(REDIRECT,)),))
    sandbox = Sandbox(config)
    async with httpx2.AsyncClient(transport=sandbox.transport()) as http:
        bad = await http.get(
            AUTHORIZE,
            params={"client_id": "STRICT", "redirect_uri": "https://evil.example/cb", "response_type": "code"},
        )
        assert bad.status_code == 400 and "location" not in bad.headers
        assert "code" in await authorize(http, "STRICT")


async def test_client_authentication(http: httpx2.AsyncClient, sandbox: Sandbox) -> None:
    client_id, secret = web(sandbox)
    tokens = await web_tokens(http, sandbox)
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    for auth, data in (((client_id, "wrong"), form), (None, form | {"client_id": client_id}), (None, form)):
        response = await token(http, data, auth)
        assert response.status_code == 401 and response.json() == {"error": "invalid_client"}
    other = sandbox.apps["custom"]
    assert other.client_secret is not None
    stolen = await token(http, form, (other.client_id, other.client_secret))
    assert stolen.status_code == 400 and stolen.json() == {"error": "invalid_grant"}, (
        "a refresh token is bound to its app"
    )
    json_body = await http.post(TOKEN, json=form, auth=(client_id, secret))
    assert json_body.status_code == 400 and json_body.json() == {"error": "invalid_request"}
    unsupported = await token(http, {"grant_type": "password"}, (client_id, secret))
    assert unsupported.json() == {"error": "unsupported_grant_type"}


async def test_refresh_rotation_and_grace(http: httpx2.AsyncClient, sandbox: Sandbox) -> None:
    client_id, secret = web(sandbox)
    first = await web_tokens(http, sandbox)

    async def refresh(refresh_token: str) -> httpx2.Response:
        return await token(http, {"grant_type": "refresh_token", "refresh_token": refresh_token}, (client_id, secret))

    second = await refresh(first["refresh_token"])
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"], "every refresh rotates the refresh token"
    assert second.json()["access_token"] != first["access_token"]
    sandbox.clock.advance(1799)
    within_grace = await refresh(first["refresh_token"])
    assert within_grace.status_code == 200, "the previous refresh token stays usable for 30 minutes"
    sandbox.clock.advance(2)
    expired = await refresh(first["refresh_token"])
    assert expired.status_code == 400 and expired.json() == {"error": "invalid_grant"}
    assert (await refresh(second.json()["refresh_token"])).status_code == 200
    assert (await refresh(within_grace.json()["refresh_token"])).status_code == 200
    assert sandbox.stats.refreshes == 4
    assert sandbox.stats.invalid_grants == 1


@pytest.mark.parametrize("config", [SandboxConfig(refresh_grace=5)])
async def test_grace_period_is_configurable(http: httpx2.AsyncClient, sandbox: Sandbox) -> None:
    client_id, secret = web(sandbox)
    first = await web_tokens(http, sandbox)
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    assert (await token(http, form, (client_id, secret))).status_code == 200
    sandbox.clock.advance(6)
    assert (await token(http, form, (client_id, secret))).json() == {"error": "invalid_grant"}


async def test_unused_refresh_token_expires_after_60_days(http: httpx2.AsyncClient, sandbox: Sandbox) -> None:
    client_id, secret = web(sandbox)
    first = await web_tokens(http, sandbox)
    sandbox.clock.advance(60 * 86_400 + 1)
    response = await token(
        http, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, (client_id, secret)
    )
    assert response.json() == {"error": "invalid_grant"}


async def test_no_refresh_token_without_offline_access(http: httpx2.AsyncClient, sandbox: Sandbox) -> None:
    client_id, secret = web(sandbox)
    query = await authorize(http, client_id, scope="accounting.contacts")
    response = await token(
        http,
        {"grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": REDIRECT},
        (client_id, secret),
    )
    assert "refresh_token" not in response.json()


async def test_client_credentials_only_for_custom_connections(
    http: httpx2.AsyncClient, sandbox: Sandbox, api: Any
) -> None:
    custom = sandbox.apps["custom"]
    assert custom.client_secret is not None
    response = await token(http, {"grant_type": "client_credentials"}, (custom.client_id, custom.client_secret))
    assert response.status_code == 200
    body = response.json()
    assert "refresh_token" not in body
    assert set(body["scope"].split()) == {"accounting.contacts", "accounting.settings"}
    api.token = body["access_token"]
    no_header = await api.get("/Contacts", headers=api.headers(xero_tenant_id=None))
    assert no_header.status_code == 200, "Custom Connections may omit xero-tenant-id"
    other = await api.get("/Contacts", headers=api.headers(xero_tenant_id=sandbox.tenants[1]))
    assert other.status_code == 403, "a Custom Connection reaches its one organisation only"
    narrowed = await token(
        http,
        {"grant_type": "client_credentials", "scope": "accounting.contacts.read"},
        (custom.client_id, custom.client_secret),
    )
    assert narrowed.json() == {"error": "invalid_scope"}
    client_id, secret = web(sandbox)
    refused = await token(http, {"grant_type": "client_credentials"}, (client_id, secret))
    assert refused.status_code == 400 and refused.json() == {"error": "unauthorized_client"}
    assert sandbox.stats.token_grants["client_credentials"] == 1


async def test_revocation_kills_refresh_and_connections(http: httpx2.AsyncClient, sandbox: Sandbox, api: Any) -> None:
    client_id, secret = web(sandbox)
    tokens = await web_tokens(http, sandbox)
    revoked = await http.post(REVOKE, data={"token": tokens["refresh_token"]}, auth=(client_id, secret))
    assert revoked.status_code == 200
    again = await token(
        http, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, (client_id, secret)
    )
    assert again.json() == {"error": "invalid_grant"}
    api.token = tokens["access_token"]
    assert (await api.get("/Contacts")).status_code == 403, "revocation removes the app's connections"
    api.token = sandbox.access_token
    assert (await api.get("/Contacts")).status_code == 200, "the console token belongs to another app"
    assert (await http.post(REVOKE, data={"token": "x"}, auth=(client_id, "bad"))).status_code == 401


async def test_consent_can_be_limited_to_some_tenants(http: httpx2.AsyncClient, sandbox: Sandbox) -> None:
    sandbox.identity.consent_tenants = [sandbox.tenants[1]]
    tokens = await web_tokens(http, sandbox)
    listed = (
        await http.get(
            "https://api.xero.com/connections", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
    ).json()
    assert [c["tenantId"] for c in listed] == [sandbox.tenants[1]]


async def test_grant_helper_gives_a_refreshable_web_app_token(http: httpx2.AsyncClient, sandbox: Sandbox) -> None:
    client_id, secret = web(sandbox)
    issued = sandbox.grant(client_id=client_id, tenants=[sandbox.tenant_id])
    response = await token(
        http, {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]}, (client_id, secret)
    )
    assert response.status_code == 200
    with pytest.raises(KeyError):
        sandbox.grant(client_id="nope")
