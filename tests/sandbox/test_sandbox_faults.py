"""Fault injection from Python and over the control API, and the stats that record it."""

from __future__ import annotations

import time
from typing import Any

import httpx2
import pytest

from xero_contacts_mcp.sandbox import Sandbox, SandboxConfig

CONTROL = "http://sandbox/_sandbox"
TOKEN = "https://identity.xero.com/connect/token"


async def test_503_is_plain_text_organisation_offline(api: Any, sandbox: Sandbox) -> None:
    sandbox.faults.fail_next(2)
    for _ in range(2):
        response = await api.get("/Contacts")
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("text/plain")
        assert response.text == "The Organisation is Offline"
        assert "X-MinLimit-Remaining" in response.headers
    assert (await api.get("/Contacts")).status_code == 200
    assert sandbox.stats.faults["503"] == 2


@pytest.mark.parametrize(("status", "marker"), [(500, '"Status":500'), (502, "Bad Gateway"), (504, "Gateway Time-out")])
async def test_other_outage_statuses(api: Any, sandbox: Sandbox, status: int, marker: str) -> None:
    sandbox.faults.fail_next(status=status)
    response = await api.get("/ContactGroups")
    assert response.status_code == status
    assert marker in response.text


async def test_faults_run_in_queue_order_and_writes_only_skips_reads(api: Any, sandbox: Sandbox) -> None:
    sandbox.faults.fail_next(1, 502, writes_only=True)
    sandbox.faults.rate_limit_next(1, "minute", retry_after=7)
    first = await api.get("/Contacts")
    assert first.status_code == 429, "the read skips the write-only fault"
    assert (first.headers["X-Rate-Limit-Problem"], first.headers["Retry-After"]) == ("minute", "7")
    write = await api.put("/ContactGroups", {"ContactGroups": [{"Name": "Q"}]})
    assert write.status_code == 502
    assert "Q" not in {g.name for g in sandbox.state().groups.values()}, "a failed write is not applied"


async def test_injected_429_variants(api: Any, sandbox: Sandbox) -> None:
    sandbox.faults.rate_limit_next(1, "concurrent")
    sandbox.faults.rate_limit_next(1, "day")
    concurrent = await api.get("/Contacts")
    assert concurrent.headers["X-Rate-Limit-Problem"] == "concurrent" and "Retry-After" not in concurrent.headers
    day = await api.get("/Contacts")
    assert day.headers["X-Rate-Limit-Problem"] == "day" and int(day.headers["Retry-After"]) > 3600
    assert sandbox.stats.rate_limited == {"concurrent": 1, "day": 1}


async def test_drop_applies_the_write_then_the_connection_dies(api: Any, sandbox: Sandbox) -> None:
    sandbox.faults.drop_next_writes()
    read = await api.get("/Contacts")
    assert read.status_code == 200, "reads are not dropped"
    headers = api.headers({"Idempotency-Key": "drop-1"})
    body = {"Contacts": [{"Name": "Dropped But Saved"}]}
    with pytest.raises(httpx2.RemoteProtocolError, match="Server disconnected"):
        await api.put("/Contacts", body, headers=headers)
    saved = [c for c in sandbox.state().contacts.values() if c.name == "Dropped But Saved"]
    assert len(saved) == 1, "the write was applied before the drop"
    retry = await api.put("/Contacts", body, headers=headers)
    assert retry.status_code == 200
    assert retry.json()["Contacts"][0]["ContactID"] == saved[0].contact_id
    assert len([c for c in sandbox.state().contacts.values() if c.name == "Dropped But Saved"]) == 1
    assert sandbox.stats.faults["drop"] == 1 and sandbox.stats.idempotent_replays == 1
    without_key = await api.put("/Contacts", body)
    assert without_key.status_code == 400, "a blind retry without the key hits the name clash"


async def test_latency(api: Any, sandbox: Sandbox) -> None:
    sandbox.faults.set_latency(0.15)
    started = time.perf_counter()
    await api.get("/Contacts")
    assert time.perf_counter() - started >= 0.15


async def test_random_mode_is_reproducible_with_a_seed(api: Any, sandbox: Sandbox) -> None:
    async def run() -> list[int]:
        sandbox.faults.set_random(0.5, seed=42, kinds=["503", "500", "429"])
        return [(await api.get("/ContactGroups")).status_code for _ in range(30)]

    first, second = await run(), await run()
    assert first == second
    assert {200, 503, 500, 429} <= set(first)
    with pytest.raises(ValueError, match="unknown random fault kinds"):
        sandbox.faults.set_random(0.1, kinds=["418"])


async def test_random_drops_only_hit_writes(api: Any, sandbox: Sandbox) -> None:
    sandbox.faults.set_random(1.0, seed=1, kinds=["drop"])
    assert (await api.get("/Contacts")).status_code == 200
    with pytest.raises(httpx2.RemoteProtocolError):
        await api.put("/ContactGroups", {"ContactGroups": [{"Name": "R"}]})


async def test_token_endpoint_faults(http: httpx2.AsyncClient, sandbox: Sandbox, api: Any) -> None:
    custom = sandbox.apps["custom"]
    assert custom.client_secret is not None
    sandbox.faults.fail_next(1, 503, target="token")
    assert (await api.get("/Contacts")).status_code == 200, "token faults leave the API alone"
    auth = (custom.client_id, custom.client_secret)
    assert (await http.post(TOKEN, data={"grant_type": "client_credentials"}, auth=auth)).status_code == 503
    assert (await http.post(TOKEN, data={"grant_type": "client_credentials"}, auth=auth)).status_code == 200


