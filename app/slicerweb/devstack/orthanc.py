"""Debian's Orthanc 1.10 + its DICOMweb plugin as a peer (bench/) or a client (tests/realworld/) of SlicerWeb.

`OrthancServer` starts a fresh Orthanc in a work directory ("Full" metadata mode, as OHIF needs; SQLite
index; no compression), bulk-loads with `POST /instances` from 4 threads as Orthanc's own import sample
does, and stops it by PID. `remote_servers` fills `DicomWeb.Servers`, which makes Orthanc a DICOMweb
client of those servers (`/dicom-web/servers/{name}/stow|qido|retrieve`). Orthanc 1.10 binds 0.0.0.0
whatever its configuration says, so callers run it inside a private network namespace
(bench/dicomwebbench/netns.py re-runs a script there; `netns.PrivateNetwork` gives a test one).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from .stack import free_port

ORTHANC = "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
# Orthanc's own (DCMTK) codecs have no JPEG 2000; a deployment that holds JPEG 2000 adds the GDCM plugin
# (`gdcm=True`), restricted to JPEG 2000. Off by default: with it loaded, Orthanc 1.10.1 + GDCM plugin 1.5
# die transcoding JPEG-LS to Explicit VR Little Endian (connection reset, no log line), which DCMTK alone does.
GDCM_PLUGIN = "/usr/share/orthanc/plugins/libOrthancGdcm.so"
POSTGRESQL_PLUGIN = "/usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so"
JPEG_2000_SYNTAXES = ["1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.92",
                      "1.2.840.10008.1.2.4.93"]


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM, wait, then SIGKILL: the process is gone when this returns (Orthanc's SQLite lock)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    if process.stdout is not None:
        process.stdout.close()


class OrthancServer:
    name = "Orthanc"

    def __init__(self, workdir: Path, remote_servers: dict[str, dict[str, object]] | None = None, *,
                 gdcm: bool = False, index_url: str = "") -> None:
        """`index_url`: a PostgreSQL database for Orthanc's index (its PostgreSQL plugin); files stay on disk."""
        self.workdir = workdir
        self.gdcm = gdcm
        self.index_url = index_url
        self.remote_servers = remote_servers or {}
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.version = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb(self) -> str:
        return self.url + "/dicom-web"

    @staticmethod
    def available() -> bool:
        return os.access(ORTHANC, os.X_OK) and os.path.exists(DICOMWEB_PLUGIN)

    @staticmethod
    def postgresql_available() -> bool:
        return os.path.exists(POSTGRESQL_PLUGIN)

    @staticmethod
    def gdcm_available() -> bool:
        return os.path.exists(GDCM_PLUGIN)

    def config(self) -> dict[str, object]:
        dicomweb: dict[str, object] = {
            "Enable": True, "Root": "/dicom-web/", "EnableWado": True, "WadoRoot": "/wado",
            "Host": f"127.0.0.1:{self.port}", "Ssl": False, "StudiesMetadata": "Full", "SeriesMetadata": "Full"}
        if self.remote_servers:
            dicomweb["Servers"] = self.remote_servers
        plugins = [DICOMWEB_PLUGIN, *([GDCM_PLUGIN] if self.gdcm else []),
                   *([POSTGRESQL_PLUGIN] if self.index_url else [])]
        # With index_url: the same PostgreSQL server as SlicerWeb's index, a database of its own.
        postgresql = {"EnableIndex": True, "EnableStorage": False, "ConnectionUri": self.index_url, "Lock": False}
        return {**({"PostgreSQL": postgresql} if self.index_url else {}),
            "Name": "OrthancBench", "StorageDirectory": str(self.workdir / "db"),
            "IndexDirectory": str(self.workdir / "idx"), "HttpServerEnabled": True, "HttpPort": self.port,
            "DicomServerEnabled": False, "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
            "HttpCompressionEnabled": False, "StorageCompression": False, "ConcurrentJobs": 2,
            "HttpThreadsCount": 50, "Plugins": plugins, "DicomWeb": dicomweb,
            "GDCM": {"Enable": True, "RestrictTransferSyntaxes": JPEG_2000_SYNTAXES},
        }

    def start(self, timeout: float = 60) -> None:
        self.port = free_port()
        for sub in ("db", "idx"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        config = self.workdir / "orthanc.json"
        config.write_text(json.dumps(self.config(), indent=1))
        with (self.workdir / "orthanc.log").open("wb") as log:  # the child keeps its own descriptor
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
                        gdcm = client.get(self.url + "/plugins/gdcm")
                        if gdcm.status_code == 200:
                            self.version += f" + GDCM plugin {gdcm.json()['Version']} (JPEG 2000)"
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Orthanc did not start: {self.log()[-400:]}")

    def log(self) -> str:
        path = self.workdir / "orthanc.log"
        return path.read_text(errors="replace") if path.exists() else ""

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
