"""Secret hygiene end to end: recognisable fake secrets never reach stderr or any tool result, even
when the upstream API echoes the Authorization header back in its error bodies."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

ACCESS_TOKEN = "FAKE-ACCESS-TOKEN-9f8e7d6c5b4a"
CLIENT_SECRET = "FAKE-CLIENT-SECRET-1a2b3c4d"
HTTP_TOKEN = "FAKE-HTTP-TOKEN-5e6f7a8b"
SECRETS = (ACCESS_TOKEN, CLIENT_SECRET, HTTP_TOKEN)
CONTACT = "4d5e6f70-1a2b-4c3d-8e9f-0a1b2c3d4e5f"


class EchoingXero(BaseHTTPRequestHandler):
    """The worst upstream: every error quotes the credentials it was sent."""

    def _answer(self) -> None:
        auth = self.headers.get("Authorization", "")
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        replies = {
            "/api.xro/2.0/Contacts": (400, {"Type": "ValidationException", "Message": f"bad {auth}",
                                            "Elements": [{"ValidationErrors": [{"Message": f"token {auth}"}]}]}),
            "/api.xro/2.0/ContactGroups": (401, {"Title": "Unauthorized", "Detail": f"TokenExpired: {auth}"}),
            "/api.xro/2.0/TrackingCategories": (500, f"<html>Server error for {auth}</html>"),
            f"/api.xro/2.0/Contacts/{CONTACT}": (404, f"Not found for {auth}"),
        }
        status, body = replies.get(self.path.split("?")[0], (503, f"Offline {auth}"))
        data = json.dumps(body).encode() if isinstance(body, dict) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if isinstance(body, dict) else "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echoing_xero() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingXero)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api.xro/2.0"
    server.shutdown()


async def test_no_secret_in_stderr_or_results(echoing_xero: str, tmp_path: Path) -> None:
    stderr_path = tmp_path / "stderr.log"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "XERO_MCP_LOG_LEVEL": "DEBUG",
           "XERO_ACCESS_TOKEN": ACCESS_TOKEN, "XERO_CLIENT_ID": "client-id", "XERO_CLIENT_SECRET": CLIENT_SECRET,
           "XERO_MCP_HTTP_TOKEN": HTTP_TOKEN, "XERO_API_URL": echoing_xero,
           "XERO_TENANT_ID": "8d1bb3a3-3c1a-4b44-9c1e-0e6f0a7e2c11",
           "XERO_MCP_RETRY_ATTEMPTS": "2", "XERO_MCP_RETRY_MAX_WAIT": "0.01"}
    params = StdioServerParameters(command=sys.executable, args=["-m", "xero_contacts_mcp", "--debug"], env=env)
    texts: list[str] = []
    calls = [
        ("xero_contacts_create_contacts", {"Contacts": [{"Name": "A"}]}),
        ("xero_contacts_get_contacts", {}),
        ("xero_contacts_get_contact_groups", {}),
        ("xero_contacts_get_tracking_categories", {}),
        ("xero_contacts_get_contact", {"ContactID": CONTACT}),
        ("xero_contacts_get_contact_by_contact_number", {"ContactNumber": "X"}),  # 503, retried
        ("xero_contacts_get_contact", {"ContactID": ACCESS_TOKEN}),  # the model itself misuses a secret
    ]
    with stderr_path.open("w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            for name, args in calls:
                result = await session.call_tool(name, args)
                assert result.is_error
                texts.append(json.dumps(result.model_dump(mode="json")))
    stderr = stderr_path.read_text()
    assert "GET /Contacts" in stderr or "PUT /Contacts" in stderr  # the debug log really ran
    assert "[redacted]" in "".join(texts)  # the echoed header was there, and was scrubbed
    for secret in SECRETS:
        assert secret not in stderr
        for text in texts:
            assert secret not in text
