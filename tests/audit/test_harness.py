"""`python -m audit --quick` (the harness behind `make audit`) on the areas the rest of the suite does
not already run (attacks through the app, nginx and Caddy; faults): it exits 0, prints progress, and
writes reports/audit.md with a summary row and a table per area and no failure outside KNOWN_OPEN.
Fuzzing, OpenAPI and slow clients have their own short tests; load and the TLS scan run in `make audit`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO, subprocess_env

pytestmark = [pytest.mark.proxy, pytest.mark.audit]


def test_quick_audit_writes_a_report_with_no_failure_outside_known_open(tmp_path: Path) -> None:
    out = tmp_path / "audit.md"
    env = subprocess_env()
    env["PYTHONPATH"] = f"{REPO}:{env['PYTHONPATH']}"
    done = subprocess.run([sys.executable, "-m", "audit", "--quick", "--only", "attacks", "faults", "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "== attacks" in done.stdout and "== faults" in done.stdout
    text = out.read_text()
    assert text.startswith("# SlicerWeb audit (quick)")
    assert "| area | cases | pass | open (known) | FAIL | skipped |" in text
    assert "**0 failure(s) outside KNOWN_OPEN.**" in text
    for area, least in (("attacks", 30), ("faults", 4)):
        row = next(line for line in text.splitlines() if line.startswith(f"| {area} |"))
        cases, _, _, failed = (int(cell) for cell in row.strip("|").split("|")[1:5])
        assert cases >= least and failed == 0, row
        assert f"## {area}" in text
    assert "| nginx: forged tokens (15 kinds) | 401 for every one | accepted: none" in text
    assert "| caddy: traversal probes (raw bytes, valid token) |" in text
