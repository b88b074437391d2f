"""The two servers under test, started fresh in a work directory and stopped by PID.

`SlicerWebServer` runs `python -m slicerweb serve` from this checkout (STOW on, console and access
log off) and bulk-loads with `slicerweb dicom import DIR`. `OrthancServer` runs Debian's Orthanc
1.10 with the DICOMweb plugin in "Full" metadata mode (what OHIF needs), SQLite index, no
compression, and bulk-loads with `POST /instances` from 4 threads, as Orthanc's own import sample
does. Orthanc binds 0.0.0.0 whatever its config says, so the benchmark runs inside a private network
namespace (see `netns.py`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
ORTHANC = "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
POSTGRESQL_PLUGIN = "/usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so"
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "app"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM, wait, then SIGKILL: the process is gone when this returns (Orthanc's SQLite lock)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


class SlicerWebServer:
    name = "SlicerWeb"

    def __init__(self, workdir: Path, index_url: str = "") -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.policy = workdir / "policy.toml"
        self.policy_text = BENCH_POLICY + (f'[index]\nurl = "{index_url}"\n' if index_url else "")
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def dicomweb(self) -> str:
        return self.url + "/dicom"

    def bulk_load(self, directory: Path) -> tuple[int, float]:
        """`slicerweb dicom import DIR` before the server starts; returns (instances, seconds)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.policy.write_text(self.policy_text)
        files = sum(1 for _ in directory.rglob("*.dcm"))
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "slicerweb", "dicom", "import", str(directory), "--data-dir", str(self.data_dir),
             "--policy", str(self.policy)], env=child_env(), cwd=self.workdir, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            raise RuntimeError(f"slicerweb dicom import failed ({result.returncode}): {result.stderr.strip()[-400:]}")
        return files, elapsed

    def start(self, timeout: float = 60) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.policy.write_text(self.policy_text)
        log = (self.workdir / "server.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "slicerweb", "serve", "--port", "0", "--data-dir", str(self.data_dir),
             "--policy", str(self.policy)], stdout=subprocess.PIPE, stderr=log, env=child_env(), cwd=self.workdir)
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

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


class OrthancServer:
    name = "Orthanc"

    def __init__(self, workdir: Path, index_url: str = "") -> None:
        """`index_url`: a PostgreSQL database for Orthanc's index (its PostgreSQL plugin); files stay on disk."""
        self.workdir = workdir
        self.index_url = index_url
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.version = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb(self) -> str:
        return self.url + "/dicom-web"

    def available(self) -> bool:
        plugins = [DICOMWEB_PLUGIN, *([POSTGRESQL_PLUGIN] if self.index_url else [])]
        return os.access(ORTHANC, os.X_OK) and all(os.path.exists(p) for p in plugins)

    def config(self) -> dict[str, object]:
        config = self._config()
        if self.index_url:  # the same PostgreSQL server as SlicerWeb's index, a database of its own
            config["Plugins"] = [DICOMWEB_PLUGIN, POSTGRESQL_PLUGIN]
            config["PostgreSQL"] = {"EnableIndex": True, "EnableStorage": False, "ConnectionUri": self.index_url,
                                    "Lock": False}
        return config

    def _config(self) -> dict[str, object]:
        return {
            "Name": "OrthancBench", "StorageDirectory": str(self.workdir / "db"),
            "IndexDirectory": str(self.workdir / "idx"), "HttpServerEnabled": True, "HttpPort": self.port,
            "DicomServerEnabled": False, "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
            "HttpCompressionEnabled": False, "StorageCompression": False, "ConcurrentJobs": 2,
            "HttpThreadsCount": 50, "Plugins": [DICOMWEB_PLUGIN],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True, "WadoRoot": "/wado",
                         "Host": f"127.0.0.1:{self.port}", "Ssl": False,
                         "StudiesMetadata": "Full", "SeriesMetadata": "Full"},
        }

    def start(self, timeout: float = 60) -> None:
        self.port = free_port()
        for sub in ("db", "idx"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        config = self.workdir / "orthanc.json"
        config.write_text(json.dumps(self.config(), indent=1))
        log = (self.workdir / "orthanc.log").open("wb")
        self.process = subprocess.Popen([ORTHANC, str(config)], stdout=log, stderr=subprocess.STDOUT,
                                        cwd=self.workdir)
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break
                try:
                    system = client.get(self.url + "/system")
                    if system.status_code == 200:
                        plugin = client.get(self.url + "/plugins/dicom-web").json()
                        self.version = f"Orthanc {system.json()['Version']} + DICOMweb plugin {plugin['Version']}"
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Orthanc did not start: {(self.workdir / 'orthanc.log').read_text()[-400:]}")

    def bulk_load(self, directory: Path, threads: int = 4) -> tuple[int, float]:
        """POST /instances from `threads` clients; returns (instances, seconds)."""
        files = sorted(directory.rglob("*.dcm"))
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(self._post_chunk, [files[i::threads] for i in range(threads)]))
        elapsed = time.perf_counter() - started
        return sum(results), elapsed

    def _post_chunk(self, files: list[Path]) -> int:
        with httpx.Client(timeout=120) as client:
            for path in files:
                response = client.post(self.url + "/instances", content=path.read_bytes(),
                                       headers={"Content-Type": "application/dicom"})
                response.raise_for_status()
        return len(files)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
