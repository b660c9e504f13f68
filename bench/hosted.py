"""Hosted for a team (per-person OAuth): what an OAuth-authenticated call costs over bearer mode, and 50 people at
once on 2 replicas with 0 cross-person leaks and 0 failures.

    python bench/hosted.py [--people 50] [--calls 10] [--sequential 300] [--json PATH] [--markdown]

Everything is real processes on loopback: the standalone sandbox (`xero-contacts-mcp sandbox --port 0`, as Xero,
its limits off) with `--people` more users added through its control API (`p00`, `p01`, …, each owning one
organisation of their own), one throwaway password-protected `redis-server` (`tests/redis_server.py`), and
`python -m xero_contacts_mcp serve --transport http --stateless` replicas, all on Redis, logging at WARNING, the
replicas' own limiter out of the way (`XERO_MCP_TENANT_PER_MINUTE`, `…_CONCURRENCY`, `…_APP_PER_MINUTE` huge).

**Per-call overhead.** Two replicas started alike except for how `/mcp` is guarded:
- *bearer*: `XERO_MCP_HTTP_TOKEN` and the shared login (`login`, in-process, stored in Redis), acting on
  "Demo Company (Global)";
- *hosted*: `XERO_MCP_PUBLIC_URL` + `XERO_MCP_ENCRYPTION_KEY`; one person (`bench`, who is given access to the same
  "Demo Company (Global)", so both answers are byte for byte the same) signs in once through the whole flow
  (dynamic client registration, consent, the sandbox's Xero login, `/xero/callback`, the token exchange) and
  calls with that MCP access token.
`--sequential` pairs of `xero_contacts_get_contact_groups {}` (`tools/call` JSON-RPC POSTs, stateless, one in
flight), the two replicas interleaved and which goes first alternating pair by pair, after 20 warm-up calls
each. p50/p99 of each, the added milliseconds (hosted − bearer) at p50 and p99, and the median of the pairs'
differences (each pair's two calls run back to back, so this one moves least with the machine's load). What
the hosted call adds: the MCP token's hash looked up in Redis, its grant and `is_active` (the person's record)
checked, and that person's token set (sealed with Fernet) read from Redis and opened on every call.

**50 people on 2 replicas.** Two hosted replicas behind a round-robin TCP load balancer in this process (a new
upstream per connection, as a layer-4 balancer does); `XERO_MCP_PUBLIC_URL` is the balancer. Every person signs
in through it (10 at a time: registration, consent, Xero, callback and token exchange spread over both
replicas, the flow's state shared in Redis), then creates a contact group named after themselves in their own
organisation. Then all `--people` at once each make `--calls` `xero_contacts_get_contact_groups {}` calls, each
call on a new connection (so consecutive calls of one person land on alternate replicas). A **leak** is a
result naming another person's group; a **failure** is an HTTP error, a JSON-RPC error or an `isError`. **Targets:
0 leaks and 0 failures.** Also: sign-in time per person, calls/s and p50/p99 under load, how the balancer spread
the connections, and the Xero refreshes and `invalid_grant`s the sandbox saw.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

from harness import BENCH, BenchError, check, finish, machine, summary, versions

sys.path.insert(0, str(BENCH.parent / "tests"))  # the tests' machinery: sandbox, Redis, a person's browser
from fleet import HEADERS, Replica
from hosted_fleet import Balancer, environment
from hosted_helpers import Browser, ManualClient
from http_server import free_port, wait_healthy
from redis_server import RedisServer
from sandbox_process import SandboxProcess, browser, sandbox_process

TOOL = "xero_contacts_get_contact_groups"
WARMUP = 20
SIGN_IN_AT_ONCE = 10
QUIET = {"XERO_MCP_LOG_LEVEL": "WARNING"}
UNLIMITED = {"XERO_MCP_TENANT_PER_MINUTE": "1000000", "XERO_MCP_TENANT_CONCURRENCY": "1000",
             "XERO_MCP_APP_PER_MINUTE": "100000000"}
SANDBOX_OFF = {"enforce_limits": False, "minute_limit": 10**6, "concurrent_limit": 10**4, "app_minute_limit": 10**8,
               "day_limit": 10**8, "minute_window": 60.0, "access_token_lifetime": 1800.0, "refresh_grace": 1800.0}
REDIS_PASSWORD = "bench-redis-password-9c2e"  # noqa: S105 - a loopback-only throwaway server
DEMO = "Demo Company (Global)"


# ── processes ───────────────────────────────────────────────────────────────────────────────────


def base_env(sb: SandboxProcess, redis_url: str, prefix: str, workdir: Path) -> dict[str, str]:
    return {**environment(sb, redis_url, prefix, workdir), **UNLIMITED, **QUIET}


def hosted_env(env: dict[str, str], public_url: str) -> dict[str, str]:
    from cryptography.fernet import Fernet

    return {**env, "XERO_MCP_PUBLIC_URL": public_url, "XERO_MCP_ENCRYPTION_KEY": Fernet.generate_key().decode()}


def started(servers: list[Replica]) -> list[Replica]:
    for server in servers:
        try:
            wait_healthy(server.base, server.process, server.log, 30)
        except RuntimeError as exc:
            raise BenchError(str(exc)) from None
    return servers


# ── people ──────────────────────────────────────────────────────────────────────────────────────


async def sign_in(public: str, sb: SandboxProcess, handle: str) -> tuple[str, float]:
    """The whole flow as one person's client and browser: register, authorize, consent, Xero, callback, token."""
    started_at = time.perf_counter()
    person = Browser(xero_user=handle)
    try:
        login = await person.http.get(f"{sb.control}/login-as", params={"user": handle})
        if login.status_code != 200:
            raise BenchError(f"the sandbox did not log {handle} in: {login.text[:200]}")
        client = await ManualClient.register(public, name=f"bench client of {handle}")
        tokens = await client.connect(person, state=secrets.token_urlsafe(8))
    finally:
        await person.aclose()
    return str(tokens["access_token"]), time.perf_counter() - started_at


