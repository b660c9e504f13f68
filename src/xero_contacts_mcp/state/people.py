"""Hosted mode's people: each person's Xero token set and record, encrypted at rest.

One person = one `Login` (their token set, organisations and default, behind the same
compare-and-set `TokenStore` and refresh lock as the single login, keyed by their Xero user id)
plus one `PersonRecord` (who they are, when they connected and last used the server). Both are
sealed with Fernet (MultiFernet: the first key encrypts, every key decrypts, so keys can rotate);
only the login's version number stays readable, because the Redis compare-and-set compares it.
Callers never handle ciphertext: the stores seal and open.

Local: a directory (0700) of files (0600, written atomically); Redis: keys under the prefix and a
set naming everyone. `state` knows nothing of Xero's API: records are plain data.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .tokens import FileTokenStore, Login, TokenStore, TokenStoreError, UnreadableLoginError, write_private

_USER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def check_user_id(user_id: str) -> str:
    """A user id safe to use in a file name or Redis key (Xero's are UUIDs); ValueError otherwise."""
    if not _USER_ID.fullmatch(user_id) or ".." in user_id:
        raise ValueError(f"not a Xero user id: {user_id[:40]!r}")
    return user_id


@dataclass
class PersonRecord:
    """What `users` lists about one connected person (nothing usable to reach Xero)."""

    user_id: str
    email: str | None = None
    name: str | None = None
    #: their organisations as Xero's /connections names them: tenantId, tenantName, tenantType
    organisations: list[dict[str, Any]] = field(default_factory=list)
    connected_at: float = 0.0
    last_used: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> PersonRecord:
        """ValueError when the text is not a record this program wrote."""
        try:
            data = json.loads(text)
            return cls(user_id=str(data["user_id"]), email=data.get("email"), name=data.get("name"),
                       organisations=[dict(o) for o in data.get("organisations") or []],
                       connected_at=float(data.get("connected_at") or 0),
                       last_used=float(data.get("last_used") or 0))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ValueError("not a person record") from None


class Sealer:
    """Fernet with rotation: seals with the first key, opens with any."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        from cryptography.fernet import Fernet, MultiFernet

        if not keys:
            raise ValueError("at least one Fernet key is needed")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def seal(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        """The plain text; ValueError when no configured key opens it (a wrong or retired key, or damage)."""
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise ValueError("no configured key opens this") from None


class SealedCodec:
    """A login as `{"version": n, "sealed": "<Fernet token>"}`: the version in the clear for Redis's
    compare-and-set, everything else (tokens, organisations) sealed."""

    def __init__(self, sealer: Sealer) -> None:
        self.sealer = sealer

    def dumps(self, login: Login) -> str:
        return json.dumps({"version": login.version, "sealed": self.sealer.seal(login.to_json())})

    def loads(self, text: str) -> Login:
        try:
            envelope = json.loads(text)
            sealed = envelope["sealed"]
        except (ValueError, KeyError, TypeError):
            raise ValueError("not a sealed login") from None
        if not isinstance(sealed, str):
            raise ValueError("not a sealed login")
        return Login.from_json(self.sealer.open(sealed))


class PeopleStore(Protocol):
    """Everyone's token sets and records. `tokens(user_id)` is that person's `TokenStore` (compare-and-set
    saves, the per-person refresh lock); records are last-writer-wins (nothing in them is a secret)."""

    def tokens(self, user_id: str) -> TokenStore: ...

    async def record(self, user_id: str) -> PersonRecord | None: ...

    async def save_record(self, record: PersonRecord) -> None: ...

    async def records(self) -> list[PersonRecord]: ...

    async def exists(self, user_id: str) -> bool: ...

    async def forget(self, user_id: str) -> bool:
        """Delete their record and token set (under their lock); False if neither existed."""
        ...

    def describe(self) -> str: ...


def unreadable(where: str) -> UnreadableLoginError:
    return UnreadableLoginError(f"{where} cannot be opened with XERO_MCP_ENCRYPTION_KEY (a key that was removed "
                           "from the list, or damage); that person must sign in again")


class LocalPeople:
    """A directory: `<user id>.login` (their sealed token set, through FileTokenStore) and
    `<user id>.person` (their sealed record)."""

    def __init__(self, directory: Path, sealer: Sealer) -> None:
        self.directory = directory
        self.sealer = sealer
        self.codec = SealedCodec(sealer)

    def describe(self) -> str:
        return str(self.directory)

    def _path(self, user_id: str, suffix: str) -> Path:
        return self.directory / f"{check_user_id(user_id)}{suffix}"

    def tokens(self, user_id: str) -> TokenStore:
        return FileTokenStore(self._path(user_id, ".login"), codec=self.codec)

    async def record(self, user_id: str) -> PersonRecord | None:
        return self._read(self._path(user_id, ".person"))

    def _read(self, path: Path) -> PersonRecord | None:
        try:
            sealed = path.read_text(encoding="ascii")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeError) as exc:
            raise TokenStoreError(f"cannot read {path}: {exc}") from None
        try:
            return PersonRecord.from_json(self.sealer.open(sealed.strip()))
        except ValueError:
            raise unreadable(str(path)) from None

    async def save_record(self, record: PersonRecord) -> None:
        write_private(self._path(record.user_id, ".person"), self.sealer.seal(record.to_json()).encode("ascii"))

    async def records(self) -> list[PersonRecord]:
        found: list[PersonRecord] = []
        if not self.directory.is_dir():
            return found
        for path in sorted(self.directory.glob("*.person")):
            record = self._read(path)
            if record is not None:
                found.append(record)
        return found

    async def exists(self, user_id: str) -> bool:
        return self._path(user_id, ".person").exists()

    async def forget(self, user_id: str) -> bool:
        record = self._path(user_id, ".person")
        tokens = self.tokens(user_id)
        async with tokens.lock():
            had_tokens = await tokens.delete()
            try:
                record.unlink()
                had_record = True
            except FileNotFoundError:
                had_record = False
        with contextlib.suppress(OSError):  # the lock file itself: nothing secret, but no litter either
            self._path(user_id, ".login.lock").unlink()
        return had_tokens or had_record
