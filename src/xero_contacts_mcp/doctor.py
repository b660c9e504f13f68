"""`xero-contacts-mcp doctor`: check the setup end to end and say what to fix, one line per check."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .settings import Settings


@dataclass
class Check:
    ok: bool
    text: str
    fix: str = ""
    warn: bool = False  # passes, but the fix is advised (shown with "!")


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")


def _line(check: Check, say: Callable[[str], None]) -> None:
    mark = "!" if check.ok and check.warn else "✓" if check.ok else "✗"
    advice = check.fix and (check.warn or not check.ok)
    say(f"{mark} {check.text}" + (f"\n    → {check.fix}" if advice else ""))


async def run_doctor(settings: Settings, say: Callable[[str], None] | None = None) -> bool:
    """True when every check passes."""
    say = say or _print
    checks: list[Check] = []

    def record(check: Check) -> Check:
        checks.append(check)
        _line(check, say)
        return check

    catalogue = _catalogue(settings, record)
    if catalogue is None:
        return False
    if settings.xero_mcp_sandbox:
        record(Check(True, "sandbox mode: no credentials needed, nothing is sent to Xero"))
    elif not await _redis(settings, record) or not await _credentials(settings, record):
        say("1 check failed: fix it, then run `xero-contacts-mcp doctor` again.")
        return False
    await _live(settings, record)
    failed = [c for c in checks if not c.ok]
    say("All checks passed." if not failed else f"{len(failed)} check(s) failed.")
    return not failed


def _catalogue(settings: Settings, record: Callable[[Check], Check]) -> Any:
    from .runtime import selected_tools
    from .tools.catalogue import CatalogueError, load_catalogue
    from .tools.listing import from_catalogue
    from .tools.selection import SelectionError

    try:
        catalogue = load_catalogue(settings.xero_mcp_tools_file)
        served = selected_tools(settings, from_catalogue(catalogue))
    except (CatalogueError, SelectionError) as exc:
        record(Check(False, f"tools: {exc}",
                     "fix tools.yaml or the tool selection (--toolsets/--tools/--exclude-tools)"))
        return None
    read_only = " (read-only)" if settings.xero_mcp_read_only else ""
    record(Check(bool(served), f"tools.yaml valid; {len(served)} of {len(catalogue.tools)} tools served{read_only}",
                 "the selection serves no tool: widen --toolsets/--tools or drop --exclude-tools"))
    return catalogue


async def _redis(settings: Settings, record: Callable[[Check], Check]) -> bool:
    """Shared state: reachable, scripts allowed, and configured so a restart or memory pressure keeps the login."""
    from .state.cache import SharedStateUnavailable
    from .stores import open_stores

    if settings.xero_mcp_redis_url is None:
        return True
    async with open_stores(settings, check=False) as stores:
        started = time.monotonic()
        try:
            facts = await stores.redis.facts()
        except SharedStateUnavailable as exc:
            record(Check(False, f"shared state: {exc}",
                         "start Redis, or fix XERO_MCP_REDIS_URL (redis://[:password@]host[:port][/db])"))
            return False
        took = (time.monotonic() - started) * 1000
        record(Check(True, f"shared state: {stores.describe()} answered in {took:.0f} ms "
                           f"(Redis {facts.get('redis_version', '?')})"))
        if facts.get("cluster_enabled") == "1":
            record(Check(False, "shared state: Redis Cluster is not supported (the scripts use several keys)",
                         "point XERO_MCP_REDIS_URL at a standalone Redis (or a primary with replicas)"))
            return False
        if facts.get("aof_enabled") != "1":
            record(Check(True, "shared state: Redis keeps no append-only file, so a Redis restart loses the login",
                         "enable it: `appendonly yes` in redis.conf (or CONFIG SET appendonly yes)", warn=True))
        policy = facts.get("maxmemory_policy")
        if policy and policy != "noeviction":
            record(Check(True, f"shared state: Redis may evict keys under memory pressure ({policy}), the login "
                               "included", "set `maxmemory-policy noeviction`", warn=True))
    return True


async def _credentials(settings: Settings, record: Callable[[Check], Check]) -> bool:
    """False when no usable credentials are configured (the live checks would only repeat that)."""
    from .state.cache import SharedStateUnavailable
    from .state.tokens import FileTokenStore, TokenStoreError
    from .stores import open_stores

    if settings.xero_access_token is not None:
        record(Check(True, "credentials: XERO_ACCESS_TOKEN (used as is, never refreshed; lasts 30 minutes)"))
        return True
    async with open_stores(settings, check=False) as stores:
        store = stores.tokens
        try:
            login = await store.load()
        except TokenStoreError as exc:
            record(Check(False, f"token store: {exc}", "" if exc.fix in str(exc) else exc.fix))
            return False
        except SharedStateUnavailable as exc:
            record(Check(False, f"token store: {exc}", "start Redis, or fix XERO_MCP_REDIS_URL"))
            return False
    if login is not None:
        if isinstance(store, FileTokenStore):
            mode = stat.S_IMODE(os.stat(store.target).st_mode)
            record(Check(mode & 0o077 == 0, f"token store {store.describe()} readable (mode {mode:o})",
                         f"chmod 600 {store.target}"))
            # a refresh rotates the refresh token: one that cannot be saved is lost when the process stops,
            # so the live checks below (which may refresh) do not run until the directory is writable
            problem = store.check_writable()
            if problem is not None:
                record(Check(False, f"token store: {problem}, so a refreshed login could not be saved",
                             "make it writable by this user, or set XERO_TOKEN_FILE to a writable place"))
                return False
            record(Check(True, f"token store directory {store.target.parent} writable"))
        else:
            record(Check(True, f"token store: {store.describe()}"))
        left = login.expires_at - time.time()
        state = f"access token valid for {left / 60:.0f} more minutes" if left > 0 else "access token expired"
        record(Check(bool(login.refresh_token), f"stored login for app {login.client_id}: {state}",
                     "the login has no refresh token: run `xero-contacts-mcp login` (offline_access is needed)"))
        return True
    if settings.xero_client_id and settings.xero_client_secret is not None:
        record(Check(True, "credentials: XERO_CLIENT_ID + XERO_CLIENT_SECRET as a Custom Connection"))
        return True
    record(Check(False, "credentials: none configured",
                 "set XERO_CLIENT_ID (+ XERO_CLIENT_SECRET) and run `xero-contacts-mcp login`, or use a Custom "
                 "Connection, or XERO_ACCESS_TOKEN; or try `serve --sandbox`"))
    return False


async def _live(settings: Settings, record: Callable[[Check], Check]) -> None:
    from .runtime import open_runtime
    from .xero.errors import XeroError

    async with open_runtime(settings) as runtime:
        source = runtime.source
        if source is not None:
            ok = await _attempt(source.token, record, "access token obtained", "could not obtain an access token")
            if not ok:
                return
        tenants = runtime.client.tenants
        tenant = settings.xero_tenant_id
        if tenant is None and tenants is not None:
            try:
                tenant = await tenants.default()
                record(Check(True, f"organisation: {tenant} (chosen automatically)"))
            except XeroError as exc:
                record(Check(False, f"organisation: {exc}", "pass --tenant to `login`, or set XERO_TENANT_ID"))
                return
        elif tenant is not None:
            record(Check(True, f"organisation: {tenant} (XERO_TENANT_ID)"))
        else:
            record(Check(True, "organisation: the sandbox's"))
        await _allow_list(settings, tenants, record)
        name = "xero_contacts_get_contact_groups"
        if name not in runtime.runner.names:
            name = runtime.runner.names[0]
        started = time.monotonic()
        result = await runtime.runner.run(name, {"xero-tenant-id": tenant} if tenant else {})
        took = (time.monotonic() - started) * 1000
        first = result.text.splitlines()[0] if result.is_error else ""
        record(Check(not result.is_error, f"API reachable: {name} answered in {took:.0f} ms" if not result.is_error
                     else f"API call failed: {first}", "see the message above; `--debug` shows each request"))


async def _allow_list(settings: Settings, tenants: Any, record: Callable[[Check], Check]) -> None:
    """Which organisations XERO_MCP_ALLOWED_TENANTS lets calls reach, by name where they are connected."""
    from .xero.errors import XeroError

    allowed = settings.allowed_tenants()
    if allowed is None or settings.xero_mcp_sandbox:
        return
    names: dict[str, str] = {}
    if tenants is not None:
        with contextlib.suppress(XeroError):  # the API check below reports what is wrong with the connection
            names = {str(c["tenantId"]).lower(): str(c.get("tenantName") or "?") for c in await tenants.connections()}
    shown = ", ".join(f"{names[t]} ({t})" if t in names else f"{t} (not connected)" for t in sorted(allowed))
    record(Check(True, f"tenant allow-list (XERO_MCP_ALLOWED_TENANTS): calls may reach only {shown}"))


async def _attempt(call: Callable[[], Awaitable[Any]], record: Callable[[Check], Check], good: str, bad: str) -> bool:
    from .xero.errors import XeroError

    try:
        await call()
    except XeroError as exc:
        record(Check(False, f"{bad}: {exc}", "follow the instruction above"))
        return False
    record(Check(True, good))
    return True


#: What the stdio server reads: credentials, where the login lives, tool selection, limits, logging.
#: Nothing only the HTTP transport (its token, hosts, sessions), `login`/`logout` or hosted mode reads;
#: a variable added later is left out until it is listed here.
STDIO_VARIABLES = frozenset({
    "XERO_CLIENT_ID", "XERO_CLIENT_SECRET", "XERO_ACCESS_TOKEN", "XERO_TENANT_ID", "XERO_SCOPES",
    "XERO_TOKEN_FILE", "XERO_API_URL", "XERO_CONNECTIONS_URL", "XERO_TOKEN_URL",
    "XERO_MCP_SANDBOX", "XERO_MCP_READ_ONLY", "XERO_MCP_TOOLSETS", "XERO_MCP_TOOLS", "XERO_MCP_EXCLUDE_TOOLS",
    "XERO_MCP_TOOLS_FILE", "XERO_MCP_RAW_RESULTS", "XERO_MCP_TIMEOUT", "XERO_MCP_LOG_LEVEL",
    "XERO_MCP_RETRY_ATTEMPTS", "XERO_MCP_RETRY_DEADLINE", "XERO_MCP_RETRY_MAX_WAIT",
    "XERO_MCP_TENANT_CONCURRENCY", "XERO_MCP_TENANT_PER_MINUTE", "XERO_MCP_APP_PER_MINUTE",
    "XERO_MCP_RATE_WINDOW", "XERO_MCP_ALLOWED_TENANTS",
    "XERO_MCP_REDIS_URL", "XERO_MCP_REDIS_PREFIX", "XERO_MCP_REDIS_LEASE",  # a login kept in Redis
})
#: the stdio variables whose values are credentials
SECRET_VARIABLES = frozenset({"XERO_CLIENT_SECRET", "XERO_ACCESS_TOKEN", "XERO_MCP_REDIS_URL"})


def claude_config(settings: Settings, environ: dict[str, str] | None = None, *,
                  sandbox: bool = False) -> dict[str, Any]:
    """The `mcpServers` entry for this installation: absolute command, and the variables the stdio server
    needs that are set (none for the sandbox, which needs no configuration)."""
    import shutil
    from pathlib import Path

    if environ is None and not sandbox:
        from dotenv import dotenv_values  # Claude Desktop will not start the server here: carry .env along

        environ = {**{k: v for k, v in dotenv_values(".env").items() if v is not None}, **os.environ}
    script = shutil.which("xero-contacts-mcp") or str(Path(sys.executable).parent / "xero-contacts-mcp")
    if Path(script).exists():
        command, args = str(Path(script).resolve()), ["serve"]
    else:
        command, args = sys.executable, ["-m", "xero_contacts_mcp", "serve"]
    env = {k: v for k, v in sorted((environ or {}).items()) if k.upper() in STDIO_VARIABLES and v.strip()}
    entry: dict[str, Any] = {"command": command, "args": args}
    if env:
        entry["env"] = env
    return {"mcpServers": {"xero-contacts": entry}}


def secrets_in(entry: dict[str, Any]) -> list[str]:
    """The names of the credentials an `mcpServers` entry carries (a Redis URL only with a password)."""
    from .state.redis_url import parse_redis_url

    found = []
    for name, value in (entry.get("env") or {}).items():
        if name.upper() not in SECRET_VARIABLES:
            continue
        if name.upper() == "XERO_MCP_REDIS_URL":
            try:
                if not parse_redis_url(value).password:
                    continue
            except ValueError:
                pass  # unparsable: count it, it may well hold a password
        found.append(name)
    return found
