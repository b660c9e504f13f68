"""Where a login lives: one JSON file, mode 0600, written atomically, with a cross-process lock.

A crash at any moment leaves either the old file or the new one, never half of one (temp file in
the same directory, fsync, rename, fsync of the directory). The lock (a sibling `.lock` file, via
filelock) is what makes refreshing single-flight across processes: the holder re-reads the file
inside it, so a process that finds a fresher token uses it instead of spending the refresh token.
"""

from __future__ import annotations

import contextlib
import json
import os
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
        """The login a store holds; ValueError when the text is not a login this program wrote."""
        try:
            data = json.loads(text)
            return cls(token=dict(data["token"]), client_id=str(data["client_id"]), tenant_id=data.get("tenant_id"),
                       connections=list(data.get("connections") or []), saved_at=float(data.get("saved_at") or 0),
                       version=int(data.get("version") or 0))
        except (ValueError, KeyError, TypeError):
            raise ValueError("not a login") from None


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


def default_token_file() -> Path:
    return user_dir("config") / "tokens.json"


class FileTokenStore:
    def __init__(self, path: Path | None = None, codec: LoginCodec | None = None) -> None:
        self.path = path or default_token_file()
        self.codec: LoginCodec = codec or PlainCodec(indent=2)
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    def describe(self) -> str:
        return str(self.path)

    async def load(self) -> Login | None:
        return self._read()

    def _read(self) -> Login | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _unusable("read", self.path, exc) from None
        try:
            return self.codec.loads(text)
        except ValueError:
            raise UnreadableLoginError(f"the token file {self.path} is not a login this program wrote; "
                                  "run `xero-contacts-mcp login` again") from None

    async def save(self, login: Login) -> Login:
        """Compare-and-set on the version (callers hold the lock; this guards against those that do not)."""
        current = self._read() if self.path.exists() else None
        stored = current.version if current is not None else 0
        if stored != login.version:
            what = f"version {stored} is stored" if current is not None else "no login is stored"
            raise StaleWriteError(f"the login in {self.path} changed since it was read ({what}, "
                                  f"not version {login.version})")
        saved = replace(login, saved_at=time.time(), version=login.version + 1)
        self._write(saved)
        return saved

    def _write(self, login: Login) -> None:
        try:
            write_private(self.path, self.codec.dumps(login).encode())
        except OSError as exc:
            raise _unusable("write", self.path, exc) from None

    async def delete(self) -> bool:
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(self.path.parent)
        return True

    @asynccontextmanager
    async def lock(self, wait: float = 30.0) -> AsyncIterator[None]:
        from filelock import AsyncFileLock, Timeout

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise _unusable("write", self.path, exc) from None
        lock = AsyncFileLock(str(self._lock_path), timeout=wait, mode=0o600)
        try:
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
