"""What a team runs behind a load balancer: N stateless HTTP replicas of the real server, sharing one
Redis, in front of the standalone sandbox (as Xero). Used by the replica tests and `bench/replicas.py`.

    with sandbox_process() as sb, RedisServer() as redis, Fleet(sb, redis.url, tmp_path) as fleet:
        await fleet.login()                  # `login`, in-process, stores the login in Redis
        replicas = fleet.start(4)            # real `serve --transport http --stateless` processes
        result = await fleet.call(replicas[0], "xero_contacts_get_contacts", {"summaryOnly": True})
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx2

from http_server import free_port, wait_healthy
from sandbox_process import SandboxProcess, browser

HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
           "mcp-protocol-version": "2025-11-25"}


@dataclass
class Result:
    is_error: bool
    text: str
    data: Any
    elapsed: float  # seconds, as the caller saw it


class Replica:
    """One `xero-contacts-mcp serve --transport http --stateless` process; its stderr goes to a file."""

    def __init__(self, env: dict[str, str], log: Path, port: int | None = None) -> None:
        self.port = port or free_port()  # hosted mode chooses it beforehand: its public URL must be known
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        with log.open("w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "xero_contacts_mcp", "serve", "--transport", "http", "--stateless",
                 "--port", str(self.port)], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=stderr)

    def wait_ready(self, timeout: float = 30.0) -> None:
        wait_healthy(self.base, self.process, self.log, timeout)

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when a node dies."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""


class Fleet:
    """Replicas configured alike: the sandbox's Web app, one Redis URL and prefix, and `env` on top."""

    def __init__(self, sandbox: SandboxProcess, redis_url: str, workdir: Path, **env: str) -> None:
        self.sandbox = sandbox
        self.redis_url = redis_url
        self.workdir = workdir
        self.prefix = f"fleet-{uuid.uuid4().hex[:8]}:"
        self.extra = env
        self.replicas: list[Replica] = []
        self._http = httpx2.AsyncClient(headers=HEADERS, timeout=httpx2.Timeout(90),
                                        limits=httpx2.Limits(max_connections=200, max_keepalive_connections=50))
        self._ids = 0

    def env(self) -> dict[str, str]:
        """The environment variables every replica (and the operator's `login`) uses."""
        values = {
            **self.sandbox.xero_env(),
            "XERO_TOKEN_FILE": str(self.workdir / "no-such-tokens.json"),  # Redis, never this file
            "XERO_MCP_REDIS_URL": self.redis_url, "XERO_MCP_REDIS_PREFIX": self.prefix,
            "XERO_MCP_LOG_LEVEL": "INFO",
        }
        values.update(self.extra)
        return values

    def settings(self, **overrides: Any) -> Any:
        from xero_contacts_mcp.settings import Settings

        values: dict[str, Any] = {k.lower(): v for k, v in self.env().items()}
        values["xero_redirect_uri"] = f"http://127.0.0.1:{free_port()}/callback"
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    async def login(self, tenant: str | None = None) -> Any:
        """The operator's `xero-contacts-mcp login`, once, from "any machine": the login lands in Redis."""
        from xero_contacts_mcp.login import run_login

        said: list[str] = []
        return await run_login(self.settings(), tenant=tenant or self.sandbox.info["tenant_id"],
                               open_browser=browser(), say=said.append, wait=15)

    def start(self, count: int, **env: str) -> list[Replica]:
        """Start `count` replicas at once and wait until each answers /healthz."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("XERO_")}
        base.update({"XDG_CONFIG_HOME": str(self.workdir / "config"), "XDG_CACHE_HOME": str(self.workdir / "cache")})
        started = []
        for _ in range(count):
            index = len(self.replicas)
            replica = Replica({**base, **self.env(), **env}, self.workdir / f"replica-{index}.log")
            self.replicas.append(replica)
            started.append(replica)
        for replica in started:
            replica.wait_ready()
        return started

    async def call(self, replica: Replica, tool: str, arguments: dict[str, Any] | None = None) -> Result:
        """One `tools/call` as a JSON-RPC POST (stateless: no session, any replica can answer)."""
        self._ids += 1
        body = {"jsonrpc": "2.0", "id": self._ids, "method": "tools/call",
                "params": {"name": tool, "arguments": arguments or {}}}
        started = time.perf_counter()
        reply = await self._http.post(f"{replica.base}/mcp", json=body)
        elapsed = time.perf_counter() - started
        if reply.status_code != 200:
            return Result(True, f"HTTP {reply.status_code}: {reply.text[:300]}", None, elapsed)
        message = reply.json()
        if "error" in message:
            return Result(True, f"JSON-RPC error: {message['error']}", None, elapsed)
        result = message["result"]
        text = "".join(c.get("text", "") for c in result.get("content", []))
        return Result(bool(result.get("isError")), text, result.get("structuredContent"), elapsed)

    def logs(self) -> str:
        """Every replica's stderr tail, for assertion messages."""
        return "\n".join(f"--- replica {i} ---\n{r.log()}" for i, r in enumerate(self.replicas))

    async def aclose(self) -> None:
        for replica in self.replicas:
            replica.stop()
        await self._http.aclose()

    async def __aenter__(self) -> Fleet:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()
