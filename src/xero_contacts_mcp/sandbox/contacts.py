"""Contacts: Xero's create/update rules, the per-endpoint field sets, and the list query.

Rules kept faithful because clients are tested against them: `PUT` only creates; `POST` matches on
ContactID, then ContactNumber, else creates, keeping omitted fields; names are unique among
ACTIVE contacts and contact numbers among all contacts (both case-insensitive); contacts are never
deleted, only ARCHIVED. A batch is all-or-nothing unless `summarizeErrors=false`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from xero_contacts_mcp.sandbox.contact_fields import CONTACT_STATUSES, Checked, check_contact
from xero_contacts_mcp.sandbox.replies import XeroError, not_found, post_data_invalid, validation_error
from xero_contacts_mcp.sandbox.state import NIL_UUID, Contact, Tenant, TrackingRef, new_id, parse_uuid
from xero_contacts_mcp.sandbox.where import FieldSpec, QueryError, compile_order, compile_where, sort_rows
from xero_contacts_mcp.xerodates import to_ms_date

View = Literal["list", "summary", "full", "write"]
Mode = Literal["create", "upsert", "update"]

CONTACT_FIELDS: dict[str, FieldSpec] = {
    "ContactID": FieldSpec("guid"),
    "ContactStatus": FieldSpec("enum", CONTACT_STATUSES),
    "UpdatedDateUTC": FieldSpec("date"),
    "IsSupplier": FieldSpec("bool"),
    "IsCustomer": FieldSpec("bool"),
    "HasAttachments": FieldSpec("bool"),
    "HasValidationErrors": FieldSpec("bool"),
} | {
    name: FieldSpec("string")
    for name in (
        "Name",
        "FirstName",
        "LastName",
        "EmailAddress",
        "ContactNumber",
        "AccountNumber",
        "CompanyNumber",
        "BankAccountDetails",
        "TaxNumber",
        "AccountsReceivableTaxType",
        "AccountsPayableTaxType",
        "DefaultCurrency",
        "XeroNetworkKey",
        "SalesDefaultAccountCode",
        "PurchasesDefaultAccountCode",
    )
}
SEARCHED = ("Name", "FirstName", "LastName", "ContactNumber", "CompanyNumber", "EmailAddress")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_SCALARS_HEAD = ("ContactNumber", "AccountNumber")
_SCALARS_BODY = (
    "FirstName",
    "LastName",
    "CompanyNumber",
    "EmailAddress",
    "BankAccountDetails",
    "TaxNumber",
    "TaxNumberType",
    "AccountsReceivableTaxType",
    "AccountsPayableTaxType",
)
_DETAIL_SCALARS = ("XeroNetworkKey", "SalesDefaultAccountCode", "PurchasesDefaultAccountCode")
_TRACKING = ("SalesTrackingCategories", "PurchasesTrackingCategories")


def blank_addresses() -> list[dict[str, Any]]:
    """Xero always returns a STREET and a POBOX address, empty ones included."""
    return [{"AddressType": t, "City": "", "Region": "", "PostalCode": "", "Country": ""} for t in ("STREET", "POBOX")]


def blank_phones() -> list[dict[str, Any]]:
    """Xero always returns the DEFAULT, DDI, FAX and MOBILE phones, empty ones included."""
    return [
        {"PhoneType": t, "PhoneNumber": "", "PhoneAreaCode": "", "PhoneCountryCode": ""}
        for t in ("DEFAULT", "DDI", "FAX", "MOBILE")
    ]


def _merge_typed(existing: list[dict[str, Any]], updates: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Replace the entries whose type is given, keep the others (how Xero updates Addresses/Phones)."""
    merged = {str(item[key]): item for item in existing}
    for item in updates:
        merged[str(item[key])] = dict(item)
    return list(merged.values())


def _tracking_names(tenant: Tenant, refs: tuple[TrackingRef, ...]) -> list[dict[str, str]]:
    names = []
    for category_id, option_id in refs:
        category = tenant.tracking.get(category_id)
        option = category.option(option_id) if category else None
        if category and option:
            names.append({"TrackingCategoryName": category.name, "TrackingOptionName": option.name})
    return names


