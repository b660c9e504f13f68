"""Redaction matches credentials by their shape (an Authorization header value, JWTs, long opaque tokens,
a credential's own field, the configured secrets), not the words "Basic" and "Bearer" in prose: contact
names such as "Basic Supplies Ltd" reach the model and the log unchanged."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from xero_contacts_mcp import logs
from xero_contacts_mcp.logs import RedactingFilter
from xero_contacts_mcp.runtime import open_runtime

JWT = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpM"
HEX = "f3a9" * 16  # a 64-hex-digit opaque refresh token
BASIC = "YXBwLWlkOndlYi1zZWNyZXQtMTIzNDU2Nzg5MA=="  # base64 of "app-id:web-secret-1234567890"

CREDENTIALS = [
    (f"Authorization: Bearer {JWT}", "Authorization: Bearer [redacted]"),
    ("authorization: Bearer short.one", "authorization: Bearer [redacted]"),
    (f"{{'Authorization': 'Basic {BASIC}', 'Accept': 'application/json'}}",
     "{'Authorization': 'Basic [redacted]', 'Accept': 'application/json'}"),
    ("Authorization=opaque-value-without-a-scheme", "Authorization=[redacted]"),
    (f"retrying with Bearer {HEX}", "retrying with Bearer [redacted]"),
    (f"sent Basic {BASIC} to the token endpoint", "sent Basic [redacted] to the token endpoint"),
    (f"the token {JWT} expired", "the token [redacted] expired"),
    (f"refresh {HEX} rotated", "refresh [redacted] rotated"),
    ("opaque aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9fG1 here", "opaque [redacted] here"),
    ("grant_type=refresh_token&refresh_token=r-123&client_id=x", "grant_type=refresh_token&refresh_token=[redacted]&client_id=x"),
    ('{"access_token": "abc", "expires_in": 1800}', '{"access_token": "[redacted]", "expires_in": 1800}'),
    ("client_secret='s3cr3t'", "client_secret='[redacted]'"),
    ("redis://:hunter2@cache:6379/0", "redis://:[redacted]@cache:6379/0"),
    ("the configured one: my-http-token-42", "the configured one: [redacted]"),
]

PROSE = [
    "Basic Supplies Ltd",
    "Bearer Bonds Incorporated",
    "The contact name Basic Supplies Ltd is already assigned to another contact.",
    "bearer of good news; basic plan",
    "Basic 1234 Trading",  # a scheme word followed by something short is not a credential
    "Bearer Street Partners 2024",
    "ContactID 8d1bb3a3-3c1a-4b44-9c1e-0e6f0a7e2c11, Idempotency-Key \"3d5905be-66b5-5d70-8f3c-85a17c60d14d\"",
    "Phone 0064 21 555 0199, ContactNumber CUST-000123456789",
    "Authorization needed for the Basic Supplies account",
]


@pytest.mark.parametrize(("text", "expected"), CREDENTIALS)
def test_credentials_are_redacted_by_shape(text: str, expected: str) -> None:
    assert RedactingFilter(["my-http-token-42"]).redact(text) == expected


@pytest.mark.parametrize("text", PROSE)
def test_prose_passes_through_unchanged(text: str) -> None:
    assert RedactingFilter(["my-http-token-42"]).redact(text) == text


async def test_a_contact_called_basic_supplies_reaches_the_model_unchanged(settings_factory: Any) -> None:
    """A duplicate name is refused by (the sandbox's) Xero quoting the name: the model reads it as it is."""
    settings = settings_factory(xero_mcp_sandbox=True, xero_access_token=None, xero_tenant_id=None)
    async with open_runtime(settings) as rt:
        for name in ("Basic Supplies Ltd", "Bearer Bonds Incorporated"):
            created = await rt.runner.run("xero_contacts_create_contacts", {"Contacts": [{"Name": name}]})
            assert not created.is_error, created.text
            again = await rt.runner.run("xero_contacts_create_contacts", {"Contacts": [{"Name": name}]})
            assert again.is_error and f"The contact name {name} is already assigned" in again.text, again.text
            assert "[redacted]" not in again.text


def test_the_log_keeps_names_and_drops_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup("INFO", ["my-http-token-42"])
    log = logging.getLogger("xero_contacts_mcp.test_redaction")
    log.warning("created %s; sent %s", "Basic Supplies Ltd", f"Authorization: Bearer {JWT}")
    err = capsys.readouterr().err
    assert "created Basic Supplies Ltd; sent Authorization: Bearer [redacted]" in err and JWT not in err
