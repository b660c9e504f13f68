"""Idempotency-Key: replay without re-applying, mismatch, length, TTL, tenant scope, in-flight duplicates."""

from __future__ import annotations

import asyncio
from typing import Any

from xero_contacts_mcp.sandbox import Sandbox
from xero_contacts_mcp.sandbox.seed import seed_id


def group_names(sandbox: Sandbox, tenant: str | None = None) -> list[str]:
    return sorted(g.name for g in sandbox.state(tenant).groups.values())


async def test_same_request_replays_the_first_reply(api: Any, sandbox: Sandbox) -> None:
    headers = api.headers({"Idempotency-Key": "key-1"})
    body = {"ContactGroups": [{"Name": "Once"}]}
    first = await api.put("/ContactGroups", body, headers=headers)
    second = await api.put("/ContactGroups", {"ContactGroups": [{"Name": "Once"}]}, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json(), "the replay is byte-for-byte the first reply"
    assert group_names(sandbox) == ["Once", "Preferred Suppliers"]
    assert sandbox.stats.idempotent_replays == 1
    assert sandbox.stats.writes_applied == 1
    assert second.headers["X-MinLimit-Remaining"] == "58", "replays still count toward limits"


async def test_errors_are_replayed_too(api: Any, sandbox: Sandbox) -> None:
    headers = api.headers({"Idempotency-Key": "dup"})
    body = {"ContactGroups": [{"Name": "Preferred Suppliers"}]}
    first = await api.put("/ContactGroups", body, headers=headers)
    sandbox.state().groups.clear()
    second = await api.put("/ContactGroups", body, headers=headers)
    assert first.status_code == second.status_code == 400
    assert sandbox.state().groups == {}


async def test_json_key_order_does_not_matter(api: Any, sandbox: Sandbox) -> None:
    headers = api.headers({"Idempotency-Key": "order", "content-type": "application/json"})
    one = await api.request(
        "POST", "/Contacts", content=b'{"Contacts":[{"Name":"Z","EmailAddress":"z@z.io"}]}', headers=headers
    )
    two = await api.request(
        "POST", "/Contacts", content=b'{ "Contacts": [ {"EmailAddress": "z@z.io", "Name": "Z"} ] }', headers=headers
    )
    assert one.json() == two.json()
    assert sum(c.name == "Z" for c in sandbox.state().contacts.values()) == 1


async def test_different_request_with_same_key_is_400(api: Any, sandbox: Sandbox) -> None:
    headers = api.headers({"Idempotency-Key": "reused"})
    await api.put("/ContactGroups", {"ContactGroups": [{"Name": "First"}]}, headers=headers)
    for response in (
        await api.put("/ContactGroups", {"ContactGroups": [{"Name": "Second"}]}, headers=headers),
        await api.put("/Contacts", {"ContactGroups": [{"Name": "First"}]}, headers=headers),
        await api.request(
            "PUT", "/ContactGroups", json_body={"ContactGroups": [{"Name": "First"}]}, params={"x": 1}, headers=headers
        ),
    ):
        assert response.status_code == 400
        body = response.json()
        assert body["Type"] == "IdempotencyKeyReusedException"
        assert "reused" in body["Message"] and "different request" in body["Message"]
    assert group_names(sandbox) == ["First", "Preferred Suppliers"]


async def test_key_longer_than_128_is_refused(api: Any, sandbox: Sandbox) -> None:
    ok = await api.put(
        "/ContactGroups", {"ContactGroups": [{"Name": "A"}]}, headers=api.headers({"Idempotency-Key": "k" * 128})
    )
    assert ok.status_code == 200
    long = await api.put(
        "/ContactGroups", {"ContactGroups": [{"Name": "B"}]}, headers=api.headers({"Idempotency-Key": "k" * 129})
    )
    assert long.status_code == 400 and long.json()["Type"] == "IdempotencyKeyInvalidException"
    assert "B" not in group_names(sandbox)


async def test_key_expires_after_ttl(api: Any, sandbox: Sandbox) -> None:
    headers = api.headers({"Idempotency-Key": "ttl"})
    await api.put("/ContactGroups", {"ContactGroups": [{"Name": "T1"}]}, headers=headers)
    sandbox.clock.advance(359)
    assert (await api.put("/ContactGroups", {"ContactGroups": [{"Name": "T2"}]}, headers=headers)).status_code == 400
    sandbox.clock.advance(2)
    fresh = await api.put("/ContactGroups", {"ContactGroups": [{"Name": "T2"}]}, headers=headers)
    assert fresh.status_code == 200
    assert group_names(sandbox) == ["Preferred Suppliers", "T1", "T2"]


async def test_keys_are_per_tenant(api: Any, sandbox: Sandbox) -> None:
    other = sandbox.tenants[1]
    body = {"ContactGroups": [{"Name": "Shared"}]}
    await api.put("/ContactGroups", body, headers=api.headers({"Idempotency-Key": "same"}))
    await api.put("/ContactGroups", body, headers=api.headers({"Idempotency-Key": "same"}, xero_tenant_id=other))
    assert group_names(sandbox, other) == ["Shared"]


async def test_key_is_ignored_on_get_and_delete(api: Any, sandbox: Sandbox) -> None:
    headers = api.headers({"Idempotency-Key": "g"})
    await api.get("/Contacts", headers=headers)
    created = await api.put("/ContactGroups", {"ContactGroups": [{"Name": "G"}]}, headers=headers)
    assert created.status_code == 200, "the GET did not claim the key"
    group = seed_id("group:Preferred Suppliers")
    member = seed_id("contact:Bayside Club")
    delete_headers = api.headers({"Idempotency-Key": "d"})
    first = await api.delete(f"/ContactGroups/{group}/Contacts/{member}", headers=delete_headers)
    second = await api.delete(f"/ContactGroups/{group}/Contacts/{member}", headers=delete_headers)
    assert (first.status_code, second.status_code) == (204, 404), "DELETE is not replayed"


async def test_concurrent_duplicate_waits_for_the_first(api: Any, sandbox: Sandbox) -> None:
    sandbox.faults.set_latency(0.1)
    headers = api.headers({"Idempotency-Key": "race"})
    body = {"Contacts": [{"Name": "Racer"}]}
    first, second = await asyncio.gather(
        api.put("/Contacts", body, headers=headers), api.put("/Contacts", body, headers=headers)
    )
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert sum(c.name == "Racer" for c in sandbox.state().contacts.values()) == 1
