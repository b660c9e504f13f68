"""Logging to stderr only (stdout is the stdio transport), with secrets redacted from every line."""

from __future__ import annotations

import logging
import re
import sys

_TOKEN_CHARS = r"A-Za-z0-9\-._~+/"  # noqa: S105 - RFC 6750 b64token (covers Basic base64 too)

#: What a credential looks like, not which words stand near it: prose such as a contact called
#: "Basic Supplies Ltd" or "Bearer Bonds" passes through untouched. Each pattern keeps its group 1.
_SHAPES = [
    # an Authorization header's value, whatever its scheme (as a header line, a dict entry or a repr)
    re.compile(r"(?i)(\bauthorization['\"]?\s*[:=]\s*['\"]?(?:(?:bearer|basic|digest|token)\s+)?)"
               r"[^\s'\",}]+"),
    # a scheme followed by something shaped like a credential: 16+ token characters, letters and digits
    re.compile(rf"(?i)(\b(?:bearer|basic)\s+)(?=[{_TOKEN_CHARS}]*[0-9])(?=[{_TOKEN_CHARS}]*[A-Za-z])"
               rf"[{_TOKEN_CHARS}]{{16,}}=*"),
    # a JWT (Xero's access and id tokens): base64url header.payload.signature, the header starting `eyJ`
    re.compile(r"()\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    # a long opaque token: 40+ hex digits, or 40+ base64url characters mixing upper, lower case and digits
    # (a UUID, with its hyphens every few characters, is neither)
    re.compile(r"()\b[0-9a-fA-F]{40,}\b"),
    re.compile(r"()(?<![A-Za-z0-9_-])(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[a-z])(?=[A-Za-z0-9_-]*[A-Z])"
               r"[A-Za-z0-9_-]{40,}(?![A-Za-z0-9_-])"),
    # a credential's own field name with its value (form bodies, JSON, reprs)
    re.compile(r"(?i)(\b(?:(?:access|refresh|id)_token|client_secret|code_verifier|password)['\"]?\s*[:=]\s*['\"]?)"
               r"[^\s'\"&,}]+"),
    # the password in a Redis URL
    re.compile(r"(rediss?://[^:/@\s]*:)[^@\s]+(?=@)"),
]


class RedactingFilter(logging.Filter):
    """Scrubs the configured secret values and anything shaped like a credential from every record."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__()
        self.secrets = [s for s in (secrets or []) if len(s) >= 4]

    def add(self, secret: str) -> None:
        if len(secret) >= 4 and secret not in self.secrets:
            self.secrets.append(secret)

    def redact(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):  # a secret containing another goes whole
            text = text.replace(secret, "[redacted]")
        for shape in _SHAPES:
            text = shape.sub(r"\1[redacted]", text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = self.redact(message), None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is *now*: it may be swapped after set-up (test capture, redirects)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


_filter = RedactingFilter()


def setup(level: str = "INFO", secrets: list[str] | None = None) -> RedactingFilter:
    """Send all logging to stderr through the redacting filter; idempotent."""
    for secret in secrets or []:
        _filter.add(secret)
    root = logging.getLogger()
    if not any(getattr(h, "_xero_mcp", False) for h in root.handlers):
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(_filter)
        handler._xero_mcp = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(logging.getLevelName(level.upper()), int) else "INFO")
    for noisy in ("httpx2", "httpcore2", "mcp.server.lowlevel.server", "mcp.server.streamable_http",
                  "mcp.server.streamable_http_manager", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))
    return _filter
