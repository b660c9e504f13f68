"""doctor: every failure printed whole, a concrete fix for its cause, one summary line, exit 2 for configuration."""

from __future__ import annotations

import re
from typing import Any

import respx

from conftest import API, TENANT
from xero_contacts_mcp.doctor import run_doctor

CONNECTIONS = "https://api.xero.com/connections"
OTHER = "0b1e2d3c-0000-4000-8000-000000000007"
ORGS = [{"tenantId": TENANT, "tenantName": "Demo Company (NZ)", "tenantType": "ORGANISATION"},
        {"tenantId": OTHER, "tenantName": "Kauri Ltd", "tenantType": "ORGANISATION"}]
INVALID = {"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
           "Elements": [{"ValidationErrors": [{"Message": "first problem"}, {"Message": "second problem"}]}]}


async def doctor(settings: Any) -> tuple[int, list[str]]:
    said: list[str] = []
    status = await run_doctor(settings, said.append)
    return status, "\n".join(said).splitlines()


def summaries(lines: list[str]) -> list[str]:
    return [line for line in lines if re.search(r"checks (passed|failed)", line)]


async def test_a_passing_setup_has_one_summary_line(settings_factory: Any, httpx2_mock: respx.Router) -> None:
    httpx2_mock.get(CONNECTIONS).respond(json=ORGS)
    httpx2_mock.get(f"{API}/ContactGroups").respond(json={"ContactGroups": []})
    status, lines = await doctor(settings_factory())
    assert status == 0, lines
    assert f"✓ organisation: Demo Company (NZ) ({TENANT}) (XERO_TENANT_ID)" in lines
    assert f"✓ configuration: XERO_TENANT_ID {TENANT} is a UUID; 6 URLs are absolute http(s) URLs" in lines
    assert summaries(lines) == [lines[-1]] and re.fullmatch(r"All \d+ checks passed\.", lines[-1])


async def test_a_failure_is_printed_whole_with_a_fix(settings_factory: Any, httpx2_mock: respx.Router) -> None:
    httpx2_mock.get(CONNECTIONS).respond(json=ORGS)
    httpx2_mock.get(f"{API}/ContactGroups").respond(400, json=INVALID)
    status, lines = await doctor(settings_factory())
    assert status == 1
    failed = lines.index("✗ API call xero_contacts_get_contact_groups failed:")
    shown = "\n".join(lines[failed:])
    assert "first problem" in shown and "second problem" in shown and "Fix these" in shown
    fix = next(line for line in lines[failed:] if line.startswith("    → "))
    assert "XERO_API_URL" in fix and "above" not in fix
    assert summaries(lines) == [lines[-1]] and lines[-1].startswith("1 of ")


async def test_a_403_says_which_setting_to_change(settings_factory: Any, httpx2_mock: respx.Router) -> None:
    httpx2_mock.get(CONNECTIONS).respond(json=ORGS)
    httpx2_mock.get(f"{API}/ContactGroups").respond(403, json={"Type": "AuthenticationUnsuccessful"})
    status, lines = await doctor(settings_factory())
    assert status == 1
    assert any(line.startswith("    → set XERO_TENANT_ID to an organisation this login can reach") for line in lines)


async def test_a_tenant_not_connected_is_a_configuration_fault(settings_factory: Any,
                                                              httpx2_mock: respx.Router) -> None:
    httpx2_mock.get(CONNECTIONS).respond(json=ORGS[1:])
    status, lines = await doctor(settings_factory())
    assert status == 2
    assert f"✗ organisation: XERO_TENANT_ID {TENANT} is not connected to these credentials" in lines
    assert any(line.startswith(f"    → set XERO_TENANT_ID to one of: Kauri Ltd ({OTHER}) (or unset it)")
               for line in lines)


async def test_a_non_loopback_redirect_uri_is_a_configuration_fault(settings_factory: Any) -> None:
    status, lines = await doctor(settings_factory(xero_mcp_sandbox=True, xero_tenant_id=None,
                                                  xero_redirect_uri="https://app.example.com/callback"))
    assert status == 2
    failed = next(i for i, line in enumerate(lines) if line.startswith("✗ redirect URI"))
    assert lines[failed + 1].startswith("    → set XERO_REDIRECT_URI to http://localhost:8749/callback")
    assert "✓ API reachable" in "\n".join(lines)  # the other checks still ran
    assert summaries(lines) == [lines[-1]]


async def test_an_expired_static_token_says_to_replace_it(settings_factory: Any, httpx2_mock: respx.Router) -> None:
    httpx2_mock.get(CONNECTIONS).respond(401, json={"Detail": "TokenExpired: token expired at 01/01/2026"})
    status, lines = await doctor(settings_factory(xero_tenant_id=None))
    assert status == 1
    fixes = [line for line in lines if line.startswith("    → ")]
    assert fixes and all("above" not in fix for fix in fixes)
    assert "`xero-contacts-mcp tenants` lists them" in fixes[-1]
