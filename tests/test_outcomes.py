"""An unknown outcome stays unknown (issue 15 item 1) and a request never sent is never a possible write
(issue 18 item 3).

Each test starts a write whose first attempt reaches Xero and gets no answer (the sandbox applies it,
then drops the connection), then ends the call another way: the limiter, shared state down, the
deadline, a failed token refresh, retries exhausted. Whatever ends it, the model must read that the
write may have been applied and the Idempotency-Key to repeat it with; "Nothing was sent" only when true.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
import respx
from mcp import Client

from conftest import API, TENANT
from xero_contacts_mcp.runtime import open_runtime
from xero_contacts_mcp.sandbox import Sandbox
from xero_contacts_mcp.server.app import build_server
from xero_contacts_mcp.state.cache import SharedStateUnavailable
from xero_contacts_mcp.tools.catalogue import load_catalogue
from xero_contacts_mcp.tools.runner import ToolRunner, UnknownToolError
from xero_contacts_mcp.xero.client import ClientConfig, XeroClient
from xero_contacts_mcp.xero.errors import InvalidRequestError
from xero_contacts_mcp.xero.http import Request
from xero_contacts_mcp.xero.oauth import OAuth2Auth, TokenEndpointError
from xero_contacts_mcp.xero.retry import RetryPolicy

CREATE = "xero_contacts_create_contacts"


class MCP:
    def __init__(self, client: Client, sandbox: Sandbox) -> None:
        self.client = client
        self.sandbox = sandbox

    async def call(self, tool: str, args: dict[str, Any]) -> tuple[bool, str]:
        result = await self.client.call_tool(tool, args)
        return bool(result.is_error), str(result.content[0].text)  # type: ignore[union-attr]

    def named(self, name: str) -> int:
        return sum(c.name == name for c in self.sandbox.state().contacts.values())


@asynccontextmanager
async def served(runner: ToolRunner, sandbox: Sandbox) -> AsyncIterator[MCP]:
    server = build_server(runner, instructions="", unknown_tool=UnknownToolError)
    async with Client(server) as client:
        yield MCP(client, sandbox)


@asynccontextmanager
async def sandbox_session(settings_factory: Any, sandbox: Sandbox | None = None,
                          **overrides: Any) -> AsyncIterator[tuple[MCP, Any]]:
    settings = settings_factory(xero_mcp_sandbox=True, xero_access_token=None, xero_tenant_id=None, **overrides)
    async with open_runtime(settings, sandbox=sandbox) as rt, served(rt.runner, rt.sandbox) as mcp:
        yield mcp, rt


def assert_unknown(text: str, key: str) -> None:
    """The text says the write may have been applied and gives this call's key; it never claims otherwise."""
    assert "may already have applied this PUT" in text, text
    assert f'Idempotency-Key "{key}"' in text, text
    assert "othing was sent" not in text, text
    assert "Traceback" not in text


async def test_deadline_after_a_dropped_write_keeps_the_outcome_unknown(settings_factory: Any) -> None:
    async with sandbox_session(settings_factory) as (mcp, _):
        mcp.sandbox.faults.drop_next_writes(1)  # applied, then the connection drops
        mcp.sandbox.faults.rate_limit_next(1, "minute", retry_after=60)  # the retry cannot wait that long
        failed, text = await mcp.call(CREATE, {"Contacts": [{"Name": "Kiwi Joinery"}], "Idempotency-Key": "k-dl"})
        assert failed
        assert_unknown(text, "k-dl")
        assert "Retry after 60 seconds" in text
        assert mcp.named("Kiwi Joinery") == 1  # it had been applied
        sandbox = mcp.sandbox
    # the advice works (from a server that has not been told to pause): the same key applies it at most once
    async with sandbox_session(settings_factory, sandbox) as (mcp, _):
        failed, text = await mcp.call(CREATE, {"Contacts": [{"Name": "Kiwi Joinery"}], "Idempotency-Key": "k-dl"})
        assert not failed, text
        assert mcp.named("Kiwi Joinery") == 1


