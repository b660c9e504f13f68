"""Tracking categories and their options, with Xero's limits.

At most 2 ACTIVE and 4 non-deleted categories; names up to 100 characters and unique; up to 100
options per category. A category or option that contacts use as default sales/purchases tracking
cannot be deleted (Xero's exact reply is undocumented; the sandbox says to archive it instead).
Bodies are bare objects (`{"Name": "Region"}`), replies are wrapped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xero_contacts_mcp.sandbox.replies import XeroError, invalid, not_found, post_data_invalid
from xero_contacts_mcp.sandbox.state import Tenant, TrackingCategory, TrackingOption, new_id, parse_uuid
from xero_contacts_mcp.sandbox.where import FieldSpec, compile_order, compile_where, sort_rows

STATUSES = ("ACTIVE", "ARCHIVED", "DELETED")
TRACKING_FIELDS = {
    "Name": FieldSpec("string"),
    "Status": FieldSpec("enum", STATUSES),
    "TrackingCategoryID": FieldSpec("guid"),
}
MAX_ACTIVE = 2
MAX_TOTAL = 4
MAX_NAME = 100


def render_option(option: TrackingOption) -> dict[str, Any]:
    return {
        "TrackingOptionID": option.option_id,
        "Name": option.name,
        "Status": option.status,
        "HasValidationErrors": False,
        "IsDeleted": option.status == "DELETED",
        "IsArchived": option.status == "ARCHIVED",
        "IsActive": option.status == "ACTIVE",
    }


def render_category(
    category: TrackingCategory, *, include_archived: bool, include_deleted: bool = False
) -> dict[str, Any]:
    shown = {"ACTIVE"} | ({"ARCHIVED"} if include_archived else set()) | ({"DELETED"} if include_deleted else set())
    return {
        "Name": category.name,
        "Status": category.status,
        "TrackingCategoryID": category.category_id,
        "Options": [render_option(o) for o in category.options if o.status in shown],
    }


def find_category(tenant: Tenant, category_id: str) -> TrackingCategory:
    key = parse_uuid(category_id)
    category = tenant.tracking.get(key) if key else None
    if category is None or category.status == "DELETED":
        raise XeroError(not_found())
    return category


def find_option(category: TrackingCategory, option_id: str) -> TrackingOption:
    key = parse_uuid(option_id)
    option = category.option(key) if key else None
    if option is None or option.status == "DELETED":
        raise XeroError(not_found())
    return option


def list_categories(tenant: Tenant, query: Mapping[str, str]) -> dict[str, Any]:
    include_archived = query.get("includeArchived", "").lower() == "true"
    predicate = compile_where(query.get("where"), TRACKING_FIELDS, "TrackingCategory")
    keys = compile_order(query.get("order"), TRACKING_FIELDS, "TrackingCategory") or [("Name", False)]
    allowed = {"ACTIVE", "ARCHIVED"} if include_archived else {"ACTIVE"}
    rows = [
        {"Name": c.name, "Status": c.status, "TrackingCategoryID": c.category_id, "_category": c}
        for c in tenant.tracking.values()
        if c.status in allowed
    ]
    ordered = sort_rows([r for r in rows if predicate(r)], keys, TRACKING_FIELDS)
    return {"TrackingCategories": [render_category(r["_category"], include_archived=include_archived) for r in ordered]}


def get_category(tenant: Tenant, category_id: str) -> dict[str, Any]:
    category = find_category(tenant, category_id)
    return {"TrackingCategories": [render_category(category, include_archived=True)]}


def _bare(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise post_data_invalid("The request body must be a JSON object")
    return body


def _name(raw: Any, echo: dict[str, Any], what: str) -> str:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise invalid(echo, f"A {what} name must be specified.")
    if not isinstance(raw, str):
        raise post_data_invalid("'Name' must be a string")
    if len(raw.strip()) > MAX_NAME:
        raise invalid(echo, f"The {what} name must be {MAX_NAME} characters or fewer.")
    return raw.strip()


def _status(raw: Any, echo: dict[str, Any], what: str) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or raw.upper() not in STATUSES:
        raise invalid(echo, f"'{raw}' is not a valid {what} status (ACTIVE or ARCHIVED).")
    if raw.upper() == "DELETED":
        raise invalid(echo, f"Use DELETE to delete a {what}.")
    return raw.upper()


def _limit_errors(tenant: Tenant, adding: bool, activating: bool) -> str | None:
    live = [c for c in tenant.tracking.values() if c.status != "DELETED"]
    if adding and len(live) >= MAX_TOTAL:
        return f"You can only have {MAX_TOTAL} tracking categories ({MAX_ACTIVE} active and the rest archived)."
    if activating and sum(c.status == "ACTIVE" for c in live) >= MAX_ACTIVE:
        return f"You can only have {MAX_ACTIVE} active tracking categories. Archive one before activating another."
    return None


def _category_clash(tenant: Tenant, name: str, exclude: str | None) -> bool:
    return any(
        c.status != "DELETED" and c.category_id != exclude and c.name.casefold() == name.casefold()
        for c in tenant.tracking.values()
    )


def create_category(tenant: Tenant, body: Any) -> dict[str, Any]:
    item = _bare(body)
    echo: dict[str, Any] = {k: item[k] for k in ("Name", "Status") if k in item}
    name = _name(item.get("Name"), echo, "tracking category")
    if _category_clash(tenant, name, None):
        raise invalid(echo, f"The tracking category name {name} is already in use.")
    problem = _limit_errors(tenant, adding=True, activating=True)
    if problem:
        raise invalid(echo, problem)
    category = TrackingCategory(category_id=new_id(), name=name)
    tenant.tracking[category.category_id] = category
    return {"TrackingCategories": [render_category(category, include_archived=True)]}


def update_category(tenant: Tenant, category_id: str, body: Any) -> dict[str, Any]:
    category = find_category(tenant, category_id)
    item = _bare(body)
    echo: dict[str, Any] = {"TrackingCategoryID": category.category_id} | {
        k: item[k] for k in ("Name", "Status") if k in item
    }
    status = _status(item.get("Status"), echo, "tracking category")
    name = _name(item["Name"], echo, "tracking category") if "Name" in item else None
    if name is not None and _category_clash(tenant, name, category.category_id):
        raise invalid(echo, f"The tracking category name {name} is already in use.")
    if status == "ACTIVE" and category.status != "ACTIVE":
        problem = _limit_errors(tenant, adding=False, activating=True)
        if problem:
            raise invalid(echo, problem)
    if name is not None:
        category.name = name
    if status is not None:
        category.status = status
    return {"TrackingCategories": [render_category(category, include_archived=True)]}


def _users(tenant: Tenant, category_id: str, option_id: str | None = None) -> list[str]:
    """Names of contacts whose default sales/purchases tracking uses the category (or option)."""
    names = []
    for contact in tenant.contacts.values():
        refs = contact.sales_tracking + contact.purchases_tracking
        if any(c == category_id and (option_id is None or o == option_id) for c, o in refs):
            names.append(contact.name)
    return names


def delete_category(tenant: Tenant, category_id: str) -> dict[str, Any]:
    category = find_category(tenant, category_id)
    users = _users(tenant, category.category_id)
    if users:
        raise invalid(
            {"TrackingCategoryID": category.category_id, "Name": category.name},
            f"The tracking category {category.name} is used by contacts ({', '.join(sorted(users))}) "
            "and cannot be deleted. Archive it instead.",
        )
    category.status = "DELETED"
    return {"TrackingCategories": [render_category(category, include_archived=True)]}


def create_option(tenant: Tenant, category_id: str, body: Any, max_options: int) -> dict[str, Any]:
    category = find_category(tenant, category_id)
    item = _bare(body)
    echo: dict[str, Any] = {k: item[k] for k in ("Name", "Status") if k in item}
    name = _name(item.get("Name"), echo, "tracking option")
    live = [o for o in category.options if o.status != "DELETED"]
    if any(o.name.casefold() == name.casefold() for o in live):
        raise invalid(echo, f"The tracking option name {name} already exists in {category.name}.")
    if len(live) >= max_options:
        raise invalid(echo, f"A tracking category can have at most {max_options} options.")
    option = TrackingOption(option_id=new_id(), name=name)
    category.options.append(option)
    return {"Options": [render_option(option)]}


def update_option(tenant: Tenant, category_id: str, option_id: str, body: Any) -> dict[str, Any]:
    category = find_category(tenant, category_id)
    option = find_option(category, option_id)
    item = _bare(body)
    echo: dict[str, Any] = {"TrackingOptionID": option.option_id} | {
        k: item[k] for k in ("Name", "Status") if k in item
    }
    status = _status(item.get("Status"), echo, "tracking option")
    if "Name" in item:
        name = _name(item["Name"], echo, "tracking option")
        if any(
            o.status != "DELETED" and o is not option and o.name.casefold() == name.casefold() for o in category.options
        ):
            raise invalid(echo, f"The tracking option name {name} already exists in {category.name}.")
        option.name = name
    if status is not None:
        option.status = status
    return {"Options": [render_option(option)]}


def delete_option(tenant: Tenant, category_id: str, option_id: str) -> dict[str, Any]:
    category = find_category(tenant, category_id)
    option = find_option(category, option_id)
    users = _users(tenant, category.category_id, option.option_id)
    if users:
        raise invalid(
            {"TrackingOptionID": option.option_id, "Name": option.name},
            f"The tracking option {option.name} is used by contacts ({', '.join(sorted(users))}) "
            "and cannot be deleted. Archive it instead.",
        )
    option.status = "DELETED"
    return {"Options": [render_option(option)]}
