"""Load through TLS: N keep-alive connections (httpx, SNI from the URL's host) for T seconds against
each front, GET /slicer/system/version with a valid token; the app's RSS before and after; 0 errors.

The connections come from several loopback addresses (as many workstations would): the shipped nginx
config allows 100 connections and 200 r/s per address (`limit_conn`, `limit_req`), so one address
would be answered 429 by design. The load runs against stacks of its own with the request rate
raised (the shipped limits are covered by tests/proxy/test_rate_limit.py); the connection limit
stays as shipped and the addresses keep each under it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .environment import Environment, audit_policy
from .report import Case, Report
from .servers import start_stack
from .wire import Target, rss_kib

AREA = "load"
PATH = "/slicer/system/version"
ADDRESSES = ("127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14")  # 50 connections each at 200


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies) or [float("nan")]
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _connection(target: Target, token: str, address: str, deadline: float, result: LoadResult) -> None:
    transport = httpx.AsyncHTTPTransport(local_address=address, verify=target.context(),
                                         limits=httpx.Limits(max_connections=1))
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=target.url, transport=transport, timeout=60) as client:
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                response = await client.get(PATH, headers=headers)
            except httpx.HTTPError as exc:
                result.errors.append(f"{type(exc).__name__}: {exc}"[:120])
                continue
            result.latencies.append(time.monotonic() - started)
            result.statuses[response.status_code] = result.statuses.get(response.status_code, 0) + 1


async def load(target: Target, token: str, connections: int, seconds: float) -> LoadResult:
    result = LoadResult()
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(_connection(target, token, ADDRESSES[i % len(ADDRESSES)], deadline, result)
                           for i in range(connections)))
    return result


def run(env: Environment, scratch: Path, report: Report, *, quick: bool) -> None:
    connections, seconds = (20, 5) if quick else (200, 60)
    scratch.mkdir(parents=True, exist_ok=True)
    report.note(AREA, f"{connections} keep-alive connections from {len(ADDRESSES)} addresses, {seconds} s, "
                      f"GET {PATH} with a valid token (httpx, TLS with SNI); own stacks, api_rate 100000r/s")
    token = env.token("slicer.read")
    for proxy in env.stacks:
        stack = start_stack(proxy, scratch / proxy, audit_policy(env.issuer), api_rate="100000r/s")
        try:
            target = Target(proxy, stack.url, "127.0.0.1", stack.https_port, stack.server_name,
                            ca_file=stack.certs.ca_cert, pid=stack.processes["app"].pid)
            assert target.pid is not None
            before = rss_kib(target.pid)
            result = asyncio.run(load(target, token, connections, seconds))
            after = rss_kib(target.pid)
        finally:
            stack.stop()
        requests = len(result.latencies)
        failed = sum(n for status, n in result.statuses.items() if status != 200) + len(result.errors)
        report.add(Case(AREA, f"{proxy}: {connections} connections for {seconds} s (TLS, SNI)",
                        "0 errors, every answer 200; app RSS settles",
                        f"{requests} requests, {requests / seconds:.0f} req/s, p50 {1000 * result.percentile(0.5):.0f} "
                        f"ms, p99 {1000 * result.percentile(0.99):.0f} ms, statuses {result.statuses}, "
                        f"{len(result.errors)} errors{': ' + result.errors[0] if result.errors else ''}; "
                        f"app RSS {before // 1024} -> {after // 1024} MiB", requests,
                        passed=requests > 0 and failed == 0))
