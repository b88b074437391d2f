"""The requests measured, exactly as OHIF 3.13 and the DICOMweb clients send them, with sanity checks.

Each scenario takes a server's DICOMweb root and returns a `Result`; the harness runs every scenario
against each server in turn before moving on, so both see the same background load. Order
matters: the cold series-metadata request is the first request that touches that series after the
server started, and STOW runs last because it changes the database.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from slicerweb.demo.benchmark_studies import BenchmarkDataset
from slicerweb.demo.dicom_studies import uid

from .measure import CheckFailed, Result, latency, new_client, throughput

OHIF_STUDY_LIST = "limit=101&offset=0&fuzzymatching=false&includefield=00081030%2C00080060%2C00080090%2C00100030"
OHIF_SERIES_FIELDS = "includefield=00080021%2C00080031%2C0008103E%2C00200011"
JSON_ACCEPT = {"Accept": "application/dicom+json"}
FRAME_ACCEPT = "multipart/related; type=application/octet-stream; transfer-syntax=*"
SERIES_ACCEPT = 'multipart/related; type="application/dicom"'
MB = 1e6


@dataclass(frozen=True)
class Budget:
    """Repetitions and seconds per loop (shrunk by --quick)."""

    reps: int = 40
    seconds: float = 6.0
    concurrency: int = 4
    retrieve_reps: int = 4


class JsonCall:
    """GET a DICOM JSON array. The timed calls only compare sizes with the first answer; `verify`
    parses and counts that first answer afterwards (parsing 1.4 MB of JSON in Python costs about as
    much as the server's answer, so it stays out of the timings). `up_to`: a count from `expect` to
    `up_to` passes (a paged list measured after STOW added studies)."""

    def __init__(self, url: str, expect: int, up_to: int | None = None) -> None:
        self.url, self.expect, self.up_to = url, expect, max(expect, up_to or expect)
        self.first: bytes | None = None

    def __call__(self, client: httpx.Client) -> float:
        response = client.get(self.url, headers=JSON_ACCEPT)
        if response.status_code != 200:
            raise CheckFailed(f"HTTP {response.status_code}")
        if self.first is None:
            self.first = response.content
        elif len(response.content) != len(self.first):
            raise CheckFailed(f"{len(response.content)} bytes, first answer had {len(self.first)}")
        return 1.0

    def verify(self, result: Result) -> Result:
        if not result.error and self.first is not None:
            count = len(json.loads(self.first))
            if not self.expect <= count <= self.up_to:
                wanted = f"{self.expect}" if self.up_to == self.expect else f"{self.expect} to {self.up_to}"
                result.error = f"{count} results, expected {wanted}"
        return result


def json_both(url: str, expect: int, budget: Budget) -> Result:
    return _counted(JsonCall(url, expect), budget)


def json_latency(url: str, expect: int, **loop: Any) -> Result:
    call = JsonCall(url, expect)
    return call.verify(latency(call, **loop))


def raw_call(url: str, accept: str, min_bytes: int) -> Callable[[httpx.Client], float]:
    """GET over a raw socket with `Connection: close`, read to EOF into one buffer; returns bytes read.

    For the large binary answers (frames, series): httpx's reader tops out near 250 MB/s here (Python
    work per 64 KB read), below what the servers send, so it would measure the client. This reader
    costs about what the loopback reference does. Both servers get the same new connection per call.
    """
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    request = (f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: {accept}\r\n"
               "Connection: close\r\n\r\n").encode()
    address = (parts.hostname or "127.0.0.1", parts.port or 80)

    def call(_: httpx.Client) -> float:
        buffer = bytearray(1 << 20)
        with socket.create_connection(address) as sock:
            sock.sendall(request)
            received = sock.recv_into(buffer)
            status = bytes(buffer[:received]).split(b"\r\n", 1)[0].split()
            while (n := sock.recv_into(buffer)) > 0:
                received += n
        if len(status) < 2 or status[1] != b"200":
            raise CheckFailed(b" ".join(status).decode(errors="replace")[:40])
        if received < min_bytes:
            raise CheckFailed(f"{received} bytes, expected at least {min_bytes}")
        return float(received)

    return call


Scenario = Callable[[str], Result]  # DICOMweb root -> measurement


def read_scenarios(data: BenchmarkDataset, budget: Budget) -> list[tuple[str, Scenario]]:
    """The read measurements in order, each to be run against every server before the next one."""
    big, listed = data.big_series, data.list_series
    study0 = uid(1, "CT", 0, 0)
    series_path = f"studies/{big.study_uid}/series/{big.series_uid}"
    series_bytes = sum(p.stat().st_size for p in _series_files(data))
    calls = load_calls(data)
    return [
        ("study_list", lambda root: _counted(calls["study_list"](root), budget)),
        ("series_list", lambda root: json_both(f"{root}/studies/{study0}/series?{OHIF_SERIES_FIELDS}", 2, budget)),
        # an explicit limit: default page sizes differ (SlicerWeb's policy default is 100, Orthanc has none)
        ("instance_list", lambda root: json_both(
            f"{root}/studies/{listed.study_uid}/series/{listed.series_uid}/instances?limit={listed.instances}",
            listed.instances, budget)),
        ("metadata_cold", lambda root: json_latency(f"{root}/{series_path}/metadata", big.instances,
                                                    reps=1, budget=0, warmup=0)),
        ("metadata_warm", lambda root: json_latency(f"{root}/{series_path}/metadata", big.instances,
                                                    reps=budget.reps // 2, budget=budget.seconds)),
        ("frame", lambda root: _both(calls["frame"](root), budget)),
        ("retrieve", lambda root: latency(raw_call(f"{root}/{series_path}", SERIES_ACCEPT, series_bytes),
                                          reps=budget.retrieve_reps, budget=budget.seconds * 3, unit="MB/s",
                                          scale=MB)),
    ]


def load_calls(data: BenchmarkDataset, stowed: bool = False) -> dict[str, Callable[[str], Callable[[httpx.Client],
                                                                                                   float]]]:
    """The study list and the single frame, per DICOMweb root: the rows of the main table that are also
    measured with 1 and 2 worker processes (scaling.py; `stowed`: after STOW added studies)."""
    big = data.big_series
    frame_path = (f"studies/{big.study_uid}/series/{big.series_uid}/instances/{big.sop_uid(big.instances // 2 + 1)}"
                  "/frames/1")
    return {
        "study_list": lambda root: JsonCall(f"{root}/studies?{OHIF_STUDY_LIST}", min(101, data.studies),
                                            up_to=101 if stowed else None),
        "frame": lambda root: per_request(raw_call(f"{root}/{frame_path}", FRAME_ACCEPT, big.rows * big.rows * 2)),
    }


def _counted(call: Callable[[httpx.Client], float], budget: Budget) -> Result:
    """`_both`, then a JSON call's count check on its first answer."""
    result = _both(call, budget)
    return call.verify(result) if isinstance(call, JsonCall) else result


