"""Streamable HTTP: closed by default, and a real MCP client works through it with the token."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from http_server import http_server
from xero_contacts_mcp.cli import main

TOKEN = "http-token-for-tests-7c1d"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def server() -> Any:
    with http_server(XERO_MCP_HTTP_TOKEN=TOKEN) as base:
        yield base


def _post(base: str, **headers: str) -> httpx2.Response:
    return httpx2.post(f"{base}/mcp", json=INIT, headers={**HEADERS, **headers}, timeout=10)


async def test_real_client_lists_and_calls_tools_with_the_token(server: str) -> None:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"},
                                  timeout=httpx2.Timeout(30, read=60)) as http, \
            Client(streamable_http_client(f"{server}/mcp", http_client=http)) as client:
        listing = await client.list_tools()
        result = await client.call_tool("xero_contacts_get_contacts", {})
    assert len(listing.tools) == 22
    assert result.is_error and "XERO_ACCESS_TOKEN" in result.content[0].text  # type: ignore[union-attr]


def test_health_needs_no_token(server: str) -> None:
    reply = httpx2.get(f"{server}/healthz", timeout=5)
    assert reply.status_code == 200 and reply.json() == {"status": "ok"}


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401),
    ({"Authorization": "Bearer wrong"}, 401),
    ({"Authorization": f"Bearer {TOKEN}x"}, 401),
    ({"Authorization": f"Bearer {TOKEN}", "Origin": "http://evil.example"}, 403),
    ({"Authorization": f"Bearer {TOKEN}", "Host": "evil.example"}, 421),
    ({"Authorization": f"Bearer {TOKEN}", "Origin": "http://localhost:6274"}, 200),
    ({"Authorization": f"Bearer {TOKEN}"}, 200),
])
def test_requests_are_checked(server: str, headers: dict[str, str], status: int) -> None:
    reply = _post(server, **headers)
    assert reply.status_code == status
    if status == 401:
        assert reply.headers["www-authenticate"].startswith("Bearer")


def test_stateless_mode_answers_get_with_405_and_serves_posts() -> None:
    with http_server("--stateless") as base:
        assert httpx2.get(f"{base}/mcp", headers={"Accept": "text/event-stream"}, timeout=5).status_code == 405
        assert _post(base).status_code == 200


def test_extra_origins_and_hosts_from_the_environment() -> None:
    with http_server(XERO_MCP_ALLOWED_ORIGINS="https://app.example.com",
                     XERO_MCP_ALLOWED_HOSTS="mcp.example.com") as base:
        assert _post(base, Origin="https://app.example.com").status_code == 200
        assert _post(base, Host="mcp.example.com").status_code == 200
        assert _post(base, Host="mcp.example.com:8443").status_code == 200
        assert _post(base, Origin="https://other.example.com").status_code == 403


@pytest.mark.parametrize(("argv", "env", "message"), [
    (["--host", "0.0.0.0"], {}, "without a token"),  # noqa: S104 - the unsafe bind under test
    (["--host", "10.1.2.3"], {}, "without a token"),
    ([], {"XERO_MCP_ALLOWED_ORIGINS": "*"}, "may not contain '*'"),
    ([], {"XERO_MCP_ALLOWED_ORIGINS": "evil.example"}, "scheme://host[:port]"),
])
def test_unsafe_configurations_are_refused(argv: list[str], env: dict[str, str], message: str,
                                           monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["serve", "--transport", "http", *argv]) == 2
    assert message in capsys.readouterr().err


async def test_50_concurrent_sessions_of_100_calls_have_no_failures() -> None:
    import anyio

    sessions, calls = 50, 100
    env = {"XERO_MCP_HTTP_TOKEN": TOKEN, "XERO_MCP_SANDBOX": "true", "XERO_MCP_TENANT_PER_MINUTE": "1000000",
           "XERO_MCP_TENANT_CONCURRENCY": "1000", "XERO_MCP_APP_PER_MINUTE": "100000000"}
    failures: list[str] = []
    done = 0
    with http_server(**env) as base:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"},
                                      timeout=httpx2.Timeout(60, read=300),
                                      limits=httpx2.Limits(max_connections=sessions)) as http:

            async def session() -> None:
                nonlocal done
                async with Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client:
                    for i in range(calls):
                        tool, args = (("xero_contacts_get_contacts", {"summaryOnly": True}) if i % 2
                                      else ("xero_contacts_get_tracking_categories", {}))
                        result = await client.call_tool(tool, args)
                        if result.is_error:
                            failures.append(str(result.content))
                        done += 1

            async with anyio.create_task_group() as tg:
                for _ in range(sessions):
                    tg.start_soon(session)
    assert done == sessions * calls and not failures, failures[:3]


@pytest.mark.parametrize("mode", ["stateful", "stateless"])
async def test_sigterm_lets_an_in_flight_call_finish(mode: str) -> None:
    import json
    import signal
    import subprocess
    import sys

    import anyio

    from http_server import http_server_process

    sandbox = subprocess.Popen([sys.executable, "-m", "xero_contacts_mcp", "sandbox", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert sandbox.stdout is not None
        info = json.loads(sandbox.stdout.readline())
        control = info["api_url"].split("/api.xro")[0] + "/_sandbox"
        env = {"XERO_MCP_HTTP_TOKEN": TOKEN, "XERO_API_URL": info["api_url"],
               "XERO_ACCESS_TOKEN": info["access_token"], "XERO_TENANT_ID": info["tenant_id"]}
        args = ["--stateless"] if mode == "stateless" else []
        headers = {**HEADERS, "Authorization": f"Bearer {TOKEN}", "mcp-protocol-version": "2025-11-25"}
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "xero_contacts_get_contact_groups", "arguments": {}}}
        with http_server_process(*args, **env) as (base, process):
            async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
                if mode == "stateful":
                    opened = await http.post(f"{base}/mcp", json=INIT)
                    http.headers["mcp-session-id"] = opened.headers["mcp-session-id"]
                    await http.post(f"{base}/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"})
                httpx2.post(f"{control}/faults", json={"kind": "latency", "seconds": 1.5}, timeout=5)
                replies: list[httpx2.Response] = []

                async def slow_call() -> None:
                    replies.append(await http.post(f"{base}/mcp", json=call))

                async with anyio.create_task_group() as tg:
                    tg.start_soon(slow_call)
                    await anyio.sleep(0.5)  # the call is now waiting on the slow upstream
                    process.send_signal(signal.SIGTERM)
            assert replies[0].status_code == 200
            result = replies[0].json()["result"]
            assert result["isError"] is False and result["structuredContent"]["ContactGroups"]
            assert process.wait(timeout=15) == 0
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
