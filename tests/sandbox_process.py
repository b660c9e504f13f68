"""The standalone sandbox (`xero-contacts-mcp sandbox --port 0`) as a real process, with its control API."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2


class SandboxProcess:
    """The standalone sandbox process and its control API."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.control = info["api_url"].split("/api.xro")[0] + "/_sandbox"

    def post(self, path: str, body: Any) -> Any:
        reply = httpx2.post(f"{self.control}/{path}", json=body, timeout=10)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def reset(self, **limits: Any) -> SandboxProcess:
        """Fresh data, no faults, consent to every organisation, and generous limits (tests about tokens or
        replicas must not meet 429s unless they ask for them with `limits`)."""
        self.post("reset", {})
        self.post("faults", {"kind": "clear"})
        self.post("consent", {"tenants": None})
        self.post("limits", {"enforce_limits": False, "minute_limit": 10**6, "concurrent_limit": 10**4,
                             "app_minute_limit": 10**8, "day_limit": 10**8, "minute_window": 60.0,
                             "access_token_lifetime": 1800.0, "refresh_grace": 1800.0, **limits})
        return self

    def stats(self) -> dict[str, Any]:
        return dict(httpx2.get(f"{self.control}/stats", timeout=10).json())

    def app(self, kind: str) -> dict[str, Any]:
        apps = self.info["apps"]
        return dict(apps[kind]) if isinstance(apps, dict) else next(a for a in apps if a["kind"] == kind)

    def xero_env(self, kind: str = "web") -> dict[str, str]:
        """The variables that point a server at this sandbox as `kind`'s app: credentials, every Xero URL,
        and the OpenID Connect keys and issuer (read only in hosted mode)."""
        app, info = self.app(kind), self.info
        values = {"XERO_CLIENT_ID": app["client_id"], "XERO_API_URL": info["api_url"],
                  "XERO_TOKEN_URL": info["token_url"], "XERO_CONNECTIONS_URL": info["connections_url"],
                  "XERO_REVOKE_URL": info["revoke_url"], "XERO_AUTHORIZE_URL": info["authorize_url"],
                  "XERO_JWKS_URL": info["jwks_url"], "XERO_ISSUER": info["issuer"]}
        if app.get("client_secret"):
            values["XERO_CLIENT_SECRET"] = app["client_secret"]
        return values

    def xero_settings(self, kind: str = "web") -> dict[str, str]:
        """`xero_env` as Settings keyword arguments."""
        return {name.lower(): value for name, value in self.xero_env(kind).items()}


@contextmanager
def sandbox_process() -> Iterator[SandboxProcess]:
    process = subprocess.Popen([sys.executable, "-m", "xero_contacts_mcp", "sandbox", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    try:
        yield SandboxProcess(json.loads(process.stdout.readline()))
    finally:
        process.terminate()
        process.wait(timeout=10)


def browser(forged_first: bool = False) -> Any:
    """A scripted browser: follows Xero's redirect to the callback (optionally forging one first)."""
    tasks: list[asyncio.Task[Any]] = []

    async def follow(url: str) -> None:
        async with httpx2.AsyncClient(follow_redirects=True, timeout=10) as http:
            if forged_first:
                redirect = dict(p.split("=", 1) for p in url.split("?", 1)[1].split("&"))["redirect_uri"]
                from urllib.parse import unquote

                forged = await http.get(f"{unquote(redirect)}?code=stolen&state=not-ours")
                assert forged.status_code == 400
            await http.get(url)

    def open_url(url: str) -> None:
        tasks.append(asyncio.get_running_loop().create_task(follow(url)))

    return open_url
