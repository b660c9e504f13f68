"""Per-tenant in-memory records: contacts, contact groups, tracking categories and options.

Records are plain dataclasses; the rules that change them live in `contacts.py`, `groups.py` and
`tracking.py`. Contacts are replaced rather than mutated on update, so a batch can be validated
against a shallow copy of the mapping and committed (or discarded) as a whole.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

TrackingRef = tuple[str, str]
"""(TrackingCategoryID, TrackingOptionID) of a contact's default sales/purchases tracking."""


@dataclass(frozen=True)
class Contact:
    contact_id: str
    fields: dict[str, Any]
    """Writable Xero fields by their Xero names (Name, EmailAddress, Addresses, ...)."""
    status: str
    updated: datetime
    sales_tracking: tuple[TrackingRef, ...] = ()
    purchases_tracking: tuple[TrackingRef, ...] = ()
    cis_rate: float | None = None
    """Set when the contact is a CIS subcontractor; None means GET CISSettings answers 404."""
    supplier: bool = False
    customer: bool = False
    """IsSupplier / IsCustomer: at Xero derived from bills and invoices, which the sandbox does not model,
    so the seed sets them as if such transactions existed; no request can change them."""

    @property
    def name(self) -> str:
        return str(self.fields.get("Name") or "")

    @property
    def number(self) -> str | None:
        value = self.fields.get("ContactNumber")
        return str(value) if value else None

    def evolve(self, **changes: Any) -> Contact:
        return replace(self, **changes)


@dataclass
class ContactGroup:
    group_id: str
    name: str
    status: str = "ACTIVE"
    members: list[str] = field(default_factory=list)
    """ContactIDs in insertion order."""


@dataclass
class TrackingOption:
    option_id: str
    name: str
    status: str = "ACTIVE"


@dataclass
class TrackingCategory:
    category_id: str
    name: str
    status: str = "ACTIVE"
    options: list[TrackingOption] = field(default_factory=list)

    def option(self, option_id: str) -> TrackingOption | None:
        return next((o for o in self.options if o.option_id == option_id), None)


@dataclass
class Tenant:
    """One Xero organisation and everything in it."""

    tenant_id: str
    name: str
    tenant_type: str = "ORGANISATION"
    contacts: dict[str, Contact] = field(default_factory=dict)
    groups: dict[str, ContactGroup] = field(default_factory=dict)
    tracking: dict[str, TrackingCategory] = field(default_factory=dict)

    def active_groups_of(self, contact_id: str) -> list[ContactGroup]:
        return [g for g in self.groups.values() if g.status == "ACTIVE" and contact_id in g.members]

    def contact_by_number(self, number: str) -> Contact | None:
        wanted = number.casefold()
        return next((c for c in self.contacts.values() if (c.number or "").casefold() == wanted), None)

    def snapshot(self) -> dict[str, Any]:
        """Everything, including archived contacts and deleted groups/categories, for test assertions."""
        from xero_contacts_mcp.sandbox import contacts, groups, tracking

        return {
            "Contacts": [contacts.render(self, c, "full") for c in self.contacts.values()],
            "ContactGroups": [groups.render(self, g, members=True) for g in self.groups.values()],
            "TrackingCategories": [
                tracking.render_category(c, include_archived=True, include_deleted=True) for c in self.tracking.values()
            ],
        }


def new_id() -> str:
    return str(uuid.uuid4())


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
NIL_UUID = "00000000-0000-0000-0000-000000000000"


def parse_uuid(value: object) -> str | None:
    """The lower-case form of a hyphenated UUID string, or None when `value` is not one.

    Strict on purpose: `GET /Contacts/{x}` treats a UUID-shaped `x` as a ContactID and anything
    else as a ContactNumber, so a 32-digit contact number must not be read as a UUID.
    """
    if isinstance(value, str) and _UUID.match(value):
        return value.lower()
    return None
