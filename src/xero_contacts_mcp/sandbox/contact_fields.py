"""Field-level checks of one incoming contact: types, lengths, enums and nested elements.

Wrong JSON types reject the whole request (PostDataInvalidException, as a deserialiser would);
lengths, enums, e-mail syntax and counts become `ValidationErrors`. Nested Addresses, Phones and
ContactPersons carry their own `ValidationErrors`, as Xero reports them. The echo keeps only valid
values so that a `summarizeErrors=false` reply still matches Xero's published schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from xero_contacts_mcp.sandbox.replies import post_data_invalid
from xero_contacts_mcp.sandbox.state import NIL_UUID, parse_uuid

_CURRENCY_CODES = """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BYR
    BZD CAD CDF CHF CLF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EEK EGP ERN ETB EUR FJD FKP GBP GEL
    GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW
    KWD KYD KZT LAK LBP LKR LRD LSL LTL LVL LYD MAD MDL MGA MKD MMK MNT MOP MRO MRU MUR MVR MWK MXN MXV MYR
    MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD
    SHP SKK SLE SLL SOS SRD STD STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VEF
    VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZMK ZWD"""
CURRENCIES = frozenset(_CURRENCY_CODES.split())
"""The CurrencyCode enum of Xero's spec: a DefaultCurrency outside it would break the reply schema."""
CONTACT_STATUSES = ("ACTIVE", "ARCHIVED", "GDPRREQUEST")
MAX_CONTACT_PERSONS = 5
_LINE_AMOUNT_TYPES = ("INCLUSIVE", "EXCLUSIVE", "NONE")
_PAYMENT_TERM_TYPES = ("DAYSAFTERBILLDATE", "DAYSAFTERBILLMONTH", "OFCURRENTMONTH", "OFFOLLOWINGMONTH")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

STRINGS: dict[str, int | None] = {
    "ContactNumber": 50,
    "AccountNumber": 50,
    "Name": 255,
    "FirstName": 255,
    "LastName": 255,
    "CompanyNumber": 50,
    "EmailAddress": 255,
    "BankAccountDetails": None,
    "TaxNumber": 50,
    "AccountsReceivableTaxType": None,
    "AccountsPayableTaxType": None,
    "XeroNetworkKey": None,
    "SalesDefaultAccountCode": None,
    "PurchasesDefaultAccountCode": None,
}
ENUMS: dict[str, tuple[str, ...] | frozenset[str]] = {
    "ContactStatus": CONTACT_STATUSES,
    "TaxNumberType": ("SSN", "EIN", "ITIN", "ATIN"),
    "SalesDefaultLineAmountType": _LINE_AMOUNT_TYPES,
    "PurchasesDefaultLineAmountType": _LINE_AMOUNT_TYPES,
    "DefaultCurrency": CURRENCIES,
}
ADDRESS_FIELDS: dict[str, int | None] = {
    "AddressLine1": 500,
    "AddressLine2": 500,
    "AddressLine3": 500,
    "AddressLine4": 500,
    "City": 255,
    "Region": 255,
    "PostalCode": 50,
    "Country": 50,
    "AttentionTo": 255,
}
PHONE_FIELDS: dict[str, int | None] = {"PhoneNumber": 50, "PhoneAreaCode": 10, "PhoneCountryCode": 20}
PERSON_FIELDS: dict[str, int | None] = {"FirstName": 255, "LastName": 255, "EmailAddress": 255}
BATCH_FIELDS: dict[str, int | None] = {
    "BankAccountNumber": None,
    "BankAccountName": None,
    "Details": None,
    "Code": 12,
    "Reference": 12,
}
ADDRESS_TYPES = ("STREET", "POBOX")
PHONE_TYPES = ("DEFAULT", "DDI", "MOBILE", "FAX", "OFFICE")


@dataclass
class Checked:
    """One incoming contact after field checks."""

    values: dict[str, Any] = field(default_factory=dict)
    """Valid writable fields, ready to store."""
    echo: dict[str, Any] = field(default_factory=dict)
    """What an error reply echoes: valid values, nested elements with their own ValidationErrors."""
    errors: list[str] = field(default_factory=list)
    nested_errors: bool = False
    contact_id: str | None = None
    """The element's ContactID (None when absent or the nil UUID)."""
    given: frozenset[str] = frozenset()
    """Keys present (and not null) in the element, valid or not."""

    @property
    def failed(self) -> bool:
        return bool(self.errors) or self.nested_errors


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise post_data_invalid(f"'{where}' must be a string, not {type(value).__name__}")
    return value


def _check_strings(
    source: dict[str, Any], spec: dict[str, int | None], target: dict[str, Any], errors: list[str], where: str
) -> None:
    for name, limit in spec.items():
        if source.get(name) is None:
            continue
        value = _string(source[name], f"{where}{name}")
        if limit is not None and len(value) > limit:
            errors.append(f"{name} must not be more than {limit} characters long.")
        elif name == "EmailAddress" and value and not _EMAIL.match(value):
            errors.append("Email address must be valid.")
        else:
            target[name] = value