class Caller:
    def __init__(self, *, keepalive: bool = True) -> None:
        limits = httpx2.Limits(max_connections=100, max_keepalive_connections=50 if keepalive else 0)
        self.http = httpx2.AsyncClient(headers=HEADERS, timeout=httpx2.Timeout(90), limits=limits)
        self._ids = itertools.count(1)

    async def call(self, base: str, token: str, tool: str, arguments: dict[str, Any] | None = None
                   ) -> tuple[bool, str, Any, float]:
        """(failed, text, structuredContent, seconds) of one stateless `tools/call`."""
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": "tools/call",
                "params": {"name": tool, "arguments": arguments or {}}}
        begun = time.perf_counter()
        reply = await self.http.post(f"{base}/mcp", json=body, headers={"Authorization": f"Bearer {token}"})
        elapsed = time.perf_counter() - begun
        if reply.status_code != 200:
            return True, f"HTTP {reply.status_code}: {reply.text[:300]}", None, elapsed
        message = reply.json()
        if "error" in message:
            return True, f"JSON-RPC error: {message['error']}", None, elapsed
        result = message["result"]
        text = "".join(c.get("text", "") for c in result.get("content", []))
        return bool(result.get("isError")), text, result.get("structuredContent"), elapsed

    async def aclose(self) -> None:
        await self.http.aclose()


def group_of(handle: str) -> str:
    return f"Group of {handle}"


# ── the two measurements ─────────────────────────────────────────────────────────────────────────


async def overhead(sb: SandboxProcess, redis_url: str, work: Path, pairs: int) -> dict[str, Any]:
    from xero_contacts_mcp.login import run_login
    from xero_contacts_mcp.settings import Settings

    static = secrets.token_urlsafe(32)
    env = base_env(sb, redis_url, f"bench-ovh-{secrets.token_hex(4)}:", work)
    values: dict[str, Any] = {k.lower(): v for k, v in env.items() if k.startswith("XERO_")}
    values["xero_redirect_uri"] = f"http://127.0.0.1:{free_port()}/callback"
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    await run_login(settings, tenant=sb.info["tenant_id"], open_browser=browser(), say=lambda _: None, wait=15)
    hosted_port = free_port()
    public = f"http://127.0.0.1:{hosted_port}"
    servers = started([Replica({**env, "XERO_MCP_HTTP_TOKEN": static}, work / "bearer.log", free_port()),
                       Replica(hosted_env(env, public), work / "hosted.log", hosted_port)])
    bearer, hosted = servers
    caller = Caller()
    try:
        token, _ = await sign_in(public, sb, "bench")
        sides = {"bearer": (bearer.base, static), "hosted": (hosted.base, token)}
        for base, credential in sides.values():
            for _ in range(WARMUP):
                failed, text, _, _ = await caller.call(base, credential, TOOL)
                if failed:
                    raise BenchError(f"warm-up call failed: {text}\n{bearer.log()}\n{hosted.log()}")
        samples: dict[str, list[float]] = {"bearer": [], "hosted": []}
        differences: list[float] = []  # hosted − bearer within each pair: robust to the machine's load drifting
        answers: dict[str, Any] = {}
        for i in range(pairs):
            pair: dict[str, float] = {}
            for side in (("bearer", "hosted") if i % 2 == 0 else ("hosted", "bearer")):
                failed, text, data, elapsed = await caller.call(*sides[side], TOOL)
                if failed:
                    raise BenchError(f"{side} call failed: {text}")
                samples[side].append(elapsed * 1000)
                pair[side] = elapsed * 1000
                answers[side] = data
            differences.append(pair["hosted"] - pair["bearer"])
        if answers["bearer"] != answers["hosted"]:
            raise BenchError("bearer and hosted calls answered differently; the comparison would be unfair")
    finally:
        await caller.aclose()
        for server in servers:
            server.stop()
    b, h = summary(samples["bearer"]), summary(samples["hosted"])
    return {"pairs": pairs, "warmup": WARMUP, "tool": TOOL, "bearer": b, "hosted": h,
            "added_p50_ms": h["median_ms"] - b["median_ms"], "added_p99_ms": h["p99_ms"] - b["p99_ms"],
            "paired_difference_median_ms": statistics.median(differences)}


