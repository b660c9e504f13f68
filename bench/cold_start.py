"""Cold start: spawn → `tools/list` answered, for our server, a bare `mcp` server and Xero's official server.

    python bench/cold_start.py --runs 15 [--json out.json] [--markdown] [--no-official] [--no-cold-cache]

The client is a minimal raw JSON-RPC stdio driver (no SDK import in this process, so nothing but the
child's own work is timed). Each sample is the wall time from just before `subprocess.Popen` to the
moment the `tools/list` response line is parsed. Runs are interleaved — ours, bare, official, ours with a
cold listing cache; the next round starts one further along — so machine noise hits all; the first
`--warmup` runs of each are discarded. A benchmark, not a test: nothing asserts on time.

Our server caches its tools/list listing in `$XDG_CACHE_HOME/xero-contacts-mcp/` keyed on tools.yaml:
"ours" shares one cache directory for the whole run (filled by a priming start: the normal case), "ours
(cold cache)" gets a fresh empty one every run (the first start after an install or a tools.yaml edit).
The official server (`@xeroapi/xero-mcp-server`, pinned in bench/package.json, `npm ci --prefix bench`)
is started as `node …/dist/index.js` (no npx) with dummy XERO_CLIENT_ID/XERO_CLIENT_SECRET: it lists its
tools without contacting Xero.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import OFFICIAL_ENTRY, PROTOCOL_VERSION, BenchError, check, finish, machine, quantile, versions

TIMEOUT_S = 30.0
BARE_SERVER = Path(__file__).resolve().with_name("bare_server.py")


@dataclass(frozen=True)
class Target:
    name: str
    argv: list[str]
    expected_tools: int
    extra_env: dict[str, str] = field(default_factory=dict)
    fresh_cache: bool = False  # a new, empty XDG_CACHE_HOME for every run


OURS = Target("ours", [sys.executable, "-m", "xero_contacts_mcp"], 22)
BARE = Target("bare", [sys.executable, str(BARE_SERVER)], 1)
OFFICIAL = Target("official", ["node", str(OFFICIAL_ENTRY)], 51,
                  extra_env={"XERO_CLIENT_ID": "bench-dummy-client-id", "XERO_CLIENT_SECRET": "bench-dummy-secret"})
OURS_COLD = Target("ours (cold cache)", OURS.argv, 22, fresh_cache=True)


@dataclass
class Sample:
    seconds: float
    result: dict[str, Any]
    stderr: str


@dataclass
class Series:
    samples_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        return {"median_ms": statistics.median(self.samples_ms), "p10_ms": quantile(self.samples_ms, 0.1),
                "p90_ms": quantile(self.samples_ms, 0.9)}


def _message(method: str, params: dict[str, Any] | None = None, msg_id: int | None = None) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if msg_id is not None:
        message["id"] = msg_id
    if params is not None:
        message["params"] = params
    return (json.dumps(message) + "\n").encode()


HANDSHAKE = b"".join([
    _message("initialize", {"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                            "clientInfo": {"name": "cold-start-bench", "version": "0"}}, msg_id=1),
    _message("notifications/initialized"),
    _message("tools/list", {}, msg_id=2),
])


def child_env(home: str) -> dict[str, str]:
    """The caller's environment without any XERO_* variable; config home points at an empty directory,
    cache home at a directory of the run (ours keeps its tools/list listing there)."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("XERO_")}
    env.update(XERO_MCP_LOG_LEVEL="WARNING", XDG_CONFIG_HOME=home, XDG_CACHE_HOME=os.path.join(home, "cache"))
    return env


def exchange(argv: list[str], env: dict[str, str], cwd: str) -> Sample:
    """Spawn `argv`, send the handshake and time until the `tools/list` response is parsed.

    `Sample.stderr` is the child's stderr up to that moment. Raises BenchError if it errors or hangs.
    """
    with tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env, cwd=cwd)
        assert proc.stdin is not None
        watchdog = threading.Timer(TIMEOUT_S, proc.kill)  # a hung child gets killed, so readline() sees EOF
        watchdog.start()
        try:
            proc.stdin.write(HANDSHAKE)
            proc.stdin.flush()
            result = _read_response(proc, msg_id=2)
            elapsed = time.perf_counter() - start
        except (BenchError, OSError) as exc:  # OSError: a broken pipe, the child died early
            raise BenchError(f"{exc}\n--- child stderr ---\n{_snapshot(stderr)[-4000:]}") from None
        finally:
            watchdog.cancel()
            log = _snapshot(stderr)
            _stop(proc)
    return Sample(elapsed, result, log)


