"""`users` and `users revoke ID`: the operator's view of hosted mode's people.

Listing needs only the store and XERO_MCP_ENCRYPTION_KEY (records are sealed); revoking also needs the
Xero app (XERO_CLIENT_ID and XERO_CLIENT_SECRET) to revoke the person's refresh token at Xero. The
person's MCP grants are deleted through the MCP authorization server's own store, so every token they
hold stops working, and their record goes, so any token still in flight is refused on its next call.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import httpx2

from .runtime import people_store, xero_people
from .settings import HostedConfigError, Settings
from .state.people import PeopleStore, PersonRecord
from .stores import open_stores

EXIT_OK, EXIT_FAILURE = 0, 1


async def run_users(settings: Settings, revoke: str | None = None, say: Callable[[str], None] | None = None,
                    warn: Callable[[str], None] | None = None,
                    transport: httpx2.AsyncBaseTransport | None = None) -> int:
    """List the people (revoke=None) or revoke one; returns the exit status. HostedConfigError: exit 2."""
    say = say or _print
    warn = warn or _warn
    settings.encryption_keys()  # HostedConfigError when unset: nothing can be read without it
    async with open_stores(settings) as stores:
        store = people_store(settings, stores)
        if revoke is None:
            records = await store.records()
            if not records:
                warn(f"No one has connected yet (people are kept in {store.describe()}).")
                return EXIT_OK
            for line in table(records):
                say(line)
            return EXIT_OK
        if not settings.xero_client_id or settings.xero_client_secret is None:
            raise HostedConfigError("`users revoke` needs XERO_CLIENT_ID and XERO_CLIENT_SECRET (the Xero app the "
                                    "people signed in to) to revoke the token at Xero")
        return await _revoke(settings, store, revoke, say, warn, transport)


async def _revoke(settings: Settings, store: PeopleStore, user_id: str, say: Callable[[str], None],
                  warn: Callable[[str], None], transport: httpx2.AsyncBaseTransport | None) -> int:
    from .server.hosted.routes import revoke_person
    from .xero.people import RevocationError

    people, _ = xero_people(settings, store, transport)
    record = await people.store.record(user_id)
    status = EXIT_OK
    try:
        found = await people.revoke(user_id)
    except RevocationError as exc:
        found, status = True, EXIT_FAILURE
        warn(f"xero-contacts-mcp: {exc}")
    grants = await revoke_person(settings, user_id)
    if not found and not grants:
        warn(f"xero-contacts-mcp: no connected person has the id {user_id}; `xero-contacts-mcp users` lists them")
        return EXIT_FAILURE
    who = f"{user_id} ({record.email})" if record is not None and record.email else user_id
    at_xero = "Xero access revoked, " if status == EXIT_OK and found else ""
    say(f"Revoked {who}: {at_xero}Xero token set deleted, {grants} MCP grant{'s' if grants != 1 else ''} deleted.")
    return status


def table(records: list[PersonRecord]) -> list[str]:
    """One line per person: Xero user id, email, organisations (name and tenant id), last use (UTC)."""
    rows = [(r.user_id, r.email or "-", ", ".join(f"{o.get('tenantName') or '?'} ({o.get('tenantId')})"
                                                  for o in r.organisations) or "-", _when(r.last_used))
            for r in records]
    header = ("XERO USER ID", "EMAIL", "ORGANISATIONS", "LAST USE (UTC)")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    return [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}" for a, b, c, d in [header, *rows]]


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(stamp)) if stamp else "never"


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _warn(text: str) -> None:
    sys.stderr.write(text + "\n")
