"""The `xero-contacts-mcp` command. Imports stay inside each command so `serve` starts fast."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import __version__

if TYPE_CHECKING:
    from .settings import Settings

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage or invalid configuration: exit status 2."""


class ConfigurationError(UsageError):
    """Configuration that can never work (see config_check): the first fault is the sentence shown."""

    def __init__(self, problems: list[Any]) -> None:
        more = f" ({len(problems) - 1} more: `xero-contacts-mcp doctor` lists them)" if len(problems) > 1 else ""
        super().__init__(f"invalid configuration: {problems[0].sentence()}{more}")
        self.problems = problems


class _Parser(argparse.ArgumentParser):
    """argparse, with bad usage as one sentence (exit 2) instead of a usage block and an error line."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _port(text: str) -> int:
    """A TCP port, refused while the arguments are parsed (exit 2) rather than by the socket layer."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is outside 0-65535 (0 picks a free port)")
    return port


def _tenant(text: str) -> str:
    from .config_check import is_uuid

    if not is_uuid(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a tenant id (a UUID); `tenants` lists them")
    return text


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="xero-contacts-mcp",
        description="MCP server for Xero Contacts, Contact Groups and Tracking Categories.",
    )
    parser.add_argument("--version", action="version", version=f"xero-contacts-mcp {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--tools-file", type=Path, help="read tools from this tools.yaml instead of the packaged one")
    # The same options after the command too (`serve --debug`); SUPPRESS keeps a value given before it.
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--tools-file", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add = commands.add_parser

    def add_parser(name: str, **kw: Any) -> _Parser:
        return add(name, parents=[common], **kw)

    commands.add_parser = add_parser  # type: ignore[method-assign]

    serve = commands.add_parser("serve", help="run the MCP server (the default command)")
    _serve_options(serve)

    sandbox = commands.add_parser("sandbox", help="serve the built-in Xero sandbox API on loopback")
    sandbox.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    sandbox.add_argument("--port", type=_port, default=8765, help="port (default 8765; 0 picks a free one)")
    sandbox.add_argument("--empty", action="store_true", help="start with no demo data")

    tools = commands.add_parser("tools", help="list the tools the current selection would serve")
    _selection_options(tools)

    call = commands.add_parser("call", help="run one tool in-process and print its result as JSON")
    call.add_argument("tool", help="tool name, e.g. xero_contacts_get_contacts")
    call.add_argument("--args", default="{}", help="JSON object of arguments, or @file.json")
    _selection_options(call)

    commands.add_parser("demo", help="a scripted agent session over real MCP stdio against the sandbox")

    login = commands.add_parser("login", help="sign in to Xero (authorization code + PKCE) and store the tokens")
    login.add_argument("--tenant", type=_tenant, help="tenant id of the default organisation")
    login.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the browser (default 300)")
    login.add_argument("--read-only", action="store_true", default=None, help="ask only for the .read scopes")
    commands.add_parser("logout", help="revoke the stored login at Xero and delete it")
    commands.add_parser("tenants", help="list the connected organisations (name, tenant id, type)")

    doctor = commands.add_parser("doctor", help="check configuration, token store, tenant and connectivity")
    _selection_options(doctor)
    users = commands.add_parser("users", help="(hosted mode) list the people connected, or revoke one's access")
    users_commands = users.add_subparsers(dest="users_command", metavar="ACTION")
    revoke = users_commands.add_parser("revoke", help="revoke a person's Xero token at Xero and delete their grants")
    revoke.add_argument("user_id", metavar="ID", help="their Xero user id, as `users` lists it")
    claude = commands.add_parser("claude-config", help="print the Claude Desktop mcpServers entry for this install")
    claude.add_argument("--sandbox", action="store_true", help="an entry that serves the built-in sandbox")
    claude.add_argument("--read-only", action="store_true", help="an entry that serves only the read tools")
    return parser


def _selection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sandbox", action="store_true", default=None,
                        help="use the built-in in-memory Xero sandbox (no credentials needed)")
    parser.add_argument("--read-only", action="store_true", default=None,
                        help="serve only the tools that read (beats every other selector)")
    parser.add_argument("--toolsets", help="comma-separated toolsets: contacts, contact_groups, tracking (or all)")
    parser.add_argument("--tools", dest="tool_names", help="comma-separated tool names to serve (adds to --toolsets)")
    parser.add_argument("--exclude-tools", help="comma-separated tool names never to serve")


def _serve_options(parser: argparse.ArgumentParser) -> None:
    _selection_options(parser)
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio", help="MCP transport (default stdio)")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP: address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8000, help="HTTP: port (default 8000; 0 picks a free one)")
    parser.add_argument("--stateless", action="store_true", default=None,
                        help="HTTP: keep no per-session state (for replicas behind a load balancer)")


