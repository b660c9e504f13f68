"""Contact groups: create, rename, delete (Status DELETED) and membership.

GETs show ACTIVE groups only; a deleted group answers 404 like an unknown one. Members appear only
on the single-group GET, as in Xero. Group names are unique among active groups (case-insensitive):
Xero's rule here is undocumented and this is the conservative reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xero_contacts_mcp.sandbox.replies import XeroError, invalid, not_found, post_data_invalid, validation_error
from xero_contacts_mcp.sandbox.state import ContactGroup, Tenant, new_id, parse_uuid
from xero_contacts_mcp.sandbox.where import FieldSpec, compile_order, compile_where, sort_rows

GROUP_STATUSES = ("ACTIVE", "DELETED")
GROUP_FIELDS = {
    "Name": FieldSpec("string"),
    "Status": FieldSpec("enum", GROUP_STATUSES),
    "ContactGroupID": FieldSpec("guid"),
}


def render(tenant: Tenant, group: ContactGroup, *, members: bool = False) -> dict[str, Any]:
    contacts = []
    if members:
        for contact_id in group.members:
            contact = tenant.contacts.get(contact_id)
            if contact is not None:
                contacts.append({"ContactID": contact_id, "Name": contact.name})
    return {
        "ContactGroupID": group.group_id,
        "Name": group.name,
        "Status": group.status,
        "Contacts": contacts,
        "HasValidationErrors": False,
    }


def find(tenant: Tenant, group_id: str) -> ContactGroup:
    """An ACTIVE group by id; unknown, malformed and deleted ids all give the plain-text 404."""
    key = parse_uuid(group_id)
    group = tenant.groups.get(key) if key else None
    if group is None or group.status != "ACTIVE":
        raise XeroError(not_found())
    return group


def list_groups(tenant: Tenant, query: Mapping[str, str]) -> dict[str, Any]:
    predicate = compile_where(query.get("where"), GROUP_FIELDS, "ContactGroup")
    keys = compile_order(query.get("order"), GROUP_FIELDS, "ContactGroup") or [("Name", False)]
    rows = [
        {"Name": g.name, "Status": g.status, "ContactGroupID": g.group_id, "_group": g}
        for g in tenant.groups.values()
        if g.status == "ACTIVE"
    ]
    ordered = sort_rows([r for r in rows if predicate(r)], keys, GROUP_FIELDS)
    return {"ContactGroups": [render(tenant, r["_group"]) for r in ordered]}


def get_group(tenant: Tenant, group_id: str) -> dict[str, Any]:
    return {"ContactGroups": [render(tenant, find(tenant, group_id), members=True)]}


def _elements(body: Any, key: str) -> list[dict[str, Any]]:
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise post_data_invalid(f"The request body must be an object with a '{key}' array of objects")
    return items


def _name_clash(tenant: Tenant, name: str, exclude: str | None = None) -> bool:
    return any(
        g.status == "ACTIVE" and g.group_id != exclude and g.name.casefold() == name.casefold()
        for g in tenant.groups.values()
    )


def _name_errors(tenant: Tenant, raw: Any, exclude: str | None, pending: set[str]) -> list[str]:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return ["A contact group name must be specified."]
    if not isinstance(raw, str):
        raise post_data_invalid("'Name' must be a string")
    if _name_clash(tenant, raw.strip(), exclude) or raw.strip().casefold() in pending:
        return [f"The contact group name {raw.strip()} is already in use. Contact group names must be unique."]
    return []


def create_groups(tenant: Tenant, body: Any) -> dict[str, Any]:
    """PUT /ContactGroups: all or nothing."""
    failures: list[dict[str, Any]] = []
    created: list[ContactGroup] = []
    pending: set[str] = set()
    for item in _elements(body, "ContactGroups"):
        errors = _name_errors(tenant, item.get("Name"), None, pending)
        if errors:
            failures.append({"Name": item.get("Name"), "ValidationErrors": [{"Message": m} for m in errors]})
            continue
        name = str(item["Name"]).strip()
        pending.add(name.casefold())
        created.append(ContactGroup(group_id=new_id(), name=name))
    if failures:
        raise XeroError(validation_error(failures))
    for group in created:
        tenant.groups[group.group_id] = group
    return {"ContactGroups": [render(tenant, g) for g in created]}


def update_group(tenant: Tenant, group_id: str, body: Any) -> dict[str, Any]:
    """POST /ContactGroups/{id}: rename, or delete with `Status: DELETED`."""
    group = find(tenant, group_id)
    items = _elements(body, "ContactGroups")
    if len(items) != 1:
        raise post_data_invalid("POST /ContactGroups/{ContactGroupID} takes exactly one contact group")
    item = items[0]
    echo = {"ContactGroupID": group.group_id} | {k: item[k] for k in ("Name", "Status") if k in item}
    status = item.get("Status")
    if status is not None and (not isinstance(status, str) or status.upper() not in GROUP_STATUSES):
        raise invalid(echo, f"'{status}' is not a valid contact group status (ACTIVE or DELETED).")
    if "Name" in item:
        errors = _name_errors(tenant, item["Name"], group.group_id, set())
        if errors:
            raise invalid(echo, *errors)
        group.name = str(item["Name"]).strip()
    if isinstance(status, str):
        group.status = status.upper()
    return {"ContactGroups": [render(tenant, group)]}


def add_members(tenant: Tenant, group_id: str, body: Any) -> dict[str, Any]:
    """PUT /ContactGroups/{id}/Contacts: every ContactID must exist, else nothing is added."""
    group = find(tenant, group_id)
    wanted: list[str] = []
    failures = []
    for item in _elements(body, "Contacts"):
        contact_id = parse_uuid(item.get("ContactID"))
        if contact_id is None or contact_id not in tenant.contacts:
            failures.append(
                {
                    "ContactID": contact_id,
                    "ValidationErrors": [{"Message": f"The contact '{item.get('ContactID')}' does not exist."}],
                }
            )
        else:
            wanted.append(contact_id)
    if failures:
        for failure in failures:
            if failure["ContactID"] is None:
                del failure["ContactID"]
        raise XeroError(validation_error(failures))
    for contact_id in wanted:
        if contact_id not in group.members:
            group.members.append(contact_id)
    return {
        "Contacts": [
            {
                "ContactID": contact_id,
                "Addresses": [],
                "Phones": [],
                "ContactGroups": [],
                "ContactPersons": [],
                "HasValidationErrors": False,
                "ValidationErrors": [],
            }
            for contact_id in wanted
        ]
    }


def remove_all(tenant: Tenant, group_id: str) -> None:
    find(tenant, group_id).members.clear()


def remove_member(tenant: Tenant, group_id: str, contact_id: str) -> None:
    group = find(tenant, group_id)
    key = parse_uuid(contact_id)
    if key is None or key not in group.members:
        raise XeroError(not_found())
    group.members.remove(key)
