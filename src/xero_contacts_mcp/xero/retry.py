"""The one retry policy: what is safe to retry, how long to wait, and when to stop.

Only safe requests are retried: GET and DELETE, or a PUT/POST carrying its Idempotency-Key (ours
always do, and the same key is reused on every attempt, so Xero applies a write at most once).
429 waits for Retry-After (or backs off when Xero gives none, as for the concurrent limit); a day
429 is never retried; 502/503/504 and broken connections back off exponentially with jitter.
Attempts and the whole call's time are bounded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import APIError, TransportError, XeroError
from .http import Request

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    deadline: float = 45.0  # seconds for the whole call, waits included
    wait_initial: float = 0.5
    wait_max: float = 8.0
    wait_jitter: float = 1.0

    @classmethod
    def bounded(cls, attempts: int, deadline: float, max_wait: float) -> RetryPolicy:
        """A policy whose backoff never exceeds `max_wait` seconds (waits and jitter scale down with it)."""
        return cls(attempts, deadline, wait_initial=min(0.5, max_wait), wait_max=max_wait,
                   wait_jitter=min(1.0, max_wait))


def retry_after(exc: APIError) -> float | None:
    value = exc.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def rate_problem(exc: APIError) -> str:
    return (exc.headers.get("x-rate-limit-problem") or "").lower()


def is_safe(request: Request) -> bool:
    return request.method in ("GET", "DELETE") or bool(request.headers.get("Idempotency-Key"))


def decider(request: Request, policy: RetryPolicy, started: float,
            on_retry: Callable[[XeroError, float | None], None],
            attempt: Callable[[], int] = lambda: 0) -> Callable[[Exception], bool | float]:
    """stamina's backoff hook for one call: False = give up, True = back off, a number = wait exactly that.

    `attempt` is the number of the attempt that just failed: after the last one there is no retry to
    announce (stamina would stop anyway, but only after this hook had logged one).
    """
    safe = is_safe(request)

    def decide(exc: Exception) -> bool | float:
        if not isinstance(exc, XeroError) or not safe or attempt() >= policy.attempts:
            return False
        if isinstance(exc, APIError):
            if exc.status == 429:
                if rate_problem(exc) == "day":
                    return False  # hours away: report it, do not sleep
                wait = retry_after(exc)
                if wait is not None:
                    if wait > policy.deadline - (time.monotonic() - started):
                        return False  # cannot wait that long inside this call's deadline
                    on_retry(exc, wait)
                    return wait
                on_retry(exc, None)
                return True
            if exc.status not in RETRYABLE_STATUS:
                return False
        elif not isinstance(exc, TransportError) or exc.permanent:
            return False  # e.g. a URL scheme this client cannot speak: every attempt would fail the same way
        on_retry(exc, None)
        return True

    return decide


def describe(exc: XeroError) -> str:
    if isinstance(exc, APIError):
        return f"{exc.status}" + (f" {rate_problem(exc)}" if exc.status == 429 and rate_problem(exc) else "")
    return type(exc).__name__