async def team(sb: SandboxProcess, redis_url: str, work: Path, people: int, calls: int) -> dict[str, Any]:
    handles = [f"p{i:02d}" for i in range(people)]
    env = base_env(sb, redis_url, f"bench-team-{secrets.token_hex(4)}:", work)
    ports = [free_port(), free_port()]
    balancer = Balancer(ports)
    public = f"http://127.0.0.1:{balancer.port}"
    environment = hosted_env(env, public)
    servers = started([Replica(environment, work / f"team-{i}.log", port) for i, port in enumerate(ports)])
    await balancer.start()
    before = sb.stats()
    tokens: dict[str, str] = {}
    sign_ins: list[float] = []
    try:
        gate = asyncio.Semaphore(SIGN_IN_AT_ONCE)

        async def connect(handle: str) -> None:
            async with gate:
                tokens[handle], seconds = await sign_in(public, sb, handle)
                sign_ins.append(seconds * 1000)

        begun = time.perf_counter()
        await asyncio.gather(*(connect(h) for h in handles))
        sign_in_wall = time.perf_counter() - begun
        setup = Caller()
        try:
            for handle in handles:  # each person's own group, in their own organisation
                failed, text, _, _ = await setup.call(public, tokens[handle], "xero_contacts_create_contact_group",
                                                      {"ContactGroups": [{"Name": group_of(handle)}]})
                if failed:
                    raise BenchError(f"{handle} could not create their group: {text}\n"
                                     + "\n".join(s.log() for s in servers))
        finally:
            await setup.aclose()
        balancer.connections.clear()
        caller = Caller(keepalive=False)  # a new connection per call: the balancer alternates replicas
        failures: list[str] = []
        leaks: list[str] = []
        latencies: list[float] = []
        own = {group_of(h) for h in handles}

        async def work_as(handle: str) -> None:
            for _ in range(calls):
                failed, text, data, elapsed = await caller.call(public, tokens[handle], TOOL)
                latencies.append(elapsed * 1000)
                if failed:
                    failures.append(f"{handle}: {text[:200]}")
                    continue
                seen = {g.get("Name") for g in (data or {}).get("ContactGroups", [])} & own
                if seen != {group_of(handle)}:
                    leaks.append(f"{handle} saw {sorted(seen)}")

        try:
            begun = time.perf_counter()
            await asyncio.gather(*(work_as(h) for h in handles))
            wall = time.perf_counter() - begun
        finally:
            await caller.aclose()
        after = sb.stats()
    finally:
        await balancer.aclose()
        for server in servers:
            server.stop()
    spread = {f"replica {i}": balancer.connections[port] for i, port in enumerate(ports)}
    return {
        "people": people, "calls_per_person": calls, "calls": people * calls, "replicas": len(ports),
        "failures": len(failures), "leaks": len(leaks), "failure_samples": failures[:5], "leak_samples": leaks[:5],
        "sign_in": summary(sign_ins), "sign_in_wall_s": sign_in_wall, "sign_in_at_once": SIGN_IN_AT_ONCE,
        "wall_s": wall, "calls_per_s": people * calls / wall, "latency": summary(latencies), "spread": spread,
        "xero_logins": sum(after.get("logins", {}).values()) - sum(before.get("logins", {}).values()),
        "xero_refreshes": after.get("refreshes", 0) - before.get("refreshes", 0),
        "invalid_grants": after.get("invalid_grants", 0) - before.get("invalid_grants", 0),
    }


async def measure(people: int, calls: int, pairs: int) -> dict[str, Any]:
    with (tempfile.TemporaryDirectory(prefix="bench-hosted-") as tmp, sandbox_process() as sb,
          RedisServer(password=REDIS_PASSWORD) as redis):
        work = Path(tmp)
        sb.post("limits", SANDBOX_OFF)
        sb.post("users", [{"id": "bench", "organisations": [DEMO]},
                          *({"id": f"p{i:02d}", "organisations": [f"Person {i:02d} Ltd"]} for i in range(people))])
        figures: dict[str, Any] = {"machine": machine(), "versions": versions()}
        figures["overhead"] = await overhead(sb, redis.url, work, pairs)
        figures["team"] = await team(sb, redis.url, work, people, calls)
    figures["checks"] = checks(figures)
    return figures


