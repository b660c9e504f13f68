"""Memory at the session cap: RSS of `serve --transport http` (stateful) as sessions open, up to the cap.

    python bench/sessions.py [--sessions 1000] [--every 100] [--json PATH] [--markdown]

Each session is what an MCP client opens: `initialize` (the server answers with an `mcp-session-id`) and
`notifications/initialized`, then nothing more, so it stays open until its idle expiry
(`XERO_MCP_SESSION_IDLE`). The server runs with `XERO_MCP_MAX_SESSIONS` = `--sessions`; once that many
are open, one more `initialize` is sent and must be refused (503) at once. VmRSS of the server process
is read from /proc/<pid>/status at the start and every `--every` sessions.

Target: at the default cap (1,000 sessions) RSS stays under 150 MB. For the SDK's own default cap (10,000,
issue 18 measured 436 MB there) run `--sessions 10000`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

from harness import BenchError, check, clean_env, finish, http_server, machine, rss_kib, versions

TARGET_MB_AT_DEFAULT_CAP = 150.0
DEFAULT_CAP = 1000
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "bench", "version": "1"}}}
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def _open_session(http: httpx2.Client, url: str) -> httpx2.Response:
    reply = http.post(url, json=INIT, headers=HEADERS)
    if reply.status_code == 200:
        session = {**HEADERS, "mcp-session-id": reply.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
        http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
    return reply


def measure(sessions: int, every: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home:
        env = clean_env(XERO_MCP_SANDBOX="true", XERO_MCP_LOG_LEVEL="WARNING", XDG_CONFIG_HOME=home,
                        XDG_CACHE_HOME=str(Path(home) / "cache"), XERO_MCP_MAX_SESSIONS=str(sessions))
        with http_server(env, home) as server, httpx2.Client(timeout=30) as http:
            samples = [{"sessions": 0, **rss_kib(server.pid)}]
            started = time.perf_counter()
            for n in range(1, sessions + 1):
                reply = _open_session(http, server.url)
                if reply.status_code != 200:
                    raise BenchError(f"session {n} of {sessions} was refused: {reply.status_code} {reply.text[:200]}")
                if n % every == 0 or n == sessions:
                    samples.append({"sessions": n, **rss_kib(server.pid)})
            opening = time.perf_counter() - started
            refused_at = time.perf_counter()
            over = _open_session(http, server.url)
            refusal_ms = (time.perf_counter() - refused_at) * 1000
            if over.status_code != 503:
                raise BenchError(f"session {sessions + 1} was not refused at the cap: {over.status_code}")
            health = http.get(server.url.removesuffix("/mcp") + "/healthz").status_code
    start_mb, cap_mb = samples[0]["VmRSS"] / 1024, samples[-1]["VmRSS"] / 1024
    per_session_kib = (samples[-1]["VmRSS"] - samples[0]["VmRSS"]) / sessions
    figures: dict[str, Any] = {
        "sessions": sessions, "samples": samples, "start_mb": start_mb, "cap_mb": cap_mb,
        "per_session_kib": per_session_kib, "opening_s": opening, "refusal_ms": refusal_ms,
        "healthz_at_cap": health, "machine": machine(), "versions": versions(),
    }
    target = (check(f"RSS at the default session cap ({DEFAULT_CAP:,}) ≤ {TARGET_MB_AT_DEFAULT_CAP:g} MB",
                    f"{cap_mb:.1f} MB", cap_mb <= TARGET_MB_AT_DEFAULT_CAP) if sessions == DEFAULT_CAP
              else check(f"RSS at {sessions:,} sessions", f"{cap_mb:.1f} MB", None))
    figures["checks"] = [target, check("one more session at the cap is refused at once (503)",
                                       f"503 in {refusal_ms:.1f} ms, /healthz {health}", health == 200)]
    return figures


def report(f: dict[str, Any]) -> str:
    lines = [f"stateful sessions up to the cap of {f['sessions']:,}: RSS {f['start_mb']:.1f} MB at start, "
             f"{f['cap_mb']:.1f} MB at the cap (~{f['per_session_kib']:.1f} KiB per session); opened in "
             f"{f['opening_s']:.1f} s; one more refused (503) in {f['refusal_ms']:.1f} ms; /healthz "
             f"{f['healthz_at_cap']}"]
    lines += [f"  {s['sessions']:>6,} sessions  VmRSS {s['VmRSS'] / 1024:7.1f} MB" for s in f["samples"]]
    return "\n".join(lines)


def markdown(f: dict[str, Any]) -> str:
    rows = ["| sessions open | VmRSS (MB) |", "|---:|---:|"]
    rows += [f"| {s['sessions']:,} | {s['VmRSS'] / 1024:.1f} |" for s in f["samples"]]
    return "\n".join(rows) + (f"\n\n~{f['per_session_kib']:.1f} KiB per idle session; at the cap one more "
                              f"`initialize` is refused with 503 in {f['refusal_ms']:.1f} ms.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=DEFAULT_CAP, help="the cap, and how many to open")
    parser.add_argument("--every", type=int, default=100, help="sample RSS every this many sessions")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    return finish("sessions", lambda: measure(args.sessions, args.every), report, markdown, args)


if __name__ == "__main__":
    raise SystemExit(main())
