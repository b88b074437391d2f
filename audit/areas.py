"""The audit's areas, in the order `make audit` runs them. Areas marked `needs_stack` share one
environment (issuer + app + nginx + Caddy), started once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path

from . import attacks, faults, fuzz_run, load, openapi_fuzz, slowclients, tlsscan
from .environment import Environment, environment
from .report import Case, Report

REPORTS = Path(__file__).resolve().parents[1] / "reports"
Runner = Callable[[Environment | None, Path, Report, bool], None]


def _attacks(env: Environment | None, scratch: Path, report: Report, quick: bool) -> None:
    assert env is not None
    for line in env.missing:
        report.note(attacks.AREA, line)
    attacks.run(env, report, quick=quick)


def _fuzzing(env: Environment | None, scratch: Path, report: Report, quick: bool) -> None:
    fuzz_run.run(scratch, report, quick=quick)


def _openapi(env: Environment | None, scratch: Path, report: Report, quick: bool) -> None:
    examples, phases = (3, "fuzzing,stateful") if quick else (25, "examples,coverage,fuzzing,stateful")
    result = openapi_fuzz.run(scratch, max_examples=examples, phases=phases, seed=None if not quick else 1)
    if not result.ok:  # keep the evidence: the scratch directory goes away
        REPORTS.mkdir(exist_ok=True)
        (REPORTS / "schemathesis-failed.txt").write_text(result.output + "\n--- server log ---\n" + result.server_log)
        report.note("openapi", "schemathesis output and the server log: reports/schemathesis-failed.txt")
    report.note("openapi", f"schemathesis {phases}, {examples} examples per operation; checks {openapi_fuzz.CHECKS}")
    report.add(Case("openapi", "schemathesis against /slicer/openapi.json", "0 server errors, 0 schema violations",
                    f"{result.operations} operations, {result.test_cases} test cases, {len(result.failures)} failures "
                    f"(exit {result.exit_code})" + (f": {result.failures[0][:200]}" if result.failures else ""),
                    result.test_cases, passed=result.ok))


def _slow_clients(env: Environment | None, scratch: Path, report: Report, quick: bool) -> None:
    assert env is not None
    count, seconds = (30, 12) if quick else (300, 45)
    for name, stack in env.stacks.items():
        target = slowclients.Target("127.0.0.1", stack.https_port, stack.server_name, stack.certs.ca_cert,
                                    env.token("slicer.read slicer.write"))
        result = asyncio.run(slowclients.attack(target, slow_header=count, slow_body=count, seconds=seconds))
        figures = result.summary()
        report.add(Case("slow clients", f"{name}: {figures['attackers']} for {seconds} s (TLS with SNI)",
                        "normal client: every request 200; slow-header connections closed by the header timeout",
                        ", ".join(f"{k} {v}" for k, v in figures.items() if k != "attackers"),
                        result.normal_ok + len(result.normal_errors),
                        passed=not result.normal_errors and result.normal_ok > 0
                        and len(result.closed_after["header"]) == result.opened["header"] == count))


def _faults(env: Environment | None, scratch: Path, report: Report, quick: bool) -> None:
    faults.run(scratch, report, quick=quick)


def _load(env: Environment | None, scratch: Path, report: Report, quick: bool) -> None:
    assert env is not None
    load.run(env, scratch, report, quick=quick)


def _tls(env: Environment | None, scratch: Path, report: Report, quick: bool) -> None:
    assert env is not None
    tlsscan.run(env, scratch, report, quick=quick)


# name -> (runner, needs the shared environment)
AREAS: dict[str, tuple[Runner, bool]] = {
    "attacks": (_attacks, True),
    "fuzzing": (_fuzzing, False),
    "openapi": (_openapi, False),
    "slow-clients": (_slow_clients, True),
    "faults": (_faults, False),
    "load": (_load, True),
    "tls": (_tls, True),
}


def run(names: list[str], scratch: Path, report: Report, *, quick: bool) -> None:
    """Run the named areas in table order, printing progress; one environment for those that need it."""
    with contextlib.ExitStack() as stack:
        env: Environment | None = None
        for name, (runner, needs_stack) in AREAS.items():
            if name not in names:
                continue
            if needs_stack and env is None:
                print("== starting issuer, app, nginx and Caddy", flush=True)
                env = stack.enter_context(environment(scratch / "stack"))
            started = time.monotonic()
            print(f"== {name}", flush=True)
            runner(env, scratch / name, report, quick)
            print(f"== {name}: {time.monotonic() - started:.0f} s", flush=True)
