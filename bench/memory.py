"""Memory: resident set size of the stdio server over 10,000 tool calls against the sandbox.

    python bench/memory.py [--calls 10000] [--every 1000] [--concurrency 4] [--json PATH] [--markdown]

`python -m xero_contacts_mcp` runs over stdio against a standalone sandbox (its limits off, 100 realistic
contacts seeded so list pages are full size), driven by the thin JSON-RPC client with `--concurrency`
calls in flight. The calls cycle through a mix of reads: a 100-contact page, one contact, a summary page,
a search, contact by number, groups, one group, tracking categories, one category. VmRSS and VmHWM (peak)
of the server process are read from /proc/<pid>/status after `initialize` + `tools/list` ("start"),
and every `--every` calls.

The server's limiter is out of the way (1,000,000 calls per window) with a **1-second** window
(`XERO_MCP_RATE_WINDOW=1`, `--rate-window`): the moving window keeps one entry per call for a window's
length (for the organisation and for the app), so with a 60-second window and a million-call limit it would
hold every call of the last minute — ~2.5 MiB at this rate, growing for 60 s, then flat — which is the
benchmark's unrealistic limit, not a leak (with Xero's limits it holds at most 60 entries per organisation
and 10,000 for the app). `--rate-window 60` shows that.

Targets: peak ≤ 120 MB, and no growth trend between 1,000 and 10,000 calls: the least-squares slope of
VmRSS over the samples from 1,000 calls on is under 0.1 MiB per 1,000 calls (under 1 MiB over 9,000).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import (
    OURS_STDIO,
    SANDBOX_LIMITS_OFF,
    BenchError,
    StdioPeer,
    check,
    cpu_seconds,
    finish,
    machine,
    rss_kib,
    sandbox,
    seed_contacts,
    server_env,
    versions,
)

TARGET_PEAK_MB = 120.0
TARGET_SLOPE_MIB_PER_1K = 0.1


def _mix(sb: Any) -> list[tuple[str, dict[str, Any]]]:
    contacts = sb.http.get(f"{sb.api_url}/Contacts", headers=sb.api_headers()).json()["Contacts"]
    numbered = next(c for c in contacts if c.get("ContactNumber"))
    groups = sb.http.get(f"{sb.api_url}/ContactGroups", headers=sb.api_headers()).json()["ContactGroups"]
    tracking = sb.http.get(f"{sb.api_url}/TrackingCategories", headers=sb.api_headers()).json()["TrackingCategories"]
    return [
        ("xero_contacts_get_contacts", {"page": 1}),
        ("xero_contacts_get_contact", {"ContactID": contacts[7]["ContactID"]}),
        ("xero_contacts_get_contacts", {"page": 1, "summaryOnly": True}),
        ("xero_contacts_get_contacts", {"searchTerm": "bakery"}),
        ("xero_contacts_get_contact_by_contact_number", {"ContactNumber": numbered["ContactNumber"]}),
        ("xero_contacts_get_contact_groups", {}),
        ("xero_contacts_get_contact_group", {"ContactGroupID": groups[0]["ContactGroupID"]}),
        ("xero_contacts_get_tracking_categories", {}),
        ("xero_contacts_get_tracking_category", {"TrackingCategoryID": tracking[0]["TrackingCategoryID"]}),
    ]


def _slope(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of y over x."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var if var else 0.0


async def measure(calls: int, every: int, concurrency: int, rate_window: float = 1.0) -> dict[str, Any]:
    with sandbox() as sb, tempfile.TemporaryDirectory(prefix="memory-") as home:
        sb.limits(**SANDBOX_LIMITS_OFF)
        seed_contacts(sb, 100)
        mix = _mix(sb)
        env = server_env(sb, home, XERO_MCP_RATE_WINDOW=f"{rate_window:g}")
        async with StdioPeer.open(OURS_STDIO, env, home) as peer:
            await peer.request("tools/list")
            samples: list[dict[str, Any]] = [{"calls": 0, **rss_kib(peer.pid)}]
            work = itertools.cycle(mix)
            errors = 0
            done = 0
            started = time.perf_counter()
            cpu_before = cpu_seconds(peer.pid)

            async def worker(quota: int) -> None:
                nonlocal errors
                for _ in range(quota):
                    name, args = next(work)
                    result = await peer.call_tool(name, args)
                    errors += bool(result.get("isError"))

            while done < calls:
                step = min(every, calls - done)
                share = [step // concurrency + (i < step % concurrency) for i in range(concurrency)]
                await asyncio.gather(*(worker(q) for q in share if q))
                done += step
                samples.append({"calls": done, **rss_kib(peer.pid)})
            elapsed = time.perf_counter() - started
            cpu = cpu_seconds(peer.pid) - cpu_before
    if errors:
        raise BenchError(f"{errors} of {calls} calls returned isError")
    mib = [{"calls": s["calls"], "rss_mib": s["VmRSS"] / 1024, "hwm_mib": s["VmHWM"] / 1024} for s in samples]
    tail = [(s["calls"], s["rss_mib"]) for s in mib if s["calls"] >= min(1000, calls)]
    slope = _slope(tail) * 1000 if len(tail) > 1 else 0.0
    peak_mb = samples[-1]["VmHWM"] * 1024 / 1e6
    at = {s["calls"]: s["rss_mib"] for s in mib}
    figures: dict[str, Any] = {
        "machine": machine(), "versions": versions(), "calls": calls, "every": every, "concurrency": concurrency,
        "rate_window_s": rate_window,
        "mix": [name for name, _ in mix], "samples": mib, "slope_mib_per_1k": slope, "peak_mb": peak_mb,
        "rss_start_mib": at[0], "rss_1k_mib": at.get(1000), "rss_end_mib": mib[-1]["rss_mib"],
        "calls_per_s": calls / elapsed, "server_cpu_ms_per_call": cpu * 1000 / calls,
    }
    figures["checks"] = [
        check(f"stdio server peak RSS ≤ {TARGET_PEAK_MB:g} MB", f"{peak_mb:.1f} MB (VmHWM after {calls:,} calls)",
              peak_mb <= TARGET_PEAK_MB),
        check("no RSS growth trend from 1k to the last call (slope < 0.1 MiB per 1,000 calls)",
              f"{slope:+.3f} MiB per 1,000 calls ({_fmt(at.get(1000))} → {mib[-1]['rss_mib']:.1f} MiB)",
              slope < TARGET_SLOPE_MIB_PER_1K),
    ]
    return figures


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def report(figures: dict[str, Any]) -> str:
    lines = [f"memory of the stdio server over {figures['calls']:,} mixed reads ({figures['concurrency']} in flight, "
             f"{figures['calls_per_s']:.0f} calls/s, server CPU {figures['server_cpu_ms_per_call']:.2f} ms/call)"]
    lines += [f"  after {s['calls']:6,} calls: VmRSS {s['rss_mib']:6.1f} MiB  VmHWM {s['hwm_mib']:6.1f} MiB"
              for s in figures["samples"]]
    lines.append(f"  slope from 1k: {figures['slope_mib_per_1k']:+.3f} MiB per 1,000 calls; "
                 f"peak {figures['peak_mb']:.1f} MB")
    return "\n".join(lines)


def markdown(figures: dict[str, Any]) -> str:
    samples = figures["samples"]
    shown = [s for s in samples if s["calls"] in (0, 1000) or s is samples[-1]]
    rows = [f"| {'start' if s['calls'] == 0 else format(s['calls'], ',')} | {s['rss_mib']:.1f} | {s['hwm_mib']:.1f} |"
            for s in shown]
    trace = ", ".join(f"{s['rss_mib']:.1f}" for s in samples)
    return "\n".join([
        f"`python -m xero_contacts_mcp` over stdio, {figures['calls']:,} mixed reads ({len(figures['mix'])} kinds, "
        f"{figures['concurrency']} in flight, {figures['calls_per_s']:.0f} calls/s), against the sandbox with 100 "
        f"seeded contacts; client limiter out of the way with a {figures['rate_window_s']:g}-s window (see "
        "`bench/memory.py`).",
        "",
        "| after calls | VmRSS MiB | VmHWM (peak) MiB |",
        "|---:|---:|---:|",
        *rows,
        "",
        f"VmRSS every {figures['every']:,} calls (MiB): {trace}. Slope from 1,000 calls: "
        f"{figures['slope_mib_per_1k']:+.3f} MiB per 1,000 calls.",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10_000, help="tool calls in all (default 10000)")
    parser.add_argument("--every", type=int, default=1000, help="sample RSS every N calls (default 1000)")
    parser.add_argument("--concurrency", type=int, default=4, help="calls in flight (default 4)")
    parser.add_argument("--rate-window", type=float, default=1.0,
                        help="the server's XERO_MCP_RATE_WINDOW in seconds (default 1; see above)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON here")
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table")
    args = parser.parse_args()
    return finish("memory",
                  lambda: asyncio.run(measure(args.calls, args.every, args.concurrency, args.rate_window)),
                  report, markdown, args)


if __name__ == "__main__":
    raise SystemExit(main())
