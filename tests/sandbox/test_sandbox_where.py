"""Xero's `where`/`order` syntax: what is supported works, everything else is a QueryParseException."""

from __future__ import annotations

from typing import Any

import pytest

from xero_contacts_mcp.sandbox.contacts import CONTACT_FIELDS
from xero_contacts_mcp.sandbox.seed import seed_id
from xero_contacts_mcp.sandbox.where import QueryError, compile_order, compile_where

ABC = seed_id("contact:ABC Furniture")
ROW = {
    "Name": "ABC Furniture",
    "EmailAddress": "info@abfl.com",
    "ContactNumber": "CUST-001",
    "AccountNumber": None,
    "ContactStatus": "ACTIVE",
    "IsSupplier": False,
    "ContactID": ABC,
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('Name=="ABC Furniture"', True),
        ('Name == "abc furniture"', True),
        ('Name="ABC Furniture"', True),
        ('Name!="ABC Furniture"', False),
        ('ContactStatus=="ACTIVE"', True),
        ('contactstatus == "archived"', False),
        ("IsSupplier==false", True),
        ("IsSupplier == TRUE", False),
        (f'ContactID==Guid("{ABC}")', True),
        (f'ContactID=="{ABC.upper()}"', True),
        ('Name.Contains("furn")', True),
        ('Name.StartsWith("abc")', True),
        ('Name.EndsWith("Ltd")', False),
        ('EmailAddress.EndsWith("@ABFL.COM") AND ContactNumber=="CUST-001"', True),
        ('Name=="Nope" OR ContactNumber=="cust-001"', True),
        ('Name=="Nope" || (IsSupplier==false && Name.Contains("ABC"))', True),
        ('(Name=="Nope" OR Name=="ABC Furniture") AND ContactStatus=="ARCHIVED"', False),
        ("AccountNumber==null", True),
        ("EmailAddress!=null", True),
        ('Name=="Say \\"hi\\""', False),
        ("", True),
    ],
)
def test_supported_expressions(expression: str, expected: bool) -> None:
    assert compile_where(expression, CONTACT_FIELDS, "Contact")(ROW) is expected


@pytest.mark.parametrize(
    ("expression", "named"),
    [
        ('Name > "A"', "'>'"),
        ('Name >= "A"', "'>='"),
        ('Name <> "A"', "'<>'"),
        ('Name.ToLower()=="abc"', "ToLower"),
        ('Colour=="Red"', "Colour"),
        ('Addresses[0].City=="X"', "Addresses"),
        ('Name=="A" AND', "ends unexpectedly"),
        ('(Name=="A"', "expected ')'"),
        ('NOT Name=="A"', "NOT"),
        ('!(Name=="A")', "'!'"),
        ('IsSupplier=="true"', "Boolean"),
        ("Name==true", "String"),
        ('ContactID==Guid("not-a-guid")', "not-a-guid"),
        ('ContactStatus=="SLEEPING"', "SLEEPING"),
        ("Name==5", "5"),
        ("UpdatedDateUTC>=DateTime(2020,01,01)", "If-Modified-Since"),
        ('Name=="A" $', "'$'"),
        ('Name=="A" Name=="B"', "unexpected 'Name'"),
    ],
)
def test_unsupported_expressions_name_the_problem(expression: str, named: str) -> None:
    with pytest.raises(QueryError) as caught:
        compile_where(expression, CONTACT_FIELDS, "Contact")
    assert named in str(caught.value)


def test_order_parsing() -> None:
    assert compile_order("Name DESC, updateddateutc", CONTACT_FIELDS, "Contact") == [
        ("Name", True),
        ("UpdatedDateUTC", False),
    ]
    for bad in ("Name SIDEWAYS", "Nope", "Name ASC extra"):
        with pytest.raises(QueryError):
            compile_order(bad, CONTACT_FIELDS, "Contact")


async def test_where_over_the_api(api: Any) -> None:
    response = await api.get("/Contacts", params={"where": 'EmailAddress.EndsWith(".edu") OR Name=="bayside club"'})
    assert sorted(c["Name"] for c in response.json()["Contacts"]) == ["Bayside Club", "Ridgeway University"]
    by_guid = await api.get("/Contacts", params={"where": f'ContactID==Guid("{ABC}")'})
    assert [c["ContactID"] for c in by_guid.json()["Contacts"]] == [ABC]


async def test_unsupported_where_is_a_400_query_parse_exception(api: Any) -> None:
    response = await api.get("/Contacts", params={"where": 'Name.ToLower()=="abc furniture"'})
    assert response.status_code == 400
    body = response.json()
    assert body["ErrorNumber"] == 16
    assert body["Type"] == "QueryParseException"
    assert "ToLower" in body["Message"]
