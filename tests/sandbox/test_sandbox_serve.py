"""The standalone server in a subprocess: the JSON line, real HTTP on loopback, a real socket drop,
and a clean exit on SIGTERM/SIGINT."""

from __future__ import annotations

import json
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from xero_contacts_mcp.sandbox.serve import is_loopback, run

LAUNCH = "import sys; from xero_contacts_mcp.sandbox.serve import run; sys.exit(run('127.0.0.1', 0))"


def read_line(process: subprocess.Popen[str], timeout: float = 15.0) -> str:
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if selector.select(timeout=0.1):
            return process.stdout.readline()
        if process.poll() is not None:
            break
    raise AssertionError(f"no JSON line from the sandbox (exit {process.poll()})")


def start() -> tuple[subprocess.Popen[str], dict[str, Any]]:
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCH], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return process, json.loads(read_line(process))


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    process, info = start()
    yield process, info
    if process.poll() is None:
        process.kill()
        process.wait(10)


def test_announcement_line(server: tuple[subprocess.Popen[str], dict[str, Any]]) -> None:
    _, info = server
    base = info["api_url"].removesuffix("/api.xro/2.0")
    assert base.startswith("http://127.0.0.1:") and not base.endswith(":0")
    assert info["token_url"] == f"{base}/connect/token"
    assert info["connections_url"] == f"{base}/connections"
    assert info["authorize_url"] == f"{base}/identity/connect/authorize"
    assert info["revoke_url"] == f"{base}/connect/revocation"
    assert info["tenant_id"] and info["access_token"]
    assert {"web", "pkce", "custom"} <= set(info["apps"])
    assert "client_secret" in info["apps"]["web"] and "client_secret" not in info["apps"]["pkce"]


async def test_real_http_limits_and_socket_drop(server: tuple[subprocess.Popen[str], dict[str, Any]]) -> None:
    _, info = server
    base = info["api_url"].removesuffix("/api.xro/2.0")
    headers = {"Authorization": f"Bearer {info['access_token']}", "xero-tenant-id": info["tenant_id"]}
    async with httpx2.AsyncClient(timeout=10) as http:
        listed = await http.get(f"{info['api_url']}/Contacts", headers=headers)
        assert listed.status_code == 200 and len(listed.json()["Contacts"]) == 5
        assert listed.headers["X-MinLimit-Remaining"] == "59", "limits are on by default when served"
        token = await http.post(
            info["token_url"],
            data={"grant_type": "client_credentials"},
            auth=(info["apps"]["custom"]["client_id"], info["apps"]["custom"]["client_secret"]),
        )
        assert token.status_code == 200
        await http.post(f"{base}/_sandbox/faults", json={"kind": "drop", "count": 1})
        with pytest.raises(httpx2.TransportError):
            await http.put(
                f"{info['api_url']}/ContactGroups", json={"ContactGroups": [{"Name": "Dropped"}]}, headers=headers
            )
        state = (await http.get(f"{base}/_sandbox/state")).json()
        assert "Dropped" in [g["Name"] for g in state["ContactGroups"]], "the write landed before the drop"
        after = await http.get(f"{info['api_url']}/ContactGroups", headers=headers)
        assert after.status_code == 200, "the server keeps serving after a drop"
        stats = (await http.get(f"{base}/_sandbox/stats")).json()
        assert stats["faults"] == {"drop": 1} and stats["token_grants"] == {"client_credentials": 1}


async def test_people_log_in_over_real_http(server: tuple[subprocess.Popen[str], dict[str, Any]]) -> None:
    """A browser with its own cookie jar logs in as bob at the served sandbox; the id_token's issuer is
    the announced one and verifies against the announced JWKS."""
    from urllib.parse import parse_qs, urlsplit

    from joserfc import jwt
    from joserfc.jwk import KeySet

    _, info = server
    users = {u["id"]: u for u in info["users"]}
    assert list(users) == ["default", "alice", "bob"] and users["default"]["tenant_ids"][0] == info["tenant_id"]
    assert info["issuer"] == info["api_url"].removesuffix("/api.xro/2.0")
    client_id, secret = info["apps"]["web"]["client_id"], info["apps"]["web"]["client_secret"]
    redirect = "http://127.0.0.1:1/callback"
    async with httpx2.AsyncClient(timeout=10) as browser:
        after_login = f"{info['authorize_url']}?" + str(
            httpx2.QueryParams(
                response_type="code", client_id=client_id, redirect_uri=redirect, scope="openid email", nonce="n1"
            )
        )
        logged = await browser.get(info["login_as_url"], params={"user": "bob", "next": after_login})
        assert logged.status_code == 302 and logged.headers["location"] == after_login
        back = await browser.get(logged.headers["location"])
        code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
        tokens = await browser.post(
            info["token_url"],
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect},
            auth=(client_id, secret),
        )
        keys = KeySet.import_key_set((await browser.get(info["jwks_url"])).json())
        discovery = (await browser.get(info["discovery_url"])).json()
    claims = jwt.decode(tokens.json()["id_token"], keys).claims
    assert claims["iss"] == info["issuer"] == discovery["issuer"] and discovery["jwks_uri"] == info["jwks_url"]
    assert claims["xero_userid"] == users["bob"]["xero_userid"] and claims["nonce"] == "n1"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_exit_cleanly_with_one_stdout_line(sig: signal.Signals) -> None:
    process, info = start()
    assert info["api_url"]
    process.send_signal(sig)
    out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert out == "", "nothing but the one JSON line goes to stdout"
    assert "Traceback" not in err


def test_serve_stderr_has_no_drop_tracebacks(server: tuple[subprocess.Popen[str], dict[str, Any]]) -> None:
    process, _ = server
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=15)
    assert process.returncode == 0
    assert "DropConnection" not in err and "Exception in ASGI application" not in err


def test_refuses_non_loopback_hosts() -> None:
    assert run("0.0.0.0", 0) == 2  # noqa: S104 - the point is that it is refused
    assert run("192.0.2.10", 0) == 2
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("example.com")


def test_listening_socket_is_tcp_so_replies_are_not_delayed() -> None:
    import socket

    from xero_contacts_mcp.sandbox.serve import listening_socket

    with listening_socket("127.0.0.1") as sock:
        assert sock.proto == socket.IPPROTO_TCP  # what asyncio needs to set TCP_NODELAY on connections
