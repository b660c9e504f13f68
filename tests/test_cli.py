"""The command line as a person meets it: doctor, claude-config, call, tools, --version, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xero_contacts_mcp import __version__
from xero_contacts_mcp.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0 and capsys.readouterr().out.strip() == f"xero-contacts-mcp {__version__}"


def test_doctor_on_the_sandbox_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--sandbox"]) == 0
    out = capsys.readouterr().out
    assert "✓ API reachable: xero_contacts_get_contact_groups answered" in out and "✗" not in out


def test_doctor_without_credentials_says_what_to_fix(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "✗ credentials: none configured" in out and "xero-contacts-mcp login" in out


def test_doctor_reports_a_bad_selection(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--sandbox", "--toolsets", "nope"]) == 2  # a configuration fault, as at start-up
    assert "✗ tools: unknown toolset nope" in capsys.readouterr().out


def test_claude_config_carries_the_command_and_the_variables_set(capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XERO_CLIENT_ID", "my-client")
    assert main(["claude-config", "--read-only"]) == 0
    entry = json.loads(capsys.readouterr().out)["mcpServers"]["xero-contacts"]
    assert Path(entry["command"]).is_absolute()
    assert entry["args"][-2:] == ["serve", "--read-only"] or entry["args"][-1] == "--read-only"
    assert entry["env"] == {"XERO_CLIENT_ID": "my-client"}


def test_call_prints_the_structured_result(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"where": 'Name=="Bayside Club"'}))
    assert main(["call", "xero_contacts_get_contacts", "--sandbox", "--args", f"@{args}"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["Name"] for c in data["Contacts"]] == ["Bayside Club"]


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["call", "xero_contacts_nope", "--sandbox"], 2, "unknown tool 'xero_contacts_nope'"),
    (["call", "xero_contacts_get_contacts", "--sandbox", "--args", "{nope"], 2, "--args is not valid JSON"),
    (["call", "xero_contacts_get_contact", "--sandbox", "--args", '{"ContactID": "x"}'], 1, "must be a UUID"),
    (["--tools-file", "/nonexistent/tools.yaml", "tools"], 2, "cannot read tools file"),
])
def test_errors_are_one_sentence_with_the_documented_exit_code(capsys: pytest.CaptureFixture[str], argv: list[str],
                                                               code: int, message: str) -> None:
    assert main(argv) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
