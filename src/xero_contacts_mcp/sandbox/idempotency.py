"""Idempotency-Key handling for PUT/POST, per tenant.

The first request with a key is processed and its reply kept for the TTL (from first use). A later
request with the same key and the same method, path, query and body gets that reply again without
being applied; a different request gets a 400. A duplicate that arrives while the first is still
running waits for it. Xero's error body for a reused key is undocumented; the sandbox sends
`{"ErrorNumber":400,"Type":"IdempotencyKeyReusedException","Message":...}` (and
`IdempotencyKeyInvalidException` for keys over 128 characters).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field

from xero_contacts_mcp.sandbox.clock import Clock
from xero_contacts_mcp.sandbox.config import SandboxConfig
from xero_contacts_mcp.sandbox.replies import Reply, XeroError, json_reply

MAX_KEY_LENGTH = 128


@dataclass
class _Entry:
    fingerprint: str
    expires: float
    reply: Reply | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """Identity of a request; JSON bodies are compared by content, not by key order or spacing."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def _error(kind: str, message: str) -> XeroError:
    return XeroError(json_reply({"ErrorNumber": 400, "Type": kind, "Message": message}, 400))


class IdempotencyStore:
    def __init__(self, clock: Clock, config: SandboxConfig) -> None:
        self.clock = clock
        self.config = config
        self._entries: dict[tuple[str, str], _Entry] = {}

    def reset(self) -> None:
        self._entries.clear()

    def _purge(self, now: float) -> None:
        for slot in [s for s, e in self._entries.items() if e.expires <= now and e.done.is_set()]:
            del self._entries[slot]

    async def begin(self, tenant_id: str, key: str, print_: str) -> Reply | None:
        """None: go ahead (then call `finish` or `abandon`). A Reply: replay it. Raises on misuse."""
        if len(key) > MAX_KEY_LENGTH:
            raise _error(
                "IdempotencyKeyInvalidException", f"The Idempotency-Key must be at most {MAX_KEY_LENGTH} characters"
            )
        while True:
            now = self.clock.time()
            self._purge(now)
            entry = self._entries.get((tenant_id, key))
            if entry is None:
                self._entries[(tenant_id, key)] = _Entry(print_, now + self.config.idempotency_ttl)
                return None
            if entry.fingerprint != print_:
                raise _error(
                    "IdempotencyKeyReusedException",
                    f"The Idempotency-Key '{key}' was already used with a different request",
                )
            if entry.reply is not None:
                return entry.reply
            await entry.done.wait()

    def finish(self, tenant_id: str, key: str, reply: Reply) -> None:
        entry = self._entries.get((tenant_id, key))
        if entry is not None:
            entry.reply = reply
            entry.done.set()

    def abandon(self, tenant_id: str, key: str) -> None:
        """Forget a key whose request did not complete, so a retry is processed afresh."""
        entry = self._entries.pop((tenant_id, key), None)
        if entry is not None:
            entry.done.set()
