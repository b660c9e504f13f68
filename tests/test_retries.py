"""The retry policy: only safe requests, one Idempotency-Key across attempts, Retry-After honoured,
day limits and client errors never retried, attempts and time bounded, each retry logged."""

from __future__ import annotations

import logging
from typing import Any

import httpx2
import pytest
import respx

from conftest import API, TOKEN
from xero_contacts_mcp.runtime import open_runtime

CONTACT = "4d5e6f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
OK = respx.MockResponse(200, json={"Contacts": [{"ContactID": CONTACT, "Name": "A"}]})


def offline() -> respx.MockResponse:
    return respx.MockResponse(503, text="The Organisation is Offline")


async def test_503_then_success_reuses_the_idempotency_key(runtime: Any, httpx2_mock: respx.Router) -> None:
    route = httpx2_mock.put(f"{API}/Contacts").mock(side_effect=[offline(), offline(), OK])
    httpx2_mock.get(f"{API}/Contacts").respond(200, json={"Contacts": []})  # the archived-namesake read after it
    result = await runtime.runner.run("xero_contacts_create_contacts", {"Contacts": [{"Name": "A"}]})
    assert not result.is_error, result.text
    keys = {c.request.headers["Idempotency-Key"] for c in route.calls}
    assert route.call_count == 3 and len(keys) == 1
    assert runtime.client.retries == 2


@pytest.mark.parametrize("failure", [httpx2.ConnectError("refused"), httpx2.RemoteProtocolError("dropped"),
                                     httpx2.ReadTimeout("slow")])
async def test_transport_failures_are_retried(runtime: Any, httpx2_mock: respx.Router, failure: Exception) -> None:
    route = httpx2_mock.get(f"{API}/Contacts").mock(side_effect=[failure, OK])
    result = await runtime.runner.run("xero_contacts_get_contacts", {})
    assert not result.is_error and route.call_count == 2


async def test_retry_after_is_honoured(runtime: Any, httpx2_mock: respx.Router) -> None:
    limited = respx.MockResponse(429, headers={"Retry-After": "0.2", "X-Rate-Limit-Problem": "minute"})
    route = httpx2_mock.get(f"{API}/Contacts").mock(side_effect=[limited, OK])
    import time

    started = time.monotonic()
    result = await runtime.runner.run("xero_contacts_get_contacts", {})
    assert not result.is_error and route.call_count == 2
    assert time.monotonic() - started >= 0.2  # waited what Xero asked, not the (tiny) test backoff


async def test_concurrent_limit_without_retry_after_backs_off(runtime: Any, httpx2_mock: respx.Router) -> None:
    busy = respx.MockResponse(429, headers={"X-Rate-Limit-Problem": "concurrent"})
    route = httpx2_mock.get(f"{API}/Contacts").mock(side_effect=[busy, busy, OK])
    assert not (await runtime.runner.run("xero_contacts_get_contacts", {})).is_error
    assert route.call_count == 3


@pytest.mark.parametrize(("reply", "expected"), [
    (respx.MockResponse(429, headers={"Retry-After": "61234", "X-Rate-Limit-Problem": "day"}), "daily limit"),
    (respx.MockResponse(429, headers={"Retry-After": "30", "X-Rate-Limit-Problem": "minute"}), "after 30 seconds"),
    (respx.MockResponse(400, json={"Type": "ValidationException", "Elements": []}), "400"),
    (respx.MockResponse(404, text="nope"), "404"),
    (respx.MockResponse(500, json={"Detail": "bad input"}), "500"),
])
async def test_never_retried(runtime: Any, httpx2_mock: respx.Router, reply: respx.MockResponse, expected: str) -> None:
    route = httpx2_mock.get(f"{API}/Contacts/{CONTACT}").mock(return_value=reply)
    result = await runtime.runner.run("xero_contacts_get_contact", {"ContactID": CONTACT})
    assert result.is_error and expected in result.text
    assert route.call_count == 1  # a day limit, a wait past the deadline, or a client error: fail fast


async def test_exhausted_retries_say_how_often_and_when_to_try_again(runtime: Any, httpx2_mock: respx.Router) -> None:
    route = httpx2_mock.get(f"{API}/Contacts").mock(return_value=offline())
    result = await runtime.runner.run("xero_contacts_get_contacts", {})
    assert result.is_error
    assert "Tried 5 times" in result.text and "try again in a few minutes" in result.text
    assert route.call_count == 5


async def test_the_deadline_bounds_the_whole_call(settings_factory: Any, httpx2_mock: respx.Router) -> None:
    settings = settings_factory(xero_mcp_retry_attempts=20, xero_mcp_retry_deadline=0.3,
                                xero_mcp_retry_max_wait=0.1)
    route = httpx2_mock.get(f"{API}/Contacts").mock(return_value=offline())
    async with open_runtime(settings) as rt:
        result = await rt.runner.run("xero_contacts_get_contacts", {})
    assert result.is_error
    assert 1 < route.call_count < 20


async def test_each_retry_is_logged_with_its_reason_and_no_secret(runtime: Any, httpx2_mock: respx.Router,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    httpx2_mock.get(f"{API}/Contacts").mock(side_effect=[offline(), OK])
    with caplog.at_level(logging.INFO, logger="xero_contacts_mcp"):
        await runtime.runner.run("xero_contacts_get_contacts", {})
    lines = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert lines == ["retrying GET /Contacts with backoff after 503 (attempt 2 of 5)"]
    assert TOKEN not in caplog.text
