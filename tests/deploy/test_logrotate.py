"""deploy/logrotate/slicerweb: rotates by rename (never copytruncate), signals the service's main process
with SIGHUP, and, run by the real logrotate against a live server (paths and the signal command pointed
at this test's server), leaves complete old files while new lines go to new ones."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO, LiveServer
from tests.support import settled_audit

CONFIG = REPO / "deploy" / "logrotate" / "slicerweb"
POSTROTATE = "systemctl kill --kill-whom=main --signal=HUP slicerweb.service"


def directives(text: str) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


def test_config_renames_and_signals_never_truncates() -> None:
    lines = directives(CONFIG.read_text())
    assert "copytruncate" not in lines and "nocopytruncate" in lines and "nocreate" in lines
    assert lines[0].split() == ["/var/lib/slicerweb/audit.jsonl", "/var/lib/slicerweb/audit/*.jsonl",
                                "/var/log/slicerweb/access.jsonl", "{"]  # the per-host audit files (index.url)
    assert any(line.startswith(POSTROTATE) for line in lines)
    assert "delaycompress" in lines  # the console reads audit.jsonl.1 uncompressed
    assert "deploy/logrotate/slicerweb" in (REPO / "deploy" / "README.md").read_text()


@pytest.mark.skipif(shutil.which("logrotate", path="/usr/sbin:/usr/bin:/sbin:/bin") is None,
                    reason="logrotate not installed (deploy/install-system-deps)")
def test_logrotate_rotates_a_live_server(live_server: Callable[..., LiveServer], tmp_path: Path) -> None:
    access = tmp_path / "logs" / "access.jsonl"
    server = live_server(policy_toml=f'[logging]\naccess_log_path = "{access}"\n')
    audit = server.data_dir / "audit.jsonl"
    with server.client() as http:
        for _ in range(5):
            assert http.post("/slicer/exec", content="__execResult = {}").status_code == 403
    settled_audit(audit, until=lambda events: len(events) >= 5)
    other_host = tmp_path / "audit" / "host-b.jsonl"  # another host's file (index.url set): rotated the same way
    other_host.parent.mkdir()
    other_host.write_text('{"time":"2026-12-03T00:00:00.000+00:00","event":"exec.denied"}\n')
    text = CONFIG.read_text().replace("/var/lib/slicerweb/audit.jsonl", str(audit)).replace(
        "/var/lib/slicerweb/audit/*.jsonl", str(other_host.parent / "*.jsonl")).replace(
        "/var/log/slicerweb/access.jsonl", str(access)).replace(POSTROTATE, f"kill -HUP {server.process.pid}")
    config = tmp_path / "logrotate.conf"
    config.write_text(re.sub(r"^\s*su .*$", "", text, flags=re.MULTILINE))  # no service user here
    config.chmod(0o644)
    logrotate = shutil.which("logrotate", path="/usr/sbin:/usr/bin:/sbin:/bin")
    assert logrotate is not None
    result = subprocess.run([logrotate, "--force", "--state", str(tmp_path / "state"), str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    with server.client() as http:
        for _ in range(3):
            assert http.post("/slicer/exec", content="__execResult = {}").status_code == 403
    settled_audit(audit, until=lambda events: len(events) >= 3)
    # The access-log line is written as the response ends: the client may have it first.
    settled_audit(access, until=lambda events: len(events) >= 3)
    old_audit = [json.loads(line) for line in audit.with_name("audit.jsonl.1").read_text().splitlines()]
    new_audit = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [e["event"] for e in old_audit] == ["exec.denied"] * 5 and [e["event"] for e in new_audit] == [
        "exec.denied"] * 3
    old_access = [json.loads(line) for line in access.with_name("access.jsonl.1").read_text().splitlines()]
    new_access = [json.loads(line) for line in access.read_text().splitlines()]
    assert [e["path"] for e in old_access] == ["/slicer/exec"] * 5
    assert [e["path"] for e in new_access] == ["/slicer/exec"] * 3
    assert other_host.with_name("host-b.jsonl.1").is_file() and not other_host.exists()
    assert server.process.poll() is None
