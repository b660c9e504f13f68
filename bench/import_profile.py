"""Which imports a cold start of `python -m xero_contacts_mcp` pays for, and which of them the bare server does not.

    python bench/import_profile.py [--runs 5] [--top 15]

Both servers run under `python -X importtime` and are driven (same raw JSON-RPC driver as cold_start.py) up to
the `tools/list` answer, so imports done lazily inside the CLI and at serve time are counted; stderr up to that
moment is parsed. Figures are per-module medians over `--runs` (the two servers interleaved). `-X importtime`
itself adds overhead, so read them as relative weights, not as milliseconds of a normal start.

Printed:
  1. our top-level imports (depth 0 in the import tree) by cumulative µs;
  2. what we add: modules that the bare `mcp` server never imports, their self µs summed per top-level package,
     with the first module of our package that pulled each one in (where to make an import lazy);
  3. our own modules by self µs;
  4. total self µs of all imports for each server.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass

from cold_start import BARE, OURS, Target, child_env, measure
from harness import BenchError

OWN_PACKAGE = "xero_contacts_mcp"


@dataclass
class Module:
    name: str
    self_us: float
    cumulative_us: float
    depth: int
    parent: str | None = None  # the module whose import first triggered this one


def parse_importtime(stderr: str) -> dict[str, Module]:
    """`-X importtime` lines → modules by name, with the import tree (lines come children-first)."""
    modules: dict[str, Module] = {}
    pending: list[Module] = []  # imported, parent not yet seen
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        self_us, cumulative_us, label = line.removeprefix("import time:").split("|", 2)
        name = label.strip()
        depth = (len(label) - len(label.lstrip(" ")) - 1) // 2
        module = Module(name, float(self_us), float(cumulative_us), depth)
        while pending and pending[-1].depth > depth:
            pending.pop().parent = name
        pending.append(module)
        modules[name] = module
    return modules


def profile(targets: list[Target], runs: int) -> list[dict[str, Module]]:
    """Per target, median self/cumulative µs per module over `runs` interleaved cold starts (tree from run 1)."""
    traced = [Target(t.name, [t.argv[0], "-X", "importtime", *t.argv[1:]], t.expected_tools) for t in targets]
    samples: list[list[dict[str, Module]]] = [[] for _ in targets]
    with tempfile.TemporaryDirectory(prefix="import-profile-") as home:
        env = child_env(home)
        for i in range(1 + runs):  # the first round warms up: .pyc files, page cache
            for target, kept in zip(traced, samples, strict=True):
                modules = parse_importtime(measure(target, env, cwd=home).stderr)
                if i:
                    kept.append(modules)
    return [_median(kept) for kept in samples]


def _median(samples: list[dict[str, Module]]) -> dict[str, Module]:
    merged = samples[0]
    for name, module in merged.items():
        module.self_us = statistics.median(s[name].self_us for s in samples if name in s)
        module.cumulative_us = statistics.median(s[name].cumulative_us for s in samples if name in s)
    return merged


def root(name: str) -> str:
    return name.split(".", 1)[0]


def first_own_importer(module: Module, modules: dict[str, Module]) -> str:
    """The nearest ancestor in our package: the import statement to make lazy."""
    parent = module.parent
    while parent is not None and root(parent) != OWN_PACKAGE:
        parent = modules[parent].parent
    return parent or "(inside a function, at run time)"


def added_us(ours: dict[str, Module], bare: dict[str, Module]) -> dict[str, float]:
    """Per module: self µs of it and its import subtree that the bare server never imports."""
    totals = {name: (0.0 if name in bare else m.self_us) for name, m in ours.items()}
    for m in ours.values():  # children precede parents in the import-time order
        if m.parent is not None:
            totals[m.parent] += totals[m.name]
    return totals


def report(ours: dict[str, Module], bare: dict[str, Module], top: int) -> str:
    added_tree = added_us(ours, bare)
    lines = [f"1. our top-level imports by cumulative µs (top {top}); 'added' = part the bare server never imports",
             "   cumulative     added  module"]
    for m in sorted((m for m in ours.values() if m.depth == 0), key=lambda m: -m.cumulative_us)[:top]:
        lines.append(f"   {m.cumulative_us / 1000:7.1f} ms {added_tree[m.name] / 1000:6.1f} ms  {m.name}")

    added = [m for m in ours.values() if m.name not in bare]
    by_package: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    importer: dict[str, str] = {}
    for m in added:
        package = root(m.name)
        by_package[package] += m.self_us
        counts[package] += 1
        if package != OWN_PACKAGE and package not in importer and root(m.parent or "") != package:
            importer[package] = first_own_importer(m, ours)
    lines += ["", f"2. what we add: self µs of modules the bare server never imports, per package (top {top})"]
    for package, us in sorted(by_package.items(), key=lambda kv: -kv[1])[:top]:
        via = f"  ← {importer[package]}" if package in importer else ""
        lines.append(f"   {us / 1000:7.1f} ms  {package} ({counts[package]} modules){via}")

    own = sorted((m for m in added if root(m.name) == OWN_PACKAGE), key=lambda m: -m.self_us)[:top]
    lines += ["", f"3. our own modules by self µs (module-level work: class bodies, pydantic models; top {top})"]
    lines += [f"   {m.self_us / 1000:7.1f} ms  {m.name}" for m in own]

    total_ours, total_bare = (sum(m.self_us for m in p.values()) / 1000 for p in (ours, bare))
    lines += ["", "4. total import time (sum of self µs, under -X importtime)",
              f"   ours {total_ours:.1f} ms, bare {total_bare:.1f} ms, added {sum(by_package.values()) / 1000:.1f} ms "
              f"in {len(added)} modules"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="profiled cold starts per server (default 5)")
    parser.add_argument("--top", type=int, default=15, help="rows per table (default 15)")
    args = parser.parse_args()
    try:
        ours, bare = profile([OURS, BARE], args.runs)
    except BenchError as exc:
        print(f"import_profile: FAILED: {exc}", file=sys.stderr)
        return 1
    print(report(ours, bare, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