async def test_the_limiter_after_a_dropped_write_keeps_the_outcome_unknown(settings_factory: Any) -> None:
    async with sandbox_session(settings_factory, xero_mcp_tenant_per_minute=1, xero_mcp_rate_window=30.0,
                               xero_mcp_retry_deadline=1.0) as (mcp, _):
        mcp.sandbox.faults.drop_next_writes(1)  # spends the window's only place; the retry must queue past it
        failed, text = await mcp.call(CREATE, {"Contacts": [{"Name": "Weka Wiring"}], "Idempotency-Key": "k-lim"})
        assert failed
        assert_unknown(text, "k-lim")
        assert "1 call per 30 s and 5 at once" in text  # the limits in force, not Xero's 60 a minute
        assert mcp.named("Weka Wiring") == 1


async def test_a_queue_that_never_sent_anything_says_so_with_the_limits_in_force(settings_factory: Any) -> None:
    async with sandbox_session(settings_factory, xero_mcp_tenant_per_minute=1, xero_mcp_rate_window=30.0,
                               xero_mcp_retry_deadline=0.5) as (mcp, _):
        await mcp.call("xero_contacts_get_contact_groups", {})
        failed, text = await mcp.call(CREATE, {"Contacts": [{"Name": "Tuatara Tiles"}]})
    assert failed and "Nothing was sent" in text and "Idempotency-Key" not in text
    assert "1 call per 30 s and 5 at once" in text and "60 a minute" not in text


