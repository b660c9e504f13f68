"""Where a login lives: one JSON file, mode 0600, written atomically, with a cross-process lock.

A crash at any moment leaves either the old file or the new one, never half of one (temp file in
the same directory, fsync, rename, fsync of the directory). The lock (a sibling `.lock` file, via
filelock) is what makes refreshing single-flight across processes: the holder re-reads the file
inside it, so a process that finds a fresher token uses it instead of spending the refresh token.

A symlinked token file is written through to its target (the link stays). Loading refuses a file
that another user could have written (group/world-writable, owned by someone else, or in a
world-writable directory without the sticky bit): its refresh token could be a planted one. Every
kind of damage (bytes that are not UTF-8, JSON that is not a login, a non-numeric `expires_at`…)
is one error, DamagedLoginError, that says to log in again.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import stat
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from ..paths import user_dir


@dataclass
class Login:
    """What `login` stores: the token set, which app it belongs to, and the chosen organisation."""

    token: dict[str, Any]
    client_id: str
    tenant_id: str | None = None
    connections: list[dict[str, Any]] = field(default_factory=list)
    saved_at: float = 0.0
    #: bumped by every save; a store refuses to replace a newer version with an older one
    version: int = 0

    @property
    def access_token(self) -> str:
        return str(self.token.get("access_token", ""))

    @property
    def refresh_token(self) -> str | None:
        value = self.token.get("refresh_token")
        return str(value) if value else None

    @property
    def expires_at(self) -> float:
        return float(self.token.get("expires_at") or 0)

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(asdict(self), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> Login:
        """The login a store holds; ValueError (saying what is wrong, never quoting it) when the text is
        not a login this program wrote. Checked field by field, so a damaged value fails here, at load,
        and not later as a raw Python error in the middle of a call."""
        try:
            data = json.loads(text)
        except ValueError:
            raise ValueError("not JSON") from None
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        token, client_id = data.get("token"), data.get("client_id")
        if not isinstance(token, dict):
            raise ValueError("no token set")
        if not isinstance(token.get("access_token"), str) or not token["access_token"]:
            raise ValueError("no access_token")
        if token.get("refresh_token") is not None and not isinstance(token["refresh_token"], str):
            raise ValueError("refresh_token is not a string")
        if not _number(token.get("expires_at", 0)):
            raise ValueError("expires_at is not a number")
        if not isinstance(client_id, str) or not client_id:
            raise ValueError("no client_id")
        tenant_id, connections = data.get("tenant_id"), data.get("connections") or []
        if tenant_id is not None and not isinstance(tenant_id, str):
            raise ValueError("tenant_id is not a string")
        if not isinstance(connections, list) or not all(isinstance(c, dict) for c in connections):
            raise ValueError("connections is not a list of organisations")
        saved_at, version = data.get("saved_at") or 0, data.get("version") or 0
        if not _number(saved_at) or not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise ValueError("saved_at or version is not a number")
        return cls(token=dict(token), client_id=client_id, tenant_id=tenant_id, connections=list(connections),
                   saved_at=float(saved_at), version=version)


def _number(value: object) -> bool:
    """A finite int or float (what `with_expiry` writes); not a bool, not a numeric string."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class LoginCodec(Protocol):
    """How a store turns a login into text and back (plain JSON, or sealed for hosted mode's people).

    `loads` raises ValueError for text that is not a login this codec wrote. The text must be a JSON
    object with the login's `version` at its top level: Redis's compare-and-set reads it there.
    """

    def dumps(self, login: Login) -> str: ...

    def loads(self, text: str) -> Login: ...


class PlainCodec:
    """The single login's format: readable JSON (the file is 0600; `logout` deletes it)."""

    def __init__(self, indent: int | None = None) -> None:
        self.indent = indent

    def dumps(self, login: Login) -> str:
        return login.to_json(indent=self.indent)

    def loads(self, text: str) -> Login:
        return Login.from_json(text)


