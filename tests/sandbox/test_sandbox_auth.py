"""Bearer tokens, scopes, the tenant header, and the connections endpoints."""

from __future__ import annotations

import re
from typing import Any

import httpx2
import pytest

from xero_contacts_mcp.sandbox import Sandbox
from xero_contacts_mcp.sandbox.seed import REGION_ID, seed_id

CARLTON = seed_id("contact:Carlton Builders Ltd")
CONNECTIONS = "https://api.xero.com/connections"


async def test_missing_and_unknown_tokens_are_401(api: Any) -> None:
    for headers in (
        api.headers(Authorization=None),
        api.headers(Authorization="Bearer nope"),
        api.headers(Authorization="Basic x"),
    ):
        response = await api.get("/Contacts", headers=headers)
        assert response.status_code == 401
        body = response.json()
        assert (body["Type"], body["Title"], body["Status"]) == (None, "Unauthorized", 401)
        assert body["Detail"] == "AuthenticationUnsuccessful"


async def test_expired_token_says_token_expired(api: Any, sandbox: Sandbox) -> None:
    api.token = sandbox.issue_token(lifetime=60)
    assert (await api.get("/Contacts")).status_code == 200
    sandbox.clock.advance(61)
    response = await api.get("/Contacts")
    assert response.status_code == 401
    assert response.json()["Detail"].startswith("TokenExpired: token expired at ")


@pytest.mark.parametrize(
    ("scopes", "path", "method", "allowed"),
    [
        ("accounting.contacts.read", "/Contacts", "GET", True),
        ("accounting.contacts.read", "/Contacts", "PUT", False),
        ("accounting.contacts", "/ContactGroups", "PUT", True),
        ("accounting.settings", "/Contacts", "GET", False),
        ("accounting.settings.read", "/TrackingCategories", "GET", True),
        ("accounting.settings.read", "/TrackingCategories", "PUT", False),
        ("accounting.contacts", "/TrackingCategories", "GET", False),
        ("accounting.contacts", f"/Contacts/{CARLTON}/CISSettings", "GET", False),
        ("accounting.settings.read", f"/Contacts/{CARLTON}/CISSettings", "GET", True),
        ("accounting.contacts accounting.settings", f"/TrackingCategories/{REGION_ID}/Options", "PUT", True),
    ],
)
async def test_scopes(api: Any, sandbox: Sandbox, scopes: str, path: str, method: str, allowed: bool) -> None:
    api.token = sandbox.issue_token(scopes=scopes)
    body = {"ContactGroups": [{"Name": "Scoped"}]} if "ContactGroups" in path else {"Name": "Scoped"}
    if path == "/Contacts":
        body = {"Contacts": [{"Name": "Scoped"}]}
    response = await api.request(method, path, json_body=None if method == "GET" else body)
    if allowed:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 401
        assert response.json()["Detail"] == "AuthorizationUnsuccessful"
        assert "X-MinLimit-Remaining" in response.headers, "the tenant was resolved, so limits are reported"


async def test_tenant_header_problems_are_403(api: Any, sandbox: Sandbox) -> None:
    other = sandbox.tenants[1]
    narrow = sandbox.issue_token(tenants=[other])
    cases = [
        api.headers(xero_tenant_id=None),
        api.headers(xero_tenant_id="not-a-uuid"),
        api.headers(xero_tenant_id="0b1e2d3c-0000-4000-8000-000000000007"),
        api.headers(Authorization=f"Bearer {narrow}"),
    ]
    for headers in cases:
        response = await api.get("/Contacts", headers=headers)
        assert response.status_code == 403
        body = response.json()
        assert (body["Title"], body["Status"], body["Detail"]) == ("Forbidden", 403, "AuthenticationUnsuccessful")
        assert body["Instance"]
    ok = await api.get("/Contacts", headers=api.headers(Authorization=f"Bearer {narrow}", xero_tenant_id=other))
    assert ok.status_code == 200 and ok.json()["Contacts"] == []


async def test_tenants_have_separate_data(api: Any, sandbox: Sandbox) -> None:
    other = sandbox.tenants[1]
    await api.put("/Contacts", {"Contacts": [{"Name": "ABC Furniture"}]}, headers=api.headers(xero_tenant_id=other))
    assert [c.name for c in sandbox.state(other).contacts.values()] == ["ABC Furniture"]
    assert len(sandbox.state().contacts) == 6


async def test_upper_case_tenant_id_is_accepted(api: Any, sandbox: Sandbox) -> None:
    response = await api.get("/Contacts", headers=api.headers(xero_tenant_id=sandbox.tenant_id.upper()))
    assert response.status_code == 200


async def test_connections_list_and_delete(http: httpx2.AsyncClient, sandbox: Sandbox, api: Any) -> None:
    token = sandbox.issue_token()
    auth = {"Authorization": f"Bearer {token}"}
    listed = (await http.get(CONNECTIONS, headers=auth)).json()
    assert [c["tenantId"] for c in listed] == sandbox.tenants
    first = listed[0]
    assert set(first) == {
        "id",
        "authEventId",
        "tenantId",
        "tenantType",
        "tenantName",
        "createdDateUtc",
        "updatedDateUtc",
    }
    assert first["tenantName"] == "Demo Company (Global)" and first["tenantType"] == "ORGANISATION"
    # Xero writes these without an offset and with 7 fractional digits (the identity spec's example),
    # although the schema says date-time: clients must parse them as UTC.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}", first["createdDateUtc"])
    filtered = (await http.get(CONNECTIONS, headers=auth, params={"authEventId": first["authEventId"]})).json()
    assert len(filtered) == 2
    removed = await http.delete(f"{CONNECTIONS}/{first['id']}", headers=auth)
    assert removed.status_code == 204
    api.token = token
    assert (await api.get("/Contacts")).status_code == 403, "a disconnected tenant is refused"
    assert [c["tenantId"] for c in (await http.get(CONNECTIONS, headers=auth)).json()] == sandbox.tenants[1:]
    assert (await http.delete(f"{CONNECTIONS}/{first['id']}", headers=auth)).status_code == 404
    assert (await http.get(CONNECTIONS)).status_code == 401
