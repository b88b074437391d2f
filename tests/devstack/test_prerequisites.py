"""deploy/run-stack and deploy/make-certs before anything starts: the project's venv and the proxy binary.

Contract: started with a Python outside the project's venv, a script re-execs itself with
`.venv/bin/python` (so `deploy/run-stack` works typed as it stands after `make venv`); without a venv
it prints one line naming `make venv`; a missing nginx/caddy is one line naming the Debian package.
Never a traceback, always a non-zero exit, and nothing is started or written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from slicerweb.devstack.prerequisites import MissingPrerequisite, proxy_binary
from tests.conftest import REPO, subprocess_env

SYSTEM_PYTHON = "/usr/bin/python3"


def system_python_lacks_httpx() -> bool:
    if not Path(SYSTEM_PYTHON).is_file():
        return False
    return subprocess.run([SYSTEM_PYTHON, "-c", "import httpx"], capture_output=True).returncode != 0


def plain_env(**extra: str) -> dict[str, str]:
    """The environment of someone who typed the command: no venv activated, no PYTHONPATH."""
    env = {k: v for k, v in subprocess_env().items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.skipif(not system_python_lacks_httpx(), reason="needs a system python3 without the project's deps")
def test_run_stack_reexecs_itself_with_the_project_venv() -> None:
    """The system python3 has no httpx: --help can only be printed after the switch to .venv/bin/python."""
    result = subprocess.run([SYSTEM_PYTHON, str(REPO / "deploy" / "run-stack"), "--help"], capture_output=True,
                            text=True, env=plain_env(), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--proxy {nginx,caddy}" in result.stdout
    assert "ModuleNotFoundError" not in result.stderr


@pytest.mark.parametrize("script", ["run-stack", "make-certs"])
def test_without_a_venv_the_script_names_make_venv(tmp_path: Path, script: str) -> None:
    """A checkout without .venv (a fresh clone before `make venv`)."""
    clone = tmp_path / "clone"
    shutil.copytree(REPO / "app", clone / "app", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (clone / "deploy").mkdir()
    shutil.copy2(REPO / "deploy" / script, clone / "deploy" / script)
    result = subprocess.run([SYSTEM_PYTHON if Path(SYSTEM_PYTHON).is_file() else sys.executable,
                             str(clone / "deploy" / script), "--help"], capture_output=True, text=True,
                            env=plain_env(), timeout=60, cwd=clone)
    assert_one_clear_line(result, f"{script}: run `make venv` first", str(clone / ".venv"))


def test_missing_proxy_names_the_debian_package(tmp_path: Path) -> None:
    """caddy (in /usr/bin, not an sbin directory) hidden by PATH: one line, exit 2, nothing started."""
    empty = tmp_path / "bin"
    empty.mkdir()
    work = tmp_path / "stack"
    result = subprocess.run([sys.executable, str(REPO / "deploy" / "run-stack"), "--proxy", "caddy", "--dir",
                             str(work)], capture_output=True, text=True, env=plain_env(PATH=str(empty)), timeout=60)
    assert_one_clear_line(result, "run-stack: caddy is not installed", "Debian package 'caddy'",
                          "apt-get install caddy")
    assert result.returncode == 2
    assert not work.exists()


def test_nginx_is_found_in_sbin_when_path_lacks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Debian's non-root PATH has no /usr/sbin, where nginx lives."""
    if not Path("/usr/sbin/nginx").is_file():
        pytest.skip("nginx not installed in /usr/sbin")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert proxy_binary("nginx") == "/usr/sbin/nginx"
    monkeypatch.setenv("PATH", os.pathsep.join(["/nonexistent"]))
    with pytest.raises(MissingPrerequisite, match="Debian package 'no-such-proxy'"):
        proxy_binary("no-such-proxy")
