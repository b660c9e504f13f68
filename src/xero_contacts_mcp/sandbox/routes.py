"""The 22 Accounting API operations: path patterns, scopes and handlers.

Matching works on the raw path split into percent-decoded segments, so a ContactNumber with an
encoded `/` still reaches `GET /Contacts/{ContactNumber}`. Resource names match case-insensitively,
as Xero's do.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from xero_contacts_mcp.sandbox import contacts, groups, tracking
from xero_contacts_mcp.sandbox.config import SandboxConfig
from xero_contacts_mcp.sandbox.replies import Reply, XeroError, json_reply, not_found, post_data_invalid
from xero_contacts_mcp.sandbox.state import Tenant, parse_uuid

CONTACTS_SCOPE = "accounting.contacts"
SETTINGS_SCOPE = "accounting.settings"
QUERY_NAMES = (
    "where",
    "order",
    "IDs",
    "page",
    "pageSize",
    "includeArchived",
    "summaryOnly",
    "searchTerm",
    "summarizeErrors",
)


@dataclass(frozen=True)
class Call:
    """What a handler sees of one request."""

    tenant: Tenant
    params: tuple[str, ...]
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    now: datetime
    config: SandboxConfig

    def json(self) -> Any:
        if not self.body.strip():
            raise post_data_invalid("No data has been received in the request body")
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise post_data_invalid(f"The request body is not valid JSON: {exc}") from None

    @property
    def summarize(self) -> bool:
        """`summarizeErrors` is on unless explicitly `false` (what Xero's docs describe)."""
        return self.query.get("summarizeErrors", "true").strip().lower() != "false"


Handler = Callable[[Call], dict[str, Any] | None]


@dataclass(frozen=True)
class Operation:
    method: str
    segments: tuple[str, ...]
    """Literal segments, with "{}" for path parameters."""
    operation_id: str
    scope: str
    handler: Handler

    @property
    def write(self) -> bool:
        return self.method != "GET"


def _update_contact(call: Call) -> dict[str, Any]:
    target = parse_uuid(call.params[0])
    if target is None:
        raise XeroError(not_found())
    return contacts.save(call.tenant, call.json(), mode="update", summarize=True, now=call.now, target_id=target)


C, S = CONTACTS_SCOPE, SETTINGS_SCOPE
OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        ("Contacts",),
        "getContacts",
        C,
        lambda c: contacts.list_contacts(c.tenant, c.query, c.headers.get("if-modified-since")),
    ),
    Operation(
        "PUT",
        ("Contacts",),
        "createContacts",
        C,
        lambda c: contacts.save(c.tenant, c.json(), mode="create", summarize=c.summarize, now=c.now),
    ),
    Operation(
        "POST",
        ("Contacts",),
        "updateOrCreateContacts",
        C,
        lambda c: contacts.save(c.tenant, c.json(), mode="upsert", summarize=c.summarize, now=c.now),
    ),
    Operation("GET", ("Contacts", "{}"), "getContact", C, lambda c: contacts.get_contact(c.tenant, c.params[0])),
    Operation("POST", ("Contacts", "{}"), "updateContact", C, _update_contact),
    Operation(
        "GET",
        ("Contacts", "{}", "CISSettings"),
        "getContactCISSettings",
        S,
        lambda c: contacts.cis_settings(c.tenant, c.params[0]),
    ),
    Operation("GET", ("ContactGroups",), "getContactGroups", C, lambda c: groups.list_groups(c.tenant, c.query)),
    Operation("PUT", ("ContactGroups",), "createContactGroup", C, lambda c: groups.create_groups(c.tenant, c.json())),
    Operation("GET", ("ContactGroups", "{}"), "getContactGroup", C, lambda c: groups.get_group(c.tenant, c.params[0])),
    Operation(
        "POST",
        ("ContactGroups", "{}"),
        "updateContactGroup",
        C,
        lambda c: groups.update_group(c.tenant, c.params[0], c.json()),
    ),
    Operation(
        "PUT",
        ("ContactGroups", "{}", "Contacts"),
        "createContactGroupContacts",
        C,
        lambda c: groups.add_members(c.tenant, c.params[0], c.json()),
    ),
    Operation(
        "DELETE",
        ("ContactGroups", "{}", "Contacts"),
        "deleteContactGroupContacts",
        C,
        lambda c: groups.remove_all(c.tenant, c.params[0]),
    ),
    Operation(
        "DELETE",
        ("ContactGroups", "{}", "Contacts", "{}"),
        "deleteContactGroupContact",
        C,
        lambda c: groups.remove_member(c.tenant, c.params[0], c.params[1]),
    ),
    Operation(
        "GET",
        ("TrackingCategories",),
        "getTrackingCategories",
        S,
        lambda c: tracking.list_categories(c.tenant, c.query),
    ),
    Operation(
        "PUT",
        ("TrackingCategories",),
        "createTrackingCategory",
        S,
        lambda c: tracking.create_category(c.tenant, c.json()),
    ),
    Operation(
        "GET",
        ("TrackingCategories", "{}"),
        "getTrackingCategory",
        S,
        lambda c: tracking.get_category(c.tenant, c.params[0]),
    ),
    Operation(
        "POST",
        ("TrackingCategories", "{}"),
        "updateTrackingCategory",
        S,
        lambda c: tracking.update_category(c.tenant, c.params[0], c.json()),
    ),
    Operation(
        "DELETE",
        ("TrackingCategories", "{}"),
        "deleteTrackingCategory",
        S,
        lambda c: tracking.delete_category(c.tenant, c.params[0]),
    ),
    Operation(
        "PUT",
        ("TrackingCategories", "{}", "Options"),
        "createTrackingOptions",
        S,
        lambda c: tracking.create_option(c.tenant, c.params[0], c.json(), c.config.max_tracking_options),
    ),
    Operation(
        "POST",
        ("TrackingCategories", "{}", "Options", "{}"),
        "updateTrackingOptions",
        S,
        lambda c: tracking.update_option(c.tenant, c.params[0], c.params[1], c.json()),
    ),
    Operation(
        "DELETE",
        ("TrackingCategories", "{}", "Options", "{}"),
        "deleteTrackingOptions",
        S,
        lambda c: tracking.delete_option(c.tenant, c.params[0], c.params[1]),
    ),
)


