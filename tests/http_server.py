"""Start `xero-contacts-mcp serve --transport http` as a real subprocess for tests and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(base: str, process: subprocess.Popen[Any], log: Callable[[], str], timeout: float = 20.0) -> None:
    """Return once `base`/healthz answers 200; raise with the server's log if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited {process.returncode}: {log()}")
        try:
            if httpx2.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server did not answer /healthz within {timeout:g} s: {log()}")
        time.sleep(0.05)


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
        # the pipe can be read to its end only once the server has exited
        wait_healthy(base, process, lambda: process.stderr.read() if process.stderr and process.poll() is not None
                     else "")
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
