"""Every failure reaches the model as an isError result that says what went wrong and what to do."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
import respx

from conftest import API, TENANT, TOKEN
from xero_contacts_mcp.runtime import open_runtime

CONTACT = "4d5e6f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
GROUP = "97a3c2d1-5b6e-4f70-8a9b-1c2d3e4f5a6b"

# Several tests mount a catch-all route precisely to prove it is never called.
pytestmark = pytest.mark.httpx2(assert_all_called=False)


def _clean(result: Any) -> None:
    assert result.is_error
    assert TOKEN not in result.text and "Bearer" not in result.text
    assert "Traceback" not in result.text


# ── arguments ──────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(("tool", "args", "expected"), [
    ("xero_contacts_get_contact", {}, "- ContactID: required"),
    ("xero_contacts_get_contact", {"ContactID": "not-a-uuid"}, "- ContactID: must be a UUID"),
    ("xero_contacts_get_contact", {"ContactID": CONTACT, "Extra": 1}, "- Extra: unknown argument"),
    ("xero_contacts_get_contacts", {"page": "2"}, "- page: must be a whole number (a JSON number, not a string)"),
    ("xero_contacts_get_contacts", {"page": 0}, "- page: must be 1 or more"),
    ("xero_contacts_get_contacts", {"includeArchived": "true"}, "- includeArchived: must be true or false"),
    ("xero_contacts_get_contacts", {"IDs": ["x"]}, "- IDs[0]: must be a UUID"),
    ("xero_contacts_get_contacts", {"If-Modified-Since": "yesterday"}, "- If-Modified-Since: must be an ISO 8601"),
    ("xero_contacts_create_contacts", {"Contacts": [{"EmailAddress": "a@b.c"}]}, "- Contacts[0].Name: required"),
    ("xero_contacts_create_contacts", {"Contacts": [{"Name": "x" * 256}]},
     "- Contacts[0].Name: at most 255 characters allowed"),
    ("xero_contacts_create_contacts", {"Contacts": [{"Name": "A", "Phones": [{"PhoneType": "PAGER"}]}]},
     "- Contacts[0].Phones[0].PhoneType: must be one of DEFAULT, DDI, MOBILE, FAX or OFFICE"),
    ("xero_contacts_create_contacts", {"Contacts": [{"Name": "A", "DefaultCurrency": "XYZ"}]},
     "- Contacts[0].DefaultCurrency: must be one of Xero's"),
    ("xero_contacts_create_contacts", {"Contacts": [{"Name": "A", "Nickname": "x"}]},
     "- Contacts[0].Nickname: unknown field"),
    ("xero_contacts_create_contacts", {}, "- Contacts: required"),
    ("xero_contacts_update_tracking_category", {"TrackingCategoryID": CONTACT}, "- Name or Status: give at least one"),
    ("xero_contacts_create_contacts", {"Contacts": [{"Name": "A"}], "Idempotency-Key": "k\r\nX-Evil: 1"},
     "- Idempotency-Key: must not contain line breaks"),
    ("xero_contacts_get_contact", {"ContactID": CONTACT, "xero-tenant-id": "../../x"},
     "- xero-tenant-id: must be a UUID"),
    ("xero_contacts_get_contact_by_contact_number", {"ContactNumber": ""},
     "- ContactNumber: must not be empty"),
    ("xero_contacts_update_contact", {"ContactID": CONTACT, "Contacts": [{"Name": "A"}, {"Name": "B"}]},
     "- Contacts: at most 1 item(s) allowed; 2 were sent"),
])
async def test_bad_arguments_name_the_parameter_and_send_nothing(
        runtime: Any, httpx2_mock: respx.Router, tool: str, args: dict[str, Any], expected: str) -> None:
    route = httpx2_mock.route().respond(200, json={})
    result = await runtime.runner.run(tool, args)
    _clean(result)
    assert expected in result.text, result.text
    assert "nothing was sent to Xero" in result.text
    assert route.call_count == 0


async def test_unknown_argument_lists_the_valid_ones(runtime: Any) -> None:
    result = await runtime.runner.run("xero_contacts_get_contact", {"ContactId": CONTACT})
    assert "Valid arguments: xero-tenant-id, ContactID." in result.text


async def test_read_only_fields_echoed_back_are_dropped_not_rejected(runtime: Any, httpx2_mock: respx.Router) -> None:
    route = httpx2_mock.post(f"{API}/Contacts/{CONTACT}").respond(200, json={"Contacts": []})
    fetched = {"ContactID": CONTACT, "Name": "Acme", "UpdatedDateUTC": "/Date(1551399321043+0000)/",
               "IsSupplier": True, "Balances": {"AccountsReceivable": {"Outstanding": 1.0}},
               "HasValidationErrors": False, "ContactGroups": [{"Name": "G"}],
               "Addresses": [{"AddressType": "STREET", "City": "Paris", "ValidationErrors": []}]}
    result = await runtime.runner.run("xero_contacts_update_contact",
                                      {"ContactID": CONTACT, "Contacts": [fetched]})
    assert not result.is_error, result.text
    import json

    sent = json.loads(route.calls.last.request.content)
    assert sent == {"Contacts": [{"ContactID": CONTACT, "Name": "Acme",
                                  "Addresses": [{"AddressType": "STREET", "City": "Paris"}]}]}


async def test_group_membership_ignores_other_contact_fields(runtime: Any, httpx2_mock: respx.Router) -> None:
    route = httpx2_mock.put(f"{API}/ContactGroups/{GROUP}/Contacts").respond(200, json={"Contacts": []})
    result = await runtime.runner.run("xero_contacts_create_contact_group_contacts", {
        "ContactGroupID": GROUP, "Contacts": [{"ContactID": CONTACT, "Name": "Acme", "EmailAddress": "a@b.c"}]})
    assert not result.is_error, result.text
    assert route.calls.last.request.content == f'{{"Contacts":[{{"ContactID":"{CONTACT}"}}]}}'.encode()


# ── Xero's answers ─────────────────────────────────────────────────────────────────

VALIDATION = {
    "ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
    "Elements": [
        {"Name": "Acme",
         "ValidationErrors": [{"Message": "The contact name Acme is already assigned to another contact."}],
         "Addresses": [{"AddressType": "POBOX", "ValidationErrors": [{"Message": "Country is too long"}]}]},
        {"Name": "Beta", "ValidationErrors": [{"Message": "Email address must be valid."}]},
    ],
}


@pytest.mark.parametrize(("status", "body", "headers", "expected"), [
    (400, VALIDATION, {}, [
        "400 ValidationException", 'Contacts[0] Name "Acme": The contact name Acme is already assigned',
        'Contacts[0] Name "Acme" Addresses[0]: Country is too long',
        'Contacts[1] Name "Beta": Email address must be valid.',
        "Fix these and call the tool again."]),
    (400, {"Message": "Idempotency key reuse with a different request"}, {},
     ["(400): Idempotency key reuse with a different request"]),
    (401, {"Type": None, "Title": "Unauthorized", "Status": 401, "Detail": "TokenExpired: token expired at 01/01/2026"},
     {}, ["expired", "XERO_ACCESS_TOKEN is never refreshed", "xero-contacts-mcp login"]),
    (401, {"Title": "Unauthorized", "Status": 401, "Detail": "AuthorizationUnsuccessful"}, {},
     ["lacks the scope", "accounting.contacts"]),
    (403, {"Title": "Forbidden", "Status": 403, "Detail": "AuthenticationUnsuccessful"}, {},
     [f"organisation {TENANT}", "403 AuthenticationUnsuccessful", "XERO_TENANT_ID"]),
    (404, "The resource you're looking for cannot be found", {},
     [f"ContactID {CONTACT}", "404", "Find valid IDs with xero_contacts_get_contacts"]),
    (429, "", {"X-Rate-Limit-Problem": "minute", "Retry-After": "17"}, ["rate limit", "minute", "after 17 seconds"]),
    (429, "", {"X-Rate-Limit-Problem": "day", "Retry-After": "67000"}, ["daily limit", "Do not retry now"]),
    (429, "", {"X-Rate-Limit-Problem": "concurrent"}, ["at once", "one call at a time"]),
    (503, "The Organisation is Offline", {}, ["unavailable (503: The Organisation is Offline)", "try again"]),
    (500, {"Title": "An error occurred", "Detail": "boom", "Status": 500}, {}, ["unavailable (500"]),
])
async def test_xero_errors_say_what_to_do(runtime: Any, httpx2_mock: respx.Router, status: int, body: Any,
                                          headers: dict[str, str], expected: list[str]) -> None:
    route = httpx2_mock.get(f"{API}/Contacts/{CONTACT}")
    if isinstance(body, dict):
        route.respond(status, json=body, headers=headers)
    else:
        route.respond(status, text=body, headers=headers)
    result = await runtime.runner.run("xero_contacts_get_contact", {"ContactID": CONTACT})
    _clean(result)
    for part in expected:
        assert part in result.text, result.text


async def test_cis_not_found_uses_the_tools_own_explanation(runtime: Any, httpx2_mock: respx.Router) -> None:
    httpx2_mock.get(f"{API}/Contacts/{CONTACT}/CISSettings").respond(404, text="Not found")
    result = await runtime.runner.run("xero_contacts_get_contact_cissettings", {"ContactID": CONTACT})
    assert result.is_error
    assert "never enabled as a CIS subcontractor" in result.text and CONTACT in result.text


async def test_scope_error_names_the_settings_scope_for_tracking(runtime: Any, httpx2_mock: respx.Router) -> None:
    httpx2_mock.get(f"{API}/TrackingCategories").respond(401, json={"Detail": "AuthorizationUnsuccessful"})
    result = await runtime.runner.run("xero_contacts_get_tracking_categories", {})
    assert "accounting.settings.read or accounting.settings" in result.text


async def test_write_server_error_tells_how_to_retry_safely(runtime: Any, httpx2_mock: respx.Router) -> None:
    route = httpx2_mock.put(f"{API}/Contacts").respond(503, text="The Organisation is Offline")
    result = await runtime.runner.run("xero_contacts_create_contacts", {"Contacts": [{"Name": "A"}]})
    key = route.calls.last.request.headers["Idempotency-Key"]
    assert result.is_error
    assert f'Idempotency-Key "{key}"' in result.text and "applied at most once" in result.text


async def test_dropped_connection_on_write_reports_its_idempotency_key(runtime: Any,
                                                                       httpx2_mock: respx.Router) -> None:
    route = httpx2_mock.post(f"{API}/Contacts").mock(
        side_effect=httpx2.RemoteProtocolError("Server disconnected without sending a response."))
    result = await runtime.runner.run("xero_contacts_update_or_create_contacts",
                                      {"Contacts": [{"Name": "A"}], "Idempotency-Key": "k-123"})
    _clean(result)
    assert "connection to Xero broke" in result.text
    assert 'Idempotency-Key "k-123"' in result.text
    assert "Tried 5 times" in result.text
    # retried (safe: it carries its key), and every attempt carried the same key
    assert [c.request.headers["Idempotency-Key"] for c in route.calls] == ["k-123"] * 5


async def test_unreachable_xero_on_write_is_known_not_applied(runtime: Any, httpx2_mock: respx.Router) -> None:
    httpx2_mock.put(f"{API}/Contacts").mock(side_effect=httpx2.ConnectError("refused"))
    result = await runtime.runner.run("xero_contacts_create_contacts", {"Contacts": [{"Name": "A"}]})
    _clean(result)
    assert "could not be reached" in result.text and "XERO_API_URL" in result.text
    assert "Idempotency-Key" not in result.text  # nothing was sent, so nothing to deduplicate


async def test_timeout_is_an_error_result(runtime: Any, httpx2_mock: respx.Router) -> None:
    httpx2_mock.get(f"{API}/Contacts").mock(side_effect=httpx2.ReadTimeout("slow"))
    result = await runtime.runner.run("xero_contacts_get_contacts", {})
    _clean(result)
    assert "No response from Xero within 30 s" in result.text


async def test_partial_failure_with_summarize_errors_false(runtime: Any, httpx2_mock: respx.Router) -> None:
    httpx2_mock.put(f"{API}/Contacts").respond(200, json={"Contacts": [
        {"ContactID": CONTACT, "Name": "Good", "StatusAttributeString": "OK", "HasValidationErrors": False},
        {"Name": "Acme", "StatusAttributeString": "ERROR", "HasValidationErrors": True,
         "ValidationErrors": [{"Message": "The contact name Acme is already assigned to another contact."}]},
    ]})
    result = await runtime.runner.run("xero_contacts_create_contacts",
                                      {"summarizeErrors": False, "Contacts": [{"Name": "Good"}, {"Name": "Acme"}]})
    assert result.is_error
    assert "Xero saved 1 of 2; 1 rejected, not saved." in result.text
    assert 'Contacts[1] Name "Acme": The contact name Acme is already assigned' in result.text
    assert result.data["Contacts"][0]["ContactID"] == CONTACT  # the saved one is not lost
    assert CONTACT in result.text


# ── configuration ──────────────────────────────────────────────────────────────────


async def test_no_credentials_explains_how_to_connect(settings_factory: Any, httpx2_mock: respx.Router) -> None:
    route = httpx2_mock.route().respond(200, json={})
    async with open_runtime(settings_factory(xero_access_token=None)) as rt:
        result = await rt.runner.run("xero_contacts_get_contacts", {})
    assert result.is_error
    assert "not configured" in result.text and "XERO_ACCESS_TOKEN" in result.text and "--sandbox" in result.text
    assert route.call_count == 0


async def test_no_tenant_explains_how_to_choose(settings_factory: Any, httpx2_mock: respx.Router) -> None:
    route = httpx2_mock.route().respond(200, json={})
    async with open_runtime(settings_factory(xero_tenant_id=None)) as rt:
        result = await rt.runner.run("xero_contacts_get_contacts", {})
    assert result.is_error and "xero-tenant-id" in result.text and "XERO_TENANT_ID" in result.text
    assert [str(c.request.url) for c in route.calls] == ["https://api.xero.com/connections"]  # asked, sent nothing


async def test_unknown_tool_is_not_a_result(runtime: Any) -> None:
    from xero_contacts_mcp.tools.runner import UnknownToolError

    with pytest.raises(UnknownToolError):
        await runtime.runner.run("xero_contacts_delete_contact", {})


async def test_a_failed_namesakes_read_leaves_the_write_a_success(runtime: Any, httpx2_mock: respx.Router) -> None:
    httpx2_mock.put(f"{API}/Contacts").respond(200, json={"Contacts": [{"ContactID": CONTACT, "Name": "A"}]})
    read = httpx2_mock.get(f"{API}/Contacts").respond(400, json={"Type": "QueryParseException", "Message": "no"})
    result = await runtime.runner.run("xero_contacts_create_contacts", {"Contacts": [{"Name": "A"}]})
    assert not result.is_error and read.call_count == 1 and "Note" not in result.text
    assert result.data["Contacts"][0]["ContactID"] == CONTACT