def _fits(pattern: tuple[str, ...], segments: tuple[str, ...]) -> tuple[str, ...] | None:
    if len(pattern) != len(segments):
        return None
    params = []
    for literal, segment in zip(pattern, segments, strict=True):
        if literal == "{}":
            if not segment:
                return None
            params.append(segment)
        elif literal.casefold() != segment.casefold():
            return None
    return tuple(params)


def match(method: str, segments: tuple[str, ...]) -> tuple[Operation, tuple[str, ...]] | Reply:
    """The operation for a request, or the 404 (unknown path) / 405 (known path, other method)."""
    path_known = False
    for op in OPERATIONS:
        params = _fits(op.segments, segments)
        if params is None:
            continue
        if op.method == method:
            if op.operation_id == "getContact" and parse_uuid(params[0]) is None:
                return OPERATIONS_BY_ID["getContactByContactNumber"], params
            return op, params
        path_known = True
    if path_known:
        message = f"The requested resource does not support http method '{method}'."
        return json_reply({"Message": message}, 405)
    return not_found()


OPERATIONS_BY_ID = {op.operation_id: op for op in OPERATIONS} | {
    "getContactByContactNumber": Operation(
        "GET",
        ("Contacts", "{}"),
        "getContactByContactNumber",
        CONTACTS_SCOPE,
        lambda c: contacts.get_contact(c.tenant, c.params[0]),
    )
}


def canonical_query(items: list[tuple[str, str]]) -> dict[str, str]:
    """Query parameters with Xero's names matched case-insensitively; repeated IDs are joined."""
    names = {n.casefold(): n for n in QUERY_NAMES}
    query: dict[str, str] = {}
    for raw_name, value in items:
        name = names.get(raw_name.casefold(), raw_name)
        query[name] = f"{query[name]},{value}" if name == "IDs" and name in query else value
    return query
