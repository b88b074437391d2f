"""schemathesis against a live app: the OpenAPI document at /slicer/openapi.json drives stateless
(examples, coverage, fuzzing) and stateful phases; checks: no 5xx, status codes, content types,
response schemas and headers as documented.

The app runs loopback-only without auth (the document's subject is the API, the auth edge has its
own corpus), with downloads confined to a closed port, file access confined to a scratch directory,
and exec unable to be switched on: the fuzzer may call any operation except shutdown.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .servers import start_app

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
          "response_headers_conformance")
EXCLUDED_PATHS = ("/slicer/system",)  # DELETE = shutdown: it would end the run, not test it


def fuzz_policy(scratch: Path) -> str:
    return f"""
[server]
file_roots = ["{scratch}"]
url_load_prefixes = ["http://127.0.0.1:9/"]
[features]
exec_toggle = false
"""


@dataclass
class SchemathesisRun:
    exit_code: int
    operations: int
    test_cases: int
    failures: list[str]
    output: str
    server_log: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.failures


def run(directory: Path, *, max_examples: int, phases: str = "examples,coverage,fuzzing,stateful",
        seed: int | None = 1, max_time: int | None = None) -> SchemathesisRun:
    """Start the app, run schemathesis' CLI against it, stop the app; the parsed outcome."""
    directory = directory.resolve()
    scratch = directory / "files"
    scratch.mkdir(parents=True, exist_ok=True)
    app = start_app(directory, fuzz_policy(scratch))
    report = directory / "schemathesis.json"
    command = [sys.executable, "-m", "schemathesis.cli", "run", f"{app.url}/slicer/openapi.json",
               "--checks", CHECKS, "--max-examples", str(max_examples), "--phases", phases,
               "--workers", "1", "--request-timeout", "30", "--no-color", "--continue-on-failure",
               "--report", "json", "--report-json-path", str(report)]
    if seed is not None:
        command += ["--seed", str(seed), "--generation-deterministic"]
    else:
        command += ["--generation-database", "none"]
    if max_time is not None:
        command += ["--max-time", str(max_time)]
    for path in EXCLUDED_PATHS:
        command += ["--exclude-path", path]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600, cwd=directory)
    finally:
        app.stop()
    output = done.stdout + done.stderr
    return SchemathesisRun(done.returncode, *_counts(report, output), output=output, server_log=app.log())


def _counts(report: Path, output: str) -> tuple[int, int, list[str]]:
    """(operations, test cases, failure lines) from the JSON report, or from the text summary."""
    failures = [line.strip() for line in output.splitlines() if line.strip().startswith(("- ", "_ "))
                and ("Server error" in line or "conformance" in line.lower() or "violation" in line.lower())]
    if report.exists():
        data = json.loads(report.read_text())
        failures = [json.dumps(f)[:400] for f in data.get("failures", []) + data.get("errors", [])] + failures
        return int(data["operations"]["tested"]), int(data["test_cases"]["generated"]), failures
    return 0, 0, failures


def available() -> bool:
    return importlib.util.find_spec("schemathesis") is not None
