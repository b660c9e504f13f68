"""The consent page in a real browser: headless Chromium (Debian's package) renders it as plain,
accessible HTML, a person's click on Allow goes through Xero's login back to the client with a code,
and another site cannot frame it."""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

import chromium
from hosted_helpers import FakeXero, HostedServer, ManualClient, hosted_server, serve

pytestmark = pytest.mark.skipif(not chromium.available(), reason=(
    "headless Chromium is not installed (/usr/bin/chromium): apt-get install -y chromium"))


class ClientSite:
    """The MCP client's redirect URI, and a page on another origin that tries to frame ours."""

    def __init__(self) -> None:
        self.base = ""
        self.landed: list[dict[str, str]] = []

    def app(self) -> Starlette:
        async def callback(request: Request) -> HTMLResponse:
            self.landed.append(dict(request.query_params))
            return HTMLResponse("<!doctype html><title>back at the client</title><p>done</p>")

        async def framer(request: Request) -> HTMLResponse:
            src = html.escape(request.query_params["src"])
            return HTMLResponse(f'<!doctype html><title>framer</title><iframe id="f" src="{src}"></iframe>')

        return Starlette(routes=[Route("/cb", callback), Route("/framer", framer)])


@pytest.fixture
async def setting(tmp_path: Path) -> AsyncIterator[tuple[ClientSite, HostedServer, ManualClient]]:
    site = ClientSite()
    async with serve(lambda base: site.app()) as base, FakeXero.serve() as xero, \
            hosted_server(xero, tmp_path) as server:
        site.base = base
        client = await ManualClient.register(server.base, redirect_uri=f"{base}/cb", name="Ledger Helper")
        yield site, server, client


async def test_consent_page_is_plain_accessible_html_and_allow_reaches_the_client(setting: Any) -> None:
    site, _server, client = setting

    def person() -> dict[str, Any]:
        with chromium.Chromium() as browser:
            page = browser.new_page()
            page.goto(client.authorize_url(state="st-1"))
            seen = page.evaluate("""({
                path: location.pathname, lang: document.documentElement.lang, title: document.title,
                heading: document.querySelector('h1').textContent, scripts: document.scripts.length,
                buttons: [...document.querySelectorAll('form button')].map(b => [b.type, b.textContent]),
                method: document.querySelector('form').method,
                styled: getComputedStyle(document.querySelector('#allow')).backgroundColor,
                redirectHost: document.querySelector('#redirect-host').textContent,
                focusable: document.querySelector('#allow').tabIndex >= 0,
            })""")
            page.click_and_wait("#allow")
            seen["after"] = page.evaluate("location.href")
            return dict(seen)

    seen = await asyncio.to_thread(person)
    assert seen["path"] == "/consent" and seen["lang"] == "en" and seen["scripts"] == 0
    assert seen["title"] == "Allow Ledger Helper?" and "Ledger Helper" in seen["heading"]
    assert seen["buttons"] == [["submit", "Allow"], ["submit", "Deny"]] and seen["method"] == "post"
    assert seen["styled"] == "rgb(11, 92, 171)"  # our nonce'd style applied under the page's CSP
    assert seen["redirectHost"] == site.base.removeprefix("http://") and seen["focusable"]
    assert seen["after"].startswith(f"{site.base}/cb?")
    assert len(site.landed) == 1 and site.landed[0]["state"] == "st-1" and "code" in site.landed[0]
    assert (await client.exchange(site.landed[0]["code"])).status_code == 200


async def test_another_site_cannot_frame_the_consent_page(setting: Any) -> None:
    site, _server, client = setting

    def attacker() -> dict[str, Any]:
        with chromium.Chromium() as browser:
            page = browser.new_page()
            page.goto(f"{site.base}/framer?src={quote(client.authorize_url(), safe='')}")
            return dict(page.call("Page.getFrameTree")["frameTree"])

    framed = (await asyncio.to_thread(attacker))["childFrames"][0]["frame"]
    assert "/consent?request=" in framed.get("unreachableUrl", "")  # it got as far as our page …
    assert framed["url"] == "chrome-error://chromewebdata/"  # … which Chromium then refused to show
