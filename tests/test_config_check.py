"""What config_check knows comes from the Settings model, so settings other changes add are checked and known."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic_settings import SettingsConfigDict

from xero_contacts_mcp.config_check import settings_problems, unknown_names
from xero_contacts_mcp.settings import Settings
from xero_contacts_mcp.state.tokens import FileTokenStore, Login, TokenFileUnusable


class Extended(Settings):
    """Settings as another change might extend them."""

    model_config = SettingsConfigDict(env_file=None)
    xero_mcp_future_url: str | None = None
    xero_mcp_future_limit: int = 100


def test_a_setting_added_to_the_model_is_known_without_a_hand_list() -> None:
    environ = {"XERO_MCP_FUTURE_URL": "https://mcp.example.com", "XERO_MCP_FUTURE_LIMT": "5"}
    assert unknown_names(Extended.model_fields, environ, []) == [
        "XERO_MCP_FUTURE_LIMT (in the environment) is not a setting this server reads, so it is ignored: "
        "did you mean XERO_MCP_FUTURE_LIMIT?"]
    assert unknown_names(Settings.model_fields, {"XERO_MCP_FUTURE_URL": "x"}, [])  # unknown until it is a field


def test_a_url_setting_added_to_the_model_is_checked() -> None:
    problems = settings_problems(Extended(xero_mcp_future_url="mcp.example.com"))
    assert [p.name for p in problems] == ["XERO_MCP_FUTURE_URL"]
    assert problems[0].sentence() == ("XERO_MCP_FUTURE_URL 'mcp.example.com' is not an absolute http(s) URL: "
                                      "set it to a full URL such as https://host/path, or unset it")


def test_names_other_than_xero_and_dotenv_names_in_any_case() -> None:
    assert unknown_names(Settings.model_fields, {"PATH": "/bin", "xero_mcp_timeout": "3"}, ["xero_tenant_id"]) == []
    assert unknown_names(Settings.model_fields, {}, ["XERO_CLIENTID"], Path("/srv/.env")) == [
        "XERO_CLIENTID (in /srv/.env) is not a setting this server reads, so it is ignored: "
        "did you mean XERO_CLIENT_ID?"]


def test_a_password_in_a_url_is_never_shown() -> None:
    problems = settings_problems(Extended(xero_api_url="ftp://user:s3cret-pw@api.example.com/x"))
    assert len(problems) == 1 and "s3cret-pw" not in problems[0].sentence()


@pytest.mark.parametrize("level", ["debug", "Warning", "ERROR"])
def test_real_log_levels_in_any_case_pass(level: str) -> None:
    assert settings_problems(Extended(xero_mcp_log_level=level)) == []


def test_a_token_file_that_cannot_be_written_names_the_path_not_login(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    store = FileTokenStore(blocker / "tokens.json")
    with pytest.raises(TokenFileUnusable) as caught:
        asyncio.run(store.save(Login(token={"access_token": "a"}, client_id="app")))
    assert "the token file" in str(caught.value) and "XERO_TOKEN_FILE" in caught.value.fix
    assert "login" not in str(caught.value)
