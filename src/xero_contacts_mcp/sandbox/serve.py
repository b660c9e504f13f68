"""Standalone server: the sandbox on loopback via uvicorn, announced by one JSON line on stdout.

stdout carries only that line (so a parent process can read it); logs go to stderr. SIGINT and
SIGTERM shut down gracefully with exit status 0. A "drop" fault closes the socket after the
response headers, so an HTTP client sees the connection die without a complete response.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import json
import logging
import signal
import socket
import sys
import threading
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from xero_contacts_mcp.sandbox.config import SandboxConfig
from xero_contacts_mcp.sandbox.faults import DropConnection

if TYPE_CHECKING:
    import uvicorn

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


MISDIRECTED = b'{"error":"misdirected_request","error_description":"this sandbox answers only loopback host names"}'


class LoopbackHostOnly:
    """ASGI wrapper: a request whose Host is not a loopback name gets 421. The sandbox hands out its token
    and app secrets at /_sandbox/info; without this, a web page whose name is rebound to 127.0.0.1 (DNS
    rebinding) could read them, as the browser then sends the page's own name as Host."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not _loopback_host(dict(scope.get("headers") or []).get(b"host", b"")):
            await send({"type": "http.response.start", "status": 421, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(MISDIRECTED)).encode())]})
            await send({"type": "http.response.body", "body": MISDIRECTED})
            return
        await self.app(scope, receive, send)


def _loopback_host(value: bytes) -> bool:
    """`localhost`, `127.0.0.1`, `[::1]` (any loopback address), with or without a port."""
    host = value.decode("latin-1").strip().lower()
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return False
    else:
        name, _, port = host.partition(":")
        if port and not port.isdigit():
            return False
    return bool(name) and is_loopback(name)


class _HideDrops(logging.Filter):
    """Injected drops are intended; keep uvicorn from logging them as application crashes."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DropConnection)


def _log_config() -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"drops": {"()": _HideDrops}},
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "plain",
                "filters": ["drops"],
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def listening_socket(host: str) -> socket.socket:
    """A TCP socket for the server to bind. proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted
    connections only for such sockets, and without it every reply on a kept-alive connection waits ~40 ms
    (Nagle's algorithm meeting the client's delayed ACK)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


def run(host: str = "127.0.0.1", port: int = 8765, *, empty: bool = False, config: SandboxConfig | None = None) -> int:
    """Serve until interrupted; returns the process exit status (0 on SIGINT/SIGTERM, 2 on bad host)."""
    if not is_loopback(host):
        sys.stderr.write(f"sandbox: refusing to listen on non-loopback host {host!r}\n")
        return 2
    import uvicorn

    from xero_contacts_mcp.sandbox.core import Sandbox

    chosen = config or SandboxConfig(enforce_limits=True)
    if empty:
        chosen = dataclasses.replace(chosen, seed=False)
    sandbox = Sandbox(chosen)
    sock = listening_socket(host)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sys.stderr.write(f"sandbox: cannot listen on {host}:{port}: {exc}\n")
        sock.close()
        return 1
    bound_port = sock.getsockname()[1]
    server = _make_server(
        uvicorn.Config(
            LoopbackHostOnly(sandbox.app),
            http="h11",
            lifespan="off",
            access_log=False,
            log_config=_log_config(),
            timeout_graceful_shutdown=2,
        )
    )
    url_host = f"[{host.strip('[]')}]" if sock.family == socket.AF_INET6 else host
    announcement = sandbox.describe(f"http://{url_host}:{bound_port}")

    async def main() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn offers no started event
            await asyncio.sleep(0.01)
        if server.started:
            sys.stdout.write(json.dumps(announcement) + "\n")
            sys.stdout.flush()
        await task

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


def _make_server(config: uvicorn.Config) -> uvicorn.Server:
    """A uvicorn server that handles SIGINT/SIGTERM itself and does not re-raise them on exit
    (uvicorn re-raises captured signals, which would turn a clean stop into status -15)."""
    import uvicorn

    class QuietSignalServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return QuietSignalServer(config)
