"""Hosted mode as a team runs it: stateless replicas on ports chosen beforehand (the public URL must be known
before they start) behind a round-robin layer-4 balancer in the test's own process, which is the public URL.
Used by `test_hosted_xero_e2e.py` and `bench/hosted.py`.

    balancer = Balancer([port1, port2]); public = f"http://127.0.0.1:{balancer.port}"
    servers = [Replica(env, log, port) for ...]  # fleet.Replica; [s.wait_ready() for s in servers]; await balancer.start()
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from pathlib import Path
from typing import Any

from http_server import free_port


class Balancer:
    """A round-robin layer-4 load balancer: each accepted connection is piped to the next upstream."""

    def __init__(self, upstreams: list[int]) -> None:
        self.upstreams = upstreams
        self.port = free_port()
        self.connections: Counter[int] = Counter()
        self._next = itertools.cycle(upstreams)
        self._server: asyncio.Server | None = None
        self._piping: set[asyncio.Future[Any]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, backlog=512)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = next(self._next)
        self.connections[port] += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()

        task = asyncio.ensure_future(asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer)))
        self._piping.add(task)
        task.add_done_callback(self._piping.discard)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._piping):  # idle kept-alive connections: nothing more will come through them
            task.cancel()
        await asyncio.gather(*self._piping, return_exceptions=True)


def environment(sandbox: Any, redis_url: str, prefix: str, workdir: Path) -> dict[str, str]:
    """A replica's environment against the standalone sandbox (its Web app, URLs, JWKS and issuer) and Redis;
    add XERO_MCP_PUBLIC_URL and XERO_MCP_ENCRYPTION_KEY for hosted mode (or XERO_MCP_HTTP_TOKEN for bearer)."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("XERO_")}
    env.update({
        "XDG_CONFIG_HOME": str(workdir / "config"), "XDG_CACHE_HOME": str(workdir / "cache"),
        **sandbox.xero_env(), "XERO_TOKEN_FILE": str(workdir / "no-such-tokens.json"),
        "XERO_MCP_REDIS_URL": redis_url, "XERO_MCP_REDIS_PREFIX": prefix,
    })
    return env
