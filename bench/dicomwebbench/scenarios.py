"""The requests measured, exactly as OHIF 3.13 and the DICOMweb clients send them, with sanity checks.

Each scenario takes the server's DICOMweb root and returns a `Result`. Order matters: the cold
series-metadata request is the first request that touches that series after the server started,
and STOW runs last because it changes the database.
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

import httpx

from slicerweb.demo.benchmark_studies import BenchmarkDataset
from slicerweb.demo.dicom_studies import uid

from .measure import CheckFailed, Result, latency, new_client, throughput

OHIF_STUDY_LIST = "limit=101&offset=0&fuzzymatching=false&includefield=00081030%2C00080060%2C00080090%2C00100030"
OHIF_SERIES_FIELDS = "includefield=00080021%2C00080031%2C0008103E%2C00200011"
JSON_ACCEPT = {"Accept": "application/dicom+json"}
FRAME_ACCEPT = {"Accept": "multipart/related; type=application/octet-stream; transfer-syntax=*"}
SERIES_ACCEPT = {"Accept": 'multipart/related; type="application/dicom"'}
MB = 1e6


@dataclass(frozen=True)
class Budget:
    """Repetitions and seconds per loop (shrunk by --quick)."""

    reps: int = 40
    seconds: float = 6.0
    concurrency: int = 4
    retrieve_reps: int = 4


def get_json(url: str, expect: int) -> Callable[[httpx.Client], float]:
    def call(c: httpx.Client) -> float:
        response = c.get(url, headers=JSON_ACCEPT)
        if response.status_code != 200:
            raise CheckFailed(f"HTTP {response.status_code}")
        body = json.loads(response.content)
        if len(body) != expect:
            raise CheckFailed(f"{len(body)} results, expected {expect}")
        return 1.0

    return call


def frame_call(url: str, size: int) -> Callable[[httpx.Client], float]:
    def call(c: httpx.Client) -> float:
        response = c.get(url, headers=FRAME_ACCEPT)
        if response.status_code != 200 or len(response.content) < size:
            raise CheckFailed(f"HTTP {response.status_code}, {len(response.content)} bytes")
        return 1.0

    return call


def retrieve_call(url: str, expect_bytes: int) -> Callable[[httpx.Client], float]:
    def call(c: httpx.Client) -> float:
        received = 0
        with c.stream("GET", url, headers=SERIES_ACCEPT) as response:
            if response.status_code != 200:
                raise CheckFailed(f"HTTP {response.status_code}")
            for chunk in response.iter_raw(1 << 20):
                received += len(chunk)
        if received < expect_bytes:
            raise CheckFailed(f"{received} bytes, expected at least {expect_bytes}")
        return float(received)

    return call


def run_reads(root: str, data: BenchmarkDataset, budget: Budget) -> dict[str, Result]:
    """All read scenarios against one server, in order."""
    big, listed = data.big_series, data.list_series
    study0 = uid(1, "CT", 0, 0)
    listing = min(101, data.studies)
    results: dict[str, Result] = {}
    study_list = get_json(f"{root}/studies?{OHIF_STUDY_LIST}", listing)
    series_list = get_json(f"{root}/studies/{study0}/series?{OHIF_SERIES_FIELDS}", 2)
    instances = get_json(f"{root}/studies/{listed.study_uid}/series/{listed.series_uid}/instances", listed.instances)
    metadata = get_json(f"{root}/studies/{big.study_uid}/series/{big.series_uid}/metadata", big.instances)
    frame = frame_call(f"{root}/studies/{big.study_uid}/series/{big.series_uid}/instances/"
                       f"{big.sop_uid(big.instances // 2 + 1)}/frames/1", big.rows * big.rows * 2)
    series_bytes = sum(p.stat().st_size for p in _series_files(data))
    retrieve = retrieve_call(f"{root}/studies/{big.study_uid}/series/{big.series_uid}", series_bytes)

    for key, call in (("study_list", study_list), ("series_list", series_list), ("instance_list", instances)):
        results[key] = _both(call, budget)
    results["metadata_cold"] = latency(metadata, reps=1, budget=0, warmup=0)
    results["metadata_warm"] = latency(metadata, reps=budget.reps // 2, budget=budget.seconds)
    results["frame"] = _both(frame, budget)
    results["retrieve"] = latency(retrieve, reps=budget.retrieve_reps, budget=budget.seconds * 3, unit="MB/s", scale=MB)
    return results


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
            response = client.post(f"{root}/studies", content=body, headers=headers)
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