def _snapshot(file: Any) -> str:
    """What the child wrote so far, read without moving the file offset it shares with the child."""
    fd = file.fileno()
    return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")


def measure(target: Target, env: dict[str, str], cwd: str) -> Sample:
    """One cold start of `target`, checked for the expected number of tools."""
    try:
        if target.fresh_cache:
            with tempfile.TemporaryDirectory(prefix="cold-cache-") as cache:
                sample = exchange(target.argv, {**env, **target.extra_env, "XDG_CACHE_HOME": cache}, cwd)
        else:
            sample = exchange(target.argv, {**env, **target.extra_env}, cwd)
    except BenchError as exc:
        raise BenchError(f"{target.name}: {exc}") from None
    count = len(sample.result.get("tools", []))
    if count != target.expected_tools:
        raise BenchError(f"{target.name}: tools/list returned {count} tools, expected {target.expected_tools}")
    return sample


def _read_response(proc: subprocess.Popen[bytes], msg_id: int) -> dict[str, Any]:
    assert proc.stdout is not None
    while line := proc.stdout.readline():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            raise BenchError(f"non-JSON line on stdout: {line[:200]!r}") from None
        if message.get("id") != msg_id:
            continue  # the initialize response, or a notification
        if "error" in message:
            raise BenchError(f"JSON-RPC error for request {msg_id}: {message['error']}")
        result: dict[str, Any] = message["result"]
        return result
    raise BenchError(f"stdout closed before the response to request {msg_id} (exit status {proc.wait()})")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stdout.close()


def compact_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


def _command(target: Target) -> str:
    """The argv as a reader would type it from the repository root."""
    root = str(BARE_SERVER.parent.parent) + os.sep
    return " ".join([Path(target.argv[0]).name, *(a.removeprefix(root) for a in target.argv[1:])])


def targets(official: bool, cold_cache: bool) -> list[Target]:
    return [OURS, BARE, *([OFFICIAL] if official else []), *([OURS_COLD] if cold_cache else [])]


def run(runs: int, warmup: int, chosen: list[Target] | None = None) -> dict[str, Any]:
    chosen = chosen or [OURS, BARE]
    if OFFICIAL in chosen and not OFFICIAL_ENTRY.exists():
        raise BenchError(f"the official server is not installed ({OFFICIAL_ENTRY} is missing): "
                         "run `npm ci --prefix bench`, or pass --no-official")
    series = {t.name: Series() for t in chosen}
    listings: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="cold-start-") as home:
        env = child_env(home)
        measure(OURS, env, cwd=home)  # primes our listing cache: "ours" is the warm-cache (normal) start
        for i in range(warmup + runs):
            shift = i % len(chosen)  # interleaved, and each target takes each position in turn
            for target in chosen[shift:] + chosen[:shift]:
                sample = measure(target, env, cwd=home)
                listings[target.name] = sample.result
                if i >= warmup:
                    series[target.name].samples_ms.append(sample.seconds * 1000)
    summaries: dict[str, dict[str, Any]] = {name: {**s.summary(), "samples_ms": s.samples_ms}
                                            for name, s in series.items()}
    ours = summaries["ours"]["median_ms"]
    ratios = {f"ours/{name}": ours / summaries[name]["median_ms"] for name in ("bare", "official")
              if name in summaries}
    figures: dict[str, Any] = {
        "machine": machine(),
        "versions": versions(),
        "runs": runs,
        "warmup": warmup,
        "order": [t.name for t in chosen],
        "commands": {t.name: _command(t) for t in chosen},
        "servers": summaries,
        "ratios_median": ratios,
        "ratio_median": ratios["ours/bare"],
        "delta_median_ms": ours - summaries["bare"]["median_ms"],
        "tools_list_bytes": {"tools": compact_size(listings["ours"]["tools"]),
                             "result": compact_size(listings["ours"])},
        "tools_list_bytes_by_server": {name: {"tools": len(r["tools"]), "bytes": compact_size(r["tools"])}
                                       for name, r in listings.items()},
    }
    figures["checks"] = checks(figures)
    return figures


