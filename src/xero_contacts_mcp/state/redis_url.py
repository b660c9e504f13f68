"""A Redis URL checked without importing redis: settings validate it at start-up (a typo is exit 2),
and the message never repeats the URL, which may hold a password."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import SecretStr


@dataclass(frozen=True)
class RedisURL:
    """A validated redis:// or rediss:// URL; `safe` is what may be shown (no user name, no password)."""

    scheme: str
    host: str
    port: int
    db: int
    password: str | None = field(default=None, repr=False)

    @property
    def safe(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}/{self.db}"


def parse_redis_url(url: str | SecretStr) -> RedisURL:
    """Check a Redis URL up front, so a typo fails at start-up with a message, not at the first call.

    Raises ValueError with one sentence that never repeats the URL (it may hold a password).
    """
    text = url.get_secret_value() if isinstance(url, SecretStr) else url
    try:
        parts = urlsplit(text.strip())
    except ValueError:
        raise ValueError("The Redis URL is malformed; expected redis://[:password@]host[:port][/db].") from None
    if parts.scheme not in ("redis", "rediss"):
        shown = f"'{parts.scheme}'" if parts.scheme and len(parts.scheme) < 20 else "missing"
        raise ValueError(f"The Redis URL scheme is {shown}; it must be redis:// or rediss://.")
    if not parts.hostname:
        raise ValueError("The Redis URL has no host; expected redis://[:password@]host[:port][/db].")
    try:
        port = parts.port or 6379
    except ValueError:
        raise ValueError("The Redis URL has an invalid port; it must be a number from 1 to 65535.") from None
    if port == 0:
        raise ValueError("The Redis URL has an invalid port; it must be a number from 1 to 65535.")
    db = parse_qs(parts.query).get("db", [parts.path.strip("/")])[-1]  # as redis-py: ?db= wins over the path
    if db and not db.isdigit():
        raise ValueError("The Redis URL's database must be a number, as in redis://host:6379/0.")
    password = unquote(parts.password) if parts.password else None
    return RedisURL(parts.scheme, parts.hostname, port, int(db or 0), password)
