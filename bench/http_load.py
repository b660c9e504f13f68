"""HTTP throughput and latency: many SDK client sessions against `serve --transport http`, then fewer.

    python bench/http_load.py [--sessions 1,10,50] [--calls 100] [--json PATH] [--markdown]

`python -m xero_contacts_mcp serve --transport http` (bearer token, stateful sessions, its limiter out of
the way) runs against a standalone sandbox (limits off). For each session count, that many SDK clients —
`mcp.Client(streamable_http_client(url, http_client=httpx2.AsyncClient(...)))`, one httpx2 client each,
as separate users would have — connect (not timed), wait for each other, then each makes `--calls`
sequential `xero_contacts_get_contact` calls with a fixed ContactID. A failure is a raised exception or an
`isError` result. Figures per level: calls/s (all calls / wall time from the common start to the last
answer), p50/p99 latency of a call, failures, and the CPU seconds the MCP server and this load generator
(all clients, one process) used — the three processes share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from harness import (
    SANDBOX_LIMITS_OFF,
    BenchError,
    check,
    cpu_seconds,
    finish,
    http_server,
    machine,
    sandbox,
    server_env,
    summary,
    versions,
)

TOKEN = "bench-http-token"  # noqa: S105 - a loopback-only benchmark credential
TOOL = "xero_contacts_get_contact"
HEADLINE_SESSIONS = 50


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _level(url: str, sessions: int, calls: int, contact_id: str, server_pid: int) -> dict[str, Any]:
    ready = asyncio.Event()
    connected = 0
    all_connected = asyncio.Event()
    latencies: list[float] = []
    failures: list[str] = []
    ended: list[float] = []

    async def session() -> None:
        nonlocal connected
        async with (httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"},
                                       timeout=httpx2.Timeout(30, read=300)) as http,
                    Client(streamable_http_client(url, http_client=http)) as client):
            connected += 1
            if connected == sessions:
                all_connected.set()
            await ready.wait()
            for _ in range(calls):
                start = time.perf_counter()
                try:
                    result = await client.call_tool(TOOL, {"ContactID": contact_id})
                except Exception as exc:
                    failures.append(f"{type(exc).__name__}: {exc}"[:300])
                    continue
                finally:
                    latencies.append((time.perf_counter() - start) * 1000)
                if result.is_error:
                    failures.append(str(result.content)[:300])
            ended.append(time.perf_counter())

    tasks = [asyncio.create_task(session()) for _ in range(sessions)]
    waiting = asyncio.create_task(all_connected.wait())
    await asyncio.wait([waiting, *tasks], return_when=asyncio.FIRST_COMPLETED)
    if not all_connected.is_set():  # a session failed to connect: surface its exception
        for task in tasks:
            if task.done() and task.exception():
                raise BenchError(f"a session could not connect: {task.exception()!r}")
    server_cpu, own_cpu = cpu_seconds(server_pid), _own_cpu()
    started = time.perf_counter()
    ready.set()
    await asyncio.gather(*tasks)
    wall = max(ended) - started
    total = sessions * calls
    return {"sessions": sessions, "calls": total, "wall_s": wall, "calls_per_s": total / wall,
            "failures": len(failures), "failure_examples": failures[:5], **summary(latencies),
            "server_cpu_s": cpu_seconds(server_pid) - server_cpu, "client_cpu_s": _own_cpu() - own_cpu}


async def measure(levels: list[int], calls: int) -> dict[str, Any]:
    with sandbox() as sb, tempfile.TemporaryDirectory(prefix="http-load-") as home:
        sb.limits(**SANDBOX_LIMITS_OFF)
        contact_id = sb.http.get(f"{sb.api_url}/Contacts", headers=sb.api_headers()).json()["Contacts"][0]["ContactID"]
        env = server_env(sb, home, XERO_MCP_HTTP_TOKEN=TOKEN)
        with http_server(env, home) as server:
            await _level(server.url, 2, 20, contact_id, server.pid)  # warm-up: imports, first calls, pools
            results = [await _level(server.url, n, calls, contact_id, server.pid) for n in levels]
            sandbox_requests = sb.stats()["api_requests_total"]
    figures: dict[str, Any] = {"machine": machine(), "versions": versions(), "tool": TOOL,
                               "calls_per_session": calls, "levels": results,
                               "sandbox_api_requests": sandbox_requests}
    headline = next((r for r in results if r["sessions"] == HEADLINE_SESSIONS), results[-1])
    failures = sum(r["failures"] for r in results)
    figures["checks"] = [
        check(f"HTTP, {headline['sessions']} sessions × {calls} calls: zero failures",
              f"{headline['failures']} failures of {headline['calls']:,} ({failures} at all levels)",
              failures == 0),
        check(f"HTTP throughput / latency at {headline['sessions']} sessions (informational)",
              f"{headline['calls_per_s']:.0f} calls/s, p50 {headline['median_ms']:.1f} ms, "
              f"p99 {headline['p99_ms']:.1f} ms", None),
    ]
    return figures


def report(figures: dict[str, Any]) -> str:
    lines = [f"HTTP: {figures['tool']}, {figures['calls_per_session']} sequential calls per SDK session"]
    for r in figures["levels"]:
        lines.append(f"  {r['sessions']:3d} sessions: {r['calls_per_s']:7.0f} calls/s  p50 {r['median_ms']:7.1f} ms  "
                     f"p99 {r['p99_ms']:7.1f} ms  failures {r['failures']}  CPU server {r['server_cpu_s']:.1f} s, "
                     f"clients {r['client_cpu_s']:.1f} s, wall {r['wall_s']:.1f} s")
        lines += [f"      {example}" for example in r["failure_examples"]]
    return "\n".join(lines)


def markdown(figures: dict[str, Any]) -> str:
    rows = [f"| {r['sessions']} | {r['calls']:,} | {r['calls_per_s']:.0f} | {r['median_ms']:.1f} | {r['p99_ms']:.1f} | "
            f"{r['failures']} | {r['server_cpu_s'] * 1000 / r['calls']:.2f} | "
            f"{r['client_cpu_s'] * 1000 / r['calls']:.2f} |"
            for r in figures["levels"]]
    return "\n".join([
        f"`serve --transport http` (stateful, bearer token), `{figures['tool']}`, {figures['calls_per_session']} "
        "sequential calls per SDK client session, all sessions in one load-generator process on the same 2 cores.",
        "",
        "| sessions | calls | calls/s | p50 ms | p99 ms | failures | server CPU ms/call | client CPU ms/call |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", default="1,10,50", help="comma-separated session counts (default 1,10,50)")
    parser.add_argument("--calls", type=int, default=100, help="calls per session (default 100)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON here")
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table")
    args = parser.parse_args()
    levels = [int(n) for n in args.sessions.split(",") if n.strip()]
    return finish("http_load", lambda: asyncio.run(measure(levels, args.calls)), report, markdown, args)


if __name__ == "__main__":
    raise SystemExit(main())