async def test_token_latency_delays_only_the_token_endpoint(http: httpx2.AsyncClient, sandbox: Sandbox,
                                                            api: Any) -> None:
    custom = sandbox.apps["custom"]
    auth = (custom.client_id, custom.client_secret or "")
    sandbox.faults.configure({"kind": "latency", "seconds": 0.3, "target": "token"})
    started = time.perf_counter()
    await api.get("/Contacts")
    assert time.perf_counter() - started < 0.3, "the API is not delayed"
    started = time.perf_counter()
    assert (await http.post(TOKEN, data={"grant_type": "client_credentials"}, auth=auth)).status_code == 200
    assert time.perf_counter() - started >= 0.3
    assert sandbox.faults.snapshot()["token_latency"] == 0.3


# -- the control API ------------------------------------------------------------------------------


async def test_control_api_faults_and_stats(http: httpx2.AsyncClient, sandbox: Sandbox, api: Any) -> None:
    posted = await http.post(
        f"{CONTROL}/faults",
        json=[{"kind": "status", "status": 504, "count": 1}, {"kind": "drop"}, {"kind": "latency", "seconds": 0}],
    )
    assert posted.status_code == 200
    assert [f["kind"] for f in posted.json()["queue"]] == ["status", "drop"]
    assert (await api.get("/Contacts")).status_code == 504
    with pytest.raises(httpx2.RemoteProtocolError):
        await api.post("/Contacts", {"Contacts": [{"Name": "Via Control"}]})
    stats = (await http.get(f"{CONTROL}/stats")).json()
    assert stats["api_requests"] == {sandbox.tenant_id: 2}
    assert stats["faults"] == {"504": 1, "drop": 1}
    assert stats["writes_applied"] == 1
    bad = await http.post(f"{CONTROL}/faults", json={"kind": "meteor"})
    assert bad.status_code == 400 and "unknown fault kind" in bad.json()["error"]
    await http.post(f"{CONTROL}/faults", json={"kind": "deny_authorize"})
    assert sandbox.faults.deny_authorize is True
    cleared = (await http.delete(f"{CONTROL}/faults")).json()
    assert cleared == {"queue": [], "latency": 0.0, "token_latency": 0.0, "random": None, "deny_authorize": False}


async def test_control_api_reset_clock_tokens_limits_state(
    http: httpx2.AsyncClient, sandbox: Sandbox, api: Any
) -> None:
    await api.put("/Contacts", {"Contacts": [{"Name": "Temp"}]})
    state = (await http.get(f"{CONTROL}/state")).json()
    assert len(state["Contacts"]) == 7 and any(c["ContactStatus"] == "ARCHIVED" for c in state["Contacts"])
    assert (await http.get(f"{CONTROL}/state/{sandbox.tenants[1]}")).json()["Contacts"] == []
    assert (await http.post(f"{CONTROL}/reset")).json() == {"ok": True}
    assert len(sandbox.state().contacts) == 6 and sandbox.stats.api_requests == {}

    issued = (await http.post(f"{CONTROL}/tokens", json={"scopes": "accounting.contacts.read", "lifetime": 30})).json()
    assert issued["expires_in"] == 30 and "refresh_token" not in issued
    api.token = issued["access_token"]
    assert (await api.get("/Contacts")).status_code == 200
    assert (await api.put("/Contacts", {"Contacts": [{"Name": "No"}]})).status_code == 401
    moved = (await http.post(f"{CONTROL}/clock", json={"advance": 31})).json()
    assert moved["offset"] == 31
    assert (await api.get("/Contacts")).json()["Detail"].startswith("TokenExpired")

    limits = (await http.post(f"{CONTROL}/limits", json={"enforce_limits": True, "minute_limit": 1})).json()
    assert limits["enforce_limits"] is True and limits["minute_limit"] == 1
    api.token = sandbox.access_token
    await http.post(f"{CONTROL}/clock", json={"advance": 60})
    assert (await api.get("/Contacts")).status_code == 200, "a new minute window"
    assert (await api.get("/Contacts")).status_code == 429
    assert (await http.post(f"{CONTROL}/limits", json={"enforce_limits": "yes"})).status_code == 400
    assert (await http.post(f"{CONTROL}/limits", json={"speed": 1})).status_code == 400

    info = (await http.get(f"{CONTROL}/info")).json()
    assert info["tenant_id"] == sandbox.tenant_id and info["api_url"] == "http://sandbox/api.xro/2.0"
    consent = await http.post(f"{CONTROL}/consent", json={"tenants": [sandbox.tenants[1]]})
    assert consent.json() == {"tenants": [sandbox.tenants[1]]}


async def test_control_api_can_be_disabled() -> None:
    sandbox = Sandbox(SandboxConfig(control_api=False))
    async with httpx2.AsyncClient(transport=sandbox.transport()) as http:
        assert (await http.get(f"{CONTROL}/stats")).status_code == 404


async def test_a_rate_limited_write_is_not_dropped_and_keeps_the_fault(api: Any, sandbox: Sandbox) -> None:
    sandbox.config.enforce_limits, sandbox.config.minute_limit = True, 1
    await api.get("/Contacts")
    sandbox.faults.drop_next_writes()
    limited = await api.put("/ContactGroups", {"ContactGroups": [{"Name": "Later"}]})
    assert limited.status_code == 429, "answered normally: nothing was applied, so nothing is dropped"
    assert len(sandbox.faults.queue) == 1
    sandbox.clock.advance(60)
    with pytest.raises(httpx2.RemoteProtocolError):
        await api.put("/ContactGroups", {"ContactGroups": [{"Name": "Later"}]})
    assert "Later" in {g.name for g in sandbox.state().groups.values()}
