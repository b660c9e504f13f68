"""Per-user directories, as each platform names them (no dependency for three paths)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal

APP = "xero-contacts-mcp"


def user_dir(kind: Literal["config", "cache"]) -> Path:
    """XDG on Linux (`XDG_CONFIG_HOME`/`XDG_CACHE_HOME`), Application Support/Caches on macOS,
    APPDATA/LOCALAPPDATA on Windows."""
    home = Path.home()
    if sys.platform == "win32":
        variable, fallback = ("APPDATA", home / "AppData" / "Roaming") if kind == "config" else (
            "LOCALAPPDATA", home / "AppData" / "Local")
    elif sys.platform == "darwin":
        variable, fallback = "", home / "Library" / ("Application Support" if kind == "config" else "Caches")
    else:
        variable, fallback = ("XDG_CONFIG_HOME", home / ".config") if kind == "config" else (
            "XDG_CACHE_HOME", home / ".cache")
    base = Path(os.environ.get(variable) or fallback) if variable else fallback
    return base / APP