def render(tenant: Tenant, contact: Contact, view: View) -> dict[str, Any]:
    """A contact as a given endpoint returns it.

    `list` is the unpaged GET /Contacts (no persons, groups, balances, payment terms ...);
    `summary` is summaryOnly (no addresses or phones either); `full` is the single GET or a page;
    `write` is what PUT/POST answer (full, without balances).
    """
    fields = contact.fields
    detailed = view in ("full", "write")
    out: dict[str, Any] = {"ContactID": contact.contact_id}
    out |= {k: fields[k] for k in _SCALARS_HEAD if fields.get(k)}
    out |= {"ContactStatus": contact.status, "Name": contact.name}
    out |= {k: fields[k] for k in _SCALARS_BODY if k in fields}
    if view != "summary":
        out["Addresses"] = copy.deepcopy(fields.get("Addresses", []))
        out["Phones"] = copy.deepcopy(fields.get("Phones", []))
    out["UpdatedDateUTC"] = to_ms_date(contact.updated)
    if detailed:
        out["ContactGroups"] = [
            {"ContactGroupID": g.group_id, "Name": g.name, "Status": g.status, "Contacts": []}
            for g in tenant.active_groups_of(contact.contact_id)
        ]
    out |= {"IsSupplier": contact.supplier, "IsCustomer": contact.customer}
    if view != "list":
        out |= {k: fields[k] for k in ("SalesDefaultLineAmountType", "PurchasesDefaultLineAmountType") if k in fields}
    if "DefaultCurrency" in fields:
        out["DefaultCurrency"] = fields["DefaultCurrency"]
    if detailed:
        out |= {k: fields[k] for k in _DETAIL_SCALARS if fields.get(k)}
        out["SalesTrackingCategories"] = _tracking_names(tenant, contact.sales_tracking)
        out["PurchasesTrackingCategories"] = _tracking_names(tenant, contact.purchases_tracking)
        out |= {k: copy.deepcopy(fields[k]) for k in ("PaymentTerms", "BatchPayments") if k in fields}
        if view == "full":
            zero = {"Outstanding": 0.0, "Overdue": 0.0}
            out["Balances"] = {"AccountsReceivable": dict(zero), "AccountsPayable": dict(zero)}
        out["ContactPersons"] = copy.deepcopy(fields.get("ContactPersons", []))
        out["HasAttachments"] = False
    out["HasValidationErrors"] = False
    return out


def row(contact: Contact) -> dict[str, Any]:
    """The values `where`, `order` and `searchTerm` see."""
    values: dict[str, Any] = {name: contact.fields.get(name) for name, spec in CONTACT_FIELDS.items()}
    return values | {
        "ContactID": contact.contact_id,
        "ContactStatus": contact.status,
        "UpdatedDateUTC": contact.updated,
        "IsSupplier": contact.supplier,
        "IsCustomer": contact.customer,
        "HasAttachments": False,
        "HasValidationErrors": False,
        "_contact": contact,
    }


def _resolve_tracking(tenant: Tenant, entries: list[dict[str, str]], errors: list[str]) -> tuple[TrackingRef, ...]:
    refs: list[TrackingRef] = []
    for entry in entries:
        category_name, option_name = entry["TrackingCategoryName"], entry["TrackingOptionName"]
        category = next(
            (
                c
                for c in tenant.tracking.values()
                if c.status == "ACTIVE" and c.name.casefold() == category_name.casefold()
            ),
            None,
        )
        option = (
            next(
                (o for o in category.options if o.status == "ACTIVE" and o.name.casefold() == option_name.casefold()),
                None,
            )
            if category
            else None
        )
        if category is None or option is None:
            errors.append(
                f"The tracking category '{category_name}' with option '{option_name}' does not exist or is not active."
            )
            continue
        refs.append((category.category_id, option.option_id))
    return tuple(refs)


def _find_target(working: Mapping[str, Contact], checked: Checked, mode: Mode, errors: list[str]) -> Contact | None:
    if checked.contact_id is not None:
        found = working.get(checked.contact_id)
        if mode == "create":
            errors.append(
                f"A contact with ContactID {checked.contact_id} already exists."
                if found
                else f"ContactID {checked.contact_id} cannot be given when creating a contact; Xero assigns it."
            )
            return None
        if found is None:
            errors.append(f"The contact with ContactID {checked.contact_id} could not be found.")
        return found
    number = checked.values.get("ContactNumber")
    if mode == "upsert" and number:
        wanted = str(number).casefold()
        return next((c for c in working.values() if (c.number or "").casefold() == wanted), None)
    return None


