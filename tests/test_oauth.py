"""OAuth2 against the sandbox's real identity endpoints over loopback: login for both app types and
each refusal, refresh that is single-flight in a process and across processes, invalid_grant that
fails fast, Custom Connections, tenant choice that fails closed, and a token file that survives kills."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from http_server import free_port
from sandbox_process import SandboxProcess, browser
from xero_contacts_mcp.login import LoginError, run_login, run_logout
from xero_contacts_mcp.runtime import open_runtime
from xero_contacts_mcp.state.tokens import FileTokenStore

Sandbox = SandboxProcess


@pytest.fixture
def sandbox(served: Sandbox) -> Sandbox:
    return served.reset()


@pytest.fixture
def oauth_settings(settings_factory: Any, sandbox: Sandbox, tmp_path: Path) -> Any:
    def make(kind: str = "web", **overrides: Any) -> Any:
        app = sandbox.app(kind)
        values: dict[str, Any] = dict(
            xero_access_token=None, xero_tenant_id=None, xero_client_id=app["client_id"],
            xero_client_secret=app.get("client_secret"), xero_api_url=sandbox.info["api_url"],
            xero_token_url=sandbox.info["token_url"], xero_authorize_url=sandbox.info["authorize_url"],
            xero_connections_url=sandbox.info["connections_url"], xero_revoke_url=sandbox.info["revoke_url"],
            xero_redirect_uri=f"http://127.0.0.1:{free_port()}/callback", xero_token_file=tmp_path / "tokens.json",
            xero_mcp_tenant_per_minute=10**6, xero_mcp_tenant_concurrency=200)
        values.update(overrides)
        return settings_factory(**values)

    return make


async def login(settings: Any, **kw: Any) -> Any:
    said: list[str] = []
    return await run_login(settings, open_browser=kw.pop("open_browser", browser()), say=said.append,
                           wait=kw.pop("wait", 10), **kw)


# ── login ──────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("kind", ["web", "pkce"])
async def test_login_end_to_end_for_both_app_types(oauth_settings: Any, sandbox: Sandbox, kind: str) -> None:
    settings = oauth_settings(kind)
    stored = await login(settings, tenant=sandbox.info["tenant_id"])
    path = Path(settings.xero_token_file)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    on_disk = json.loads(path.read_text())
    assert on_disk["token"]["refresh_token"] == stored.refresh_token and on_disk["tenant_id"] == sandbox.info["tenant_id"]
    assert on_disk["token"]["expires_at"] > time.time()
    assert sandbox.stats()["token_grants"].get("authorization_code") == 1
    async with open_runtime(settings) as rt:  # the stored login now drives tool calls
        result = await rt.runner.run("xero_contacts_get_contacts", {})
    assert not result.is_error, result.text
    if kind == "pkce":
        assert settings.xero_client_secret is None


async def test_a_forged_callback_is_refused_and_the_login_keeps_waiting(oauth_settings: Any, sandbox: Sandbox) -> None:
    settings = oauth_settings()
    await login(settings, tenant=sandbox.info["tenant_id"], open_browser=browser(forged_first=True))
    assert Path(settings.xero_token_file).exists()


async def _refused(settings: Any, message: str, **kw: Any) -> None:
    with pytest.raises(LoginError) as caught:
        await login(settings, **kw)
    assert message in str(caught.value)
    assert not Path(settings.xero_token_file).exists()
    secret = settings.xero_client_secret
    assert secret is None or secret.get_secret_value() not in str(caught.value)


async def test_cancel_at_xero_is_a_clear_failure(oauth_settings: Any, sandbox: Sandbox) -> None:
    sandbox.post("faults", {"kind": "deny_authorize", "enabled": True})
    await _refused(oauth_settings(), "access was not granted: access_denied")


async def test_busy_callback_port_names_the_port_and_variable(oauth_settings: Any) -> None:
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        await _refused(oauth_settings(xero_redirect_uri=f"http://127.0.0.1:{port}/callback"),
                       f"port {port} of XERO_REDIRECT_URI")


async def test_no_callback_within_the_timeout(oauth_settings: Any) -> None:
    await _refused(oauth_settings(), "no callback from Xero within 0.5 s", open_browser=lambda url: None, wait=0.5)


async def test_failed_code_exchange_shows_xeros_error_not_the_secret(oauth_settings: Any) -> None:
    await _refused(oauth_settings(xero_client_secret="definitely-wrong-secret"), "invalid_client")


def test_redirect_uri_must_be_loopback(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from xero_contacts_mcp.cli import main

    monkeypatch.setenv("XERO_CLIENT_ID", "abc")
    monkeypatch.setenv("XERO_REDIRECT_URI", "https://example.com/callback")
    assert main(["login"]) == 2
    assert "XERO_REDIRECT_URI must be http:// on localhost" in capsys.readouterr().err


async def test_read_only_login_asks_for_read_scopes(oauth_settings: Any, sandbox: Sandbox) -> None:
    settings = oauth_settings(xero_mcp_read_only=True)
    stored = await login(settings, tenant=sandbox.info["tenant_id"])
    assert set(stored.token["scope"].split()) == {"offline_access", "accounting.contacts.read",
                                                  "accounting.settings.read"}


async def test_logout_revokes_and_deletes(oauth_settings: Any, sandbox: Sandbox) -> None:
    settings = oauth_settings()
    stored = await login(settings, tenant=sandbox.info["tenant_id"])
    assert await run_logout(settings, say=[].append)
    assert not Path(settings.xero_token_file).exists()
    assert sandbox.stats()["revocations"] == 1
    reply = httpx2.post(sandbox.info["token_url"], data={"grant_type": "refresh_token",
                                                         "refresh_token": stored.refresh_token},
                        auth=(settings.xero_client_id, settings.xero_client_secret.get_secret_value()))
    assert reply.json()["error"] == "invalid_grant"


# ── tenant choice ──────────────────────────────────────────────────────────────────


async def test_several_organisations_and_no_choice_fails_closed(oauth_settings: Any, sandbox: Sandbox) -> None:
    settings = oauth_settings()
    stored = await login(settings)  # two organisations, no terminal to ask: no default recorded
    assert stored.tenant_id is None and len(stored.connections) == 2
    async with open_runtime(settings) as rt:
        result = await rt.runner.run("xero_contacts_get_contacts", {})
        chosen = await rt.runner.run("xero_contacts_get_contacts", {"xero-tenant-id": sandbox.info["tenant_id"]})
    assert result.is_error and "nothing was sent" in result.text
    for connection in stored.connections:
        assert connection["tenantId"] in result.text and connection["tenantName"] in result.text
    assert not chosen.is_error


async def test_the_only_organisation_is_used(oauth_settings: Any, sandbox: Sandbox) -> None:
    sandbox.post("consent", {"tenants": [sandbox.info["tenant_id"]]})
    settings = oauth_settings()
    await login(settings)
    async with open_runtime(settings) as rt:
        assert not (await rt.runner.run("xero_contacts_get_contacts", {})).is_error


# ── refresh ────────────────────────────────────────────────────────────────────────


def _expire_locally(settings: Any) -> None:
    path = Path(settings.xero_token_file)
    data = json.loads(path.read_text())
    data["token"]["expires_at"] = int(time.time()) - 10
    path.write_text(json.dumps(data))


async def _many(rt: Any, count: int) -> list[Any]:
    results: list[Any] = []

    async def one() -> None:
        results.append(await rt.runner.run("xero_contacts_get_contacts", {"summaryOnly": True}))

    async with anyio.create_task_group() as tg:
        for _ in range(count):
            tg.start_soon(one)
    return results


async def test_100_concurrent_calls_with_an_expired_token_refresh_once(oauth_settings: Any, sandbox: Sandbox) -> None:
    settings = oauth_settings()
    before = await login(settings, tenant=sandbox.info["tenant_id"])
    _expire_locally(settings)
    async with open_runtime(settings) as rt:
        results = await _many(rt, 100)
    assert not [r.text for r in results if r.is_error]
    assert sandbox.stats()["refreshes"] == 1
    after = await FileTokenStore(Path(settings.xero_token_file)).load()
    assert after is not None and after.refresh_token != before.refresh_token  # the rotated token was saved


async def test_401_mid_flight_refreshes_once_and_retries(oauth_settings: Any, sandbox: Sandbox) -> None:
    settings = oauth_settings()
    await login(settings, tenant=sandbox.info["tenant_id"])
    async with open_runtime(settings) as rt:
        assert not (await rt.runner.run("xero_contacts_get_contacts", {})).is_error
        sandbox.post("clock", {"advance": 1900})  # Xero now rejects the token our clock still trusts
        results = await _many(rt, 20)
    assert not [r.text for r in results if r.is_error]
    assert sandbox.stats()["refreshes"] == 1


async def test_invalid_grant_fails_fast_with_one_instruction(oauth_settings: Any, sandbox: Sandbox) -> None:
    settings = oauth_settings()
    await login(settings, tenant=sandbox.info["tenant_id"])
    path = Path(settings.xero_token_file)
    data = json.loads(path.read_text())
    data["token"].update(refresh_token="revoked-or-reused", expires_at=0)
    path.write_text(json.dumps(data))
    async with open_runtime(settings) as rt:
        results = await _many(rt, 10)
        later = await rt.runner.run("xero_contacts_get_contact_groups", {})
    assert all(r.is_error and "Run `xero-contacts-mcp login`" in r.text for r in [*results, later])
    assert sandbox.stats()["invalid_grants"] == 1  # latched: no retry storm


async def test_two_processes_share_one_token_file_through_several_expiries(oauth_settings: Any, sandbox: Sandbox,
                                                                           tmp_path: Path) -> None:
    settings = oauth_settings()
    await login(settings, tenant=sandbox.info["tenant_id"])
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "XERO_MCP_LOG_LEVEL": "WARNING",
           "XERO_CLIENT_ID": settings.xero_client_id, "XERO_CLIENT_SECRET": settings.xero_client_secret.get_secret_value(),
           "XERO_TOKEN_FILE": str(settings.xero_token_file), "XERO_API_URL": settings.xero_api_url,
           "XERO_TOKEN_URL": settings.xero_token_url, "XERO_CONNECTIONS_URL": settings.xero_connections_url}
    params = StdioServerParameters(command=sys.executable, args=["-m", "xero_contacts_mcp"], env=env)
    expiries = 3
    async with stdio_client(params) as (r1, w1), ClientSession(r1, w1) as one, \
            stdio_client(params) as (r2, w2), ClientSession(r2, w2) as two:
        await one.initialize()
        await two.initialize()
        for _ in range(expiries):
            sandbox.post("clock", {"advance": 1900})
            for _ in range(3):
                for session in (one, two):
                    result = await session.call_tool("xero_contacts_get_contacts", {"summaryOnly": True})
                    assert not result.is_error, result.content
    stats = sandbox.stats()
    assert stats["invalid_grants"] == 0
    assert stats["refreshes"] <= expiries


# ── Custom Connection ──────────────────────────────────────────────────────────────


async def test_custom_connection_fetches_once_and_again_after_expiry(oauth_settings: Any, sandbox: Sandbox) -> None:
    settings = oauth_settings("custom")
    async with open_runtime(settings) as rt:
        for _ in range(5):
            result = await rt.runner.run("xero_contacts_get_contacts", {})
            assert not result.is_error, result.text
        assert sandbox.stats()["token_grants"].get("client_credentials") == 1
        sandbox.post("clock", {"advance": 1900})
        assert not (await rt.runner.run("xero_contacts_get_contacts", {})).is_error
    assert sandbox.stats()["token_grants"].get("client_credentials") == 2
    assert not Path(settings.xero_token_file).exists()


async def test_an_app_that_is_not_a_custom_connection_says_to_log_in(oauth_settings: Any) -> None:
    settings = oauth_settings("web")  # id + secret, no stored login: tried as a Custom Connection
    async with open_runtime(settings) as rt:
        result = await rt.runner.run("xero_contacts_get_contacts", {})
    assert result.is_error and "not a Custom Connection" in result.text and "xero-contacts-mcp login" in result.text


# ── the token file survives crashes ────────────────────────────────────────────────

WRITER = """
import asyncio, sys
from pathlib import Path
from xero_contacts_mcp.state.tokens import FileTokenStore, Login