def per_request(call: Callable[[httpx.Client], float]) -> Callable[[httpx.Client], float]:
    """Count requests instead of whatever `call` moved."""

    def counted(client: httpx.Client) -> float:
        call(client)
        return 1.0

    return counted


def _both(call: Callable[[httpx.Client], float], budget: Budget) -> Result:
    """p50/p95 from the sequential loop; throughput from the concurrent one."""
    sequential = latency(call, reps=budget.reps, budget=budget.seconds)
    if sequential.error:
        return sequential
    concurrent = throughput(call, concurrency=budget.concurrency, total=budget.reps * 4, budget=budget.seconds)
    sequential.units, sequential.elapsed, sequential.error = concurrent.units, concurrent.elapsed, concurrent.error
    return sequential


def _series_files(data: BenchmarkDataset) -> list[Path]:
    return sorted((data.corpus_directory / f"study{data.big_series.study_index:05d}").rglob("*.dcm"))


def stow(root: str, directory: Path, batch: int = 20) -> Result:
    """POST the STOW set in multipart batches of `batch` instances; throughput in instances/s."""
    files = sorted(directory.rglob("*.dcm"))
    result = Result(unit="inst/s")
    boundary = uuid.uuid4().hex
    with new_client() as client:
        for start in range(0, len(files), batch):
            chunk = files[start:start + batch]
            body = b"".join(b"\r\n--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n"
                            + p.read_bytes() for p in chunk) + b"\r\n--" + boundary.encode() + b"--"
            headers = {"Content-Type": f'multipart/related; type="application/dicom"; boundary="{boundary}"',
                       "Accept": "application/dicom+json"}
            started = time.perf_counter()
            try:
                response = client.post(f"{root}/studies", content=body, headers=headers)
            except httpx.TransportError as exc:  # a server that died is an error cell, not the end of the run
                result.error = type(exc).__name__
                break
            took = time.perf_counter() - started
            if response.status_code != 200:
                result.error = f"HTTP {response.status_code}"
                break
            result.latencies.append(took)
            result.elapsed += took
            result.units += len(chunk)
    return result


def loopback_copy(data: BenchmarkDataset, reps: int = 3) -> Result:
    """The same bytes as the series retrieve, sent over a loopback TCP socket (no HTTP, no DICOM)."""
    payload = b"".join(p.read_bytes() for p in _series_files(data))
    result = Result(unit="MB/s", scale=MB)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def sender() -> None:
        for _ in range(reps):
            conn, _ = listener.accept()
            with conn:
                conn.sendall(payload)

    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    buffer = bytearray(1 << 20)
    for _ in range(reps):
        started = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            received = 0
            while (n := sock.recv_into(buffer)) > 0:
                received += n
        took = time.perf_counter() - started
        result.latencies.append(took)
        result.elapsed += took
        result.units += received
    thread.join()
    listener.close()
    return result
