"""Load through TLS: wrk (SNI from the URL's host) with N connections for T seconds against each
front, GET /slicer/system/version with a valid token; the app's RSS before and after; 0 errors."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from .environment import Environment, audit_policy
from .report import Case, Report
from .servers import start_stack
from .wire import Target, rss_kib

AREA = "load"
# Tally the status codes across wrk's threads (printed by done()).
LUA = """wrk.headers["Authorization"] = "Bearer %s"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) counts = {} end
function response(status, headers, body) counts[status] = (counts[status] or 0) + 1 end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("counts")) do io.write(string.format("status %%d %%d\\n", status, n)) end
  end
end
"""


def run(env: Environment, scratch: Path, report: Report, *, quick: bool) -> None:
    connections, seconds = (20, 5) if quick else (200, 60)
    if shutil.which("wrk") is None:
        report.note(AREA, "not run: wrk is not installed (deploy/install-system-deps installs it)")
        return
    scratch.mkdir(parents=True, exist_ok=True)
    script = scratch / "auth.lua"
    script.write_text(LUA % env.token("slicer.read"))
    # wrk is one address: nginx's per-address limit (API_RATE, 200 r/s) would answer 429 to nearly all of
    # it by design, so the load runs against stacks of its own with that limit raised (the shipped limit
    # is covered by tests/proxy/test_rate_limit.py).
    report.note(AREA, f"{connections} connections, {seconds} s, wrk -t2, GET /slicer/system/version with a valid "
                      "token; own stacks with api_rate 100000r/s")
    for proxy in env.stacks:
        stack = start_stack(proxy, scratch / proxy, audit_policy(env.issuer), api_rate="100000r/s")
        try:
            target = Target(proxy, stack.url, "127.0.0.1", stack.https_port, stack.server_name,
                            ca_file=stack.certs.ca_cert, pid=stack.processes["app"].pid)
            _load(target, script, connections, seconds, report)
        finally:
            stack.stop()


def _load(target: Target, script: Path, connections: int, seconds: int, report: Report) -> None:
    assert target.pid is not None
    before = rss_kib(target.pid)
    # wrk takes the SNI name from the URL; the CA is not checked by wrk (it measures, the corpus verifies).
    done = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency",
                           "-s", str(script), f"{target.url}/slicer/system/version"],
                          capture_output=True, text=True, timeout=seconds + 120)
    after = rss_kib(target.pid)
    figures = _parse(done.stdout)
    errors = figures["non2xx"] + figures["socket_errors"]
    statuses: dict[str, int] = {}
    for status, count in re.findall(r"^status (\d+) (\d+)$", done.stdout, re.M):
        statuses[status] = statuses.get(status, 0) + int(count)
    report.add(Case(AREA, f"{target.name}: {connections} connections for {seconds} s (TLS, SNI)",
                    "0 errors, 0 non-2xx; RSS settles",
                    f"{figures['requests']} requests, {figures['rps']:.0f} req/s, p50 {figures['p50']}, "
                    f"p99 {figures['p99']}, {errors} errors, statuses {statuses}; "
                    f"app RSS {before // 1024} -> {after // 1024} MiB",
                    figures["requests"], passed=done.returncode == 0 and errors == 0 and figures["requests"] > 0))


def _parse(output: str) -> dict[str, float | int | str]:
    def number(pattern: str) -> int:
        match = re.search(pattern, output)
        return int(match.group(1)) if match else 0

    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    return {"requests": number(r"(\d+) requests in"), "non2xx": number(r"Non-2xx or 3xx responses: (\d+)"),
            "socket_errors": sum(int(g) for g in errors.groups()) if errors else 0,
            "rps": float(rps.group(1)) if rps else 0.0, "p50": p50.group(1) if p50 else "?",
            "p99": p99.group(1) if p99 else "?"}