def _objects(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise post_data_invalid(f"'{where}' must be an array of objects")
    return value


def _nested(
    items: list[dict[str, Any]], type_key: str | None, types: tuple[str, ...], spec: dict[str, int | None], where: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    """Check array elements; return (valid values, echo with per-element errors, any error)."""
    values: list[dict[str, Any]] = []
    echo: list[dict[str, Any]] = []
    failed = False
    for index, item in enumerate(items):
        clean: dict[str, Any] = {}
        errors: list[str] = []
        if type_key is not None:
            kind = item.get(type_key)
            if kind is None:
                errors.append(f"{type_key} is required.")
            elif str(_string(kind, f"{where}[{index}].{type_key}")).upper() not in types:
                errors.append(f"'{kind}' is not a valid {type_key} ({', '.join(types)}).")
            else:
                clean[type_key] = str(kind).upper()
        _check_strings(item, spec, clean, errors, f"{where}[{index}].")
        if "IncludeInEmails" in item and item["IncludeInEmails"] is not None:
            if not isinstance(item["IncludeInEmails"], bool):
                raise post_data_invalid(f"'{where}[{index}].IncludeInEmails' must be a boolean")
            clean["IncludeInEmails"] = item["IncludeInEmails"]
        values.append(clean)
        echo.append(clean | {"ValidationErrors": [{"Message": m} for m in errors]})
        failed = failed or bool(errors)
    return values, echo, failed


def _payment_terms(value: Any, checked: Checked) -> None:
    if not isinstance(value, dict):
        raise post_data_invalid("'PaymentTerms' must be an object")
    clean: dict[str, Any] = {}
    for side in ("Bills", "Sales"):
        term = value.get(side)
        if term is None:
            continue
        if not isinstance(term, dict):
            raise post_data_invalid(f"'PaymentTerms.{side}' must be an object")
        part: dict[str, Any] = {}
        day, kind = term.get("Day"), term.get("Type")
        if day is not None:
            if not isinstance(day, int) or isinstance(day, bool):
                raise post_data_invalid(f"'PaymentTerms.{side}.Day' must be an integer")
            if not 0 <= day <= 31:
                checked.errors.append(f"PaymentTerms {side} Day must be between 0 and 31.")
            else:
                part["Day"] = day
        if kind is not None:
            if _string(kind, f"PaymentTerms.{side}.Type") not in _PAYMENT_TERM_TYPES:
                checked.errors.append(f"'{kind}' is not a valid payment term type.")
            else:
                part["Type"] = kind
        clean[side] = part
    checked.values["PaymentTerms"] = checked.echo["PaymentTerms"] = clean


def _tracking(value: Any, name: str, checked: Checked) -> None:
    items = _objects(value, name)
    clean: list[dict[str, str]] = []
    for index, item in enumerate(items):
        category = item.get("TrackingCategoryName")
        option = item.get("TrackingOptionName")
        if not category or not option:
            checked.errors.append(f"{name} entries need a TrackingCategoryName and a TrackingOptionName.")
            continue
        clean.append(
            {
                "TrackingCategoryName": _string(category, f"{name}[{index}].TrackingCategoryName"),
                "TrackingOptionName": _string(option, f"{name}[{index}].TrackingOptionName"),
            }
        )
    checked.values[name] = checked.echo[name] = clean


def check_contact(element: Any) -> Checked:
    """Check one element of a `Contacts` array; raise PostDataInvalid for wrong JSON types."""
    if not isinstance(element, dict):
        raise post_data_invalid("Each element of 'Contacts' must be an object")
    checked = Checked(given=frozenset(k for k, v in element.items() if v is not None))
    raw_id = element.get("ContactID")
    if raw_id is not None:
        contact_id = parse_uuid(raw_id)
        if contact_id is None:
            checked.errors.append(f"'{raw_id}' is not a valid ContactID.")
        elif contact_id != NIL_UUID:
            checked.contact_id = contact_id
            checked.echo["ContactID"] = contact_id
    _check_strings(element, STRINGS, checked.values, checked.errors, "")
    for name, allowed in ENUMS.items():
        value = element.get(name)
        if value is None:
            continue
        text = _string(value, name)
        if text.upper() not in allowed:
            checked.errors.append(f"'{text}' is not a valid {name}.")
        else:
            checked.values[name] = text.upper()
    checked.echo.update(checked.values)
    for name, type_key, types, spec in (
        ("Addresses", "AddressType", ADDRESS_TYPES, ADDRESS_FIELDS),
        ("Phones", "PhoneType", PHONE_TYPES, PHONE_FIELDS),
        ("ContactPersons", None, (), PERSON_FIELDS),
    ):
        if element.get(name) is None:
            continue
        values, echo, failed = _nested(_objects(element[name], name), type_key, types, spec, name)
        checked.values[name] = values
        checked.echo[name] = echo
        checked.nested_errors = checked.nested_errors or failed
    if len(checked.values.get("ContactPersons", [])) > MAX_CONTACT_PERSONS:
        checked.errors.append(f"A contact can have a maximum of {MAX_CONTACT_PERSONS} contact persons.")
    if element.get("PaymentTerms") is not None:
        _payment_terms(element["PaymentTerms"], checked)
    if element.get("BatchPayments") is not None:
        if not isinstance(element["BatchPayments"], dict):
            raise post_data_invalid("'BatchPayments' must be an object")
        batch: dict[str, Any] = {}
        _check_strings(element["BatchPayments"], BATCH_FIELDS, batch, checked.errors, "BatchPayments.")
        checked.values["BatchPayments"] = checked.echo["BatchPayments"] = batch
    for name in ("SalesTrackingCategories", "PurchasesTrackingCategories"):
        if element.get(name) is not None:
            _tracking(element[name], name, checked)
    return checked
