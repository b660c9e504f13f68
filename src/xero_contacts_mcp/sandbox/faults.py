"""Fault injection: scripted failures, dropped connections, injected 429s, latency, random chaos.

Scripted faults form a FIFO queue; each authorised API request (or token request, for
`target="token"`) consumes the first fault that applies to it, so a test can script
"503, then 429, then success". Nothing is injected unless asked for.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from xero_contacts_mcp.sandbox.replies import ORG_OFFLINE_TEXT, Reply, problem, text_reply

Target = Literal["api", "token"]
FaultKind = Literal["status", "rate_limit", "drop"]
RANDOM_KINDS = ("503", "500", "502", "504", "429", "drop")
DEFAULT_RETRY_AFTER = {"minute": 60, "day": 43_200, "appminute": 60}


class DropConnection(Exception):
    """Raised by the app after a write was applied, to make the client see the connection drop."""


@dataclass
class Fault:
    kind: FaultKind
    count: int = 1
    status: int = 503
    problem: str = "minute"
    retry_after: int | None = None
    target: Target = "api"
    writes_only: bool = False

    def applies(self, target: Target, is_write: bool) -> bool:
        return self.target == target and (is_write or not self.writes_only)


@dataclass
class RandomFaults:
    p: float
    seed: int | None
    kinds: tuple[str, ...]
    rng: random.Random = field(repr=False, default_factory=random.Random)


def status_reply(status: int) -> Reply:
    """The body Xero (or its edge) sends with an outage status."""
    if status == 503:
        return text_reply(503, ORG_OFFLINE_TEXT)
    if status == 500:
        return problem(
            500,
            "An error occurred",
            "An error occurred in Xero. Check the API Status page http://status.developer.xero.com "
            "for current service status.",
        )
    if status in (502, 504):
        title = "502 Bad Gateway" if status == 502 else "504 Gateway Time-out"
        html = f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center></body></html>"
        return text_reply(status, html, "text/html")
    return text_reply(status, f"Injected failure {status}")


class FaultController:
    """What the sandbox should get wrong next; driven from Python or `POST /_sandbox/faults`."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.queue: list[Fault] = []
        self.latency = 0.0
        self.token_latency = 0.0
        self.random: RandomFaults | None = None
        self.deny_authorize = False

    def fail_next(
        self, count: int = 1, status: int = 503, *, target: Target = "api", writes_only: bool = False
    ) -> None:
        """Answer the next `count` requests with `status` (503: "The Organisation is Offline")."""
        self.queue.append(Fault("status", count, status=status, target=target, writes_only=writes_only))

    def drop_next_writes(self, count: int = 1) -> None:
        """Apply the next `count` writes, then drop the connection instead of answering."""
        self.queue.append(Fault("drop", count, writes_only=True))

    def rate_limit_next(self, count: int = 1, problem: str = "minute", retry_after: int | None = None) -> None:
        """Answer the next `count` requests with 429 for `problem` (minute, day, concurrent, appminute)."""
        if retry_after is None and problem != "concurrent":
            retry_after = DEFAULT_RETRY_AFTER.get(problem, 60)
        self.queue.append(Fault("rate_limit", count, problem=problem, retry_after=retry_after))

    def set_latency(self, seconds: float, target: Target = "api") -> None:
        """Add a fixed delay to every API request (inside its concurrency slot), or to every token request
        (before it is handled, so a client that gives up or dies meanwhile has spent nothing)."""
        if target == "token":
            self.token_latency = max(0.0, seconds)
        else:
            self.latency = max(0.0, seconds)

    def set_random(self, p: float, seed: int | None = None, kinds: Iterable[str] = RANDOM_KINDS) -> None:
        """With probability `p`, inject one of `kinds` (status codes as strings, "429", "drop")."""
        chosen = tuple(kinds)
        unknown = set(chosen) - set(RANDOM_KINDS)
        if unknown or not chosen:
            raise ValueError(f"unknown random fault kinds {sorted(unknown)}; choose from {RANDOM_KINDS}")
        self.random = RandomFaults(p, seed, chosen, random.Random(seed))  # noqa: S311 - not crypto

    def take(self, target: Target, is_write: bool) -> Fault | None:
        """Consume the fault that applies to this request, if any."""
        for index, fault in enumerate(self.queue):
            if fault.applies(target, is_write):
                fault.count -= 1
                if fault.count <= 0:
                    del self.queue[index]
                return fault
        chaos = self.random
        if target != "api" or chaos is None or chaos.rng.random() >= chaos.p:
            return None
        kind = chaos.rng.choice(chaos.kinds)
        if kind == "drop":
            return Fault("drop") if is_write else None
        if kind == "429":
            return Fault("rate_limit", problem="minute", retry_after=1)
        return Fault("status", status=int(kind))

    def configure(self, spec: Mapping[str, Any]) -> None:
        """Apply one control-API fault object (see `control.py` for the accepted shapes)."""
        kind = spec.get("kind")
        count = int(spec.get("count", 1))
        if kind == "status":
            self.fail_next(
                count,
                int(spec.get("status", 503)),
                target=spec.get("target", "api"),
                writes_only=bool(spec.get("writes_only", False)),
            )
        elif kind == "drop":
            self.drop_next_writes(count)
        elif kind == "rate_limit":
            retry = spec.get("retry_after")
            self.rate_limit_next(count, str(spec.get("problem", "minute")), None if retry is None else int(retry))
        elif kind == "latency":
            self.set_latency(float(spec.get("seconds", 0.0)), target=spec.get("target", "api"))
        elif kind == "random":
            self.set_random(float(spec.get("p", 0.0)), spec.get("seed"), spec.get("kinds", RANDOM_KINDS))
        elif kind == "deny_authorize":
            self.deny_authorize = bool(spec.get("enabled", True))
        elif kind == "clear":
            self.clear()
        else:
            raise ValueError(
                f"unknown fault kind {kind!r}; use status, drop, rate_limit, latency, random, deny_authorize or clear"
            )

    def snapshot(self) -> dict[str, Any]:
        return {
            "queue": [asdict(f) for f in self.queue],
            "latency": self.latency,
            "token_latency": self.token_latency,
            "random": None
            if self.random is None
            else {"p": self.random.p, "seed": self.random.seed, "kinds": list(self.random.kinds)},
            "deny_authorize": self.deny_authorize,
        }
