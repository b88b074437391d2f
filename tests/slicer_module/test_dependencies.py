"""First start of the Slicer module: missing dependencies are installed from the pinned requirements, and a
failed install (here a real pip run against an unreachable index, as on an offline computer) gives one
clear message naming what is missing and how to install it, instead of a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.support import APP_DIR

sys.path.insert(0, str(APP_DIR / "slicer_module"))

from SlicerWebLib import dependencies  # the module's helper package, on Slicer's module path


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def offline_pip_install(target: Path):
    """slicer.util.pip_install as Slicer runs it (PythonSlicer -m pip install ..., CalledProcessError on failure:
    Base/Python/slicer/packaging.py ~784), with the package index unreachable."""
    def pip_install(args: list[str]) -> None:
        subprocess.run([sys.executable, "-m", "pip", "install", "--isolated", "--no-cache-dir", "--retries", "0",
                        "--timeout", "2", "--index-url", f"http://127.0.0.1:{closed_port()}/simple",
                        "--target", str(target), *args], check=True, capture_output=True)
    return pip_install


def quart_missing(name: str) -> object:
    return None if name == "quart" else object()


def test_requirements_pin_every_dependency_the_module_checks() -> None:
    lines = [line for line in dependencies.REQUIREMENTS.read_text().splitlines() if line and not line.startswith("#")]
    assert sorted(line.split("==")[0] for line in lines) == sorted(dependencies.IMPORT_NAMES)
    assert all("==" in line for line in lines)


def test_nothing_to_do_when_everything_imports() -> None:
    calls: list[list[str]] = []
    assert dependencies.ensure(calls.append) is None and calls == []


def test_offline_install_failure_is_one_clear_message(tmp_path: Path) -> None:
    message = dependencies.ensure(offline_pip_install(tmp_path), find_spec=quart_missing)
    assert message is not None and "Traceback" not in message
    assert "(quart)" in message and "offline" in message
    assert str(dependencies.REQUIREMENTS) in message and "--no-index --find-links" in message
    assert not any(tmp_path.iterdir())  # nothing half-installed


def test_missing_packages_are_installed_from_the_pinned_file() -> None:
    calls: list[list[str]] = []
    installed: set[str] = set()

    def pip_install(args: list[str]) -> None:
        calls.append(args)
        installed.add("quart")

    message = dependencies.ensure(pip_install, find_spec=lambda name: object() if name in installed or
                                  name != "quart" else None)
    assert message is None and calls == [["-r", str(dependencies.REQUIREMENTS)]]
