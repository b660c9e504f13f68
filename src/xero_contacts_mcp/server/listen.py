"""Bind the HTTP listening socket before anything else starts, so start-up can tell the truth.

uvicorn binds late, after our start-up has run and logged, and a failed bind ends in its own log
lines and exit status. Binding first, ourselves, lets a busy port be one sentence (exit 1) with
nothing claimed as serving, and lets "serving at" show the port really bound (`--port 0` included).
"""

from __future__ import annotations

import errno
import socket


class BindError(OSError):
    """The address could not be bound; the message is one sentence naming the address and the fix."""


def listen(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket on host:port (port 0: the system picks a free one)."""
    name = host.strip("[]")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise BindError(f"cannot serve on {host}: the host name does not resolve ({exc}); "
                        "use an IP address such as 127.0.0.1, or a name this machine resolves") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart may reuse a port in TIME_WAIT
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        where = f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise BindError(f"cannot serve on {where}: the port is already in use by another program; stop it, or "
                            "pick another port with --port (0 picks a free one)") from None
        if exc.errno == errno.EACCES:
            raise BindError(f"cannot serve on {where}: permission denied (ports below 1024 need privileges); "
                            "use a port of 1024 or more") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise BindError(f"cannot serve on {where}: {host} is not an address of this machine; "
                            "bind 127.0.0.1, or one of this machine's addresses") from None
        raise BindError(f"cannot serve on {where}: {exc.strerror or exc}") from None
    return sock


def bound_url(host: str, sock: socket.socket) -> str:
    """The URL clients use: the host as given (IPv6 in brackets) and the port actually bound."""
    port = int(sock.getsockname()[1])
    name = host.strip("[]")
    shown = f"[{name}]" if ":" in name else name
    return f"http://{shown}:{port}"