class TokenStore(Protocol):
    """Where a login lives; async because a shared store is a network round trip.

    `save` is a compare-and-set: it writes `login` as version `login.version + 1` only if the stored
    version is still `login.version` (or, with nothing stored, if `login.version` is 0), and raises
    StaleWriteError otherwise, so a writer holding an old token set can never overwrite a newer one,
    nor bring back a login deleted (`logout`) since it was read. `lock` is the cross-process
    refresh lock: held by one process at a time, released on success and failure alike, and (for a
    shared store) expiring by itself if its holder dies.
    """

    async def load(self) -> Login | None: ...

    async def save(self, login: Login) -> Login: ...

    async def delete(self) -> bool: ...

    def lock(self, wait: float = 30.0) -> AbstractAsyncContextManager[None]: ...

    def describe(self) -> str: ...


class TokenStoreError(Exception):
    """The store exists but cannot be read or written; the message says which store and why."""

    #: what a person does about it (doctor shows it under the check)
    fix: str = "run `xero-contacts-mcp login`"


class TokenFileUnusable(TokenStoreError):
    """The token file's path or permissions are at fault, not the login in it: `login` would not help."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(f"{what}; {fix}")
        self.what = what
        self.fix = fix


def _unusable(action: str, path: Path, exc: OSError) -> TokenFileUnusable:
    if isinstance(exc, IsADirectoryError) or path.is_dir():
        fix = "set XERO_TOKEN_FILE to a file path (it names a directory)"
    elif isinstance(exc, NotADirectoryError | FileExistsError):
        fix = "part of its path is a file, not a directory: set XERO_TOKEN_FILE to a path in a directory"
    elif isinstance(exc, PermissionError):
        fix = f"fix the permissions of {path} and its directory (this user must read and write them), " \
              "or set XERO_TOKEN_FILE to a path this user can write"
    else:
        fix = "set XERO_TOKEN_FILE to a path on a working, writable disk"
    return TokenFileUnusable(f"cannot {action} the token file {path}: {exc.strerror or exc}", fix)


class UnreadableLoginError(TokenStoreError):
    """What is stored is not a login this program (with these keys) wrote: damaged, foreign, or sealed with
    an encryption key no longer configured."""


class StaleWriteError(TokenStoreError):
    """Someone saved a newer login since this one was read; re-read instead of overwriting it."""


class UnusableLoginError(TokenStoreError):
    """What is stored cannot be used, but a new `login` may replace it (a damaged or unsafe file)."""


class DamagedLoginError(UnusableLoginError, UnreadableLoginError):
    """The stored value is not a login this program wrote: one message for every kind of damage."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"the stored login is damaged: run `xero-contacts-mcp login` (in {where}: {why})")


class UnsafeTokenFileError(UnusableLoginError):
    """The token file (or its directory) can be written by another user, so its contents are not trusted."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(f"{message}; refusing to use it. Fix: {fix}")
        self.fix = fix


class TokenSaveError(TokenFileUnusable):
    """The store refused a write (read-only directory, full disk, Redis down); the message names the place
    and the operating system's error, `fix` what to do (kept apart: the caller words the advice)."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(what, fix)
        self.args = (what,)

    def __str__(self) -> str:
        return self.what


async def replace_login(store: TokenStore, login: Login) -> Login:
    """A new sign-in: save `login` over whatever is stored, any version, and over a stored login that cannot
    be used (damaged, writable by others, sealed with a retired key). Call with `store.lock()` held."""
    try:
        existing = await store.load()
    except UnusableLoginError:
        await store.delete()
        existing = None
    login.version = existing.version if existing is not None else 0
    return await store.save(login)


def default_token_file() -> Path:
    return user_dir("config") / "tokens.json"


