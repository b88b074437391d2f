"""Shared fixtures: factories for in-process apps and real servers (a subprocess on a free port).

- `make_policy(**dotted)`  a validated Policy with dotted-key overrides, data_dir under tmp_path
                           (and `index.url` a fresh PostgreSQL schema under `--index=postgresql`).
- `make_app(policy=...)`   (app, engine) built by `create_app` over a HeadlessEngine; use
                           `app.test_client()` for in-process requests.
- `issuer`                 a local OIDC issuer process (module scope) minting real signed tokens.
- `live_server(policy_toml=..., args=[...])`  a real `slicerweb serve` process on a free port;
                           returns LiveServer(url, data_dir, ...). Stopped at teardown.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from quart import Quart
from quart.testing import TestApp

from slicerweb.app import create_app
from slicerweb.demo import demo_instances
from slicerweb.engine.headless import HeadlessEngine
from slicerweb.policy import Policy, default_policy
from tests.oidc import RunningIssuer, start_issuer
from tests.postgres import fresh_schema_url, session_cluster
from tests.support import APP_DIR, REPO, subprocess_env

__all__ = ["APP_DIR", "REPO", "LiveServer", "start_server", "subprocess_env"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--index", choices=("sqlite", "postgresql"), default=None,
                     help="the DICOM index of in-process apps (make_app): SQLite, or a throw-away PostgreSQL "
                          "(default: SQLite, and both for the DICOMweb tests: tests/dicomweb/conftest.py)")


@pytest.fixture
def index_url(request: pytest.FixtureRequest) -> str:
    """The `index.url` of this test's app: "" (SQLite), or a fresh schema of the session's PostgreSQL, as
    the test's parameter (tests/dicomweb) or `--index` says."""
    kind = getattr(request, "param", None) or request.config.getoption("--index") or "sqlite"
    return fresh_schema_url(session_cluster()) if kind == "postgresql" else ""


@pytest.fixture
def postgres_url() -> str:
    """A fresh, empty PostgreSQL schema of the session's cluster, whatever `--index` says."""
    return fresh_schema_url(session_cluster())


@pytest.fixture
def make_policy(tmp_path: Path, index_url: str) -> Callable[..., Policy]:
    def factory(**dotted: Any) -> Policy:
        changes = {"server.data_dir": str(tmp_path / "data"), "logging.console": False, "index.url": index_url}
        changes.update({key.replace("__", "."): value for key, value in dotted.items()})
        return default_policy().replace(**changes)

    return factory


class PatientTestApp(TestApp):
    """Quart's test app with start-up and shutdown timeouts for a loaded 2-core CI machine: Quart's 6 s
    default is shorter than seeding the demo studies takes there (a TimeoutError, not a failure of ours)."""

    def __init__(self, app: Quart, startup_timeout: int = 60, shutdown_timeout: int = 60) -> None:
        super().__init__(app, startup_timeout=startup_timeout, shutdown_timeout=shutdown_timeout)


@pytest.fixture
def make_app(make_policy: Callable[..., Policy]) -> Iterator[Callable[..., tuple[Quart, HeadlessEngine]]]:
    engines: list[HeadlessEngine] = []

    def factory(policy: Policy | None = None, **kwargs: Any) -> tuple[Quart, HeadlessEngine]:
        policy = policy or make_policy()
        demo_studies = demo_instances if kwargs.pop("demo", False) else None
        engine = HeadlessEngine(Path(policy.server.data_dir), demo_studies=demo_studies, index_url=policy.index.url)
        engines.append(engine)
        app = create_app(policy, engine, **kwargs)
        app.test_app_class = PatientTestApp
        return app, engine

    yield factory
    for engine in engines:  # most tests never run the app's shutdown: stop the store's lease and sweep threads
        engine.dicom.close()


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    process: subprocess.Popen[str]
    log_path: Path

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_server(tmp_path: Path, *, policy_toml: str | None = None, args: list[str] | None = None,
                 port: int = 0, data_dir: Path | None = None, timeout: float = 30,
                 env: dict[str, str] | None = None, prefix: list[str] | None = None) -> LiveServer:
    """Start `slicerweb serve` on `port` (0: any free port) and wait for its URL line.

    `env` adds environment variables; `prefix` wraps the command (e.g. `unshare ... sh -c`).
    """
    data_dir = data_dir or tmp_path / "data"
    command = [sys.executable, "-m", "slicerweb", "serve", "--port", str(port), "--data-dir", str(data_dir)]
    if policy_toml is not None:
        policy_file = tmp_path / f"policy-{time.monotonic_ns()}.toml"
        policy_file.write_text(policy_toml)
        command += ["--policy", str(policy_file)]
    command = [*(prefix or []), *command, *(args or [])]
    log_path = tmp_path / f"server-{time.monotonic_ns()}.log"
    with log_path.open("w") as stderr:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                   env={**subprocess_env(), **(env or {})}, cwd=tmp_path)
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                process.stdout.close()
                raise RuntimeError(f"server exited ({process.returncode}): {log_path.read_text()}")
            continue
        if "serving on " in line:
            url = line.strip().rsplit("serving on ", 1)[1]
            return LiveServer(url.rstrip("/"), data_dir, process, log_path)
    process.kill()
    process.wait(5)
    process.stdout.close()
    raise RuntimeError(f"server did not start: {log_path.read_text()}")


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningIssuer]:
    """A local OIDC issuer (real signed tokens), one per test module."""
    running = start_issuer(tmp_path_factory.mktemp("issuer"))
    yield running
    running.stop()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    servers: list[LiveServer] = []

    def factory(**kwargs: Any) -> LiveServer:
        server = start_server(tmp_path, **kwargs)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()
