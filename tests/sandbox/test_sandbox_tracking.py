"""Tracking categories and options: limits, archiving, deletion rules, where/order."""

from __future__ import annotations

from typing import Any

from xero_contacts_mcp.sandbox import Sandbox
from xero_contacts_mcp.sandbox.seed import REGION_ID, seed_id

NORTH = seed_id("option:Region/North")
SOUTH = seed_id("option:Region/South")
EAST = seed_id("option:Region/East")


async def create(api: Any, name: str) -> str:
    response = await api.put("/TrackingCategories", {"Name": name})
    assert response.status_code == 200, response.text
    return str(response.json()["TrackingCategories"][0]["TrackingCategoryID"])


def message(response: Any) -> str:
    return str(response.json()["Elements"][0]["ValidationErrors"][0]["Message"])


async def test_two_active_and_four_total(api: Any) -> None:
    department = await create(api, "Department")
    third = await api.put("/TrackingCategories", {"Name": "Project"})
    assert third.status_code == 400 and "2 active" in message(third)
    await api.post(f"/TrackingCategories/{department}", {"Status": "ARCHIVED"})
    project = await create(api, "Project")
    await api.post(f"/TrackingCategories/{project}", {"Status": "ARCHIVED"})
    await create(api, "Team")
    fifth = await api.put("/TrackingCategories", {"Name": "Fifth"})
    assert fifth.status_code == 400 and "4 tracking categories" in message(fifth)
    reactivate = await api.post(f"/TrackingCategories/{project}", {"Status": "ACTIVE"})
    assert reactivate.status_code == 400 and "2 active" in message(reactivate)


async def test_names_are_unique_and_at_most_100_characters(api: Any) -> None:
    assert (await api.put("/TrackingCategories", {"Name": "region"})).status_code == 400
    long = await api.put("/TrackingCategories", {"Name": "x" * 101})
    assert long.status_code == 400 and "100" in message(long)
    assert (await api.put("/TrackingCategories", {"Name": "  "})).status_code == 400
    wrapped = await api.put("/TrackingCategories", {"TrackingCategories": [{"Name": "Wrapped"}]})
    assert wrapped.status_code == 400, "tracking bodies are bare objects, not wrapped arrays"


async def test_archived_hidden_unless_include_archived(api: Any) -> None:
    await api.post(f"/TrackingCategories/{REGION_ID}/Options/{EAST}", {"Status": "ARCHIVED"})
    listed = (await api.get("/TrackingCategories")).json()["TrackingCategories"]
    assert [o["Name"] for o in listed[0]["Options"]] == ["North", "South"]
    everything = (await api.get("/TrackingCategories", params={"includeArchived": "true"})).json()
    assert [o["Name"] for o in everything["TrackingCategories"][0]["Options"]] == ["North", "South", "East"]
    await api.post(f"/TrackingCategories/{REGION_ID}", {"Status": "ARCHIVED"})
    assert (await api.get("/TrackingCategories")).json()["TrackingCategories"] == []
    archived = await api.get("/TrackingCategories", params={"includeArchived": "true", "where": 'Status=="ARCHIVED"'})
    assert [c["Name"] for c in archived.json()["TrackingCategories"]] == ["Region"]


async def test_where_and_order(api: Any) -> None:
    await create(api, "Area")
    names = (await api.get("/TrackingCategories", params={"order": "Name DESC"})).json()["TrackingCategories"]
    assert [c["Name"] for c in names] == ["Region", "Area"]
    one = await api.get("/TrackingCategories", params={"where": f'TrackingCategoryID==Guid("{REGION_ID}")'})
    assert [c["Name"] for c in one.json()["TrackingCategories"]] == ["Region"]
    assert (await api.get("/TrackingCategories", params={"order": "Colour"})).status_code == 400


async def test_delete_used_category_is_refused_unused_is_deleted(api: Any, sandbox: Sandbox) -> None:
    used = await api.delete(f"/TrackingCategories/{REGION_ID}")
    assert used.status_code == 400
    assert "Archive it instead" in message(used) and "ABC Furniture" in message(used)
    department = await create(api, "Department")
    deleted = await api.delete(f"/TrackingCategories/{department}")
    assert deleted.status_code == 200
    assert deleted.json()["TrackingCategories"][0]["Status"] == "DELETED"
    assert sandbox.state().tracking[department].status == "DELETED"
    assert (await api.get(f"/TrackingCategories/{department}")).status_code == 404
    assert (await api.delete(f"/TrackingCategories/{department}")).status_code == 404


async def test_options_create_rename_delete(api: Any, sandbox: Sandbox) -> None:
    created = await api.put(f"/TrackingCategories/{REGION_ID}/Options", {"Name": "West"})
    west = created.json()["Options"][0]
    assert (west["Name"], west["Status"], west["IsActive"]) == ("West", "ACTIVE", True)
    assert (await api.put(f"/TrackingCategories/{REGION_ID}/Options", {"Name": "WEST"})).status_code == 400
    renamed = await api.post(
        f"/TrackingCategories/{REGION_ID}/Options/{west['TrackingOptionID']}", {"Name": "Wild West"}
    )
    assert renamed.json()["Options"][0]["Name"] == "Wild West"
    clash = await api.post(f"/TrackingCategories/{REGION_ID}/Options/{SOUTH}", {"Name": "north"})
    assert clash.status_code == 400
    deleted = await api.delete(f"/TrackingCategories/{REGION_ID}/Options/{SOUTH}")
    assert deleted.status_code == 200
    assert deleted.json()["Options"][0]["Status"] == "DELETED" and deleted.json()["Options"][0]["IsDeleted"]
    in_use = await api.delete(f"/TrackingCategories/{REGION_ID}/Options/{NORTH}")
    assert in_use.status_code == 400
    assert (await api.delete(f"/TrackingCategories/{REGION_ID}/Options/{SOUTH}")).status_code == 404
    shown = (await api.get(f"/TrackingCategories/{REGION_ID}")).json()["TrackingCategories"][0]["Options"]
    assert [o["Name"] for o in shown] == ["North", "East", "Wild West"]


async def test_option_limit_is_configurable(api: Any, sandbox: Sandbox) -> None:
    sandbox.config.max_tracking_options = 4
    assert (await api.put(f"/TrackingCategories/{REGION_ID}/Options", {"Name": "West"})).status_code == 200
    full = await api.put(f"/TrackingCategories/{REGION_ID}/Options", {"Name": "Centre"})
    assert full.status_code == 400 and "at most 4 options" in message(full)


async def test_renamed_category_shows_on_contacts(api: Any) -> None:
    await api.post(f"/TrackingCategories/{REGION_ID}", {"Name": "Territory"})
    contact = (await api.get("/Contacts/CUST-001")).json()["Contacts"][0]
    assert contact["SalesTrackingCategories"] == [{"TrackingCategoryName": "Territory", "TrackingOptionName": "North"}]


async def test_unknown_ids_are_plain_404(api: Any) -> None:
    missing = "0b1e2d3c-0000-4000-8000-000000000006"
    for response in (
        await api.get(f"/TrackingCategories/{missing}"),
        await api.post(f"/TrackingCategories/{missing}", {"Name": "X"}),
        await api.post(f"/TrackingCategories/{REGION_ID}/Options/{missing}", {"Name": "X"}),
        await api.put(f"/TrackingCategories/{missing}/Options", {"Name": "X"}),
    ):
        assert response.status_code == 404
        assert response.text == "The resource you're looking for cannot be found"
