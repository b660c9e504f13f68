"""What tools/list needs, cached so a server start does not re-derive it from tools.yaml every time.

Loading tools.yaml means importing YAML, building the catalogue's pydantic classes and validating the
file: ~28 ms of a ~700 ms cold start, on every start, for a result that only changes when the file
(or the code that publishes it) changes. The listing is cached in the user's cache directory under a
key hashing exactly those inputs; a miss — first start, an edited tools.yaml, a new version — does the
full validated load, so a broken tools.yaml still fails at start-up. The full catalogue, which calls
need, is loaded on the first call.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..paths import user_dir

# The modules whose code shapes the published listing: a change to any of them changes the key.
_GENERATORS = ("catalogue.py", "schema.py", "listing.py")


@dataclass(frozen=True)
class ToolEntry:
    """One tool as a client is shown it, plus what selection needs (its toolset)."""

    name: str
    title: str
    description: str
    toolset: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    annotations: dict[str, bool]


@dataclass(frozen=True)
class Listing:
    instructions: str
    toolsets: list[str]
    tools: list[ToolEntry]


def cache_dir() -> Path:
    return user_dir("cache")


def _key(source: bytes) -> str:
    digest = hashlib.sha256(source)
    digest.update(__version__.encode())
    here = Path(__file__).resolve().parent
    for name in _GENERATORS:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:24]


def from_catalogue(catalogue: Any) -> Listing:
    from .schema import input_schema, output_schema

    return Listing(
        instructions=catalogue.instructions,
        toolsets=list(catalogue.toolsets),
        tools=[ToolEntry(t.name, t.title, t.description, t.toolset, input_schema(t, catalogue),
                         output_schema(t, catalogue), t.annotations.model_dump()) for t in catalogue.tools],
    )


def load_listing(path: Path | None = None, *, cache: bool = True) -> Listing:
    """The listing for this tools.yaml: from the cache when the key matches, else from a full load."""
    from .catalogue import default_path

    path = path or default_path()
    try:
        source = path.read_bytes()
    except OSError:
        source = b""
    cached = cache_dir() / f"listing-{_key(source)}.json" if cache and source else None
    if cached is not None:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            data = json.loads(cached.read_bytes())
            return Listing(data["instructions"], data["toolsets"], [ToolEntry(**t) for t in data["tools"]])
    from .catalogue import load_catalogue

    listing = from_catalogue(load_catalogue(path))
    if cached is not None:
        _write(cached, listing)
    return listing


def _write(target: Path, listing: Listing) -> None:
    """Best effort, atomic: an unwritable cache only costs the next start the full load."""
    payload = {"instructions": listing.instructions, "toolsets": listing.toolsets,
               "tools": [t.__dict__ for t in listing.tools]}
    with contextlib.suppress(OSError):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".listing-", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, separators=(",", ":"))
        os.replace(temp, target)
