"""XERO_MCP_ALLOWED_TENANTS: a call to any other organisation (named by the call, by XERO_TENANT_ID or by the
stored default) fails with an isError naming the allowed ones, and nothing reaches Xero; bad values are a
start-up error (exit 2); `tenants` and `doctor` show which organisations are allowed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from http_server import free_port
from sandbox_process import SandboxProcess, browser
from xero_contacts_mcp.cli import main
from xero_contacts_mcp.doctor import run_doctor
from xero_contacts_mcp.login import run_login
from xero_contacts_mcp.runtime import open_runtime


@pytest.fixture
def sandbox(served: SandboxProcess) -> SandboxProcess:
    return served.reset()


@pytest.fixture
def tenants(sandbox: SandboxProcess) -> tuple[str, str]:
    """(the login's default organisation, the other connected one)."""
    first = sandbox.info["tenant_id"]
    other = next(t["tenantId"] if isinstance(t, dict) else t for t in sandbox.info["tenants"]
                 if (t["tenantId"] if isinstance(t, dict) else t) != first)
    return first, other


@pytest.fixture
def make_settings(settings_factory: Any, sandbox: SandboxProcess, tmp_path: Path) -> Any:
    def make(**overrides: Any) -> Any:
        values: dict[str, Any] = dict(
            xero_access_token=None, xero_tenant_id=None, **sandbox.xero_settings(),
            xero_redirect_uri=f"http://127.0.0.1:{free_port()}/callback", xero_token_file=tmp_path / "tokens.json")
        values.update(overrides)
        return settings_factory(**values)

    return make


async def _login(settings: Any, tenant: str) -> None:
    await run_login(settings, open_browser=browser(), say=lambda _: None, wait=10, tenant=tenant)


async def test_calls_to_other_organisations_fail_and_send_nothing(make_settings: Any, sandbox: SandboxProcess,
                                                                 tenants: tuple[str, str]) -> None:
    default, allowed = tenants
    settings = make_settings(xero_mcp_allowed_tenants=allowed.upper())  # ids compare case-insensitively
    await _login(settings, default)  # the stored default is the organisation that is not allowed
    async with open_runtime(settings) as rt:
        before = sandbox.stats()["api_requests_total"]
        implicit = await rt.runner.run("xero_contacts_get_contacts", {})
        explicit = await rt.runner.run("xero_contacts_create_contact_group",
                                       {"xero-tenant-id": default, "ContactGroups": [{"Name": "Leak"}]})
        assert sandbox.stats()["api_requests_total"] == before  # nothing reached Xero
        ok = await rt.runner.run("xero_contacts_get_contacts", {"xero-tenant-id": allowed})
    for refused in (implicit, explicit):
        assert refused.is_error and default in refused.text and allowed in refused.text
        assert "XERO_MCP_ALLOWED_TENANTS" in refused.text and "nothing was sent" in refused.text
        assert "may already have applied" not in refused.text
    assert not ok.is_error, ok.text
    assert sandbox.stats()["writes_applied"] == 0


async def test_a_refused_call_takes_no_place_in_the_rate_limits(make_settings: Any, sandbox: SandboxProcess,
                                                                tenants: tuple[str, str]) -> None:
    default, allowed = tenants
    settings = make_settings(xero_mcp_allowed_tenants=allowed)
    await _login(settings, default)
    async with open_runtime(settings) as rt:
        for _ in range(3):
            assert (await rt.runner.run("xero_contacts_get_contacts", {"xero-tenant-id": default})).is_error
        # refused before the limiter: neither the organisation's window nor the app's counts them
        assert default not in rt.client.limiter._tenants  # type: ignore[attr-defined]
        assert rt.client.limiter._app.remaining(time.monotonic()) == rt.client.limiter.limits.app_per_window  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", ["not-a-uuid", "8d1bb3a3-3c1a-4b44-9c1e-0e6f0a7e2c11,acme"])
def test_a_bad_allow_list_is_a_start_up_error(value: str, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XERO_MCP_ALLOWED_TENANTS", value)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "XERO_MCP_ALLOWED_TENANTS" in err and "is not a tenant id" in err and "Traceback" not in err


def test_a_default_tenant_outside_the_allow_list_is_a_start_up_error(monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str],
                                                                     tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XERO_MCP_ALLOWED_TENANTS", "8d1bb3a3-3c1a-4b44-9c1e-0e6f0a7e2c11")
    monkeypatch.setenv("XERO_TENANT_ID", "00000000-0000-4000-8000-000000000001")
    assert main(["serve"]) == 2
    assert "XERO_TENANT_ID 00000000-0000-4000-8000-000000000001 is not one of them" in capsys.readouterr().err


def test_tenants_marks_the_organisations_that_are_not_allowed(make_settings: Any, tenants: tuple[str, str],
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    default, allowed = tenants
    settings = make_settings()
    anyio.run(lambda: _login(settings, allowed))
    for key in ("xero_client_id", "xero_token_file", "xero_api_url", "xero_token_url", "xero_connections_url"):
        monkeypatch.setenv(key.upper(), str(getattr(settings, key)))
    monkeypatch.setenv("XERO_CLIENT_SECRET", settings.xero_client_secret.get_secret_value())
    monkeypatch.setenv("XERO_MCP_ALLOWED_TENANTS", allowed)
    assert main(["tenants"]) == 0
    out = capsys.readouterr()
    line = {t: next(line for line in out.out.splitlines() if t in line) for t in (default, allowed)}
    assert "(not in XERO_MCP_ALLOWED_TENANTS)" in line[default]
    assert "(not in" not in line[allowed] and line[allowed].startswith("*")
    assert "Calls may reach only the organisations in XERO_MCP_ALLOWED_TENANTS" in out.err


async def test_doctor_shows_the_allow_list_and_fails_a_default_outside_it(make_settings: Any,
                                                                         tenants: tuple[str, str]) -> None:
    default, allowed = tenants
    settings = make_settings(xero_mcp_allowed_tenants=allowed)
    await _login(settings, default)
    said: list[str] = []
    assert await run_doctor(settings, said.append) == 1
    report = "\n".join(said)
    assert "calls may reach only" in report and allowed in report
    assert "is not one this server may reach" in report


async def test_the_only_allowed_organisation_is_the_default_and_only_allowed_ones_are_offered(
        make_settings: Any, sandbox: SandboxProcess, tenants: tuple[str, str]) -> None:
    barred, allowed = tenants
    settings = make_settings(xero_mcp_allowed_tenants=allowed)
    await run_login(settings, open_browser=browser(), say=lambda _: None, wait=10)  # two connected, none chosen
    async with open_runtime(settings) as rt:
        chosen = await rt.runner.run("xero_contacts_get_contacts", {})
    assert not chosen.is_error, chosen.text  # not "several organisations are connected"
    stranger = "00000000-0000-4000-8000-000000000001"
    async with open_runtime(make_settings(xero_mcp_allowed_tenants=stranger)) as rt:
        before = sandbox.stats()["api_requests_total"]
        none = await rt.runner.run("xero_contacts_get_contacts", {})
        assert sandbox.stats()["api_requests_total"] == before
    assert none.is_error and "None of the connected Xero organisations" in none.text and stranger in none.text
    assert barred not in none.text and allowed not in none.text