class FileTokenStore:
    def __init__(self, path: Path | None = None, codec: LoginCodec | None = None) -> None:
        self.path = path or default_token_file()
        self.codec: LoginCodec = codec or PlainCodec(indent=2)
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    def describe(self) -> str:
        return str(self.path)

    @property
    def target(self) -> Path:
        """The file actually written: the token file, or the end of its symlink chain (which may not exist yet)."""
        return Path(os.path.realpath(self.path)) if self.path.is_symlink() else self.path

    async def load(self) -> Login | None:
        return self._read()

    def _read(self) -> Login | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _unusable("read", self.path, exc) from None
        self._check_safe()
        try:
            return self.codec.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise DamagedLoginError(str(self.path), "not UTF-8 text") from None
        except ValueError as exc:
            raise DamagedLoginError(str(self.path), str(exc)) from None

    def _check_safe(self) -> None:
        """Refuse a file another user could have written (POSIX only: Windows has no such mode bits)."""
        if sys.platform == "win32":
            return
        target = self.target
        folders = dict.fromkeys([target.parent, self.path.parent])  # a symlink's own directory too
        try:
            info, modes = target.stat(), {folder: folder.stat().st_mode for folder in folders}
        except OSError as exc:
            raise TokenStoreError(f"cannot inspect the token file {target}: {exc.strerror}") from None
        mode, me = stat.S_IMODE(info.st_mode), os.geteuid()
        if info.st_uid != me:
            raise UnsafeTokenFileError(f"the token file {target} is owned by another user (uid {info.st_uid}, "
                                       f"this process runs as uid {me})",
                                       f"`chown {me} {target}` if you trust it, or run `xero-contacts-mcp login` "
                                       "to replace it")
        if mode & 0o022:
            raise UnsafeTokenFileError(f"the token file {target} can be written by other users (mode {mode:o})",
                                       f"`chmod 600 {target}` if you trust it, or run `xero-contacts-mcp login` "
                                       "to replace it")
        for folder, folder_mode in modes.items():
            if folder_mode & stat.S_IWOTH and not folder_mode & stat.S_ISVTX:
                raise UnsafeTokenFileError(f"the token file's directory {folder} can be written by every user "
                                           "(anyone could replace the file)",
                                           f"`chmod o-w {folder}`, or set XERO_TOKEN_FILE to a private directory")

    async def save(self, login: Login) -> Login:
        """Compare-and-set on the version (callers hold the lock; this guards against those that do not)."""
        current = self._read()
        stored = current.version if current is not None else 0
        if stored != login.version:
            what = f"version {stored} is stored" if current is not None else "no login is stored"
            raise StaleWriteError(f"the login in {self.path} changed since it was read ({what}, "
                                  f"not version {login.version})")
        saved = replace(login, saved_at=time.time(), version=login.version + 1)
        try:
            self._write(saved)
        except OSError as exc:
            raise self._save_failed(exc) from None
        return saved

    def _save_failed(self, exc: OSError) -> TokenSaveError:
        folder = self.target.parent
        reason = exc.strerror or type(exc).__name__
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            fix = f"free disk space on the file system of {folder}"
        elif isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
            fix = f"make {folder} writable by this user{_uid()}, or set XERO_TOKEN_FILE to a writable place"
        else:
            fix = _unusable("write", self.target, exc).fix
        return TokenSaveError(f"cannot write the token file {self.target}: {reason} (errno {exc.errno})", fix)

    def _write(self, login: Login) -> None:
        """Atomic replace of the target (through a symlink: the link stays and points at the new file)."""
        write_private(self.target, self.codec.dumps(login).encode())

    async def delete(self) -> bool:
        """Deletes the login (a symlink's target; the link is left, so the next login writes through it again)."""
        target = self.target
        try:
            target.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(target.parent)
        return True

    @asynccontextmanager
    async def lock(self, wait: float = 30.0) -> AsyncIterator[None]:
        from filelock import AsyncFileLock, Timeout

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            lock = AsyncFileLock(str(self._lock_path), timeout=wait, mode=0o600)
            await lock.acquire()
        except Timeout:
            raise TokenStoreError(f"another process held the login lock {self._lock_path} for more than "
                                  f"{wait:g} s") from None
        except OSError as exc:
            raise _unusable("lock", self.path, exc) from None
        try:
            yield
        finally:
            await lock.release()

    def check_writable(self) -> str | None:
        """Why a save would fail now (None: it would not), by creating and removing a file beside the target."""
        folder = self.target.parent
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, probe = tempfile.mkstemp(prefix=".tokens-", suffix=".probe", dir=folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            return f"{folder} is not writable: {exc.strerror or exc}"
        return None


def _uid() -> str:
    return f" (uid {os.geteuid()})" if hasattr(os, "geteuid") else ""


def write_private(path: Path, data: bytes) -> None:
    """Atomically (temp file in the same directory, fsync, rename, fsync of the directory), mode 0600
    in a 0700 directory."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(prefix=".tokens-", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600) if hasattr(os, "fchmod") else None
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    if sys.platform == "win32":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
