"""Hostile input: arguments generated from every tool's published schema, valid and invalid.

For each tool, hypothesis draws ≥ 200 argument sets from the advertised inputSchema (plus mutated
invalid ones). Nothing may crash; an invalid set must be an isError naming the parameter with
nothing sent; every request that does go out must validate against Xero's OpenAPI spec. An
injection corpus aimed at path values, tenant ids and idempotency keys must be refused before
any request is made.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from conftest import TENANT
from xero_contacts_mcp.runtime import open_runtime
from xero_contacts_mcp.tools.catalogue import load_catalogue
from xero_contacts_mcp.tools.schema import input_schema

CATALOGUE = load_catalogue()
NAMES = [t.name for t in CATALOGUE.tools]
EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "200"))
FOLLOW_ID = "6b1f3c2a-9d4e-4f5a-8b7c-1d2e3f4a5b6c"


class Harness:
    """One runtime on one event loop, its transport recording every request that leaves."""

    def __init__(self, settings_factory: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.sent: list[httpx2.Request] = []
        self._context = open_runtime(settings_factory(), transport=httpx2.MockTransport(self._reply))
        self.runtime = self.loop.run_until_complete(self._context.__aenter__())

    def _reply(self, request: httpx2.Request) -> httpx2.Response:
        self.sent.append(request)
        # the IDs a write's follow-up calls need from Xero's answer (e.g. Options on a new category)
        return httpx2.Response(200, json={"TrackingCategories": [{"TrackingCategoryID": FOLLOW_ID}],
                                          "Options": [{"TrackingOptionID": FOLLOW_ID}]})

    def run(self, name: str, args: Any) -> Any:
        self.sent.clear()
        return self.loop.run_until_complete(self.runtime.runner.run(name, args))

    def close(self) -> None:
        self.loop.run_until_complete(self._context.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    from xero_contacts_mcp.settings import Settings

    def make() -> Settings:
        return Settings(_env_file=None, xero_access_token="t", xero_tenant_id=TENANT,  # type: ignore[call-arg]
                        xero_mcp_retry_attempts=1, xero_mcp_tenant_per_minute=10**9,
                        xero_mcp_app_per_minute=10**9)

    h = Harness(lambda: make())
    yield h
    h.close()


def _validate(spec: Any, request: httpx2.Request) -> None:
    from openapi_core.testing import MockRequest

    url = urlsplit(str(request.url))
    spec.validate_request(MockRequest(
        "https://api.xero.com", request.method.lower(), url.path, args=dict(parse_qsl(url.query)),
        headers=dict(request.headers.items()), data=request.content.decode() or None,
        content_type="application/json"))


def _names_a_parameter(text: str, tool: str) -> bool:
    return any(f"- {p.name}" in text for p in CATALOGUE.by_name[tool].params) or "- (arguments)" in text


SLOW = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])


@pytest.mark.parametrize("name", NAMES)
def test_schema_valid_arguments_never_crash_and_requests_match_xeros_spec(
        name: str, harness: Harness, openapi_spec: Any) -> None:
    schema = input_schema(CATALOGUE.by_name[name], CATALOGUE)

    @SLOW
    @given(args=from_schema(schema))
    def check(args: dict[str, Any]) -> None:
        result = harness.run(name, args)
        if harness.sent:  # the call, then any follow-ups carrying out what Xero ignores on it: each per spec
            for request in harness.sent:
                _validate(openapi_spec, request)
            assert not result.is_error, result.text
        else:  # the published schema is looser than the model in places (e.g. limits ≥ 255, currency codes)
            assert result.is_error and "nothing was sent" in result.text, result.text
            assert _names_a_parameter(result.text, name), result.text
        assert "Traceback" not in result.text

    check()


WRONG: dict[str, Any] = {"string": 12345, "integer": "12", "boolean": "true", "array": "x", "object": [1]}


@pytest.mark.parametrize("name", NAMES)
def test_invalid_arguments_are_refused_naming_the_parameter(name: str, harness: Harness) -> None:
    tool = CATALOGUE.by_name[name]
    schema = input_schema(tool, CATALOGUE)

    @SLOW
    @given(args=from_schema(schema), data=st.data())
    def check(args: dict[str, Any], data: st.DataObject) -> None:
        bad = dict(args)
        mutation = data.draw(st.sampled_from(["unknown", "type", "missing"]))
        if mutation == "unknown":
            culprit = data.draw(st.text(min_size=1, max_size=20).filter(lambda k: k not in tool.by_name))
            bad[culprit] = data.draw(st.one_of(st.integers(), st.text(max_size=5), st.none()))
        elif mutation == "type":
            culprit = data.draw(st.sampled_from([p.name for p in tool.params]))
            kind = schema["properties"][culprit]["type"]
            bad[culprit] = WRONG[kind]
        else:
            required = schema.get("required", [])
            if not required:
                return
            culprit = data.draw(st.sampled_from(required))
            bad.pop(culprit, None)
        result = harness.run(name, bad)
        assert result.is_error, (bad, result.text)
        assert not harness.sent
        assert culprit in result.text, result.text

    check()


INJECTIONS = ["../", "..", "../Invoices", "%2F", "a%2Fb", "%00", "a\x00b", "a\r\nX-Injected: 1", "a\nb",
              "x" * 5000, "２９７ｃ２ｄｃ５", "297c2dc5\u200b-cc47-4afd-8ec8-74990b8761e9",
              "297с2dc5-cc47-4afd-8ec8-74990b8761e9",  # Cyrillic с
              "{297c2dc5-cc47-4afd-8ec8-74990b8761e9}", "urn:uuid:297c2dc5-cc47-4afd-8ec8-74990b8761e9"]
UUID_PATH = [(t.name, p.name) for t in CATALOGUE.tools for p in t.located("path") if p.format == "uuid"]
REQUIRED_FILL = {"ContactID": "4d5e6f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
                 "ContactGroupID": "97a3c2d1-5b6e-4f70-8a9b-1c2d3e4f5a6b",
                 "TrackingCategoryID": "297c2dc5-cc47-4afd-8ec8-74990b8761e9",
                 "TrackingOptionID": "dc54c220-0140-495a-b925-3246adc0075f"}


def _valid(tool: str) -> dict[str, Any]:
    return {p.name: REQUIRED_FILL[p.name] for p in CATALOGUE.by_name[tool].located("path") if p.format == "uuid"}


@pytest.mark.parametrize("value", INJECTIONS)
@pytest.mark.parametrize(("tool", "param"), UUID_PATH)
def test_injection_into_id_paths_is_refused(harness: Harness, tool: str, param: str, value: str) -> None:
    result = harness.run(tool, {**_valid(tool), param: value})
    assert result.is_error and not harness.sent and param in result.text


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_into_tenant_and_idempotency_key_is_refused(harness: Harness, value: str) -> None:
    result = harness.run("xero_contacts_get_contacts", {"xero-tenant-id": value})
    assert result.is_error and not harness.sent and "xero-tenant-id" in result.text
    if value.isascii() and value.isprintable() and len(value) <= 128:
        return  # printable ASCII of allowed length: a valid (if odd) idempotency key, sent verbatim
    result = harness.run("xero_contacts_create_contact_group",
                         {"ContactGroups": [{"Name": "G"}], "Idempotency-Key": value})
    assert result.is_error and not harness.sent and "Idempotency-Key" in result.text


@pytest.mark.parametrize("value", INJECTIONS)
def test_contact_number_cannot_escape_its_segment(harness: Harness, value: str) -> None:
    result = harness.run("xero_contacts_get_contact_by_contact_number", {"ContactNumber": value})
    if not harness.sent:
        assert result.is_error and "ContactNumber" in result.text
        return
    raw = harness.sent[0].url.raw_path.decode()
    prefix = "/api.xro/2.0/Contacts/"
    assert raw.startswith(prefix) and "/" not in raw[len(prefix):] and raw[len(prefix):] not in (".", "..")
    assert all(ch not in raw for ch in "\r\n\x00 ")


def test_odd_but_printable_idempotency_keys_are_sent_verbatim(harness: Harness) -> None:
    harness.run("xero_contacts_create_contact_group", {"ContactGroups": [{"Name": "G"}], "Idempotency-Key": "../%2F"})
    assert harness.sent[0].headers["Idempotency-Key"] == "../%2F"
    body = json.loads(harness.sent[0].content)
    assert body == {"ContactGroups": [{"Name": "G"}]}
