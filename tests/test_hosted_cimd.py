"""Client ID Metadata Documents: a client_id that is a URL is fetched by us, so every way of pointing
that fetch somewhere it should not go is refused; a good document works end to end."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from hosted_helpers import CLIENT_REDIRECT, Browser, FakeXero, ManualClient, hosted_server, mcp_status, serve
from xero_contacts_mcp.server.hosted.cimd import MetadataDocumentError, MetadataFetcher


class Documents:
    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.base = ""

    def app(self) -> Starlette:
        async def document(request: Request) -> Response:
            name = request.path_params["name"]
            self.hits[name] = self.hits[name] + 1
            url = f"{self.base}/{name}"
            good = {"client_id": url, "client_name": "Docs Client", "redirect_uris": [CLIENT_REDIRECT],
                    "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none"}
            if name == "big.json":
                return JSONResponse({**good, "padding": "x" * 20_000})
            if name == "redirect.json":
                return RedirectResponse(f"{self.base}/client.json")
            if name == "slow.json":
                await asyncio.sleep(2)
            if name == "wrong.json":
                return JSONResponse({**good, "client_id": f"{self.base}/client.json"})
            if name == "evil-redirect.json":
                return JSONResponse({**good, "redirect_uris": ["http://evil.example/cb"]})
            if name == "secret.json":
                return JSONResponse({**good, "token_endpoint_auth_method": "private_key_jwt"})
            return JSONResponse(good)

        return Starlette(routes=[Route("/{name}", document)])


@pytest.fixture
async def documents() -> AsyncIterator[Documents]:
    docs = Documents()
    async with serve(lambda base: docs.app()) as base:
        docs.base = base
        yield docs


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/client.json",
    "https://169.254.169.254/latest/meta-data/client.json",
    "https://[::1]/client.json",
    "https://10.0.0.8/client.json",
    "https://192.168.1.1/client.json",
    "https://[::ffff:127.0.0.1]/client.json",
    "https://localhost/client.json",
    "https://0.0.0.0/client.json",
])
async def test_private_loopback_and_link_local_addresses_are_refused(url: str) -> None:
    with pytest.raises(MetadataDocumentError, match="private, loopback or link-local"):
        await MetadataFetcher(timeout=2).fetch(url)


async def test_the_loopback_document_server_is_never_reached_without_the_test_setting(documents: Documents) -> None:
    with pytest.raises(MetadataDocumentError):
        await MetadataFetcher(timeout=2).fetch(f"{documents.base}/client.json")
    assert documents.hits["client.json"] == 0


@pytest.mark.parametrize(("name", "reason"), [
    ("big.json", "larger than"),
    ("redirect.json", "redirects are not followed"),
    ("slow.json", "within"),
    ("wrong.json", "its own URL"),
])
async def test_size_time_redirect_and_identity_limits(documents: Documents, name: str, reason: str) -> None:
    fetcher = MetadataFetcher(timeout=1, max_bytes=4096, allow_loopback=True)
    with pytest.raises(MetadataDocumentError, match=reason):
        await fetcher.fetch(f"{documents.base}/{name}")


async def test_plain_http_to_a_public_address_is_refused_before_connecting() -> None:
    with pytest.raises(MetadataDocumentError, match="https"):
        await MetadataFetcher(timeout=1, allow_loopback=True).fetch("http://93.184.215.14/client.json")


async def test_documents_and_refusals_are_cached(documents: Documents) -> None:
    fetcher = MetadataFetcher(allow_loopback=True)
    for _ in range(3):
        assert (await fetcher.fetch(f"{documents.base}/client.json"))["client_name"] == "Docs Client"
        with pytest.raises(MetadataDocumentError):
            await fetcher.fetch(f"{documents.base}/wrong.json")
    assert documents.hits["client.json"] == 1 and documents.hits["wrong.json"] == 1


async def test_a_metadata_document_client_connects_end_to_end(documents: Documents, tmp_path: Path) -> None:
    async with FakeXero.serve() as xero, hosted_server(xero, tmp_path) as server:
        browser = Browser(xero_user="carol")
        await browser.login_at_fake_xero(xero)
        client = ManualClient(server.base, f"{documents.base}/client.json", None)
        landed = await browser.go(client.authorize_url())
        assert "Docs Client" in browser.consent_pages[0].text
        reply = await client.exchange(landed["code"])
        assert reply.status_code == 200, reply.text
        assert await mcp_status(server.base, reply.json()["access_token"]) == 200
        for bad in ("evil-redirect.json", "secret.json"):
            url = ManualClient(server.base, f"{documents.base}/{bad}", None).authorize_url()
            page = await browser.http.get(url)
            assert page.status_code == 400 and "location" not in page.headers
        await browser.aclose()


async def test_the_server_refuses_a_metadata_url_at_a_private_address(tmp_path: Path) -> None:
    guarded = MetadataFetcher(timeout=2)
    async with FakeXero.serve() as xero, hosted_server(xero, tmp_path, fetcher=guarded) as server, \
            httpx2.AsyncClient(timeout=10) as http:
        for client_id in ("https://127.0.0.1/client.json", "https://169.254.169.254/latest/client.json"):
            page = await http.get(ManualClient(server.base, client_id, None).authorize_url())
            assert page.status_code == 400 and "location" not in page.headers
            assert page.headers["content-type"].startswith("text/html")


