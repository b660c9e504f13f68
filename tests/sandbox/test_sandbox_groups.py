"""Contact groups: create, rename, delete, where/order, membership."""

from __future__ import annotations

from typing import Any

from xero_contacts_mcp.sandbox import Sandbox
from xero_contacts_mcp.sandbox.seed import seed_id

GROUP = seed_id("group:Preferred Suppliers")
ABC = seed_id("contact:ABC Furniture")
BAYSIDE = seed_id("contact:Bayside Club")
CARLTON = seed_id("contact:Carlton Builders Ltd")


async def test_create_requires_unique_name(api: Any, sandbox: Sandbox) -> None:
    created = await api.put("/ContactGroups", {"ContactGroups": [{"Name": "VIPs"}, {"Name": "Locals"}]})
    assert created.status_code == 200
    assert [g["Status"] for g in created.json()["ContactGroups"]] == ["ACTIVE", "ACTIVE"]
    duplicate = await api.put("/ContactGroups", {"ContactGroups": [{"Name": "vips"}, {"Name": "Fine"}]})
    assert duplicate.status_code == 400
    assert duplicate.json()["Type"] == "ValidationException"
    assert len(duplicate.json()["Elements"]) == 1
    nameless = await api.put("/ContactGroups", {"ContactGroups": [{}]})
    assert nameless.status_code == 400
    assert "Fine" not in {g.name for g in sandbox.state().groups.values()}


async def test_list_shows_active_groups_without_members(api: Any) -> None:
    await api.put("/ContactGroups", {"ContactGroups": [{"Name": "Alpha"}]})
    listed = (await api.get("/ContactGroups")).json()["ContactGroups"]
    assert [g["Name"] for g in listed] == ["Alpha", "Preferred Suppliers"]
    assert all(g["Contacts"] == [] for g in listed)
    desc = (await api.get("/ContactGroups", params={"order": "Name DESC"})).json()["ContactGroups"]
    assert [g["Name"] for g in desc] == ["Preferred Suppliers", "Alpha"]
    filtered = await api.get("/ContactGroups", params={"where": 'Name.StartsWith("pref")'})
    assert [g["ContactGroupID"] for g in filtered.json()["ContactGroups"]] == [GROUP]
    bad = await api.get("/ContactGroups", params={"where": "Members > 1"})
    assert bad.status_code == 400 and bad.json()["Type"] == "QueryParseException"


async def test_single_get_lists_members(api: Any) -> None:
    group = (await api.get(f"/ContactGroups/{GROUP}")).json()["ContactGroups"][0]
    assert group["Contacts"] == [
        {"ContactID": ABC, "Name": "ABC Furniture"},
        {"ContactID": BAYSIDE, "Name": "Bayside Club"},
    ]


async def test_rename_then_delete(api: Any) -> None:
    await api.put("/ContactGroups", {"ContactGroups": [{"Name": "Taken"}]})
    clash = await api.post(f"/ContactGroups/{GROUP}", {"ContactGroups": [{"Name": "taken"}]})
    assert clash.status_code == 400
    renamed = await api.post(f"/ContactGroups/{GROUP}", {"ContactGroups": [{"Name": "Suppliers"}]})
    assert renamed.json()["ContactGroups"][0]["Name"] == "Suppliers"
    deleted = await api.post(f"/ContactGroups/{GROUP}", {"ContactGroups": [{"Status": "DELETED"}]})
    assert deleted.json()["ContactGroups"][0]["Status"] == "DELETED"
    gone = await api.get(f"/ContactGroups/{GROUP}")
    assert gone.status_code == 404 and gone.headers["content-type"].startswith("text/plain")
    assert GROUP not in [g["ContactGroupID"] for g in (await api.get("/ContactGroups")).json()["ContactGroups"]]
    contact = (await api.get(f"/Contacts/{ABC}")).json()["Contacts"][0]
    assert contact["ContactGroups"] == [], "a contact lists only its active groups"


async def test_add_members_validates_every_contact(api: Any, sandbox: Sandbox) -> None:
    missing = "0b1e2d3c-0000-4000-8000-000000000004"
    bad = await api.put(
        f"/ContactGroups/{GROUP}/Contacts", {"Contacts": [{"ContactID": CARLTON}, {"ContactID": missing}]}
    )
    assert bad.status_code == 400
    assert bad.json()["Elements"][0]["ContactID"] == missing
    assert CARLTON not in sandbox.state().groups[GROUP].members
    good = await api.put(f"/ContactGroups/{GROUP}/Contacts", {"Contacts": [{"ContactID": CARLTON}]})
    assert [c["ContactID"] for c in good.json()["Contacts"]] == [CARLTON]
    contact = (await api.get(f"/Contacts/{CARLTON}")).json()["Contacts"][0]
    assert [g["Name"] for g in contact["ContactGroups"]] == ["Preferred Suppliers"]


async def test_remove_one_and_all_members(api: Any, sandbox: Sandbox) -> None:
    one = await api.delete(f"/ContactGroups/{GROUP}/Contacts/{BAYSIDE}")
    assert (one.status_code, one.content) == (204, b"")
    assert sandbox.state().groups[GROUP].members == [ABC]
    again = await api.delete(f"/ContactGroups/{GROUP}/Contacts/{BAYSIDE}")
    assert again.status_code == 404
    everyone = await api.delete(f"/ContactGroups/{GROUP}/Contacts")
    assert everyone.status_code == 204
    assert sandbox.state().groups[GROUP].members == []


async def test_unknown_group_is_404(api: Any) -> None:
    for path in ("/ContactGroups/0b1e2d3c-0000-4000-8000-000000000005", "/ContactGroups/not-a-guid"):
        assert (await api.get(path)).status_code == 404
