"""A refreshed token set is never lost, and a stored login that cannot be trusted is never used.

Against the standalone sandbox (real token endpoint with rotating refresh tokens): a save that fails
(a full disk, a read-only directory) keeps the fresh set in memory, keeps working, spends no second
refresh, retries the save and says what to fix; a symlinked token file is written through; a file
another user could write is refused; every kind of damage gives one message, in doctor and while serving.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from http_server import free_port
from sandbox_process import SandboxProcess, browser
from xero_contacts_mcp.doctor import run_doctor
from xero_contacts_mcp.login import run_login
from xero_contacts_mcp.runtime import open_runtime
from xero_contacts_mcp.state import tokens
from xero_contacts_mcp.state.tokens import DamagedLoginError, FileTokenStore, UnsafeTokenFileError

DAMAGED = "the stored login is damaged: run `xero-contacts-mcp login`"
NOBODY = 65534


@pytest.fixture
def sandbox(served: SandboxProcess) -> SandboxProcess:
    return served.reset()


@pytest.fixture
def make_settings(settings_factory: Any, sandbox: SandboxProcess, tmp_path: Path) -> Any:
    def make(token_file: Path | None = None, **overrides: Any) -> Any:
        values: dict[str, Any] = dict(
            xero_access_token=None, xero_tenant_id=None, **sandbox.xero_settings(),
            xero_redirect_uri=f"http://127.0.0.1:{free_port()}/callback",
            xero_token_file=token_file or tmp_path / "tokens.json")
        values.update(overrides)
        return settings_factory(**values)

    return make


async def login(settings: Any, sandbox: SandboxProcess) -> Any:
    return await run_login(settings, open_browser=browser(), say=lambda _: None, wait=10,
                           tenant=sandbox.info["tenant_id"])


async def call(rt: Any) -> Any:
    return await rt.runner.run("xero_contacts_get_contact_groups", {})


def disk_refresh_token(path: Path) -> str:
    return str(json.loads(path.read_text())["token"]["refresh_token"])


# ── a save that fails ───────────────────────────────────────────────────────────────────────────


async def test_a_full_disk_keeps_the_fresh_set_in_memory_spends_no_second_refresh_and_says_what_to_fix(
        make_settings: Any, sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings()
    path = Path(settings.xero_token_file)
    await login(settings, sandbox)
    spent = disk_refresh_token(path)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    async with open_runtime(settings) as rt:
        assert not (await call(rt)).is_error
        monkeypatch.setattr(tokens.os, "fsync", full)
        sandbox.post("clock", {"advance": 1900})  # the access token expires: a refresh is due
        with caplog.at_level(logging.ERROR):
            refreshed = [await call(rt) for _ in range(5)]
        assert not [r.text for r in refreshed if r.is_error]  # the fresh set, kept in memory, is used
        assert sandbox.stats()["refreshes"] == 1
        assert disk_refresh_token(path) == spent  # nothing reached the disk
        told = [r.getMessage() for r in caplog.records if "IN MEMORY ONLY" in r.getMessage()]
        assert len(told) == 1  # one line for the operator, not one per call
        assert str(path) in told[0] and "No space left on device" in told[0] and "free disk space" in told[0]

        sandbox.post("clock", {"advance": 1900})  # that access token expires too, and the disk is still full
        stuck = await call(rt)
        assert stuck.is_error and str(path) in stuck.text and "No space left on device" in stuck.text
        assert "free disk space" in stuck.text and "call the tool again" in stuck.text
        assert "received" not in stuck.text and "unexpectedly" not in stuck.text
        assert sandbox.stats()["refreshes"] == 1  # no second refresh while the first is unsaved

        monkeypatch.undo()  # space is freed: the next call saves the kept set, then refreshes it
        healed = await call(rt)
    assert not healed.is_error, healed.text
    stats = sandbox.stats()
    assert stats["refreshes"] == 2 and stats["invalid_grants"] == 0
    assert disk_refresh_token(path) != spent
    async with open_runtime(settings) as later:  # a restart finds a login that works
        assert not (await call(later)).is_error
    assert sandbox.stats()["invalid_grants"] == 0


async def test_the_kept_set_is_saved_by_a_later_call_while_it_is_still_valid(
        make_settings: Any, sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings()
    path = Path(settings.xero_token_file)
    await login(settings, sandbox)
    spent = disk_refresh_token(path)
    async with open_runtime(settings) as rt:
        monkeypatch.setattr(tokens.os, "replace", _raise(errno.EROFS, "Read-only file system"))
        sandbox.post("clock", {"advance": 1900})
        assert not (await call(rt)).is_error
        monkeypatch.undo()
        assert not (await call(rt)).is_error  # saved on this call
    saved = disk_refresh_token(path)
    assert saved != spent and sandbox.stats()["refreshes"] == 1
    async with open_runtime(settings) as rt:  # a new process uses the saved set without refreshing
        assert not (await call(rt)).is_error
    assert sandbox.stats()["refreshes"] == 1


def _raise(code: int, text: str) -> Any:
    def fail(*args: Any, **kw: Any) -> None:
        raise OSError(code, text)

    return fail


# ── a read-only directory, for real: the server runs as a user who cannot write there ──────────────


def _without_root_powers() -> list[str]:
    """The command that runs Python so that a 0500 directory is read-only for it, even when tests run as root
    (root without CAP_DAC_OVERRIDE obeys the mode bits of its own files)."""
    if not hasattr(os, "geteuid"):
        pytest.skip("POSIX directory modes")
    if os.geteuid() != 0:
        return [sys.executable]
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make a directory read-only for the server")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search", sys.executable]


async def test_a_read_only_directory_over_real_stdio_keeps_working_and_says_what_to_fix(
        make_settings: Any, sandbox: SandboxProcess, tmp_path: Path) -> None:
    private_dir = tmp_path / "config"
    private_dir.mkdir()
    settings = make_settings(token_file=private_dir / "tokens.json")
    path = Path(settings.xero_token_file)
    await login(settings, sandbox)
    spent = disk_refresh_token(path)
    prefix, uid = _without_root_powers(), os.geteuid()
    private_dir.chmod(0o500)  # read-only, even for its owner
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(private_dir), "XERO_MCP_LOG_LEVEL": "WARNING",
           "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "XERO_CLIENT_ID": settings.xero_client_id,
           "XERO_CLIENT_SECRET": settings.xero_client_secret.get_secret_value(), "XERO_TOKEN_FILE": str(path),
           "XERO_API_URL": settings.xero_api_url, "XERO_TOKEN_URL": settings.xero_token_url,
           "XERO_CONNECTIONS_URL": settings.xero_connections_url}
    params = StdioServerParameters(command=prefix[0], args=[*prefix[1:], "-m", "xero_contacts_mcp"], env=env,
                                   cwd=str(tmp_path))
    try:
        with tempfile.TemporaryFile("w+") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                sandbox.post("clock", {"advance": 1900})
                results = [await session.call_tool("xero_contacts_get_contact_groups", {}) for _ in range(3)]
                sandbox.post("clock", {"advance": 1900})
                stuck = await session.call_tool("xero_contacts_get_contact_groups", {})
            errlog.seek(0)
            stderr = errlog.read()
    finally:
        private_dir.chmod(0o700)
    assert not [r.content for r in results if r.is_error]
    assert sandbox.stats()["refreshes"] == 1 and disk_refresh_token(path) == spent
    text = stuck.content[0].text  # type: ignore[union-attr]
    assert stuck.is_error and str(path) in text and "Permission denied" in text, text
    assert f"make {private_dir} writable by this user (uid {uid})" in text
    assert "received" not in text and "unexpectedly" not in text and "Traceback" not in stderr
    assert stderr.count("IN MEMORY ONLY") == 1 and "Permission denied" in stderr
    assert sandbox.stats()["refreshes"] == 1


async def test_doctor_fails_when_the_token_directory_is_not_writable(make_settings: Any, sandbox: SandboxProcess,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings()
    await login(settings, sandbox)
    said: list[str] = []
    monkeypatch.setattr(tokens.tempfile, "mkstemp", _raise(errno.EROFS, "Read-only file system"))
    assert await run_doctor(settings, said.append) == 1
    report = "\n".join(said)
    assert f"{Path(settings.xero_token_file).parent} is not writable: Read-only file system" in report
    assert "All checks passed" not in report
    assert sandbox.stats()["refreshes"] == 0  # it stops before anything could refresh (and lose) the login
    monkeypatch.undo()
    said.clear()
    assert await run_doctor(settings, said.append) == 0, said


# ── symlinks, owners and modes ───────────────────────────────────────────────────────────────────


async def test_a_symlinked_token_file_is_written_through_to_its_target(make_settings: Any, sandbox: SandboxProcess,
                                                                      tmp_path: Path) -> None:
    target = tmp_path / "vault" / "xero.json"
    target.parent.mkdir()
    link = tmp_path / "tokens.json"
    link.symlink_to(target)
    settings = make_settings(token_file=link)
    await login(settings, sandbox)
    assert link.is_symlink() and target.is_file()
    first = disk_refresh_token(target)
    async with open_runtime(settings) as rt:
        sandbox.post("clock", {"advance": 1900})
        assert not (await call(rt)).is_error
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert disk_refresh_token(target) != first  # the target holds the rotated token, not a spent one
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".tokens-*")) and not list(target.parent.glob(".tokens-*"))


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX owners and modes")
@pytest.mark.parametrize(("mode", "owner", "expected"), [
    (0o666, None, "can be written by other users (mode 666)"),
    (0o620, None, "can be written by other users (mode 620)"),
    (0o600, NOBODY, f"owned by another user (uid {NOBODY}"),
])
async def test_a_token_file_another_user_could_write_is_refused_with_the_fix(
        tmp_path: Path, mode: int, owner: int | None, expected: str) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(tokens.Login({"access_token": "a", "expires_at": 0}, "app").to_json())
    path.chmod(mode)
    if owner is not None:
        if os.geteuid() != 0:
            pytest.skip("only root can give a file away")
        os.chown(path, owner, owner)
    with pytest.raises(UnsafeTokenFileError) as caught:
        await FileTokenStore(path).load()
    assert expected in str(caught.value)
    fix = "chown" if owner is not None else f"chmod 600 {path}"
    assert fix in str(caught.value) and "xero-contacts-mcp login" in str(caught.value)


async def test_a_world_writable_directory_without_the_sticky_bit_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "open"
    folder.mkdir()
    path = folder / "tokens.json"
    path.write_text(tokens.Login({"access_token": "a", "expires_at": 0}, "app").to_json())
    folder.chmod(0o777)
    with pytest.raises(UnsafeTokenFileError, match=r"chmod o-w"):
        await FileTokenStore(path).load()
    folder.chmod(0o1777)  # like /tmp: others cannot replace our file
    assert await FileTokenStore(path).load() is not None
    folder.chmod(0o700)
    link_dir = tmp_path / "links"
    link_dir.mkdir()
    (link_dir / "tokens.json").symlink_to(path)
    link_dir.chmod(0o777)  # anyone could point the link elsewhere
    with pytest.raises(UnsafeTokenFileError, match=rf"directory {link_dir} can be written by every user"):
        await FileTokenStore(link_dir / "tokens.json").load()


async def test_login_replaces_an_unsafe_file_with_a_private_one(make_settings: Any, sandbox: SandboxProcess) -> None:
    settings = make_settings()
    path = Path(settings.xero_token_file)
    path.write_text("{}")
    path.chmod(0o666)
    await login(settings, sandbox)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert await FileTokenStore(path).load() is not None


# ── every kind of damage: one message ──────────────────────────────────────────────────────────────

GOOD = {"token": {"access_token": "a", "refresh_token": "r", "expires_at": 1.0}, "client_id": "app", "version": 1}

DAMAGE: dict[str, bytes] = {
    "invalid UTF-8": b'{"token": {"access_token": "\xff\xfe"}}',
    "bad JSON": b'{"token": ',
    "empty": b"",
    "a JSON list": b"[1, 2]",
    "non-numeric expires_at": json.dumps({**GOOD, "token": {**GOOD["token"], "expires_at": "soon"}}).encode(),
    "missing token": json.dumps({k: v for k, v in GOOD.items() if k != "token"}).encode(),
    "missing access_token": json.dumps({**GOOD, "token": {"refresh_token": "r"}}).encode(),
    "token not an object": json.dumps({**GOOD, "token": "abc"}).encode(),
    "version not a number": json.dumps({**GOOD, "version": "two"}).encode(),
    "connections not a list": json.dumps({**GOOD, "connections": "many"}).encode(),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
async def test_every_kind_of_damaged_file_is_one_message_in_the_store_and_in_doctor(
        kind: str, settings_factory: Any, tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(DAMAGE[kind])
    path.chmod(0o600)
    with pytest.raises(DamagedLoginError) as caught:
        await FileTokenStore(path).load()
    assert str(caught.value).startswith(DAMAGED) and str(path) in str(caught.value)
    said: list[str] = []
    settings = settings_factory(xero_access_token=None, xero_client_id="app", xero_token_file=path)
    assert await run_doctor(settings, said.append) == 1
    report = "\n".join(said)
    assert DAMAGED in report and "Traceback" not in report


@pytest.mark.parametrize("kind", ["invalid UTF-8", "non-numeric expires_at", "missing access_token"])
async def test_a_damaged_file_while_serving_is_the_same_message(kind: str, settings_factory: Any,
                                                               tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(DAMAGE[kind])
    path.chmod(0o600)
    settings = settings_factory(xero_access_token=None, xero_client_id="app", xero_token_file=path)
    async with open_runtime(settings) as rt:  # the server starts, and each call says what to fix
        result = await rt.runner.run("xero_contacts_get_contacts", {})
    assert result.is_error and DAMAGED in result.text and "unexpectedly" not in result.text


def test_cli_doctor_on_a_damaged_file_prints_no_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from xero_contacts_mcp.cli import main

    path = tmp_path / "tokens.json"
    path.write_bytes(DAMAGE["invalid UTF-8"])
    path.chmod(0o600)
    monkeypatch.setenv("XERO_TOKEN_FILE", str(path))
    monkeypatch.setenv("XERO_CLIENT_ID", "app")
    monkeypatch.chdir(tmp_path)
    assert main(["doctor"]) == 1
    out = capsys.readouterr()
    assert DAMAGED in out.out and "Traceback" not in out.out + out.err


@pytest.mark.parametrize("kind", ["invalid UTF-8", "bad JSON", "non-numeric expires_at", "missing token"])
async def test_a_damaged_login_in_redis_is_the_same_message_and_login_replaces_it(
        kind: str, redis_server: Any, make_settings: Any, sandbox: SandboxProcess) -> None:
    from xero_contacts_mcp.stores import open_stores

    settings = make_settings(xero_mcp_redis_url=redis_server.url,
                             xero_mcp_redis_prefix=f"damaged-{os.urandom(4).hex()}:")
    async with open_stores(settings) as stores:
        await stores.redis.client.set(stores.redis.key("login"), DAMAGE[kind])
        with pytest.raises(DamagedLoginError, match="the stored login is damaged"):
            await stores.tokens.load()
    async with open_runtime(settings) as rt:
        result = await call(rt)
    assert result.is_error and DAMAGED in result.text
    await login(settings, sandbox)
    async with open_runtime(settings) as rt:
        assert not (await call(rt)).is_error


async def test_redis_refusing_the_save_keeps_the_fresh_set_too(make_settings: Any, sandbox: SandboxProcess,
                                                              redis_server: Any, monkeypatch: pytest.MonkeyPatch,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """Redis takes the refresh lock, then fails the save (a real redis-py error through the store's guard)."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    from xero_contacts_mcp.state import redis_state
    from xero_contacts_mcp.stores import open_stores

    settings = make_settings(xero_mcp_redis_url=redis_server.url,
                             xero_mcp_redis_prefix=f"unsaved-{os.urandom(4).hex()}:")
    await login(settings, sandbox)
    real_script = redis_state.RedisState.script

    def failing_save(self: Any, source: str) -> Any:
        if source != redis_state._SAVE:
            return real_script(self, source)

        async def refuse(**kw: Any) -> Any:
            raise RedisConnectionError("Connection reset by peer")

        return refuse

    async with open_runtime(settings) as rt:
        monkeypatch.setattr(redis_state.RedisState, "script", failing_save)
        sandbox.post("clock", {"advance": 1900})
        with caplog.at_level(logging.ERROR):
            kept = [await call(rt) for _ in range(3)]
        assert not [r.text for r in kept if r.is_error]
        assert any("IN MEMORY ONLY" in r.getMessage() and "could not be reached while saving the login"
                   in r.getMessage() for r in caplog.records)
        sandbox.post("clock", {"advance": 1900})
        stuck = await call(rt)
        assert stuck.is_error and "Redis at redis://127.0.0.1" in stuck.text and "XERO_MCP_REDIS_URL" in stuck.text
        assert sandbox.stats()["refreshes"] == 1
        monkeypatch.undo()
        assert not (await call(rt)).is_error
    assert sandbox.stats()["refreshes"] == 2 and sandbox.stats()["invalid_grants"] == 0
    async with open_stores(settings) as stores:
        stored = await stores.tokens.load()
    assert stored is not None and stored.version == 3  # login, the kept set saved late, the next refresh


async def test_logout_deletes_a_damaged_file(make_settings: Any) -> None:
    from xero_contacts_mcp.login import run_logout

    settings = make_settings()
    path = Path(settings.xero_token_file)
    path.write_bytes(DAMAGE["invalid UTF-8"])
    said: list[str] = []
    assert not await run_logout(settings, say=said.append)  # nothing could be revoked
    assert not path.exists() and "held no usable login" in said[0]
