"""Logging to stderr only (stdout is the stdio transport), with secrets redacted from every line."""

from __future__ import annotations

import logging
import re
import sys

_PATTERNS = [
    re.compile(r"(?i)(authorization\s*[:=]\s*)(bearer|basic)\s+[^\s'\",]+"),
    re.compile(r"(?i)((?:bearer|basic)\s+)[A-Za-z0-9\-._~+/]+=*"),
    re.compile(r"(?i)((?:access|refresh|id)_token|client_secret|code_verifier|password)(['\"]?\s*[:=]\s*['\"]?)[^\s'\"&,}]+"),
    re.compile(r"(rediss?://[^:/@\s]*:)[^@\s]+(@)"),
]


class RedactingFilter(logging.Filter):
    """Scrubs known secret values and anything shaped like a credential from every record."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__()
        self.secrets = [s for s in (secrets or []) if len(s) >= 4]

    def add(self, secret: str) -> None:
        if len(secret) >= 4 and secret not in self.secrets:
            self.secrets.append(secret)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        text = _PATTERNS[0].sub(r"\1\2 [redacted]", text)
        text = _PATTERNS[1].sub(r"\1[redacted]", text)
        text = _PATTERNS[2].sub(r"\1\2[redacted]", text)
        return _PATTERNS[3].sub(r"\1[redacted]\2", text)

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
