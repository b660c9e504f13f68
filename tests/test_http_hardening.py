"""The HTTP server against hostile and careless clients (issue 18): idle and slow connections, a full
server, guessed tokens, a stop with calls in flight, and DNS rebinding of the standalone sandbox."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import anyio
import httpx2
import pytest

from http_server import free_port, wait_healthy
from xero_contacts_mcp.cli import main
from xero_contacts_mcp.server.connections import RESERVED_FDS, ConnectionLimitError, plan_connections
from xero_contacts_mcp.server.http import AuthFailures, HTTPConfigError, HTTPOptions, _answer_even_if_cut_off, check

TOKEN = "hardening-test-token-0123456789abcdef"  # 37 characters
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
           "mcp-protocol-version": "2025-11-25"}
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}


@contextmanager
def served(*args: str, nofile: int | None = None, **env: str) -> Iterator[tuple[int, subprocess.Popen[bytes], IO[bytes]]]:
    """`serve --transport http` as a subprocess (optionally limited to `nofile` descriptors), its stderr in a
    file: yields (port, process, stderr file)."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("XERO_")}
    environment.update({"XERO_MCP_LOG_LEVEL": "WARNING", **env})

    def limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "xero_contacts_mcp", "serve", "--transport", "http", "--port", str(port), *args],
            env=environment, stdout=subprocess.DEVNULL, stderr=stderr, preexec_fn=limit)

        def log() -> str:
            stderr.seek(0)
            return stderr.read().decode(errors="replace")

        try:
            wait_healthy(f"http://127.0.0.1:{port}", process, log)
            yield port, process, stderr
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def healthz(port: int, timeout: float = 10.0) -> tuple[bytes, float]:
    """GET /healthz on a fresh connection: (status line, seconds it took)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        head = sock.recv(64)
    return head.split(b"\r\n")[0], time.monotonic() - started


def closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def test_1100_idle_connections_do_not_lock_out_a_1024_descriptor_server() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1300:  # this test process holds the 1,100 client ends itself
        if hard != resource.RLIM_INFINITY and hard < 1300:
            pytest.skip("this process may not open 1,100 sockets")
        resource.setrlimit(resource.RLIMIT_NOFILE, (1300, hard))
    sockets: list[socket.socket] = []
    with served(nofile=1024) as (port, _, stderr):
        stderr.seek(0, 2)
        before = stderr.tell()
        try:
            for _ in range(1100):  # a full listen queue drops SYNs: a connect may take a retransmit or two
                sock = socket.socket()
                sockets.append(sock)
                sock.settimeout(10)
                sock.connect(("127.0.0.1", port))
            time.sleep(0.5)  # the last connections accepted, all 1,100 still open on this side
            for _ in range(3):
                status, took = healthz(port)
                assert status == b"HTTP/1.1 200 OK" and took < 2.0, (status, took)
        finally:
            for sock in sockets:
                sock.close()
        stderr.seek(0, 2)
        assert stderr.tell() - before < 100_000


def test_a_connection_that_sends_no_complete_request_is_closed() -> None:
    with served(XERO_MCP_READ_TIMEOUT="1") as (port, _, _):
        silent = socket.create_connection(("127.0.0.1", port))
        partial = socket.create_connection(("127.0.0.1", port))
        partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
        slow_body = socket.create_connection(("127.0.0.1", port))
        slow_body.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 100\r\n\r\n{")
        with silent, partial, slow_body:
            assert closed_by_server(silent, within=8)
            assert closed_by_server(partial, within=8)
            assert closed_by_server(slow_body, within=8)
        # a kept-alive connection still serves one request after another
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            assert [client.get("/healthz").status_code for _ in range(3)] == [200, 200, 200]


def test_at_the_cap_the_oldest_idle_connection_makes_room_and_busy_ones_mean_an_immediate_503() -> None:
    with served(XERO_MCP_MAX_CONNECTIONS="3", XERO_MCP_READ_TIMEOUT="30") as (port, _, _):
        time.sleep(0.5)  # wait_healthy's own connections are gone
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        time.sleep(0.3)
        status, _ = healthz(port)
        assert status == b"HTTP/1.1 200 OK"
        assert closed_by_server(idle[0], within=5)  # the oldest made room
        assert not closed_by_server(idle[1], within=0.2)
        for sock in idle:
            sock.close()
        time.sleep(0.3)
        busy = []
        for _ in range(3):  # requests whose bodies are still coming: in progress, never closed to make room
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100\r\n\r\n{")
            busy.append(sock)
        time.sleep(0.3)
        status, took = healthz(port)
        assert status == b"HTTP/1.1 503 Service Unavailable" and took < 2.0
        for sock in busy:
            assert not closed_by_server(sock, within=0.1)
            sock.close()


def test_the_connection_cap_is_derived_from_the_descriptor_limit_or_checked() -> None:
    assert plan_connections(None, (1024, 1024)) == (1024 - RESERVED_FDS, 1024)
    assert plan_connections(None, (1 << 20, 1 << 20))[0] == 4096  # memory, not descriptors, bounds it then
    assert plan_connections(None, (256, 256))[0] == 64
    assert plan_connections(2000, (1024, 4096)) == (2000, 2000 + RESERVED_FDS)  # the soft limit is raised
    with pytest.raises(ConnectionLimitError, match="XERO_MCP_MAX_CONNECTIONS=5000 needs about"):
        plan_connections(5000, (1024, 4096))


def test_an_impossible_connection_cap_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XERO_MCP_MAX_CONNECTIONS", str(10**9))
    assert main(["serve", "--transport", "http"]) == 2
    err = capsys.readouterr().err
    assert "XERO_MCP_MAX_CONNECTIONS=1000000000 needs about" in err and "Traceback" not in err


@pytest.mark.parametrize(("host", "token", "refused"), [
    ("0.0.0.0", "q", True),  # noqa: S104 - the unsafe bind under test
    ("10.1.2.3", "x" * 31, True),
    ("10.1.2.3", "x" * 32, False),
    ("127.0.0.1", "q", False),  # loopback: the machine's own users only
])
def test_a_public_bind_needs_a_token_of_32_characters(host: str, token: str, refused: bool) -> None:
    options = HTTPOptions(host=host, token=token)
    if refused:
        with pytest.raises(HTTPConfigError, match="at least 32"):
            check(options)
    else:
        check(options)


def test_a_short_token_on_a_public_bind_exits_2(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XERO_MCP_HTTP_TOKEN", "q")
    assert main(["serve", "--transport", "http", "--host", "0.0.0.0"]) == 2  # noqa: S104
    assert "1-character XERO_MCP_HTTP_TOKEN" in capsys.readouterr().err


def test_wrong_tokens_from_one_address_are_slowed_and_the_right_one_then_waits_too() -> None:
    with served(XERO_MCP_HTTP_TOKEN="q") as (port, _, _):  # loopback allows a weak token: guessing it must be slow
        url = f"http://127.0.0.1:{port}/mcp"

        def post(token: str) -> httpx2.Response:
            return httpx2.post(url, json=INIT, headers={**HEADERS, "Authorization": f"Bearer {token}"}, timeout=10)

        assert [post(guess).status_code for guess in "abcde"] == [401] * 5
        assert post("f").status_code == 401  # the sixth wrong one: wait 1 s before the next try
        blocked = post("q")  # not even the right token is looked at meanwhile
        assert blocked.status_code == 429 and blocked.headers["retry-after"] == "1"
        time.sleep(1.1)
        assert post("g").status_code == 401  # the seventh: 2 s
        assert post("h").status_code == 429
        time.sleep(2.1)
        assert post("q").status_code == 200
        assert [post(guess).status_code for guess in "abcde"] == [401] * 5  # the right token cleared the count


def test_wrong_token_memory_is_bounded_and_an_ipv6_client_counts_as_its_64() -> None:
    failures = AuthFailures(size=100)
    for n in range(1000):
        failures.failed(f"10.0.{n // 256}.{n % 256}", now=0.0)
    assert len(failures.entries) == 100
    one = AuthFailures.key({"client": ("2001:db8::1", 1)})
    assert one == AuthFailures.key({"client": ("2001:db8::ffff:2", 1)}) == "2001:db8::/64"
    assert AuthFailures.key({"client": ("::ffff:10.0.0.1", 1)}) == "10.0.0.1"
    for _ in range(6):
        failures.failed(one, now=100.0)
    assert failures.wait(one, now=100.5) == pytest.approx(0.5)
    assert failures.wait(one, now=100.0 + 901) == 0.0  # forgotten after 15 quiet minutes


@contextmanager
def sandbox() -> Iterator[dict[str, Any]]:
    process = subprocess.Popen([sys.executable, "-m", "xero_contacts_mcp", "sandbox", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        yield json.loads(process.stdout.readline())
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize(("grace", "latency", "cut_off"), [("1", 15.0, True), ("6", 2.0, False)])
async def test_sigterm_waits_out_the_grace_and_answers_a_write_cut_off_with_its_idempotency_key(
        grace: str, latency: float, cut_off: bool) -> None:
    with sandbox() as info:
        control = info["api_url"].split("/api.xro")[0] + "/_sandbox"
        env = {"XERO_MCP_HTTP_TOKEN": TOKEN, "XERO_API_URL": info["api_url"], "XERO_ACCESS_TOKEN": info["access_token"],
               "XERO_TENANT_ID": info["tenant_id"], "XERO_MCP_SHUTDOWN_GRACE": grace, "XERO_MCP_TIMEOUT": "60"}
        call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
            "name": "xero_contacts_create_contact_group", "arguments": {"ContactGroups": [{"Name": "Cut off"}]}}}
        with served(**env) as (port, process, _):
            base = f"http://127.0.0.1:{port}"
            async with httpx2.AsyncClient(headers={**HEADERS, "Authorization": f"Bearer {TOKEN}"},
                                          timeout=30) as http:
                opened = await http.post(f"{base}/mcp", json=INIT)
                http.headers["mcp-session-id"] = opened.headers["mcp-session-id"]
                await http.post(f"{base}/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"})
                httpx2.post(f"{control}/faults", json={"kind": "latency", "seconds": latency}, timeout=5)
                replies: list[httpx2.Response] = []

                async def slow_call() -> None:
                    replies.append(await http.post(f"{base}/mcp", json=call))

                started = time.monotonic()
                async with anyio.create_task_group() as tg:
                    tg.start_soon(slow_call)
                    await anyio.sleep(0.7)  # the call is now waiting on the slow upstream
                    process.send_signal(signal.SIGTERM)
                took = time.monotonic() - started
            assert replies[0].status_code == 200 and replies[0].headers["content-type"] == "application/json"
            result = replies[0].json()["result"]
            text = result["content"][0]["text"]
            if cut_off:
                assert result["isError"] is True and took < 8, (took, text)
                assert "cut off: the server is shutting down" in text and "1-s shutdown grace" in text
                assert 'Idempotency-Key "' in text and "at most once" in text
            else:
                assert result["isError"] is False, text
            assert process.wait(timeout=15) == 0


async def test_a_request_the_server_cancels_gets_a_json_rpc_error_not_a_plain_500() -> None:
    sent: list[dict[str, Any]] = []
    body = json.dumps({"jsonrpc": "2.0", "id": 42, "method": "tools/call", "params": {}}).encode()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def stuck_app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await asyncio.sleep(3600)

    task = asyncio.ensure_future(_answer_even_if_cut_off(stuck_app, {"type": "http"}, receive, send))
    await asyncio.sleep(0.05)
    task.cancel()  # what uvicorn does to requests still open when its shutdown timeout ends
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sent[0]["status"] == 503
    error = json.loads(sent[1]["body"])
    assert error["id"] == 42 and error["error"]["code"] == -32603 and "Idempotency-Key" in error["error"]["message"]


def test_the_standalone_sandbox_answers_only_loopback_host_names() -> None:
    with sandbox() as info:
        control = info["api_url"].split("/api.xro")[0] + "/_sandbox/info"
        port = control.split(":")[2].split("/")[0]
        assert httpx2.get(control, timeout=5).status_code == 200
        for host in ("localhost", f"localhost:{port}", f"[::1]:{port}"):
            assert httpx2.get(control, headers={"Host": host}, timeout=5).status_code == 200, host
        for host in ("attacker.example", f"attacker.example:{port}", f"127.0.0.1.attacker.example:{port}"):
            reply = httpx2.get(control, headers={"Host": host}, timeout=5)
            assert reply.status_code == 421, host
            assert "access_token" not in reply.text
        assert httpx2.get(info["api_url"] + "/Contacts", headers={"Host": "rebound.example"},
                          timeout=5).status_code == 421


@pytest.mark.parametrize(("env", "grace"), [({}, 45.0), ({"XERO_MCP_RETRY_DEADLINE": "90"}, 90.0),
                                            ({"XERO_MCP_RETRY_DEADLINE": "90", "XERO_MCP_SHUTDOWN_GRACE": "5"}, 5.0)])
def test_the_shutdown_grace_is_the_call_deadline_unless_set(env: dict[str, str], grace: float,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from xero_contacts_mcp.cli import _http_options
    from xero_contacts_mcp.settings import Settings

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    options = _http_options(argparse.Namespace(host="127.0.0.1", port=8000), Settings())
    assert options.graceful_seconds == grace


def test_a_client_cannot_make_the_server_log_a_storm() -> None:
    import logging
    import uuid

    from xero_contacts_mcp.server.connections import ThrottleFilter

    throttle = ThrottleFilter(interval=3600)
    records = [logging.LogRecord("mcp.server.streamable_http_manager", logging.INFO, __file__, 1,
                                 f"Rejected request with unknown or expired session ID: {uuid.uuid4().hex}", None, None)
               for _ in range(1000)]
    passed = [r for r in records if throttle.filter(r)]
    assert len(passed) == 1
    for held in throttle.throttles.values():
        held.next_at = 0.0  # the interval is over
    later = logging.LogRecord("mcp.server.streamable_http_manager", logging.INFO, __file__, 1,
                              "Rejected request with unknown or expired session ID: 1234abcd", None, None)
    assert throttle.filter(later) and "(999 more like this in the last 3600 s)" in later.getMessage()
    other = logging.LogRecord("uvicorn.error", logging.WARNING, __file__, 1, "Invalid HTTP request received.",
                              None, None)
    assert throttle.filter(other)  # another message has its own allowance


def test_a_call_cut_off_says_what_it_means_for_reads_keyed_writes_and_other_writes() -> None:
    from types import SimpleNamespace

    from xero_contacts_mcp.server.app import cut_off_text

    def tool(read_only: bool) -> Any:
        return SimpleNamespace(annotations={"readOnlyHint": read_only})

    reason = "the server is shutting down"
    read = cut_off_text(tool(True), "get", {}, reason, "Idempotency-Key")
    keyed = cut_off_text(tool(False), "create", {"Idempotency-Key": "k-1"}, reason, "Idempotency-Key")
    unkeyed = cut_off_text(tool(False), "delete", {}, reason, "Idempotency-Key")
    assert read.startswith("get was cut off: the server is shutting down.") and "nothing changed" in read
    assert 'Idempotency-Key "k-1" so it is applied at most once' in keyed
    assert "may already have been applied: check" in unkeyed
