"""`claude-config` prints only what the stdio server needs (none of it with --sandbox), and warns on stderr,
without repeating them, when the entry it prints carries secrets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from xero_contacts_mcp.cli import main

TENANT = "8d1bb3a3-3c1a-4b44-9c1e-0e6f0a7e2c11"
EVERYTHING = {
    "XERO_CLIENT_ID": "my-client", "XERO_CLIENT_SECRET": "client-secret-value-1", "XERO_TENANT_ID": TENANT,
    "XERO_TOKEN_FILE": "/home/me/xero.json", "XERO_MCP_TOOLSETS": "contacts", "XERO_MCP_ALLOWED_TENANTS": TENANT,
    "XERO_MCP_REDIS_URL": "redis://:redis-password-value-2@cache:6379/0",
    # read only by the HTTP transport, by login/logout, or by hosted mode: never printed
    "XERO_MCP_HTTP_TOKEN": "http-token-value-3" * 3, "XERO_MCP_ALLOWED_ORIGINS": "https://app.example",
    "XERO_MCP_ALLOWED_HOSTS": "mcp.example", "XERO_MCP_STATELESS": "true",
    "XERO_REDIRECT_URI": "http://localhost:9999/callback", "XERO_AUTHORIZE_URL": "https://login.example/authorize",
    "XERO_REVOKE_URL": "https://identity.example/revoke", "XERO_MCP_PUBLIC_URL": "https://mcp.example",
    "XERO_MCP_ENCRYPTION_KEY": "ZW5jcnlwdGlvbi1rZXktdmFsdWUtNC0zMmJ5dGVzISE=", "XERO_SOMETHING_UNKNOWN": "typo",
}
NEVER = ("XERO_MCP_HTTP_TOKEN", "XERO_MCP_ALLOWED_ORIGINS", "XERO_MCP_ALLOWED_HOSTS", "XERO_MCP_STATELESS",
         "XERO_REDIRECT_URI", "XERO_AUTHORIZE_URL", "XERO_REVOKE_URL", "XERO_MCP_PUBLIC_URL",
         "XERO_MCP_ENCRYPTION_KEY", "XERO_SOMETHING_UNKNOWN")


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    monkeypatch.chdir(tmp_path)  # no stray .env

    def go(*argv: str, env: dict[str, str] | None = None, dotenv: dict[str, str] | None = None) -> Any:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        if dotenv:
            (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in dotenv.items()))
        assert main(["claude-config", *argv]) == 0
        out = capsys.readouterr()
        return json.loads(out.out)["mcpServers"]["xero-contacts"], out.err

    return go


def test_only_what_the_stdio_server_needs_and_a_warning_naming_the_secrets(run: Any) -> None:
    entry, err = run(env=EVERYTHING)
    assert entry["env"] == {k: v for k, v in EVERYTHING.items() if k not in NEVER}
    printed = json.dumps(entry)
    for name in NEVER:
        assert name not in printed and EVERYTHING[name] not in printed
    assert "warning: this entry contains secrets (XERO_CLIENT_SECRET, XERO_MCP_REDIS_URL)" in err
    assert "client-secret-value-1" not in err and "redis-password-value-2" not in err


def test_with_sandbox_it_prints_no_configuration_at_all(run: Any) -> None:
    entry, err = run("--sandbox", env=EVERYTHING, dotenv={"XERO_CLIENT_SECRET": "from-dotenv-secret"})
    assert "env" not in entry and entry["args"][-1] == "--sandbox"
    assert "secret" not in err  # nothing to warn about (only the unknown XERO_SOMETHING_UNKNOWN is)


def test_no_warning_without_secrets_and_dotenv_is_carried_along(run: Any) -> None:
    entry, err = run("--read-only", env={"XERO_TENANT_ID": TENANT},
                     dotenv={"XERO_CLIENT_ID": "from-dotenv", "XERO_MCP_REDIS_URL": "redis://cache:6379/0",
                             "XERO_MCP_HTTP_TOKEN": "dotenv-http-token"})
    assert entry["env"] == {"XERO_CLIENT_ID": "from-dotenv", "XERO_MCP_REDIS_URL": "redis://cache:6379/0",
                            "XERO_TENANT_ID": TENANT}
    assert entry["args"][-1] == "--read-only" and err == ""


def test_an_access_token_is_a_secret_too(run: Any) -> None:
    entry, err = run(env={"XERO_ACCESS_TOKEN": "access-token-value-5"})
    assert entry["env"] == {"XERO_ACCESS_TOKEN": "access-token-value-5"}
    assert "(XERO_ACCESS_TOKEN)" in err and "access-token-value-5" not in err