def apply(
    tenant: Tenant,
    working: dict[str, Contact],
    checked: Checked,
    *,
    mode: Mode,
    now: datetime,
    target: Contact | None = None,
) -> Contact | list[str]:
    """Validate one checked element against `working` and return the new contact or its errors."""
    errors = list(checked.errors)
    if mode != "update":
        target = _find_target(working, checked, mode, errors)
    values = checked.values
    if target is None and ("Name" not in checked.given or ("Name" in values and not values["Name"].strip())):
        errors.append("The contact name must be specified.")
    elif target is not None and "Name" in values and not values["Name"].strip():
        errors.append("The contact name must not be empty.")
    self_id = target.contact_id if target else None
    name = str(values.get("Name", target.name if target else "")).strip()
    status = values.get("ContactStatus", target.status if target else "ACTIVE")
    if status == "ACTIVE" and name:
        for other in working.values():
            if (
                other.contact_id not in (self_id, checked.contact_id)  # not itself, sent by ID to create
                and other.status == "ACTIVE"
                and other.name.strip().casefold() == name.casefold()
            ):
                errors.append(
                    f"The contact name {name} is already assigned to another contact. "
                    "The contact name must be unique across all active contacts."
                )
                break
    number = values.get("ContactNumber")
    if number:
        for other in working.values():
            if other.contact_id != self_id and (other.number or "").casefold() == str(number).casefold():
                errors.append(
                    f"The contact number {number} is already assigned to another contact. "
                    "The contact number must be unique across all contacts."
                )
                break
    refs = {name: _resolve_tracking(tenant, values[name], errors) for name in _TRACKING if name in values}
    if errors or checked.nested_errors:
        return errors
    fields = dict(target.fields) if target else {"Addresses": blank_addresses(), "Phones": blank_phones()}
    for key, value in values.items():
        if key == "Addresses":
            fields[key] = _merge_typed(fields.get(key, []), value, "AddressType")
        elif key == "Phones":
            fields[key] = _merge_typed(fields.get(key, []), value, "PhoneType")
        elif key == "ContactNumber" and not value:
            fields.pop(key, None)
        elif key not in _TRACKING and key != "ContactStatus":
            fields[key] = copy.deepcopy(value)
    base = target or Contact(contact_id=new_id(), fields={}, status="ACTIVE", updated=now)
    return base.evolve(
        fields=fields,
        status=status,
        updated=now,
        sales_tracking=refs.get("SalesTrackingCategories", base.sales_tracking),
        purchases_tracking=refs.get("PurchasesTrackingCategories", base.purchases_tracking),
    )


def _elements(body: Any) -> list[Any]:
    if not isinstance(body, dict) or not isinstance(body.get("Contacts"), list):
        raise post_data_invalid("The request body must be an object with a 'Contacts' array")
    return list(body["Contacts"])


def _failure(checked: Checked, errors: list[str], summarize: bool) -> dict[str, Any]:
    """A rejected element as Xero echoes it: a new one with the nil ContactID (as in its OpenAPI examples)."""
    failed = {"ContactID": NIL_UUID} | dict(checked.echo) | {
        "HasValidationErrors": True,
        "ValidationErrors": [{"Message": m} for m in errors],
    }
    return failed if summarize else failed | {"StatusAttributeString": "ERROR"}


def save(
    tenant: Tenant, body: Any, *, mode: Mode, summarize: bool, now: datetime, target_id: str | None = None
) -> dict[str, Any]:
    """PUT /Contacts, POST /Contacts and POST /Contacts/{ContactID}; returns the `Contacts` payload."""
    elements = _elements(body)
    target = None
    if target_id is not None:
        target = tenant.contacts.get(target_id)
        if target is None:
            raise XeroError(not_found())
        if len(elements) != 1:
            raise post_data_invalid("POST /Contacts/{ContactID} takes exactly one contact")
    checked_all = [check_contact(element) for element in elements]
    working = dict(tenant.contacts)
    outcomes: list[tuple[Checked, Contact | list[str]]] = []
    for checked in checked_all:
        outcome = apply(tenant, working, checked, mode=mode, now=now, target=target)
        if isinstance(outcome, Contact):
            working[outcome.contact_id] = outcome
        outcomes.append((checked, outcome))
    failures = [(c, o) for c, o in outcomes if not isinstance(o, Contact)]
    if summarize and failures:
        raise XeroError(validation_error([_failure(c, o, True) for c, o in failures if isinstance(o, list)]))
    tenant.contacts = working
    rendered = []
    for checked, outcome in outcomes:
        if isinstance(outcome, Contact):
            item = render(tenant, outcome, "write")
            rendered.append(item if summarize else item | {"StatusAttributeString": "OK"})
        else:
            rendered.append(_failure(checked, outcome, summarize))
    return {"Contacts": rendered}


