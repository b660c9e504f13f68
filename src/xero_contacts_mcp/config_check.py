"""Configuration checked at start-up, before anything runs: each fault is one sentence with its fix.

A value that can never work (a tenant id that is not a UUID, a URL without a scheme, a log level that
does not exist, a `.env` line that does not parse) is refused here, so `serve` does not start and
`call` sends nothing. A `XERO_*` name that no setting reads is only warned about, with the nearest
real name: the list of real names is the Settings model's fields, so settings added later need no
change here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr, ValidationError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: URL settings with a scheme of their own, checked by their own validator
NOT_HTTP = frozenset({"xero_mcp_redis_url"})
#: variables read outside the Settings model (tests), which must not be warned about
OTHER_KNOWN = frozenset({"XERO_OPENAPI_SPEC"})


@dataclass(frozen=True)
class Problem:
    """One configuration fault: `text` says what is wrong, `fix` what to do (each one sentence part)."""

    name: str
    text: str
    fix: str

    def sentence(self) -> str:
        return f"{self.text}: {self.fix}"


def env_file(settings_cls: type[BaseModel]) -> Path | None:
    """The `.env` the settings read (relative to the working directory), or None when there is none.

    With several configured, the last that exists: it is the one whose values win.
    """
    configured: Any = settings_cls.model_config.get("env_file")
    names = [configured] if isinstance(configured, str | Path) else list(configured or [])
    existing = [Path(name) for name in names if Path(name).is_file()]
    return existing[-1] if existing else None


def read_dotenv(path: Path | None) -> tuple[list[Problem], list[str]]:
    """One parse of `path`: every line python-dotenv cannot parse (it would only warn and drop it), and the
    names the file sets."""
    if path is None:
        return [], []
    from dotenv.parser import parse_stream

    try:
        with path.open(encoding="utf-8") as stream:
            bindings = list(parse_stream(stream))
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        return [Problem(str(path), f"cannot read {path}: {reason}", "fix the file or remove it")], []
    problems = []
    for binding in bindings:
        if binding.error:
            line, text = binding.original.line, binding.original.string.strip().splitlines()[0][:60]
            problems.append(Problem(f"{path}:{line}", f"{path} line {line} does not parse ({text!r})",
                                    "write it as NAME=value, with any quote closed on the same line"))
    return problems, [binding.key for binding in bindings if binding.key]


def unknown_names(known: Iterable[str], environ: Mapping[str, str], dotenv: Iterable[str],
                  dotenv_path: Path | None = None) -> list[str]:
    """A warning for each `XERO_*` name set but never read, naming the nearest real one."""
    valid = sorted({name.upper() for name in known} | OTHER_KNOWN)
    seen: dict[str, str] = {}
    for name in dotenv:
        seen.setdefault(name.upper(), f"in {dotenv_path or '.env'}")
    for name in environ:
        seen.setdefault(name.upper(), "in the environment")
    warnings = []
    for name, where in sorted(seen.items()):
        if not name.startswith("XERO_") or name in valid:
            continue
        import difflib  # only when a name is unknown: most starts never need it

        close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else "see the configuration table in the README"
        warnings.append(f"{name} ({where}) is not a setting this server reads, so it is ignored: {hint}")
    return warnings


def validation_problem(exc: ValidationError) -> Problem:
    """The first value pydantic refused (a number that is not one, a Redis URL without redis://, …)."""
    first = exc.errors(include_url=False)[0]
    name = ".".join(map(str, first["loc"])).upper() or "configuration"
    message = str(first["msg"]).removeprefix("Value error, ")
    return Problem(name, f"{name}: {message}", "fix the value, or unset it for the default")


def settings_problems(settings: BaseModel) -> list[Problem]:
    """Values that can never work: the tenant id, every URL, the log level."""
    problems: list[Problem] = []
    values: dict[str, Any] = dict(settings)
    tenant = values.get("xero_tenant_id")
    if tenant is not None and not is_uuid(tenant):
        problems.append(Problem("XERO_TENANT_ID", f"XERO_TENANT_ID {tenant!r} is not a tenant id (a UUID)",
                                "copy the id that `xero-contacts-mcp tenants` lists, or unset it to choose "
                                "at login"))
    for field, value in values.items():
        if not field.endswith(("_url", "_uri")) or field in NOT_HTTP or value is None:
            continue
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        reason = url_fault(text)
        if reason:
            name = field.upper()
            default = type(settings).model_fields[field].default
            fix = f"set it to a full URL such as {default}" if isinstance(default, str) else \
                "set it to a full URL such as https://host/path"
            problems.append(Problem(name, f"{name} {_shown(text)} {reason}", f"{fix}, or unset it"))
    token_file = values.get("xero_token_file")
    if token_file is not None and Path(token_file).is_dir():
        problems.append(Problem("XERO_TOKEN_FILE", f"XERO_TOKEN_FILE {str(token_file)!r} is a directory",
                                f"set it to a file path, e.g. {Path(token_file) / 'tokens.json'}"))
    level = values.get("xero_mcp_log_level")
    if isinstance(level, str) and level.upper() not in LOG_LEVELS:
        problems.append(Problem("XERO_MCP_LOG_LEVEL", f"XERO_MCP_LOG_LEVEL {level!r} is not a log level",
                                f"use one of {', '.join(LOG_LEVELS)}"))
    return problems


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36


def url_fault(text: str) -> str:
    """Why `text` is not an absolute http(s) URL ("" when it is one)."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        return "is not a valid URL (its host or port is malformed)"
    if parts.scheme.lower() not in ("http", "https"):
        return "is not an absolute http(s) URL" + (f" (scheme {parts.scheme!r})" if parts.scheme else "")
    if not parts.hostname or any(ch.isspace() for ch in text):
        return "is not an absolute http(s) URL (it has no host, or contains spaces)"
    return ""


def _shown(url: str) -> str:
    """The URL as it may be printed: any user:password part is left out."""
    parts = urlsplit(url) if "@" in url else None
    if parts is not None and parts.netloc and "@" in parts.netloc:
        return repr(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl())
    return repr(url)
