"""A fresh clone runs every test: what the contract tests read is in the repository, tracked by git."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from conftest import DEFAULT_SPEC, REPO

OUTSIDE = re.compile(r"shared[\"'/ ,]+reference|parents\[3\]|REPO\.parent")


def _tracked() -> set[str]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.fail("these checks need the git checkout (tests run from a clone)")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return set(out.decode().split("\0"))


def test_xero_spec_and_operations_are_tracked_with_xero_licence() -> None:
    tracked = _tracked()
    for path in (DEFAULT_SPEC, REPO / "tests/data/operations.json", REPO / "tests/data/xero-openapi/LICENSE"):
        assert path.relative_to(REPO).as_posix() in tracked, f"{path} is not committed: a fresh clone lacks it"
    notice = (REPO / "tests/data/xero-openapi/LICENSE").read_text()
    assert "MIT License" in notice and "Copyright (c) 2017 Xero Developer API" in notice


def test_no_test_reads_files_outside_the_repository() -> None:
    offenders = [path.relative_to(REPO).as_posix() for path in sorted((REPO / "tests").rglob("*.py"))
                 if path.name != "test_fresh_clone.py" and OUTSIDE.search(path.read_text())]
    assert offenders == [], f"these tests read files a fresh clone lacks: {offenders}"
