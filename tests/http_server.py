"""Start `xero-contacts-mcp serve --transport http` as a real subprocess for tests and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def http_server(*args: str, **env: str) -> Iterator[str]:
    """Yield the server's base URL once /healthz answers; stop it (SIGTERM) afterwards."""
    with http_server_process(*args, **env) as (base, _):
        yield base


@contextmanager
def http_server_process(*args: str, **env: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Like http_server, also yielding the process (to signal it)."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("XERO_")}
    environment.update({"XERO_MCP_LOG_LEVEL": "WARNING", **env})
    process = subprocess.Popen(
        [sys.executable, "-m", "xero_contacts_mcp", "serve", "--transport", "http", "--port", str(port), *args],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                error = process.stderr.read() if process.stderr else ""
                raise RuntimeError(f"server exited {process.returncode}: {error}")
            try:
                if httpx2.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start within 20 s")
            time.sleep(0.1)
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