async def main():
    store = FileTokenStore(Path(sys.argv[1]))
    login = await store.load()
    while True:
        n = login.version + 1
        login = await store.save(Login(token={"access_token": "a" * 2000 + str(n), "refresh_token": f"r{n}",
                                              "expires_at": n}, client_id="c", version=login.version,
                                       connections=[{"tenantId": str(i)} for i in range(50)]))

asyncio.run(main())
"""


def test_a_process_killed_while_writing_leaves_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    asyncio.run(FileTokenStore(path).save(_seed_login()))
    for attempt in range(25):
        process = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
        time.sleep(0.25 + (attempt % 5) * 0.03)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        login = asyncio.run(FileTokenStore(path).load())
        assert login is not None and login.refresh_token and login.refresh_token.startswith("r")
    leftovers = [p for p in tmp_path.iterdir() if p.name not in ("tokens.json", "tokens.json.lock")]
    assert len(leftovers) <= 25  # at most one orphan temp file per kill, never a corrupt store


def _seed_login() -> Any:
    from xero_contacts_mcp.state.tokens import Login

    return Login(token={"access_token": "a", "refresh_token": "r0", "expires_at": 0}, client_id="c")


def test_tenants_command_lists_organisations(oauth_settings: Any, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    settings = oauth_settings()
    anyio.run(lambda: login(settings, tenant=sandbox.info["tenant_id"]))
    for key in ("xero_client_id", "xero_token_file", "xero_api_url", "xero_token_url", "xero_connections_url"):
        monkeypatch.setenv(key.upper(), str(getattr(settings, key)))
    monkeypatch.setenv("XERO_CLIENT_SECRET", settings.xero_client_secret.get_secret_value())
    from xero_contacts_mcp.cli import main

    assert main(["tenants"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert any(line.startswith("*") and sandbox.info["tenant_id"] in line for line in lines)


async def test_custom_connection_through_a_real_mcp_client(sandbox: Sandbox, tmp_path: Path) -> None:
    app = sandbox.app("custom")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "XERO_MCP_LOG_LEVEL": "WARNING",
           "XERO_CLIENT_ID": app["client_id"], "XERO_CLIENT_SECRET": app["client_secret"],
           "XERO_TOKEN_FILE": str(tmp_path / "none.json"), "XERO_API_URL": sandbox.info["api_url"],
           "XERO_TOKEN_URL": sandbox.info["token_url"], "XERO_CONNECTIONS_URL": sandbox.info["connections_url"]}
    params = StdioServerParameters(command=sys.executable, args=["-m", "xero_contacts_mcp"], env=env)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        result = await session.call_tool("xero_contacts_get_contacts", {"summaryOnly": True})
    assert not result.is_error, result.content
    assert sandbox.stats()["token_grants"].get("client_credentials") == 1


# ── the same login rules in both stores: a token file, or Redis shared by replicas ───────────────


@pytest.fixture(params=["file", "redis"])
def store_settings(request: pytest.FixtureRequest, oauth_settings: Any) -> Any:
    """oauth_settings for a login kept in a token file, or in a real Redis under a prefix of its own."""
    if request.param == "file":
        return oauth_settings
    server = request.getfixturevalue("redis_server")
    prefix = f"oauth-{os.urandom(4).hex()}:"
    return lambda *a, **kw: oauth_settings(*a, xero_mcp_redis_url=server.url, xero_mcp_redis_prefix=prefix, **kw)


async def _edit_login(settings: Any, **token: Any) -> None:
    from xero_contacts_mcp.stores import open_stores

    async with open_stores(settings) as stores:
        stored = await stores.tokens.load()
        assert stored is not None
        stored.token.update(token)
        await stores.tokens.save(stored)


async def test_logout_elsewhere_stops_a_running_server_until_the_next_login(store_settings: Any,
                                                                             sandbox: Sandbox) -> None:
    settings = store_settings()
    await login(settings, tenant=sandbox.info["tenant_id"])
    async with open_runtime(settings) as rt:
        assert not (await rt.runner.run("xero_contacts_get_contacts", {})).is_error
        assert await run_logout(settings, say=lambda _: None)  # "from another machine"
        sandbox.post("clock", {"advance": 1900})  # the token it holds expires: it must refresh
        gone = await rt.runner.run("xero_contacts_get_contacts", {})
        await login(settings, tenant=sandbox.info["tenant_id"])  # the operator logs in again
        back = await rt.runner.run("xero_contacts_get_contacts", {})  # the same server, no restart
    assert gone.is_error and "login was removed" in gone.text and "xero-contacts-mcp login" in gone.text
    assert not back.is_error, back.text
    assert sandbox.stats()["invalid_grants"] == 0  # the revoked refresh token was never spent


async def test_a_new_login_heals_a_latched_invalid_grant_without_a_restart(store_settings: Any,
                                                                          sandbox: Sandbox) -> None:
    settings = store_settings()
    await login(settings, tenant=sandbox.info["tenant_id"])
    await _edit_login(settings, refresh_token="revoked-or-reused", expires_at=0)
    async with open_runtime(settings) as rt:
        failed = [await rt.runner.run("xero_contacts_get_contacts", {}) for _ in range(3)]
        await login(settings, tenant=sandbox.info["tenant_id"])
        healed = await rt.runner.run("xero_contacts_get_contacts", {})
    assert all(r.is_error and "invalid_grant" in r.text for r in failed)
    assert sandbox.stats()["invalid_grants"] == 1  # latched until the new login: no retry storm
    assert not healed.is_error, healed.text


async def test_a_refresh_never_brings_back_a_deleted_login(store_settings: Any, sandbox: Sandbox) -> None:
    """A writer holding version n cannot save into an empty store (only a fresh login, version 0, can)."""
    from xero_contacts_mcp.state.tokens import StaleWriteError
    from xero_contacts_mcp.stores import open_stores

    settings = store_settings()
    stored = await login(settings, tenant=sandbox.info["tenant_id"])
    async with open_stores(settings) as stores:
        assert await stores.tokens.delete()
        with pytest.raises(StaleWriteError, match="no login is stored"):
            await stores.tokens.save(stored)
        assert await stores.tokens.load() is None


async def test_a_store_that_no_longer_holds_a_login_is_an_error_that_says_what_to_do(oauth_settings: Any,
                                                                                    sandbox: Sandbox) -> None:
    settings = oauth_settings()
    await login(settings, tenant=sandbox.info["tenant_id"])
    async with open_runtime(settings) as rt:
        assert not (await rt.runner.run("xero_contacts_get_contacts", {})).is_error
        Path(settings.xero_token_file).write_text("not json")  # damaged while the server runs
        sandbox.post("clock", {"advance": 1900})  # the token expires: the store must be read to refresh
        result = await rt.runner.run("xero_contacts_get_contacts", {})
    assert result.is_error and "the stored login is damaged: run `xero-contacts-mcp login`" in result.text
    assert "nothing was sent" in result.text
