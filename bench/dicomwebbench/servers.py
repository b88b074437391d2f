"""The two servers under test, started fresh in a work directory and stopped by PID.

`SlicerWebServer` runs `python -m slicerweb serve [--workers N]` from this checkout (STOW on, console
and access log off) and bulk-loads with `slicerweb dicom import DIR`. `OrthancServer` (slicerweb.devstack.orthanc,
shared with tests/realworld) runs Debian's Orthanc 1.10 with the DICOMweb plugin. Orthanc binds 0.0.0.0
whatever its config says, so the benchmark runs inside a private network namespace (see `netns.py`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from slicerweb.devstack.orthanc import DICOMWEB_PLUGIN, ORTHANC, OrthancServer, stop_process
from slicerweb.devstack.stack import free_port

__all__ = ["DICOMWEB_PLUGIN", "ORTHANC", "OrthancServer", "SlicerWebServer", "free_port", "stop_process"]

REPO = Path(__file__).resolve().parents[2]
BENCH_POLICY = """\
[server]
host = "127.0.0.1"
[features]
dicomweb = true
dicomweb_write = true
[logging]
console = false
access_log = false
level = "warning"
"""


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "app"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class SlicerWebServer:
    name = "SlicerWeb"

    def __init__(self, workdir: Path, index_url: str = "", workers: int = 1) -> None:
        """`workers`: `slicerweb serve --workers N` (N processes on one listening socket) when above 1."""
        self.workdir = workdir
        self.workers = workers
        self.data_dir = workdir / "data"
        self.policy = workdir / "policy.toml"
        self.policy_text = BENCH_POLICY + (f'[index]\nurl = "{index_url}"\n' if index_url else "")
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def dicomweb(self) -> str:
        return self.url + "/dicom"

    def bulk_load(self, directory: Path, processes: int = 1) -> tuple[int, float]:
        """`slicerweb dicom import DIR --processes N` before the server starts; returns (instances, seconds)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.policy.write_text(self.policy_text)
        files = sum(1 for _ in directory.rglob("*.dcm"))
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "slicerweb", "dicom", "import", str(directory), "--data-dir", str(self.data_dir),
             "--policy", str(self.policy), "--processes", str(processes)], env=child_env(), cwd=self.workdir,
            capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            raise RuntimeError(f"slicerweb dicom import failed ({result.returncode}): {result.stderr.strip()[-400:]}")
        return files, elapsed

    def start(self, timeout: float = 60) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.policy.write_text(self.policy_text)
        with (self.workdir / "server.log").open("wb") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "slicerweb", "serve", "--port", "0", "--data-dir", str(self.data_dir),
                 "--policy", str(self.policy), *self.worker_arguments()], stdout=subprocess.PIPE, stderr=log,
                env=child_env(), cwd=self.workdir)
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline().decode()
            if "serving on " in line:
                self.url = line.strip().rsplit("serving on ", 1)[1].rstrip("/")
                return
            if not line and self.process.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"slicerweb did not start: {(self.workdir / 'server.log').read_text()[-400:]}")

    def worker_arguments(self) -> list[str]:
        # --workers 1 is the server as it always was; the flag is only passed when it changes something
        return ["--workers", str(self.workers)] if self.workers > 1 else []

    def stop(self) -> None:
        """SIGTERM (a multi-worker server's supervisor stops its workers), then SIGKILL if need be."""
        if self.process is not None:
            stop_process(self.process)
