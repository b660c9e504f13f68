"""XERO_MCP_REDIS_URL from the command line: a malformed URL is exit 2, an unreachable Redis a one-line
start-up error, `login`/`tenants`/`logout`/`doctor` work on the login kept in Redis, and no message ever
shows the Redis password."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from fleet import Fleet
from http_server import free_port
from redis_server import RedisServer
from sandbox_process import SandboxProcess
from xero_contacts_mcp.cli import main

PASSWORD = "cli-redis-secret-58d1"  # a test value that must never be printed


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("XERO_")}
    environment.update(env)
    return subprocess.run([sys.executable, "-m", "xero_contacts_mcp", *args], env=environment, capture_output=True,
                          text=True, timeout=60, check=False, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize(("url", "message"), [
    (f"http://:{PASSWORD}@cache.internal:6379", "scheme is 'http'"),
    (f"redis://:{PASSWORD}@cache.internal:99999/0", "invalid port"),
    (f"redis://:{PASSWORD}@cache.internal:6379/zero", "database must be a number"),
    (f"redis://:{PASSWORD}@/0", "no host"),
])
@pytest.mark.parametrize("command", [["serve"], ["doctor"], ["login"], ["tools"]])
def test_a_malformed_url_is_exit_2_with_one_line_and_no_password(url: str, message: str, command: list[str],
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XERO_MCP_REDIS_URL", url)
    assert main(command) == 2
    err = capsys.readouterr().err
    assert message in err and "XERO_MCP_REDIS_URL" in err and PASSWORD not in err
    assert len(err.strip().splitlines()) == 1


def test_an_unreachable_redis_stops_serve_at_start_up_with_one_line() -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"  # nothing listens there
    for args in (["serve"], ["serve", "--transport", "http", "--stateless", "--port", str(free_port())],
                 ["call", "xero_contacts_get_contact_groups"]):
        done = _run(*args, XERO_MCP_REDIS_URL=url, XERO_ACCESS_TOKEN="t",
                    XERO_TENANT_ID="8d1bb3a3-3c1a-4b44-9c1e-0e6f0a7e2c11")
        assert done.returncode == 1, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "could not be reached" in lines[0] and "127.0.0.1" in lines[0], done.stderr
        assert PASSWORD not in done.stderr and "Traceback" not in done.stderr


def test_the_redis_extra_missing_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    for name in [m for m in sys.modules if m == "redis" or m.startswith("redis.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "redis", None)  # an import of redis now fails, as when it is not installed
    for name in [m for m in sys.modules if m.startswith("xero_contacts_mcp.state.redis")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setenv("XERO_MCP_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("XERO_ACCESS_TOKEN", "t")
    assert main(["call", "xero_contacts_get_contact_groups"]) == 2
    assert "pip install 'xero-contacts-mcp[redis]'" in capsys.readouterr().err


# ── login, tenants, logout and doctor on a login kept in Redis ──────────────────────────────────


def _use(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in fleet.env().items():
        monkeypatch.setenv(key, value)


def test_login_once_then_tenants_doctor_and_logout_from_anywhere(served: SandboxProcess, redis_server: RedisServer,
                                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    served.reset()

    async def scenario() -> Any:
        async with Fleet(served, redis_server.url, tmp_path) as fleet:
            await fleet.login()
            return fleet

    fleet = anyio.run(scenario)
    _use(fleet, monkeypatch)
    assert not Path(fleet.env()["XERO_TOKEN_FILE"]).exists()  # in Redis, not in a file

    assert main(["tenants"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 2 and any(line.startswith("*") and served.info["tenant_id"] in line for line in listed)

    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "✓ shared state: Redis redis://127.0.0.1:" in out
    assert "! shared state: Redis keeps no append-only file" in out  # the test Redis has none: advised
    assert "✓ token store: Redis" in out and "✓ API reachable" in out and PASSWORD not in out

    assert main(["logout"]) == 0
    assert "access revoked at Xero and Redis redis://127.0.0.1:" in capsys.readouterr().out
    assert main(["tenants"]) == 1  # the same replicas' settings: no login any more
    assert "Run `xero-contacts-mcp login`" in capsys.readouterr().err
    assert main(["logout"]) == 0
    assert "Not logged in" in capsys.readouterr().out


def test_doctor_says_when_redis_is_down(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XERO_MCP_REDIS_URL", f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0")
    monkeypatch.setenv("XERO_CLIENT_ID", "A" * 32)
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "✗ shared state: Redis at redis://127.0.0.1:" in out and "could not be reached" in out
    assert "start Redis, or fix XERO_MCP_REDIS_URL" in out and PASSWORD not in out
