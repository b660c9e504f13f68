"""Counters that tests and benchmarks assert on (what the sandbox saw and what it answered)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Stats:
    api_requests: Counter[str] = field(default_factory=Counter)
    """Authenticated API requests per tenant id (including ones answered with a fault or a 429)."""
    rejected: Counter[int] = field(default_factory=Counter)
    """API requests refused before reaching a tenant, by status (401, 403, 404, 405)."""
    operations: Counter[str] = field(default_factory=Counter)
    """Handled API requests per operationId."""
    writes_applied: int = 0
    """PUT/POST/DELETE requests whose handler succeeded (2xx), replays excluded."""
    idempotent_replays: int = 0
    rate_limited: Counter[str] = field(default_factory=Counter)
    """429s sent, by X-Rate-Limit-Problem (real and injected)."""
    faults: Counter[str] = field(default_factory=Counter)
    """Injected faults by kind: status codes as strings, `rate_limit`, `drop`."""
    token_grants: Counter[str] = field(default_factory=Counter)
    """Successful token endpoint grants by grant_type."""
    token_errors: Counter[str] = field(default_factory=Counter)
    """Token endpoint failures by OAuth error code."""
    refreshes: int = 0
    invalid_grants: int = 0
    authorizations: int = 0
    revocations: int = 0
    logins: Counter[str] = field(default_factory=Counter)
    """Codes issued by the authorize endpoint, by the logged-in user's handle."""
    id_tokens: int = 0

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy (what `GET /_sandbox/stats` returns)."""
        return {
            "api_requests": dict(self.api_requests),
            "api_requests_total": sum(self.api_requests.values()),
            "rejected": {str(k): v for k, v in self.rejected.items()},
            "operations": dict(self.operations),
            "writes_applied": self.writes_applied,
            "idempotent_replays": self.idempotent_replays,
            "rate_limited": dict(self.rate_limited),
            "faults": dict(self.faults),
            "token_grants": dict(self.token_grants),
            "token_errors": dict(self.token_errors),
            "refreshes": self.refreshes,
            "invalid_grants": self.invalid_grants,
            "authorizations": self.authorizations,
            "revocations": self.revocations,
            "logins": dict(self.logins),
            "id_tokens": self.id_tokens,
        }

    def reset(self) -> None:
        fresh = Stats()
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(fresh, name))
