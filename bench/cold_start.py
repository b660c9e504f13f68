"""Cold start: spawn → `tools/list` answered, for our server and for a bare `mcp` server, interleaved.

    python bench/cold_start.py --runs 15 [--json out.json] [--markdown]

The client is a minimal raw JSON-RPC stdio driver (no SDK import in this process, so nothing but the
child's own work is timed). Each sample is the wall time from just before `subprocess.Popen` to the
moment the `tools/list` response line is parsed. Runs alternate ours, bare, ours, bare… so machine noise
hits both; the first `--warmup` runs of each are discarded. A benchmark, not a test: nothing asserts on time.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROTOCOL_VERSION = "2025-11-25"
TIMEOUT_S = 30.0
BARE_SERVER = Path(__file__).resolve().with_name("bare_server.py")


@dataclass(frozen=True)
class Target:
    name: str
    argv: list[str]
    expected_tools: int


OURS = Target("ours", [sys.executable, "-m", "xero_contacts_mcp"], 22)
BARE = Target("bare", [sys.executable, str(BARE_SERVER)], 1)


@dataclass
class Sample:
    seconds: float
    result: dict[str, Any]
    stderr: str


@dataclass
class Series:
    samples_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        cuts = statistics.quantiles(self.samples_ms, n=10, method="inclusive")
        return {"median_ms": statistics.median(self.samples_ms), "p10_ms": cuts[0], "p90_ms": cuts[-1]}


class BenchError(RuntimeError):
    """A server did not answer as expected: the benchmark stops loudly."""


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
    """The caller's environment without any XERO_* variable; config home points at an empty directory."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("XERO_")}
    env.update(XERO_MCP_LOG_LEVEL="WARNING", XDG_CONFIG_HOME=home)
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
        sample = exchange(target.argv, env, cwd)
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


def run(runs: int, warmup: int) -> dict[str, Any]:
    targets = [OURS, BARE]
    series = {t.name: Series() for t in targets}
    ours_result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="cold-start-") as home:
        env = child_env(home)
        for i in range(warmup + runs):
            for target in targets:  # interleaved: ours, bare, ours, bare…
                sample = measure(target, env, cwd=home)
                if target.name == "ours":
                    ours_result = sample.result
                if i >= warmup:
                    series[target.name].samples_ms.append(sample.seconds * 1000)
    summaries: dict[str, dict[str, Any]] = {name: {**s.summary(), "samples_ms": s.samples_ms}
                                            for name, s in series.items()}
    return {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")},
        "runs": runs,
        "warmup": warmup,
        "servers": summaries,
        "ratio_median": summaries["ours"]["median_ms"] / summaries["bare"]["median_ms"],
        "delta_median_ms": summaries["ours"]["median_ms"] - summaries["bare"]["median_ms"],
        "tools_list_bytes": {"tools": compact_size(ours_result["tools"]), "result": compact_size(ours_result)},
    }


def report(figures: dict[str, Any]) -> str:
    lines = [f"cold start, spawn → tools/list answered ({figures['runs']} runs each, "
             f"{figures['warmup']} warm-up discarded, interleaved)"]
    for name, s in figures["servers"].items():
        lines.append(f"  {name:<5} median {s['median_ms']:7.1f} ms   p10 {s['p10_ms']:7.1f} ms   "
                     f"p90 {s['p90_ms']:7.1f} ms")
    lines.append(f"  ratio ours/bare (medians): {figures['ratio_median']:.2f}   "
                 f"ours − bare: {figures['delta_median_ms']:.0f} ms")
    sizes = figures["tools_list_bytes"]
    lines.append(f"  our tools/list: result.tools {sizes['tools']:,} bytes, result {sizes['result']:,} bytes "
                 "(compact JSON)")
    return "\n".join(lines)


def markdown(figures: dict[str, Any]) -> str:
    m = figures["machine"]
    rows = [f"| {name} | {s['median_ms']:.0f} | {s['p10_ms']:.0f} | {s['p90_ms']:.0f} |"
            for name, s in figures["servers"].items()]
    sizes = figures["tools_list_bytes"]
    return "\n".join([
        f"Machine: {m['platform']}, {m['cpus']} CPUs, Python {m['python']}, {m['date']}, "
        f"{figures['runs']} runs each (+{figures['warmup']} warm-up), interleaved.",
        "",
        "| server | median ms | p10 ms | p90 ms |",
        "|---|---:|---:|---:|",
        *rows,
        f"| **ratio ours/bare** | **{figures['ratio_median']:.2f}** | | |",
        f"| ours − bare | {figures['delta_median_ms']:.0f} | | |",
        "",
        f"tools/list: `result.tools` {sizes['tools']:,} bytes, `result` {sizes['result']:,} bytes (compact JSON).",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="measured runs per server (default 15)")
    parser.add_argument("--warmup", type=int, default=2, help="discarded warm-up runs per server (default 2)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON here")
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table")
    args = parser.parse_args()
    if args.runs < 2:
        parser.error("--runs must be at least 2")
    try:
        figures = run(args.runs, args.warmup)
    except BenchError as exc:
        print(f"cold_start: FAILED: {exc}", file=sys.stderr)
        return 1
    print(report(figures))
    if args.markdown:
        print()
        print(markdown(figures))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
