"""Who is calling, in hosted mode: a pure helper every layer may import.

The MCP layer resolves the caller once per request (from its MCP access token) and sets
`current_person` around the tool run; the Xero client's auth flow and tenant resolution read it to
pick that person's Xero token set and organisations. `tools` never sees it, nor any token.
Outside hosted mode it stays None and the single shared login is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    """A person as Xero's OpenID Connect id_token names them; `user_id` is the `xero_userid` claim."""

    user_id: str
    email: str | None = None
    name: str | None = None


current_person: ContextVar[Person | None] = ContextVar("current_person", default=None)


@contextmanager
def acting_as(person: Person | None) -> Iterator[None]:
    """Set `current_person` for the duration of a block (a tool run), restoring it afterwards."""
    token = current_person.set(person)
    try:
        yield
    finally:
        current_person.reset(token)