class DownAfterFirst:
    """The real limiter, whose shared store stops answering after the first call (Redis gone mid-call)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.limits = inner.limits
        self.slots = 0

    def slot(self, tenant: str, deadline: float) -> Any:
        self.slots += 1
        if self.slots > 1:
            raise SharedStateUnavailable("Redis did not answer within 1 s.")
        return self.inner.slot(tenant, deadline)

    async def observe(self, tenant: str, status: int, headers: Any) -> None:
        await self.inner.observe(tenant, status, headers)


async def test_shared_state_down_after_a_dropped_write_keeps_the_outcome_unknown(settings_factory: Any) -> None:
    async with sandbox_session(settings_factory) as (mcp, rt):
        rt.client.limiter = DownAfterFirst(rt.client.limiter)
        mcp.sandbox.faults.drop_next_writes(1)
        failed, text = await mcp.call(CREATE, {"Contacts": [{"Name": "Pukeko Paints"}], "Idempotency-Key": "k-red"})
        assert failed
        assert_unknown(text, "k-red")
        assert "Shared state is unavailable" in text
        assert mcp.named("Pukeko Paints") == 1


class RefreshFailsAfterFirst:
    """A token source whose refresh fails once the first attempt is out (Xero's identity service down)."""

    def __init__(self, token: str) -> None:
        self._token = token
        self.calls = 0

    async def token(self) -> str:
        self.calls += 1
        if self.calls > 1:
            raise TokenEndpointError("Xero's identity service failed (503); try again shortly.")
        return self._token

    async def renew(self, rejected: str) -> str | None:
        return None


async def test_a_failed_token_refresh_after_a_dropped_write_keeps_the_outcome_unknown() -> None:
    sandbox = Sandbox()
    config = ClientConfig("https://api.xero.com/api.xro/2.0", sandbox.tenant_id,
                          retry=RetryPolicy.bounded(5, 2.0, 0.01))
    client = XeroClient(config, OAuth2Auth(RefreshFailsAfterFirst(sandbox.access_token)), sandbox.transport())
    runner = ToolRunner(load_catalogue(), client)
    try:
        async with served(runner, sandbox) as mcp:
            sandbox.faults.drop_next_writes(1)
            failed, text = await mcp.call(CREATE, {"Contacts": [{"Name": "Kaka Kitchens"}], "Idempotency-Key": "k-tok"})
            assert failed
            assert_unknown(text, "k-tok")
            assert "identity service failed" in text
            assert mcp.named("Kaka Kitchens") == 1
    finally:
        await client.aclose()


async def test_retries_exhausted_on_unreachable_after_a_dropped_write_keep_the_outcome_unknown(
        runtime: Any, httpx2_mock: respx.Router) -> None:
    route = httpx2_mock.put(f"{API}/Contacts").mock(side_effect=[
        httpx2.RemoteProtocolError("Server disconnected without sending a response."),
        *[httpx2.ConnectError("refused")] * 4])
    result = await runtime.runner.run(CREATE, {"Contacts": [{"Name": "A"}]})
    key = route.calls.last.request.headers["Idempotency-Key"]
    assert result.is_error and route.call_count == 5
    assert_unknown(result.text, key)
    assert "Tried 5 times" in result.text


async def test_a_401_on_the_retry_of_a_dropped_write_keeps_the_outcome_unknown(
        runtime: Any, httpx2_mock: respx.Router) -> None:
    httpx2_mock.post(f"{API}/Contacts").mock(side_effect=[
        httpx2.RemoteProtocolError("dropped"),
        respx.MockResponse(401, json={"Title": "Unauthorized", "Detail": "AuthenticationUnsuccessful"})])
    result = await runtime.runner.run("xero_contacts_update_or_create_contacts",
                                      {"Contacts": [{"Name": "A"}], "Idempotency-Key": "k-401"})
    assert result.is_error
    assert 'Idempotency-Key "k-401"' in result.text and "may already have applied this POST" in result.text


async def test_xeros_verdict_on_the_retry_settles_the_outcome(runtime: Any, httpx2_mock: respx.Router) -> None:
    """A 400 to the same key is Xero's answer to this request (an applied one would have been replayed)."""
    httpx2_mock.put(f"{API}/Contacts").mock(side_effect=[
        httpx2.RemoteProtocolError("dropped"),
        respx.MockResponse(400, json={"ErrorNumber": 10, "Type": "ValidationException", "Message": "x",
                                      "Elements": [{"Name": "A", "ValidationErrors": [{"Message": "Bad."}]}]})])
    result = await runtime.runner.run(CREATE, {"Contacts": [{"Name": "A"}]})
    assert result.is_error and "Bad." in result.text and "may already have applied" not in result.text


# ── issue 18 item 3: a request our HTTP client refuses to send is "not sent" ──────────────────────────


@pytest.fixture
def listener() -> Iterator[tuple[str, list[int]]]:
    """A loopback HTTP/1.1 listener on an ephemeral port that records how many bytes each connection sent."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    received: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                received.append(len(data))
                if data:
                    conn.sendall(b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 16\r\n\r\n'
                                 b'{"Contacts": []}')

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/api.xro/2.0", received
    finally:
        server.close()


async def test_a_header_httpx2_refuses_is_not_sent_not_retried_and_not_a_possible_write(
        listener: tuple[str, list[int]]) -> None:
    url, received = listener
    client = XeroClient(ClientConfig(url, TENANT, retry=RetryPolicy.bounded(5, 2.0, 0.01)),
                        OAuth2Auth(RefreshFailsAfterFirst("tok")))
    try:
        # past prepare()'s own checks (a client that skips it): httpx2 itself refuses the value
        request = Request("PUT", "/Contacts", {}, {"xero-tenant-id": TENANT, "Idempotency-Key": "k "}, {})
        with pytest.raises(InvalidRequestError) as caught:
            await client._send_once(request, deadline=10**9)
    finally:
        await client.aclose()
    assert not caught.value.outcome_unknown and "Nothing was sent" in str(caught.value)
    assert sum(received) == 0


async def test_keys_and_tokens_with_surrounding_whitespace_are_trimmed_and_sent_once(
        listener: tuple[str, list[int]], settings_factory: Any) -> None:
    url, received = listener
    settings = settings_factory(xero_api_url=url, xero_access_token=" tok-with-space \n".strip("\n"))
    async with open_runtime(settings) as rt:
        result = await rt.runner.run(CREATE, {"Contacts": [{"Name": "A"}], "Idempotency-Key": " k-trim "})
    assert not result.is_error, result.text
    assert len(received) == 1 and received[0] > 0  # sent once, not refused and retried five times


async def test_app_credentials_with_surrounding_whitespace_are_trimmed(settings_factory: Any,
                                                                       httpx2_mock: respx.Router) -> None:
    import base64

    token = httpx2_mock.post("https://identity.xero.com/connect/token").respond(
        200, json={"access_token": "cc-token", "expires_in": 1800, "token_type": "Bearer"})
    httpx2_mock.get(f"{API}/ContactGroups").respond(200, json={"ContactGroups": []})
    settings = settings_factory(xero_access_token=None, xero_client_id=" cc-app \t", xero_client_secret=" cc-secret ")
    async with open_runtime(settings) as rt:
        result = await rt.runner.run("xero_contacts_get_contact_groups", {})
    assert not result.is_error, result.text
    basic = token.calls.last.request.headers["Authorization"].removeprefix("Basic ")
    assert base64.b64decode(basic).decode() == "cc-app:cc-secret"