def _flag(query: Mapping[str, str], name: str) -> bool:
    return query.get(name, "").strip().lower() == "true"


def _integer(query: Mapping[str, str], name: str) -> int | None:
    text = query.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise QueryError(f"'{text}' is not a valid integer for the '{name}' parameter") from None


def parse_since(text: str) -> datetime:
    """If-Modified-Since: RFC 3339 (Z or offset), Xero's offset-less `yyyy-mm-ddThh:mm:ss` (UTC), or RFC 1123."""
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            raise QueryError(f"The If-Modified-Since header '{text}' is not a valid date") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _ids(text: str) -> set[str]:
    wanted = set()
    for part in text.split(","):
        if not part.strip():
            continue
        parsed = parse_uuid(part.strip().strip('"'))
        if parsed is None:
            raise QueryError(f"'{part.strip()}' in IDs is not a valid ContactID")
        wanted.add(parsed)
    return wanted


def list_contacts(tenant: Tenant, query: Mapping[str, str], if_modified_since: str | None) -> dict[str, Any]:
    """GET /Contacts with where, order, IDs, searchTerm, includeArchived, paging and summaryOnly."""
    predicate = compile_where(query.get("where"), CONTACT_FIELDS, "Contact")
    keys = compile_order(query.get("order"), CONTACT_FIELDS, "Contact") or [("UpdatedDateUTC", False)]
    page = _integer(query, "page")
    size = _integer(query, "pageSize")
    page_size = DEFAULT_PAGE_SIZE if size is None else min(max(size, 1), MAX_PAGE_SIZE)
    summary = _flag(query, "summaryOnly")
    if summary and page is None:
        page = 1
    ids = _ids(query["IDs"]) if query.get("IDs") else None
    since = parse_since(if_modified_since) if if_modified_since else None
    term = (query.get("searchTerm") or "").strip().casefold()
    include_archived = _flag(query, "includeArchived")
    rows = []
    for contact in tenant.contacts.values():
        values = row(contact)
        if contact.status == "ARCHIVED" and not include_archived:
            continue
        if ids is not None and contact.contact_id not in ids:
            continue
        if since is not None and contact.updated <= since:
            continue
        if term and not any(term in str(values.get(f) or "").casefold() for f in SEARCHED):
            continue
        if predicate(values):
            rows.append(values)
    ordered = sort_rows(rows, [*keys, ("ContactID", False)], CONTACT_FIELDS)
    payload: dict[str, Any] = {}
    if page is not None:
        page = max(page, 1)
        total = len(ordered)
        payload["pagination"] = {
            "page": page,
            "pageSize": page_size,
            "pageCount": -(-total // page_size),
            "itemCount": total,
        }
        ordered = ordered[(page - 1) * page_size : page * page_size]
    view: View = "summary" if summary else ("full" if page is not None else "list")
    payload["Contacts"] = [render(tenant, r["_contact"], view) for r in ordered]
    return payload


def find(tenant: Tenant, key: str) -> Contact:
    """A contact by ContactID (UUID-shaped key) or else by ContactNumber; 404 when absent."""
    contact_id = parse_uuid(key)
    contact = tenant.contacts.get(contact_id) if contact_id else tenant.contact_by_number(key)
    if contact is None:
        raise XeroError(not_found())
    return contact


def get_contact(tenant: Tenant, key: str) -> dict[str, Any]:
    return {"Contacts": [render(tenant, find(tenant, key), "full")]}


def cis_settings(tenant: Tenant, key: str) -> dict[str, Any]:
    """CIS settings exist only for contacts ever enabled as CIS subcontractors; otherwise 404."""
    contact_id = parse_uuid(key)
    contact = tenant.contacts.get(contact_id) if contact_id else None
    if contact is None or contact.cis_rate is None:
        raise XeroError(not_found())
    return {"CISSettings": [{"CISEnabled": True, "Rate": contact.cis_rate}]}
