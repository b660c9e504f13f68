"""Demo data for "Demo Company (Global)", with deterministic ids so examples and tests can name them.

Six contacts (one rich one with addresses, phones and persons; one ARCHIVED; one CIS subcontractor;
one with ContactNumber "CUST-001"; two suppliers and four customers, as if bills and invoices existed),
the group "Preferred Suppliers" with two members, and the
tracking category "Region" with North, South and East. A contact uses Region/North as its default
sales tracking, so deleting Region shows Xero's "archive it instead" rule.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from xero_contacts_mcp.sandbox.config import SandboxConfig
from xero_contacts_mcp.sandbox.contacts import blank_addresses, blank_phones
from xero_contacts_mcp.sandbox.state import Contact, ContactGroup, Tenant, TrackingCategory, TrackingOption

_NAMESPACE = uuid.UUID("3f0d6a52-6d0b-4c4e-9a53-2b8f6f1f7e10")
SEED_TIME = datetime(2024, 1, 15, 9, 0, tzinfo=UTC)


def seed_id(label: str) -> str:
    """A stable UUID for a seed record (`seed_id("contact:ABC Furniture")`)."""
    return str(uuid.uuid5(_NAMESPACE, label))


DEMO_TENANT_ID = seed_id("tenant:Demo Company (Global)")
DEMO_TENANT_NAME = "Demo Company (Global)"
REGION_ID = seed_id("tracking:Region")


def organisation_id(name: str) -> str:
    """The stable tenant id of the organisation called `name`."""
    return seed_id(f"tenant:{name}")


def extra_tenant(index: int) -> tuple[str, str]:
    """Id and name of the index-th additional (empty) organisation, counting from 1."""
    name = f"Sandbox Company {index + 1}"
    return organisation_id(name), name


def default_organisations(config: SandboxConfig) -> tuple[str, ...]:
    """Names of the default user's organisations: the demo company, then the `extra_tenants`."""
    return (DEMO_TENANT_NAME, *(extra_tenant(i + 1)[1] for i in range(config.extra_tenants)))


def _address(kind: str, line1: str, city: str, region: str, postcode: str, country: str) -> dict[str, Any]:
    return {
        "AddressType": kind,
        "AddressLine1": line1,
        "City": city,
        "Region": region,
        "PostalCode": postcode,
        "Country": country,
    }


def _contact(index: int, name: str, **fields: Any) -> Contact:
    status = fields.pop("status", "ACTIVE")
    cis_rate = fields.pop("cis_rate", None)
    supplier, customer = fields.pop("supplier", False), fields.pop("customer", False)
    sales = fields.pop("sales_tracking", ())
    base: dict[str, Any] = {"Name": name, "Addresses": blank_addresses(), "Phones": blank_phones()}
    return Contact(
        contact_id=seed_id(f"contact:{name}"),
        fields=base | fields,
        status=status,
        updated=SEED_TIME + timedelta(hours=index),
        sales_tracking=sales,
        cis_rate=cis_rate,
        supplier=supplier,
        customer=customer,
    )


def populate(tenant: Tenant) -> None:
    """Fill `tenant` with the demo records (replacing whatever it held)."""
    region = TrackingCategory(
        category_id=REGION_ID,
        name="Region",
        options=[TrackingOption(seed_id(f"option:Region/{n}"), n) for n in ("North", "South", "East")],
    )
    north = region.options[0].option_id
    rich = _contact(
        0,
        "ABC Furniture",
        ContactNumber="CUST-001",
        AccountNumber="ABC-100",
        FirstName="Trish",
        LastName="Rawlings",
        EmailAddress="info@abfl.com",
        TaxNumber="12-345-678",
        DefaultCurrency="USD",
        Addresses=[
            _address("STREET", "Level 17", "Oaktown", "", "12345", "USA"),
            _address("POBOX", "P O Box 123", "Oaktown", "CA", "12345", "USA"),
        ],
        Phones=[
            {"PhoneType": "DEFAULT", "PhoneNumber": "1234567", "PhoneAreaCode": "800", "PhoneCountryCode": "1"},
            {"PhoneType": "DDI", "PhoneNumber": "", "PhoneAreaCode": "", "PhoneCountryCode": ""},
            {"PhoneType": "FAX", "PhoneNumber": "", "PhoneAreaCode": "", "PhoneCountryCode": ""},
            {"PhoneType": "MOBILE", "PhoneNumber": "7654321", "PhoneAreaCode": "800", "PhoneCountryCode": "1"},
        ],
        ContactPersons=[
            {"FirstName": "John", "LastName": "Smith", "EmailAddress": "john@abfl.com", "IncludeInEmails": True},
            {"FirstName": "Mary", "LastName": "Jones", "EmailAddress": "mary@abfl.com", "IncludeInEmails": False},
        ],
        PaymentTerms={
            "Bills": {"Day": 15, "Type": "OFCURRENTMONTH"},
            "Sales": {"Day": 10, "Type": "DAYSAFTERBILLDATE"},
        },
        sales_tracking=((REGION_ID, north),),
        customer=True,
    )
    contacts = [
        rich,
        _contact(1, "Bayside Club", EmailAddress="secretarybob@bsclub.co", FirstName="Bob", LastName="Partridge",
                 customer=True),
        _contact(2, "Carlton Builders Ltd", EmailAddress="accounts@carlton.co.uk", cis_rate=20.0,
                 supplier=True),
        _contact(3, "Marine Systems", EmailAddress="info@marinesystems.com", status="ARCHIVED"),
        _contact(4, "Ridgeway University", EmailAddress="accounts@ridgeway.edu", CompanyNumber="RU-2010",
                 customer=True),
        _contact(5, "Hamilton Smith Ltd", AccountNumber="HS-200", supplier=True, customer=True),
    ]
    tenant.contacts = {c.contact_id: c for c in contacts}
    group = ContactGroup(
        group_id=seed_id("group:Preferred Suppliers"),
        name="Preferred Suppliers",
        members=[contacts[0].contact_id, contacts[1].contact_id],
    )
    tenant.groups = {group.group_id: group}
    tenant.tracking = {region.category_id: region}


def populate_own(tenant: Tenant) -> None:
    """One contact, "Customer of <organisation>", so whose data a call reached is plain to see."""
    contact = _contact(0, f"Customer of {tenant.name}", EmailAddress="accounts@customer.example")
    contact = contact.evolve(contact_id=seed_id(f"contact:{tenant.name}/{contact.name}"))
    tenant.contacts = {contact.contact_id: contact}


def build_tenants(config: SandboxConfig) -> dict[str, Tenant]:
    """The default user's organisations (the demo company, seeded unless `config.seed` is False, and
    `extra_tenants` empty ones) first, then every other user's own."""
    names = list(default_organisations(config))
    names += [name for user in config.users for name in user.organisations]
    tenants = {organisation_id(name): Tenant(organisation_id(name), name) for name in dict.fromkeys(names)}
    reset_data(tenants, config)
    return tenants


def reset_data(tenants: dict[str, Tenant], config: SandboxConfig) -> None:
    """Empty every tenant, then seed the demo company and the other users' organisations if configured."""
    for tenant in tenants.values():
        tenant.contacts, tenant.groups, tenant.tracking = {}, {}, {}
    if config.seed:
        populate(tenants[DEMO_TENANT_ID])
        defaults = set(default_organisations(config))
        for user in config.users:
            for name in user.organisations:
                if name not in defaults:
                    populate_own(tenants[organisation_id(name)])
