"""deploy/systemd: the unit is valid for systemd and sandboxed (systemd's own exposure rating)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

UNIT = REPO / "deploy" / "systemd" / "slicerweb.service"
pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")


def installed_copy(tmp_path: Path) -> Path:
    # systemd-analyze checks that ExecStart exists: point it at this venv's slicerweb.
    binary = Path(sys.executable).with_name("slicerweb")
    unit = tmp_path / "slicerweb.service"
    unit.write_text(UNIT.read_text().replace("/opt/slicerweb/.venv/bin/slicerweb", str(binary)))
    return unit


def test_unit_verifies(tmp_path: Path) -> None:
    result = subprocess.run(["systemd-analyze", "verify", str(installed_copy(tmp_path))], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "slicerweb.service" not in result.stderr, result.stderr


def test_unit_is_sandboxed(tmp_path: Path) -> None:
    text = UNIT.read_text()
    for directive in ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                      "User=slicerweb", "CapabilityBoundingSet=\n"):
        assert directive in text, directive
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", str(installed_copy(tmp_path))],
                            capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for slicerweb.service: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.0, result.stdout  # systemd rates <= 2 as "OK"
