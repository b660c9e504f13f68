"""Client ID Metadata Documents: a `client_id` that is an https URL names a JSON document describing
the client, which we fetch ourselves — a request to a URL anyone can choose, so it is guarded.

- https only, default port or an explicit one, no credentials in the URL;
- the host is resolved once and EVERY address must be public (no private, loopback, link-local,
  multicast, reserved or unspecified address), then the connection goes to a checked address (TLS
  still verifies the name), so DNS cannot rebind between the check and the fetch;
- no redirects, a time limit and a size limit; the document must name itself as `client_id`;
- answers (and refusals) are cached for a while, so a hostile URL costs one fetch.

`allow_loopback` exists for tests only: it also allows plain http to a loopback address.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx2

log = logging.getLogger(__name__)


class MetadataDocumentError(Exception):
    """The URL or its document is not acceptable: a sentence for the error page (no secrets in it)."""


@dataclass
class MetadataFetcher:
    timeout: float = 5.0
    max_bytes: int = 10 * 1024
    cache_seconds: float = 300.0
    allow_loopback: bool = False
    _cache: dict[str, tuple[float, dict[str, Any] | str]] = field(default_factory=dict)

    @staticmethod
    def is_url(client_id: str) -> bool:
        return client_id.startswith(("https://", "http://"))

    async def fetch(self, url: str) -> dict[str, Any]:
        """The document at `url` (a dict whose client_id is `url`); MetadataDocumentError otherwise."""
        cached = self._cache.get(url)
        if cached is not None and cached[0] > time.monotonic():
            if isinstance(cached[1], str):
                raise MetadataDocumentError(cached[1])
            return dict(cached[1])
        try:
            with anyio.fail_after(self.timeout):  # the whole of it: name resolution, connection, transfer
                document = await self._fetch(url)
        except TimeoutError:
            self._remember(url, reason := f"the client metadata document did not arrive within {self.timeout:g} s")
            raise MetadataDocumentError(reason) from None
        except MetadataDocumentError as exc:
            self._remember(url, str(exc))
            raise
        self._remember(url, document)
        return dict(document)

    def _remember(self, url: str, value: dict[str, Any] | str) -> None:
        if len(self._cache) > 1000:
            now = time.monotonic()
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
        self._cache[url] = (time.monotonic() + self.cache_seconds, value)

    async def _fetch(self, url: str) -> dict[str, Any]:
        parts = urlsplit(url)
        host = parts.hostname
        if host is None or parts.username or parts.password or parts.fragment:
            raise MetadataDocumentError("the client_id URL must be https://host/path, without credentials "
                                        "or fragment")
        if parts.path in ("", "/"):
            raise MetadataDocumentError("the client_id URL must have a path")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise MetadataDocumentError("the client_id URL has an invalid port") from None
        address = await self._checked_address(host, port)
        if parts.scheme != "https" and not (self.allow_loopback and address.is_loopback):
            raise MetadataDocumentError("the client_id URL must use https")
        netloc = f"[{address}]" if address.version == 6 else str(address)
        target = urlunsplit((parts.scheme, f"{netloc}:{port}", parts.path, parts.query, ""))
        headers = {"Host": parts.netloc, "Accept": "application/json"}
        client = httpx2.AsyncClient(trust_env=False, follow_redirects=False, timeout=self.timeout)
        try:
            async with client, client.stream("GET", target, headers=headers,
                                             extensions={"sni_hostname": host}) as reply:
                if reply.status_code != 200:
                    raise MetadataDocumentError(f"the client metadata document answered HTTP "
                                                f"{reply.status_code} (redirects are not followed)")
                body = bytearray()
                async for chunk in reply.aiter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise MetadataDocumentError(f"the client metadata document is larger than "
                                                    f"{self.max_bytes} bytes")
        except httpx2.TimeoutException:
            raise TimeoutError from None
        except httpx2.HTTPError as exc:
            raise MetadataDocumentError(f"the client metadata document could not be fetched "
                                        f"({type(exc).__name__})") from None
        try:
            document = httpx2.Response(200, content=bytes(body)).json()
        except ValueError:
            raise MetadataDocumentError("the client metadata document is not JSON") from None
        if not isinstance(document, dict) or document.get("client_id") != url:
            raise MetadataDocumentError("the client metadata document must name its own URL as client_id")
        return document

    async def _checked_address(self, host: str, port: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        """Resolve `host` and return an address to connect to, refusing if ANY of its addresses is not public."""
        try:
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            raise MetadataDocumentError(f"the client_id URL's host {host!r} does not resolve") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        if not addresses:
            raise MetadataDocumentError(f"the client_id URL's host {host!r} does not resolve")
        for address in addresses:
            if not self._allowed(address):
                log.warning("refused a client metadata document URL whose host resolves to %s", address)
                raise MetadataDocumentError("the client_id URL points at a private, loopback or link-local "
                                            "address; metadata documents must be served from the public internet")
        return addresses[0]

    def _allowed(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address.is_loopback:
            return self.allow_loopback
        return address.is_global and not (address.is_multicast or address.is_reserved or address.is_link_local
                                           or address.is_private or address.is_unspecified)
