"""What the tools layer sends and gets back: plain data, no httpx2 types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Request:
    """One Xero API call. `path` is relative to the API base and already percent-encoded."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: Any  # parsed JSON, or text when Xero sent none
    idempotency_key: str | None = None
    tenant_id: str | None = None