def checks(figures: dict[str, Any]) -> list[dict[str, Any]]:
    o, t = figures["overhead"], figures["team"]
    return [
        check("OAuth-authenticated call vs bearer mode, added (informational)",
              f"{o['paired_difference_median_ms']:+.2f} ms median per pair (p50 {o['hosted']['median_ms']:.2f} vs "
              f"{o['bearer']['median_ms']:.2f} ms)", None),
        check(f"{t['people']} people on {t['replicas']} replicas: cross-person leaks = 0", str(t["leaks"]),
              t["leaks"] == 0),
        check(f"{t['people']} people on {t['replicas']} replicas: failures = 0", str(t["failures"]),
              t["failures"] == 0),
    ]


def report(figures: dict[str, Any]) -> str:
    o, t = figures["overhead"], figures["team"]
    lines = [
        f"per-call overhead ({o['pairs']} interleaved pairs of {o['tool']}, one in flight):",
        f"  bearer  p50 {o['bearer']['median_ms']:.2f} ms  p99 {o['bearer']['p99_ms']:.2f} ms",
        f"  hosted  p50 {o['hosted']['median_ms']:.2f} ms  p99 {o['hosted']['p99_ms']:.2f} ms",
        f"  added   p50 {o['added_p50_ms']:+.2f} ms  p99 {o['added_p99_ms']:+.2f} ms  "
        f"(median of the pairs' differences {o['paired_difference_median_ms']:+.2f} ms)",
        f"{t['people']} people × {t['calls_per_person']} calls on {t['replicas']} replicas behind a balancer:",
        f"  leaks {t['leaks']}, failures {t['failures']}, {t['calls_per_s']:.0f} calls/s, "
        f"p50 {t['latency']['median_ms']:.1f} ms, p99 {t['latency']['p99_ms']:.1f} ms; connections {t['spread']}",
        f"  sign-in p50 {t['sign_in']['median_ms']:.0f} ms, p99 {t['sign_in']['p99_ms']:.0f} ms "
        f"({t['sign_in_at_once']} at once; all in {t['sign_in_wall_s']:.1f} s); Xero logins {t['xero_logins']}, "
        f"refreshes {t['xero_refreshes']}, invalid_grant {t['invalid_grants']}",
    ]
    lines += [f"  leak: {s}" for s in t["leak_samples"]] + [f"  failure: {s}" for s in t["failure_samples"]]
    lines += [f"{'met   ' if c['met'] else 'MISSED' if c['met'] is False else 'info  '} {c['target']}: {c['value']}"
              for c in figures["checks"]]
    return "\n".join(lines)


def markdown(figures: dict[str, Any]) -> str:
    o, t = figures["overhead"], figures["team"]
    return "\n".join([
        "| per call (one in flight) | p50 | p99 |", "|---|---|---|",
        f"| bearer (`XERO_MCP_HTTP_TOKEN`, shared login) | {o['bearer']['median_ms']:.2f} ms | "
        f"{o['bearer']['p99_ms']:.2f} ms |",
        f"| hosted (a person's MCP OAuth token, their Xero token set) | {o['hosted']['median_ms']:.2f} ms | "
        f"{o['hosted']['p99_ms']:.2f} ms |",
        f"| added | {o['added_p50_ms']:+.2f} ms | {o['added_p99_ms']:+.2f} ms |",
        f"| median of the {o['pairs']} pairs' differences (hosted − bearer) | "
        f"{o['paired_difference_median_ms']:+.2f} ms | |",
        "",
        f"{t['people']} people signed in through the whole OAuth flow ({t['sign_in_at_once']} at once; p50 "
        f"{t['sign_in']['median_ms']:.0f} ms each), then {t['calls']} calls from all of them at once on "
        f"{t['replicas']} replicas ({', '.join(f'{k}: {v} connections' for k, v in t['spread'].items())}): "
        f"**{t['leaks']} cross-person leaks, {t['failures']} failures**, {t['calls_per_s']:.0f} calls/s, p50 "
        f"{t['latency']['median_ms']:.1f} ms, p99 {t['latency']['p99_ms']:.1f} ms; {t['invalid_grants']} "
        "`invalid_grant`.",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=50, help="people signing in and calling at once (default 50)")
    parser.add_argument("--calls", type=int, default=10, help="calls per person under load (default 10)")
    parser.add_argument("--sequential", type=int, default=300,
                        help="interleaved bearer/hosted pairs for the per-call overhead (default 300)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON here")
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table")
    args = parser.parse_args()
    return finish("hosted", lambda: asyncio.run(measure(args.people, args.calls, args.sequential)), report,
                  markdown, args)


if __name__ == "__main__":
    raise SystemExit(main())