def _settings(ns: argparse.Namespace) -> Settings:
    """The settings, checked: ConfigurationError for a value that can never work; unknown names warned of."""
    import os

    from pydantic import ValidationError

    from . import config_check
    from .settings import Settings

    overrides: dict[str, Any] = {}
    if getattr(ns, "sandbox", None):
        overrides["xero_mcp_sandbox"] = True
    if getattr(ns, "read_only", None):
        overrides["xero_mcp_read_only"] = True
    if getattr(ns, "stateless", None):
        overrides["xero_mcp_stateless"] = True
    for flag, field in (("toolsets", "xero_mcp_toolsets"), ("tool_names", "xero_mcp_tools"),
                        ("exclude_tools", "xero_mcp_exclude_tools")):
        if getattr(ns, flag, None) is not None:
            overrides[field] = getattr(ns, flag)
    if ns.tools_file is not None:
        overrides["xero_mcp_tools_file"] = ns.tools_file
    if ns.debug:
        overrides["xero_mcp_log_level"] = "DEBUG"
    env_file = config_check.env_file(Settings)
    problems, dotenv_names = config_check.read_dotenv(env_file)
    if problems:  # python-dotenv would only warn and drop the line
        raise ConfigurationError(problems)
    for warning in config_check.unknown_names(Settings.model_fields, os.environ, dotenv_names, env_file):
        print(f"xero-contacts-mcp: warning: {warning}", file=sys.stderr)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigurationError([config_check.validation_problem(exc)]) from None
    problems = config_check.settings_problems(settings)
    if problems:
        raise ConfigurationError(problems)
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    ns = parser.parse_args(argv)
    command = ns.command or "serve"
    if ns.command is None:  # bare `xero-contacts-mcp` means `serve` with its defaults
        ns = parser.parse_args([*(argv if argv is not None else sys.argv[1:]), "serve"])
    try:
        if command == "sandbox":
            from .sandbox.serve import run

            return run(ns.host, ns.port, empty=ns.empty)
        if command == "demo":
            from .demo import run_demo

            return run_demo()
        try:
            settings = _settings(ns)
        except ConfigurationError as exc:
            if command == "doctor":  # the report on stdout, every fault with its fix; the sentence on stderr
                from .doctor import report_configuration

                report_configuration(exc.problems)
            raise
        from . import logs

        logs.setup(settings.xero_mcp_log_level, settings.secrets())
        from .stores import RedisNotInstalled
        from .tools.catalogue import CatalogueError
        from .tools.selection import SelectionError

        try:
            return _dispatch(command, ns, settings)
        except (CatalogueError, SelectionError, RedisNotInstalled) as exc:
            raise UsageError(str(exc)) from None
    except UsageError as exc:
        print(f"xero-contacts-mcp: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except Exception as exc:
        if ns.debug:
            raise
        print(f"xero-contacts-mcp: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def _dispatch(command: str, ns: argparse.Namespace, settings: Settings) -> int:
    import anyio

    from .settings import HostedConfigError, is_hosted

    if command == "serve":
        hosted = is_hosted(settings, ns.transport)
        if hosted:
            from .runtime import check_hosted

            try:
                check_hosted(settings)
            except HostedConfigError as exc:
                raise UsageError(str(exc)) from None
        if ns.transport == "http":
            import dataclasses

            from .server.http import HTTPConfigError, check
            from .server.listen import BindError, listen

            options = _http_options(ns, settings)
            try:
                # in hosted mode each request carries a person's OAuth token (the provider is built at start-up)
                check(dataclasses.replace(options, hosted=settings.xero_mcp_public_url) if hosted else options)
            except HTTPConfigError as exc:
                raise UsageError(str(exc)) from None
            try:  # before anything starts or logs: a busy port is one sentence, and nothing claims to serve
                sock = listen(options.host, options.port)
            except BindError as exc:
                print(f"xero-contacts-mcp: {exc}", file=sys.stderr)
                return EXIT_FAILURE
            with sock:
                anyio.run(_serve, settings, options, sock, hosted)
        else:
            anyio.run(_serve, settings, None, None, False)
        return EXIT_OK
    if command == "users":
        from .users import run_users

        try:
            return anyio.run(run_users, settings, ns.user_id if ns.users_command == "revoke" else None)
        except HostedConfigError as exc:
            raise UsageError(str(exc)) from None
    if command == "tools":
        return _tools(settings)
    if command == "call":
        return anyio.run(_call, settings, ns.tool, _arguments(ns.args))
    if command == "login":
        if ns.read_only:
            settings = settings.model_copy(update={"xero_mcp_read_only": True})
        return anyio.run(_login, settings, ns.tenant, ns.timeout)
    if command == "logout":
        from .login import run_logout

        return EXIT_OK if anyio.run(run_logout, settings) else EXIT_FAILURE
    if command == "tenants":
        return anyio.run(_tenants, settings)
    if command == "doctor":
        from .doctor import run_doctor

        return anyio.run(run_doctor, settings)
    if command == "claude-config":
        import json

        from .doctor import claude_config, secrets_in

        config = claude_config(settings, sandbox=bool(ns.sandbox))
        entry = config["mcpServers"]["xero-contacts"]
        entry["args"] += [flag for flag, on in (("--sandbox", ns.sandbox), ("--read-only", ns.read_only)) if on]
        print(json.dumps(config, indent=2))
        secrets = secrets_in(entry)
        if secrets:
            print(f"xero-contacts-mcp: warning: this entry contains secrets ({', '.join(secrets)}); Claude Desktop "
                  "keeps them in plain text, so keep its config file private and never paste it anywhere.",
                  file=sys.stderr)
        return EXIT_OK
    raise UsageError(f"unknown command {command!r}")


def _http_options(ns: argparse.Namespace, settings: Settings) -> Any:
    from .server.http import HTTPOptions
    from .tools.selection import split_names

    token = settings.xero_mcp_http_token
    grace = settings.xero_mcp_shutdown_grace
    return HTTPOptions(host=ns.host, port=ns.port, token=token.get_secret_value() if token else None,
                       stateless=settings.xero_mcp_stateless,
                       allowed_origins=split_names(settings.xero_mcp_allowed_origins) or [],
                       allowed_hosts=split_names(settings.xero_mcp_allowed_hosts) or [],
                       graceful_seconds=settings.xero_mcp_retry_deadline if grace is None else grace,
                       max_connections=settings.xero_mcp_max_connections,
                       read_timeout=settings.xero_mcp_read_timeout, max_sessions=settings.xero_mcp_max_sessions,
                       session_idle=settings.xero_mcp_session_idle)


async def _serve(settings: Settings, http: Any, sock: Any, hosted: bool) -> None:
    from .runtime import open_runtime
    from .server.app import InFlight, build_server
    from .tools.runner import UnknownToolError

    calls = InFlight()
    async with open_runtime(settings, hosted=hosted) as runtime:
        # the client would make up the Idempotency-Key itself; made up here, a call cut off can name it
        server = build_server(runtime.runner, instructions=runtime.listing.instructions,
                              unknown_tool=UnknownToolError, calls=calls, idempotency_argument="Idempotency-Key")
        if http is None:
            from .server.stdio import run_stdio

            if sys.stdin.isatty():  # a person started it by hand: say why it seems to hang
                print(f"xero-contacts-mcp: waiting for an MCP client on stdin (an MCP client such as Claude Desktop "
                      f"starts this command itself; Ctrl-C stops it); credentials: {_credential_state(runtime)}.",
                      file=sys.stderr, flush=True)
            await run_stdio(server)
        elif runtime.people is not None:
            import dataclasses

            from .server.hosted.routes import open_hosted
            from .server.http import run_http

            async with open_hosted(settings, runtime.people) as served:
                await run_http(server, dataclasses.replace(http, hosted=served), sock, calls)
        else:
            from .server.http import run_http

            await run_http(server, http, sock, calls)


def _credential_state(runtime: Any) -> str:
    """Which credentials calls will use, said without contacting Xero."""
    from .xero.oauth import CustomConnection, StaticToken, StoredLogin

    source = runtime.source
    if runtime.settings.xero_mcp_sandbox:
        return "none needed (built-in sandbox)"
    if isinstance(source, StaticToken):
        return "XERO_ACCESS_TOKEN"
    if isinstance(source, StoredLogin):
        return "the stored login (`xero-contacts-mcp login`)"
    if isinstance(source, CustomConnection):
        return "XERO_CLIENT_ID + XERO_CLIENT_SECRET as a Custom Connection"
    return "none configured, so every call will say how to connect (run `xero-contacts-mcp login`, or try --sandbox)"


async def _login(settings: Settings, tenant: str | None, wait: float) -> int:
    from .login import LoginError, RedirectError, run_login

    ask = input if sys.stdin.isatty() else None
    try:
        await run_login(settings, tenant=tenant, wait=wait, ask=ask)
    except RedirectError as exc:
        raise UsageError(str(exc)) from None
    except LoginError as exc:
        print(f"xero-contacts-mcp: login failed: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


async def _tenants(settings: Settings) -> int:
    from .runtime import open_runtime

    async with open_runtime(settings) as runtime:
        if runtime.client.tenants is None:
            raise UsageError("`tenants` lists the organisations of a real login; the sandbox's are its own demo ones")
        connections = await runtime.client.tenants.connections()
        default = runtime.settings.xero_tenant_id or await _stored_tenant(runtime)
    if not connections:
        print("No organisations are connected to these credentials.", file=sys.stderr)
        return EXIT_FAILURE
    allowed = settings.allowed_tenants()
    width = max(len(str(c.get("tenantName") or "")) for c in connections)
    for c in connections:
        mark = "*" if c["tenantId"] == default else " "
        barred = "  (not in XERO_MCP_ALLOWED_TENANTS)" if allowed is not None and \
            str(c["tenantId"]).lower() not in allowed else ""
        print(f"{mark} {c.get('tenantName') or '?':<{width}}  {c['tenantId']}  {c.get('tenantType') or ''}{barred}")
    if allowed is not None:
        missing = sorted(allowed - {str(c["tenantId"]).lower() for c in connections})
        print("Calls may reach only the organisations in XERO_MCP_ALLOWED_TENANTS"
              + (f"; allowed but not connected: {', '.join(missing)}" if missing else "") + ".", file=sys.stderr)
    return EXIT_OK


async def _stored_tenant(runtime: Any) -> str | None:
    tenant = getattr(runtime.source, "tenant_id", None)
    return await tenant() if tenant is not None else None


def _tools(settings: Settings) -> int:
    from .runtime import selected_tools
    from .tools.catalogue import load_catalogue
    from .tools.listing import from_catalogue

    catalogue = load_catalogue(settings.xero_mcp_tools_file)
    served = [catalogue.by_name[name] for name in selected_tools(settings, from_catalogue(catalogue))]
    if not served:
        print("No tools match this selection.", file=sys.stderr)
        return EXIT_OK
    width = max(len(t.name) for t in served)
    for tool in served:
        mark = "read " if tool.annotations.readOnlyHint else "write"
        print(f"{tool.name:<{width}}  {mark}  {tool.toolset:<14}  {tool.title}")
    return EXIT_OK


def _excluded_by(settings: Settings, tool: Any) -> str:
    """Which selector leaves a known tool out, and how to let it in (the rules are tools.selection's)."""
    from .tools.selection import split_names

    name = tool.name
    if settings.xero_mcp_read_only and not tool.annotations.readOnlyHint:
        return "--read-only (or XERO_MCP_READ_ONLY) serves only the tools that read, and it writes"
    if name in (split_names(settings.xero_mcp_exclude_tools) or []):
        return "--exclude-tools (or XERO_MCP_EXCLUDE_TOOLS) lists it; drop it from there"
    toolsets, tools = split_names(settings.xero_mcp_toolsets), split_names(settings.xero_mcp_tools)
    if toolsets is None and tools is not None:
        return f"--tools (or XERO_MCP_TOOLS) lists only {', '.join(tools)}; add {name}, or --toolsets {tool.toolset}"
    if toolsets is not None:
        return (f"--toolsets (or XERO_MCP_TOOLSETS) is {','.join(toolsets)}, without its toolset {tool.toolset}; "
                f"add {tool.toolset}, or pass --tools {name}")
    return "the tool selection leaves it out; `xero-contacts-mcp tools` lists what is served"


def _arguments(text: str) -> dict[str, Any]:
    import json

    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read arguments file {text[1:]}: {exc.strerror}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--args is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(value, dict):
        raise UsageError("--args must be a JSON object")
    return value


async def _call(settings: Settings, name: str, arguments: dict[str, Any]) -> int:
    import json

    from .runtime import open_runtime
    from .tools.runner import UnknownToolError

    async with open_runtime(settings) as runtime:
        try:
            result = await runtime.runner.run(name, arguments)
        except UnknownToolError:
            if name in runtime.catalogue.by_name:
                why = _excluded_by(settings, runtime.catalogue.by_name[name])
                raise UsageError(f"{name} is not served with this selection: {why}") from None
            raise UsageError(f"unknown tool {name!r}; `xero-contacts-mcp tools` lists them") from None
    if result.is_error:
        print(result.text, file=sys.stderr)
        if result.data is not None:
            print(json.dumps(result.data, indent=2, ensure_ascii=False))
        return EXIT_FAILURE
    print(json.dumps(result.data, indent=2, ensure_ascii=False))
    return EXIT_OK