def checks(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows for results.md's target table (all informational: cold start has no target)."""
    summaries, ratios = figures["servers"], figures["ratios_median"]
    ours = summaries["ours"]["median_ms"]
    rows = [check("cold start, ours/bare (medians; informational)",
                  f"{ratios['ours/bare']:.2f} ({ours:.0f} vs {summaries['bare']['median_ms']:.0f} ms)", None)]
    if "official" in summaries:
        rows.append(check("cold start, ours/official (medians; informational)",
                          f"{ratios['ours/official']:.2f} ({ours:.0f} vs {summaries['official']['median_ms']:.0f} ms)",
                          None))
    if OURS_COLD.name in summaries:
        cold = summaries[OURS_COLD.name]["median_ms"]
        rows.append(check("cold start with an empty listing cache (informational)",
                          f"{cold:.0f} ms ({cold - ours:+.0f} ms over warm)", None))
    return rows


def report(figures: dict[str, Any]) -> str:
    lines = [f"cold start, spawn → tools/list answered ({figures['runs']} runs each, "
             f"{figures['warmup']} warm-up discarded, interleaved)"]
    width = max(len(name) for name in figures["servers"])
    for name, s in figures["servers"].items():
        lines.append(f"  {name:<{width}} median {s['median_ms']:7.1f} ms   p10 {s['p10_ms']:7.1f} ms   "
                     f"p90 {s['p90_ms']:7.1f} ms")
    lines.append("  " + "   ".join(f"{k}: {v:.2f}" for k, v in figures["ratios_median"].items())
                 + f"   ours − bare: {figures['delta_median_ms']:.0f} ms")
    sizes = figures["tools_list_bytes"]
    lines.append(f"  our tools/list: result.tools {sizes['tools']:,} bytes, result {sizes['result']:,} bytes "
                 "(compact JSON)")
    return "\n".join(lines)


def markdown(figures: dict[str, Any]) -> str:
    m = figures["machine"]
    rows = [f"| {name} | {s['median_ms']:.0f} | {s['p10_ms']:.0f} | {s['p90_ms']:.0f} | "
            f"{figures['tools_list_bytes_by_server'][name]['tools']} | `{figures['commands'][name]}` |"
            for name, s in figures["servers"].items()]
    ratios = [f"| **{k}** (medians) | **{v:.2f}** | | | | |" for k, v in figures["ratios_median"].items()]
    sizes = figures["tools_list_bytes"]
    cold = figures["servers"].get(OURS_COLD.name)
    cold_line = ([f"Ours with an empty listing cache (fresh `XDG_CACHE_HOME` per run): median "
                  f"{cold['median_ms']:.0f} ms, {cold['median_ms'] - figures['servers']['ours']['median_ms']:+.0f} ms "
                  "over the warm-cache start.", ""] if cold else [])
    return "\n".join([
        f"Machine: {m['platform']}, {m['cpus']} CPUs, Python {m['python']}, {m['date']}, "
        f"{figures['runs']} runs each (+{figures['warmup']} warm-up), interleaved.",
        "",
        "| server | median ms | p10 ms | p90 ms | tools | command |",
        "|---|---:|---:|---:|---:|---|",
        *rows,
        *ratios,
        f"| ours − bare | {figures['delta_median_ms']:.0f} | | | | |",
        "",
        *cold_line,
        f"tools/list: `result.tools` {sizes['tools']:,} bytes, `result` {sizes['result']:,} bytes (compact JSON).",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="measured runs per server (default 15)")
    parser.add_argument("--warmup", type=int, default=2, help="discarded warm-up runs per server (default 2)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON here")
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table")
    parser.add_argument("--no-official", action="store_true", help="leave Xero's official server out")
    parser.add_argument("--no-cold-cache", action="store_true", help="leave the cold-listing-cache series out")
    args = parser.parse_args()
    if args.runs < 2:
        parser.error("--runs must be at least 2")
    chosen = targets(not args.no_official, not args.no_cold_cache)
    return finish("cold_start", lambda: run(args.runs, args.warmup, chosen), report, markdown, args)


if __name__ == "__main__":
    raise SystemExit(main())
