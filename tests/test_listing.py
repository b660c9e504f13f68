"""The tools/list cache: a hit skips re-deriving the listing; any change to tools.yaml misses."""

from __future__ import annotations

from pathlib import Path

import pytest

from xero_contacts_mcp.tools import catalogue as catalogue_module
from xero_contacts_mcp.tools.catalogue import CatalogueError, default_path, load_catalogue
from xero_contacts_mcp.tools.listing import cache_dir, from_catalogue, load_listing


@pytest.fixture
def tools_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    target = tmp_path / "tools.yaml"
    target.write_bytes(default_path().read_bytes())
    return target


def test_first_load_fills_the_cache_and_the_second_uses_it(tools_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_listing(tools_file)
    assert first == from_catalogue(load_catalogue(tools_file))
    assert len(list(cache_dir().glob("listing-*.json"))) == 1

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cache hit must not load the catalogue")

    monkeypatch.setattr(catalogue_module, "load_catalogue", refuse)
    assert load_listing(tools_file) == first


def test_an_edited_tools_yaml_misses_and_is_validated(tools_file: Path) -> None:
    load_listing(tools_file)
    tools_file.write_text(tools_file.read_text().replace("title: Get a contact\n", "titel: Get a contact\n", 1))
    with pytest.raises(CatalogueError, match="titel: unknown key"):
        load_listing(tools_file)


def test_a_changed_description_is_served_at_once(tools_file: Path) -> None:
    load_listing(tools_file)
    tools_file.write_text(tools_file.read_text().replace("title: Get a contact\n", "title: Fetch a contact\n", 1))
    titles = {t.name: t.title for t in load_listing(tools_file).tools}
    assert titles["xero_contacts_get_contact"] == "Fetch a contact"


def test_an_unwritable_or_corrupt_cache_only_costs_a_full_load(tools_file: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    load_listing(tools_file)
    for entry in cache_dir().glob("listing-*.json"):
        entry.write_text("{not json")
    assert len(load_listing(tools_file).tools) == 22
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert len(load_listing(tools_file).tools) == 22
