"""Connection hygiene for the HTTP server: what uvicorn leaves open to idle and slow clients.

uvicorn (0.54) closes a kept-alive connection after `timeout_keep_alive`, but a fresh connection that
never sends a complete request is kept forever, nothing caps how many connections are open, and
`limit_concurrency` only answers 503 once a request has been read — after the descriptor was spent.
About 1,100 idle sockets then exhaust a 1,024-descriptor process: `/healthz` stops answering and
asyncio logs a traceback for every failed accept (Python 3.11 retries up to `backlog` times per tick).

So, on uvicorn's own h11 protocol:
- a request must arrive complete (headers and body) within `read_timeout` of the connection opening,
  or of its first byte after a reply, or the connection is closed;
- at most `max_connections` are open, set below the descriptor limit with room for the accept batch
  (`backlog`) and the process's own files and Xero connections; at the cap the oldest connection that
  has not sent a request is closed to make room, and if none is idle the newcomer gets an immediate 503;
- repeated warnings (cap reached, failed accepts, malformed requests) are logged at most once per
  interval with a count, never as a storm.
"""

from __future__ import annotations

import asyncio
import logging
import re
import resource
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

#: asyncio accepts up to this many sockets per loop tick (its `backlog`, also the listen queue's length),
#: before any of them is admitted or refused
ACCEPT_BATCH = 100
#: descriptors kept for everything but admitted connections: one accept batch, as many connections closed
#: to make room but not yet released (that happens a loop tick later), and 128 for the Xero and Redis
#: pools, token files, logs and the interpreter's own
RESERVED_FDS = 2 * ACCEPT_BATCH + 128
#: the derived cap never exceeds this (each open connection costs memory too); configure more if needed
DEFAULT_CAP_CEILING = 4096
#: one warning of a kind per this many seconds
LOG_INTERVAL = 10.0

REFUSAL = (b'{"error":"server_busy","error_description":"too many open connections; retry in a second"}')
REFUSAL_REPLY = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
                 b"content-length: " + str(len(REFUSAL)).encode() + b"\r\nretry-after: 1\r\nconnection: close\r\n\r\n"
                 + REFUSAL)


class ConnectionLimitError(ValueError):
    """The configured connection cap does not fit the descriptor limit (a configuration error, exit 2)."""


def descriptor_limits() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    infinite = resource.RLIM_INFINITY
    return (soft if soft != infinite else 1 << 20), (hard if hard != infinite else 1 << 20)


def plan_connections(configured: int | None, limits: tuple[int, int] | None = None) -> tuple[int, int]:
    """(connection cap, descriptor soft limit the process needs): derived from RLIMIT_NOFILE, or checked.

    A configured cap that needs more descriptors than the soft limit is met by raising the soft limit
    (up to the hard one, which any process may do); beyond the hard limit it is refused."""
    soft, hard = limits or descriptor_limits()
    if configured is None:
        cap = min(DEFAULT_CAP_CEILING, soft - RESERVED_FDS) if soft > 2 * RESERVED_FDS else soft // 4
        return max(1, cap), soft
    needed = configured + RESERVED_FDS
    if needed > hard:
        raise ConnectionLimitError(
            f"XERO_MCP_MAX_CONNECTIONS={configured} needs about {needed} file descriptors, but this process may "
            f"open at most {hard} (ulimit -Hn): lower XERO_MCP_MAX_CONNECTIONS to {max(1, hard - RESERVED_FDS)} "
            "or less, or raise the limit")
    return configured, max(soft, needed)


