"""The first ten minutes: every setup mistake ends in one clear sentence with the documented exit status.

Each case runs the real command line in a subprocess, in an empty working directory (its own `.env`)
and with no XERO_* variable but those it sets, as a person meets it.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from http_server import wait_healthy

REPO = Path(__file__).resolve().parent.parent


def run(*args: str, cwd: Path, env: dict[str, str] | None = None, dotenv: str | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    if dotenv is not None:
        (cwd / ".env").write_text(dotenv)
    environment = {k: v for k, v in os.environ.items() if not k.upper().startswith("XERO_")}
    environment.update({"XDG_CONFIG_HOME": str(cwd / "config"), **(env or {})})
    return subprocess.run([sys.executable, "-m", "xero_contacts_mcp", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)


def one_sentence(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


COMMANDS = [["serve"], ["call", "xero_contacts_get_contacts"], ["tools"], ["login", "--timeout", "1"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize(("env", "expected"), [
    ({"XERO_TENANT_ID": "not-a-uuid"}, "XERO_TENANT_ID 'not-a-uuid' is not a tenant id"),
    ({"XERO_API_URL": "api.xero.com/api.xro/2.0"}, "XERO_API_URL 'api.xero.com/api.xro/2.0' is not an absolute"),
    ({"XERO_TOKEN_URL": "ftp://identity.example/token"}, "XERO_TOKEN_URL 'ftp://identity.example/token' is not an"),
    ({"XERO_MCP_LOG_LEVEL": "loud"}, "XERO_MCP_LOG_LEVEL 'loud' is not a log level: use one of DEBUG"),
], ids=["tenant", "api-url", "token-url", "log-level"])
def test_a_value_that_can_never_work_stops_start_up(tmp_path: Path, command: list[str], env: dict[str, str],
                                                   expected: str) -> None:
    done = run(*command, cwd=tmp_path, env={"XERO_ACCESS_TOKEN": "t", **env})
    assert done.returncode == 2, done.stderr
    line = one_sentence(done.stderr)
    assert line.startswith("xero-contacts-mcp: invalid configuration: ") and expected in line
    assert done.stdout == ""


def test_doctor_lists_each_configuration_fault_with_its_fix_and_exits_2(tmp_path: Path) -> None:
    done = run("doctor", cwd=tmp_path, env={"XERO_TENANT_ID": "not-a-uuid", "XERO_API_URL": "api.xero.com"})
    assert done.returncode == 2
    assert "✗ configuration: XERO_TENANT_ID 'not-a-uuid' is not a tenant id" in done.stdout
    assert "✗ configuration: XERO_API_URL 'api.xero.com' is not an absolute http(s) URL" in done.stdout
    assert done.stdout.count("    → ") == 2
    assert done.stdout.strip().splitlines()[-1].startswith("2 of 2 checks failed")
    assert "(1 more: `xero-contacts-mcp doctor` lists them)" in one_sentence(done.stderr)


@pytest.mark.parametrize(("dotenv", "line"), [
    ("XERO_MCP_TIMEOUT 30\n", "line 1 does not parse ('XERO_MCP_TIMEOUT 30')"),
    ("XERO_CLIENT_ID=abc\nXERO_SCOPES=\"offline_access accounting.contacts\nXERO_MCP_TIMEOUT=30\n", "line 2 does not"),
], ids=["no-equals", "open-quote"])
def test_a_dotenv_that_does_not_parse_names_its_file_and_line(tmp_path: Path, dotenv: str, line: str) -> None:
    done = run("tools", cwd=tmp_path, dotenv=dotenv)
    assert done.returncode == 2
    sentence = one_sentence(done.stderr)
    assert ".env " + line in sentence and "NAME=value" in sentence
    assert "python-dotenv" not in done.stderr


@pytest.mark.parametrize("where", ["environment", ".env"])
def test_an_unknown_name_is_warned_with_the_nearest_valid_one(tmp_path: Path, where: str) -> None:
    setting = {"XERO_MCP_TOOLSET": "tracking"}
    if where == "environment":
        done = run("tools", cwd=tmp_path, env=setting)
    else:
        done = run("tools", cwd=tmp_path, dotenv="XERO_MCP_TOOLSET=tracking\n")
    assert done.returncode == 0 and "xero_contacts_get_contacts" in done.stdout  # ignored, as the warning says
    line = one_sentence(done.stderr)
    assert line == (f"xero-contacts-mcp: warning: XERO_MCP_TOOLSET (in {where if where == '.env' else 'the environment'}) "
                    "is not a setting this server reads, so it is ignored: did you mean XERO_MCP_TOOLSETS?")


def test_login_tenant_and_a_port_out_of_range_are_refused_while_parsing(tmp_path: Path) -> None:
    for args in (["login", "--tenant", "acme"], ["serve", "--transport", "http", "--port", "99999"],
                 ["sandbox", "--port", "-1"]):
        done = run(*args, cwd=tmp_path)
        assert done.returncode == 2, args
        assert "Traceback" not in done.stderr
        assert one_sentence(done.stderr).split(": ", 1)[1].split(" (see `")[0] in (
            "argument --tenant: 'acme' is not a tenant id (a UUID); `tenants` lists them",
            "argument --port: 99999 is outside 0-65535 (0 picks a free port)",
            "argument --port: -1 is outside 0-65535 (0 picks a free port)")


def test_a_busy_port_is_one_sentence_exit_1_and_nothing_claims_to_serve(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run("serve", "--sandbox", "--transport", "http", "--port", str(port), cwd=tmp_path)
    assert done.returncode == 1
    line = one_sentence(done.stderr)
    assert line == (f"xero-contacts-mcp: cannot serve on 127.0.0.1:{port}: the port is already in use by another "
                    "program; stop it, or pick another port with --port (0 picks a free one)")
    assert "serving" not in done.stderr.lower()


def _line_with(process: subprocess.Popen[str], text: str, timeout: float = 30) -> str:
    """The first stderr line containing `text`; fails (never hangs) when none comes within `timeout`."""
    import select

    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    seen = []
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([process.stderr], [], [], left)[0]:
            break
        line = process.stderr.readline()
        if text in line:
            return line
        if not line:
            break
        seen.append(line)
    raise AssertionError(f"no line with {text!r} (exit {process.poll()}); stderr: {''.join(seen)}")


def test_port_0_logs_the_port_really_bound_after_binding(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.upper().startswith("XERO_")}
    process = subprocess.Popen([sys.executable, "-m", "xero_contacts_mcp", "serve", "--sandbox", "--transport",
                                "http", "--port", "0"], cwd=tmp_path, env=environment, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        line = _line_with(process, "serving MCP")
        found = re.search(r"at http://127\.0\.0\.1:(\d+)/mcp ", line)
        assert found and int(found.group(1)) != 0, line
        wait_healthy(f"http://127.0.0.1:{found.group(1)}", process, lambda: "")  # the port logged is the one bound
        assert httpx2.get(f"http://127.0.0.1:{found.group(1)}/healthz").json() == {"status": "ok"}
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_token_file_path_problem_says_to_fix_the_path_not_to_log_in(tmp_path: Path) -> None:
    (tmp_path / "config" / "xero-contacts-mcp" / "tokens.json").mkdir(parents=True)  # the default path, a directory
    done = run("call", "xero_contacts_get_contacts", cwd=tmp_path)
    assert done.returncode == 1
    line = one_sentence(done.stderr)
    assert "cannot read the token file" in line and "set XERO_TOKEN_FILE to a file path" in line
    assert "login" not in line
    doctor = run("doctor", cwd=tmp_path)
    assert doctor.returncode == 1
    assert "✗ token store: cannot read the token file" in doctor.stdout
    assert "→ set XERO_TOKEN_FILE to a file path (it names a directory)" in doctor.stdout
    assert "login" not in doctor.stdout.split("✗ token store", 1)[1].split("checks failed")[0]
    configured = run("tools", cwd=tmp_path, env={"XERO_TOKEN_FILE": str(tmp_path)})
    assert configured.returncode == 2 and "XERO_TOKEN_FILE" in one_sentence(configured.stderr)


def test_a_corrupt_token_file_says_to_log_in_again(tmp_path: Path) -> None:
    (tmp_path / "tokens.json").write_text("{}")
    doctor = run("doctor", cwd=tmp_path, env={"XERO_TOKEN_FILE": str(tmp_path / "tokens.json")})
    assert doctor.returncode == 1
    assert "✗ token store: the stored login is damaged: run `xero-contacts-mcp login`" in doctor.stdout


@pytest.mark.parametrize(("selection", "selector"), [
    (["--read-only"], "--read-only (or XERO_MCP_READ_ONLY) serves only the tools that read"),
    (["--exclude-tools", "xero_contacts_create_contacts"], "--exclude-tools (or XERO_MCP_EXCLUDE_TOOLS) lists it"),
    (["--toolsets", "tracking"], "--toolsets (or XERO_MCP_TOOLSETS) is tracking, without its toolset contacts"),
    (["--tools", "xero_contacts_get_contacts"], "--tools (or XERO_MCP_TOOLS) lists only xero_contacts_get_contacts"),
])
def test_call_on_an_excluded_tool_names_the_selector(tmp_path: Path, selection: list[str], selector: str) -> None:
    done = run("call", "xero_contacts_create_contacts", "--sandbox", *selection, "--args", "{}", cwd=tmp_path,
               env={"XERO_MCP_LOG_LEVEL": "ERROR"})
    assert done.returncode == 2
    line = one_sentence(done.stderr)
    assert line.startswith("xero-contacts-mcp: xero_contacts_create_contacts is not served with this selection: ")
    assert selector in line and "unknown tool" not in line


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
@pytest.mark.parametrize(("env", "state"), [
    ({}, "credentials: none configured, so every call will say how to connect"),
    ({"XERO_ACCESS_TOKEN": "t"}, "credentials: XERO_ACCESS_TOKEN."),
])
def test_stdio_serve_on_a_terminal_says_it_is_waiting(tmp_path: Path, env: dict[str, str], state: str) -> None:
    import pty

    leader, follower = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if not k.upper().startswith("XERO_")}
    environment.update({"XDG_CONFIG_HOME": str(tmp_path / "config"), **env})
    process = subprocess.Popen([sys.executable, "-m", "xero_contacts_mcp", "serve"], cwd=tmp_path, env=environment,
                               stdin=follower, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    os.close(follower)
    try:
        line = _line_with(process, "xero-contacts-mcp:", timeout=20)
        assert line.startswith("xero-contacts-mcp: waiting for an MCP client on stdin"), line
        assert state in line
    finally:
        process.terminate()
        process.wait(timeout=20)
        os.close(leader)


def test_stdio_serve_from_a_client_prints_no_such_line(tmp_path: Path) -> None:
    done = run("serve", cwd=tmp_path, env={"XERO_MCP_LOG_LEVEL": "WARNING"})  # stdin is not a terminal: ends at EOF
    assert done.returncode == 0 and "waiting for an MCP client" not in done.stderr


def test_the_demo_runs_on_a_cp1252_terminal_and_ends_with_the_next_step(tmp_path: Path) -> None:
    done = run("demo", cwd=tmp_path, env={"PYTHONIOENCODING": "cp1252"}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "codec can't encode" not in done.stderr and "Traceback" not in done.stderr
    assert " ok " in done.stdout and " -> xero_contacts_" in done.stdout and "-" * 72 in done.stdout
    tail = done.stdout.strip().splitlines()[-4:]
    assert tail[0].startswith("Next: add the server to your MCP client") and "claude-config" in tail[0]


def test_dotenv_example_parses_and_names_only_real_settings(tmp_path: Path) -> None:
    done = run("tools", cwd=tmp_path, dotenv=(REPO / ".env.example").read_text())
    assert done.returncode == 0 and done.stderr == "", done.stderr
