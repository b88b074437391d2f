"""Processes the audit starts: the app on a free loopback port (`AppProcess`), and the nginx/Caddy
stacks of `slicerweb.devstack` (re-exported). Each is stopped by the handle that started it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from slicerweb.devstack.stack import Stack, child_env, start_issuer, start_stack

__all__ = ["AppProcess", "Stack", "start_app", "start_issuer", "start_stack"]
START_TIMEOUT = 60.0


@dataclass
class AppProcess:
    url: str
    data_dir: Path
    process: subprocess.Popen[str]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def kill9(self) -> None:
        """SIGKILL: the crash the fault cases need (no shutdown hook runs)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_app(directory: Path, policy_toml: str, *, data_dir: Path | None = None, args: list[str] | None = None,
              port: int = 0) -> AppProcess:
    """`slicerweb serve` on `port` (0: any free one) with `policy_toml`; waits for its URL line."""
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    data_dir = data_dir or directory / "data"
    policy = directory / f"policy-{time.monotonic_ns()}.toml"
    policy.write_text(policy_toml)
    log_path = directory / f"app-{time.monotonic_ns()}.log"
    command = [sys.executable, "-m", "slicerweb", "serve", "--port", str(port), "--data-dir", str(data_dir),
               "--policy", str(policy), *(args or [])]
    with log_path.open("w") as stderr:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                   env=child_env(), cwd=directory)
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if "serving on " in line:
            return AppProcess(line.strip().rsplit("serving on ", 1)[1].rstrip("/"), data_dir, process, log_path)
        if not line and process.poll() is not None:
            break
    process.kill()
    raise RuntimeError(f"the app did not start: {log_path.read_text()[-2000:]}")
