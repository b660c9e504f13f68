"""Xero's response shapes: the OK envelope, the error bodies, and the plain-text 404.

Handlers build `Reply` values (or raise `XeroError`) and the ASGI layer sends them, so the
pipeline can cache a reply for idempotent replay or withhold it to simulate a dropped connection.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from xero_contacts_mcp.xerodates import to_ms_date

JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
NOT_FOUND_TEXT = "The resource you're looking for cannot be found"
ORG_OFFLINE_TEXT = "The Organisation is Offline"


@dataclass
class Reply:
    """A complete HTTP answer; `headers` are extra headers beyond content-type/length."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The decoded body (tests and the idempotency store use it)."""
        return json.loads(self.body)


class XeroError(Exception):
    """Raised by domain code to answer with `reply` instead of a success."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def dumps(payload: Any) -> bytes:
    """JSON as Xero writes it: compact, with the slashes of `/Date(...)/` escaped like .NET does."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return text.replace('"/Date(', '"\\/Date(').replace(')/"', ')\\/"').encode()


def json_reply(payload: Any, status: int = 200) -> Reply:
    return Reply(status, dumps(payload), JSON_TYPE)


def text_reply(status: int, text: str, content_type: str = TEXT_TYPE) -> Reply:
    return Reply(status, text.encode(), content_type)


def envelope(provider: str, now: datetime, **payload: Any) -> dict[str, Any]:
    """Wrap a collection the way every Accounting API success is wrapped."""
    return {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": provider, "DateTimeUTC": to_ms_date(now)} | (
        payload
    )


def not_found() -> Reply:
    """Xero's 404 is plain text, not JSON."""
    return text_reply(404, NOT_FOUND_TEXT)


def validation_error(elements: list[dict[str, Any]]) -> Reply:
    """400 ValidationException; each element echoes the object with its `ValidationErrors`."""
    return json_reply(
        {
            "ErrorNumber": 10,
            "Type": "ValidationException",
            "Message": "A validation exception occurred",
            "Elements": elements,
        },
        400,
    )


def invalid(element: dict[str, Any], *messages: str) -> XeroError:
    """A ValidationException about one echoed object."""
    echoed = dict(element) | {"ValidationErrors": [{"Message": m} for m in messages]}
    return XeroError(validation_error([echoed]))


def query_error(message: str) -> XeroError:
    """400 QueryParseException: a `where`, `order` or query parameter the API cannot use."""
    return XeroError(json_reply({"ErrorNumber": 16, "Type": "QueryParseException", "Message": message}, 400))


def post_data_invalid(message: str) -> XeroError:
    """400 PostDataInvalidException: a body that is not JSON or not shaped like the resource."""
    return XeroError(json_reply({"ErrorNumber": 14, "Type": "PostDataInvalidException", "Message": message}, 400))


def problem(status: int, title: str, detail: str) -> Reply:
    """The identity gateway's problem-details body used for 401/403/500."""
    return json_reply(
        {
            "Type": None,
            "Title": title,
            "Status": status,
            "Detail": detail,
            "Instance": str(uuid.uuid4()),
            "Extensions": {},
        },
        status,
    )


def unauthorized(detail: str) -> Reply:
    return problem(401, "Unauthorized", detail)


def forbidden() -> Reply:
    return problem(403, "Forbidden", "AuthenticationUnsuccessful")
