"""`xero-contacts-mcp doctor`: check the setup end to end and say what to fix, one line per check."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .settings import Settings

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


@dataclass
class Check:
    ok: bool
    text: str
    fix: str = ""
    warn: bool = False  # passes, but the fix is advised (shown with "!")
    #: a failure of the configuration itself (exit 2), not of what it points at (exit 1)
    config: bool = False


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")


def _line(check: Check, say: Callable[[str], None]) -> None:
    """The check on one line, any further lines of its text indented under it, then its fix."""
    mark = "!" if check.ok and check.warn else "✓" if check.ok else "✗"
    first, *rest = check.text.splitlines() or [""]
    lines = [f"{mark} {first}", *(f"    {line}" for line in rest if line.strip())]
    if check.fix and (check.warn or not check.ok):
        lines.append(f"    → {check.fix}")
    say("\n".join(lines))


def _summary(checks: list[Check], say: Callable[[str], None]) -> int:
    """One summary line, the same words whatever failed; the exit status (2 when the configuration is at fault)."""
    failed = [c for c in checks if not c.ok]
    warned = sum(1 for c in checks if c.ok and c.warn)
    advice = f" ({warned} with advice marked !)" if warned else ""
    if not failed:
        say(f"All {len(checks)} checks passed{advice}.")
        return EXIT_OK
    say(f"{len(failed)} of {len(checks)} checks failed{advice}: fix each ✗ as its → line says, then run "
        "`xero-contacts-mcp doctor` again.")
    return EXIT_CONFIG if any(c.config for c in failed) else EXIT_FAILURE


def report_configuration(problems: list[Any], say: Callable[[str], None] | None = None) -> int:
    """Start-up refused the configuration: show every fault with its fix (exit 2)."""
    say = say or _print
    checks = [Check(False, f"configuration: {p.text}", p.fix, config=True) for p in problems]
    for check in checks:
        _line(check, say)
    return _summary(checks, say)


async def run_doctor(settings: Settings, say: Callable[[str], None] | None = None) -> int:
    """The exit status: 0 when every check passes, 2 when the configuration is at fault, else 1."""
    say = say or _print
    checks: list[Check] = []

    def record(check: Check) -> Check:
        checks.append(check)
        _line(check, say)
        return check

    _configuration(settings, record)
    catalogue = _catalogue(settings, record)
    if catalogue is not None:
        if settings.xero_mcp_sandbox:
            record(Check(True, "sandbox mode: no credentials needed, nothing is sent to Xero"))
            await _live(settings, record)
        elif await _redis(settings, record) and await _credentials(settings, record):
            await _live(settings, record)
    return _summary(checks, say)


def _configuration(settings: Settings, record: Callable[[Check], Check]) -> None:
    """What start-up already checked (tenant id, URLs), said out loud; and the redirect URI `login` needs."""
    from .config_check import NOT_HTTP
    from .login import RedirectError, parse_redirect

    urls = [name for name in type(settings).model_fields if name.endswith("_url")
            and name not in NOT_HTTP and getattr(settings, name) is not None]
    tenant = f"XERO_TENANT_ID {settings.xero_tenant_id} is a UUID; " if settings.xero_tenant_id else ""
    record(Check(True, f"configuration: {tenant}{len(urls)} URLs are absolute http(s) URLs"))
    try:
        redirect = parse_redirect(settings.xero_redirect_uri)
    except RedirectError as exc:
        record(Check(False, f"redirect URI: {exc}",
                     "set XERO_REDIRECT_URI to http://localhost:8749/callback (any loopback port and path will "
                     "do) and register that exact URI on the app at developer.xero.com", config=True))
        return
    record(Check(True, f"redirect URI {redirect.uri}: loopback, port {redirect.port} "
                       "(it must also be registered on the Xero app for `login`)"))


def _catalogue(settings: Settings, record: Callable[[Check], Check]) -> Any:
    from .runtime import selected_tools
    from .tools.catalogue import CatalogueError, load_catalogue
    from .tools.listing import from_catalogue
    from .tools.selection import SelectionError

    try:
        catalogue = load_catalogue(settings.xero_mcp_tools_file)
        served = selected_tools(settings, from_catalogue(catalogue))
    except SelectionError as exc:
        record(Check(False, f"tools: {exc}", "use only the valid names listed, in --toolsets/--tools/--exclude-tools "
                     "or XERO_MCP_TOOLSETS/XERO_MCP_TOOLS/XERO_MCP_EXCLUDE_TOOLS", config=True))
        return None
    except CatalogueError as exc:
        fix = ("point --tools-file (XERO_MCP_TOOLS_FILE) at a readable, valid tools.yaml, or drop it to use the "
               "packaged one") if settings.xero_mcp_tools_file else "reinstall: the packaged tools.yaml is damaged"
        record(Check(False, f"tools: {exc}", fix, config=True))
        return None
    read_only = " (read-only)" if settings.xero_mcp_read_only else ""
    record(Check(bool(served), f"tools.yaml valid; {len(served)} of {len(catalogue.tools)} tools served{read_only}",
                 "the selection serves no tool: widen --toolsets/--tools or drop --exclude-tools", config=True))
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
    from .state.tokens import FileTokenStore, TokenFileUnusable, TokenStoreError
    from .stores import open_stores

    if settings.xero_access_token is not None:
        record(Check(True, "credentials: XERO_ACCESS_TOKEN (used as is, never refreshed; lasts 30 minutes)"))
        return True
    async with open_stores(settings, check=False) as stores:
        store = stores.tokens
        try:
            login = await store.load()
        except TokenFileUnusable as exc:  # the path or permissions, not the login: `login` would not help
            record(Check(False, f"token store: {exc.what}", exc.fix))
            return False
        except SharedStateUnavailable as exc:
            record(Check(False, f"token store: {exc}", "start Redis, or fix XERO_MCP_REDIS_URL"))
            return False
        except TokenStoreError as exc:  # damaged or unsafe: the message says what, `fix` how
            record(Check(False, f"token store: {exc}", "" if exc.fix in str(exc) else exc.fix))
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
            try:
                await source.token()
            except XeroError as exc:
                record(Check(False, f"could not obtain an access token: {exc}", _token_fix(settings, source, exc)))
                return
            record(Check(True, "access token obtained"))
        tenant = await _tenant(settings, runtime, record)
        if tenant is False:
            return
        await _allow_list(settings, runtime.client.tenants, record)
        name = "xero_contacts_get_contact_groups"
        if name not in runtime.runner.names:
            name = runtime.runner.names[0]
        recorder = _Recorder(runtime.runner.sender)
        runtime.runner.sender = recorder
        started = time.monotonic()
        result = await runtime.runner.run(name, {"xero-tenant-id": tenant} if tenant else {})
        took = (time.monotonic() - started) * 1000
        if not result.is_error:
            record(Check(True, f"API reachable: {name} answered in {took:.0f} ms"))
        else:  # the whole message the model would read, and a fix for its cause
            record(Check(False, f"API call {name} failed:\n{result.text}", _api_fix(settings, recorder.error)))


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


class _Recorder:
    """Passes requests on, keeping the typed failure so the fix can match its cause."""

    def __init__(self, sender: Any) -> None:
        self.sender = sender
        self.error: Exception | None = None

    async def send(self, request: Any) -> Any:
        try:
            return await self.sender.send(request)
        except Exception as exc:
            self.error = exc
            raise


async def _tenant(settings: Settings, runtime: Any, record: Callable[[Check], Check]) -> str | bool | None:
    """The organisation calls will use (None: the sandbox's), checked against the connections; False: stop."""
    from .xero.errors import XeroError

    tenants = runtime.client.tenants
    tenant = settings.xero_tenant_id
    if tenants is None:
        record(Check(True, f"organisation: {tenant or 'the sandbox demo organisation'}"))
        return tenant
    try:
        connections = await tenants.connections()
        if tenant is None:
            tenant = str(await tenants.default())
            record(Check(True, f"organisation: {_label(connections, tenant)} (chosen automatically)"))
            return tenant
    except XeroError as exc:
        record(Check(False, f"organisation: {exc}", "choose one: `xero-contacts-mcp tenants` lists them; then set "
                     "XERO_TENANT_ID to its tenant id, or run `xero-contacts-mcp login --tenant ID`"))
        return False
    if connections and tenant not in {c.get("tenantId") for c in connections}:
        listed = "; ".join(_label(connections, c["tenantId"]) for c in connections[:5])
        record(Check(False, f"organisation: XERO_TENANT_ID {tenant} is not connected to these credentials",
                     f"set XERO_TENANT_ID to one of: {listed} (or unset it), or connect that organisation "
                     "with `xero-contacts-mcp login`", config=True))
        return False
    record(Check(True, f"organisation: {_label(connections, tenant)} (XERO_TENANT_ID)"))
    return tenant


def _label(connections: list[dict[str, Any]], tenant: str) -> str:
    name = next((c.get("tenantName") for c in connections if c.get("tenantId") == tenant), None)
    return f"{name} ({tenant})" if name else tenant


def _token_fix(settings: Settings, source: Any, exc: Exception) -> str:
    from .xero.errors import TransportError
    from .xero.oauth import CustomConnection, StaticToken

    if isinstance(exc, TransportError):
        return f"check the network, and XERO_TOKEN_URL ({settings.xero_token_url})"
    if isinstance(source, StaticToken):
        return "put a fresh token in XERO_ACCESS_TOKEN (they last 30 minutes), or unset it and use `login`"
    if isinstance(source, CustomConnection):
        return ("check XERO_CLIENT_ID and XERO_CLIENT_SECRET against the Custom Connection app at "
                "developer.xero.com; for a Web or PKCE app run `xero-contacts-mcp login` instead")
    return "run `xero-contacts-mcp login` again (the stored login was revoked, expired or belongs to another app)"


def _api_fix(settings: Settings, exc: Exception | None) -> str:
    """What to do about a failed API call, by its cause (the message above says what happened)."""
    from .xero.errors import APIError, SharedStateError, TimeoutError_, TransportError

    if isinstance(exc, APIError):
        if exc.status == 401:
            return ("reconnect with the scopes the tools need: `xero-contacts-mcp login` (or a fresh "
                    "XERO_ACCESS_TOKEN)")
        if exc.status == 403:
            return ("set XERO_TENANT_ID to an organisation this login can reach (`xero-contacts-mcp tenants` lists "
                    "them), or reconnect it with `xero-contacts-mcp login`")
        if exc.status == 429:
            return "wait for the time Xero gave, then run doctor again"
        if exc.status >= 500:
            return "Xero or the organisation is unavailable: check https://status.xero.com and try again later"
        return f"check XERO_API_URL ({settings.xero_api_url}): Xero's is https://api.xero.com/api.xro/2.0"
    if isinstance(exc, SharedStateError):
        return "fix the shared state named above (Redis, or the token file), then run doctor again"
    if isinstance(exc, TimeoutError_):
        return f"check the network; raise XERO_MCP_TIMEOUT (now {settings.xero_mcp_timeout:g} s) if Xero is slow"
    if isinstance(exc, TransportError):
        return f"check the network and XERO_API_URL ({settings.xero_api_url})"
    return "run `xero-contacts-mcp --debug doctor` to see each request, and fix what it shows"


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
