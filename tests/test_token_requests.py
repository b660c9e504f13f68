"""Exact token-endpoint requests (respx): what a refresh sends, and what it must never send."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import respx

from conftest import API, TENANT
from xero_contacts_mcp.runtime import open_runtime
from xero_contacts_mcp.state.tokens import FileTokenStore, Login

TOKEN_URL = "https://identity.xero.com/connect/token"


@pytest.mark.parametrize(("secret", "kind"), [("web-secret", "web"), (None, "pkce")])
async def test_refresh_request_is_exactly_oauth(settings_factory: Any, httpx2_mock: respx.Router, tmp_path: Path,
                                                secret: str | None, kind: str) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    await store.save(Login(token={"access_token": "old", "refresh_token": "rt-1", "expires_at": time.time() - 5},
                           client_id="app-id", tenant_id=TENANT))
    token = httpx2_mock.post(TOKEN_URL).respond(200, json={"access_token": "new", "refresh_token": "rt-2",
                                                           "expires_in": 1800, "token_type": "Bearer"})
    api = httpx2_mock.put(f"{API}/ContactGroups").respond(200, json={"ContactGroups": []})
    settings = settings_factory(xero_access_token=None, xero_tenant_id=None, xero_client_id="app-id",
                                xero_client_secret=secret, xero_token_file=store.path)
    async with open_runtime(settings) as rt:
        result = await rt.runner.run("xero_contacts_create_contact_group", {"ContactGroups": [{"Name": "G"}]})
    assert not result.is_error, result.text

    sent = token.calls.last.request
    form = {k: v[0] for k, v in parse_qs(sent.content.decode()).items()}
    assert form["grant_type"] == "refresh_token" and form["refresh_token"] == "rt-1"
    for header in ("xero-tenant-id", "Idempotency-Key"):
        assert header not in sent.headers  # API-only headers never reach the identity service
    if kind == "web":
        assert sent.headers["Authorization"] == "Basic " + base64.b64encode(b"app-id:web-secret").decode()
        assert "client_secret" not in form
    else:
        assert "Authorization" not in sent.headers and form["client_id"] == "app-id"

    call = api.calls.last.request
    assert call.headers["Authorization"] == "Bearer new" and call.headers["xero-tenant-id"] == TENANT
    saved = json.loads(store.path.read_text())
    assert saved["token"]["refresh_token"] == "rt-2" and saved["token"]["expires_at"] > time.time() + 1700
