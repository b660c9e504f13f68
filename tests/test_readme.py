"""The README a newcomer reads in five minutes: short, its two commands the ones CI runs, every link resolving."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
#: written by other changes (the security model; hosting for a team): linked before they land
ARRIVING = {"docs/security.md", "docs/hosting.md"}


def _docs() -> dict[Path, str]:
    return {path: path.read_text() for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]}


def test_it_is_short_and_has_the_sections_a_newcomer_needs() -> None:
    assert len(README.splitlines()) <= 300
    headings = re.findall(r"^## (.+)$", README, flags=re.MULTILINE)
    assert headings[:6] == ["Quick start", "Connect Xero", "Use with Claude Desktop, VS Code and Cursor", "Commands",
                            "Configuration", "Troubleshooting"]
    for command in ("doctor", "claude-config", "login", "tenants", "demo", "call", "sandbox"):
        assert f"| `xero-contacts-mcp {command}" in README, command
    for client in ("**Claude Desktop**", "**VS Code**", "**Cursor**"):
        assert client in README


def test_the_quick_start_is_two_commands_and_ci_runs_the_same_tests() -> None:
    block = re.search(r"## Quick start\n.*?```sh\n(.*?)```", README, flags=re.DOTALL)
    assert block is not None
    commands = block.group(1).strip().splitlines()
    assert len(commands) == 2 and commands[0].endswith("xero-contacts-mcp demo")
    assert commands[1] in (REPO / ".ci/run").read_text()
    assert re.search(r"about \d+ minutes", README.split("## Connect Xero")[0]), "the suite's duration is stated"


def test_install_is_spelt_as_it_works_from_a_clone() -> None:
    for path, text in {**_docs(), REPO / ".env.example": (REPO / ".env.example").read_text()}.items():
        assert "pip install 'xero-contacts-mcp" not in text, path
    assert "pip install -e '.[redis]'" in README
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "being wired in" not in (REPO / "pyproject.toml").read_text()
    assert "redis" in project["project"]["optional-dependencies"]


def test_every_relative_link_resolves() -> None:
    broken = []
    for path, text in _docs().items():
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            file, _, anchor = target.partition("#")
            resolved = (path.parent / file).resolve()
            if resolved.relative_to(REPO).as_posix() in ARRIVING:
                continue
            if not resolved.exists():
                broken.append(f"{path.name}: {target}")
            elif anchor and f"## {anchor.replace('-', ' ')}".lower() not in resolved.read_text().lower():
                broken.append(f"{path.name}: {target} (no such heading)")
    assert broken == []


def test_the_moved_sections_live_in_docs() -> None:
    for page, heading in [("tools.md", "## Tool reference"), ("limits-and-retries.md", "# Limits and retries"),
                          ("replicas.md", "# Running several replicas"), ("sandbox.md", "# The built-in sandbox"),
                          ("benchmarks.md", "# Benchmarks"), ("architecture.md", "## Architecture"),
                          ("dependencies.md", "# Dependencies")]:
        assert heading in (REPO / "docs" / page).read_text(), page
        assert f"](docs/{page})" in README, page