def ensure_descriptors(needed: int) -> None:
    """Raise the soft descriptor limit to `needed` if it is lower (the plan has checked the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        log.info("raised the file-descriptor limit from %d to %d for XERO_MCP_MAX_CONNECTIONS", soft, needed)


class Throttle:
    """Say something at most once per interval; count what was held back in between."""

    def __init__(self, interval: float = LOG_INTERVAL) -> None:
        self.interval = interval
        self.next_at = 0.0
        self.held = 0

    def ready(self) -> int | None:
        """The number held back since the last time (0 or more) when it is time to speak, else None."""
        now = time.monotonic()
        if now < self.next_at:
            self.held += 1
            return None
        held, self.held, self.next_at = self.held, 0, now + self.interval
        return held


class ThrottleFilter(logging.Filter):
    """At most one record per (logger, level, message template) per interval; the next says how many were
    dropped. For loggers a client can make speak (malformed requests, refused sessions, failed accepts)."""

    def __init__(self, interval: float = LOG_INTERVAL) -> None:
        super().__init__()
        self.interval = interval
        self.throttles: OrderedDict[tuple[str, int, str], Throttle] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        # ids and numbers spliced into a message (f-strings) do not make it another message
        key = (record.name, record.levelno, _VARYING.sub("#", str(record.msg)))
        throttle = self.throttles.get(key)
        if throttle is None:
            throttle = self.throttles[key] = Throttle(self.interval)
            if len(self.throttles) > 256:  # templates are few; bound it anyway
                self.throttles.popitem(last=False)
        held = throttle.ready()
        if held is None:
            return False
        if held:
            record.msg = f"{record.getMessage()} ({held} more like this in the last {self.interval:g} s)"
            record.args = None
        return True


_VARYING = re.compile(r"[0-9A-Fa-f-]{8,}|\d+")

THROTTLED_LOGGERS = ("uvicorn.error", "asyncio", "mcp.server.streamable_http_manager")


def throttle_logs(names: tuple[str, ...] = THROTTLED_LOGGERS) -> None:
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ThrottleFilter) for f in logger.filters):
            logger.addFilter(ThrottleFilter())


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Failed accepts (out of descriptors) become one line per interval, not a traceback per attempt."""
    throttle = Throttle()
    default = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if str(context.get("message", "")).startswith("socket.accept() out of system resource"):
            held = throttle.ready()
            if held is not None:
                exc = context.get("exception")
                log.warning("cannot accept connections: %s; accepting resumes as descriptors free up%s. Lower "
                            "XERO_MCP_MAX_CONNECTIONS or raise `ulimit -n`.", getattr(exc, "strerror", None) or exc,
                            f" ({held} more failed accepts since the last message)" if held else "")
            return
        if default is not None:
            default(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


@dataclass
class Pool:
    """The open connections in the order they opened (or last went idle), and the cap."""

    cap: int
    read_timeout: float

    def __post_init__(self) -> None:
        self.open: OrderedDict[GuardedH11Protocol, None] = OrderedDict()
        self.throttle = Throttle()
        self.evicted = 0
        self.refused = 0

    def admit(self, conn: GuardedH11Protocol) -> bool:
        """Make room for `conn` (closing the oldest idle connection) or refuse it; True if admitted."""
        if len(self.open) >= self.cap:
            victim = next((c for c in self.open if c.idle), None)
            if victim is None:
                self.refused += 1
                self._warn("refused a connection")
                return False
            self.evicted += 1
            self._warn("closed the oldest idle connection to make room")
            del self.open[victim]
            victim.close()
        self.open[conn] = None
        return True

    def went_idle(self, conn: GuardedH11Protocol) -> None:
        if conn in self.open:
            self.open.move_to_end(conn)

    def forget(self, conn: GuardedH11Protocol) -> None:
        self.open.pop(conn, None)

    def _warn(self, what: str) -> None:
        held = self.throttle.ready()
        if held is not None:
            log.warning("%d connections are open, the cap (XERO_MCP_MAX_CONNECTIONS): %s%s", self.cap, what,
                        f" ({held} more times since the last message)" if held else "")


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request read deadline and a place in the capped pool."""

    pool: Pool  # set on the subclass `protocol_class` makes

    _read_timer: asyncio.TimerHandle | None = None
    _admitted = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.pool.admit(self):
            transport.write(REFUSAL_REPLY)
            transport.close()
            return
        self._admitted = True
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._track()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._admitted:
            self.pool.went_idle(self)
            self._track()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.pool.forget(self)
        super().connection_lost(exc)

    @property
    def idle(self) -> bool:
        """No request is being served: nothing reached the app yet, or its reply is done."""
        return self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)

    def close(self) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.close()

    def _track(self) -> None:
        """Keep the read deadline running while a request is incomplete, and only then. Between requests
        uvicorn's keep-alive timer governs; the deadline starts again with the next request's first byte."""
        if self.transport.is_closing():
            return
        waiting = self.conn.their_state in (h11.IDLE, h11.SEND_BODY)
        if waiting and self.timeout_keep_alive_task is None:
            self._arm()
        elif not waiting or self.timeout_keep_alive_task is not None:
            self._disarm()

    def _arm(self) -> None:
        if self._read_timer is None:
            self._read_timer = self.loop.call_later(self.pool.read_timeout, self._read_timed_out)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
            self.close()


def protocol_class(pool: Pool) -> type[GuardedH11Protocol]:
    """A protocol class bound to one server's pool (uvicorn instantiates the class it is given)."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"pool": pool})
