"""Concurrent STOWs of the same instances, through two server processes sharing one data
directory (two instances behind a proxy): identical bytes always succeed (the duplicate rule),
never 0x0110 "being stored by another request"; different bytes under one SOP Instance UID give
exactly one stored copy and 0x0111 for every other sender. Real HTTP, live servers."""

from __future__ import annotations

import copy
import threading
from pathlib import Path

import httpx

from slicerweb.demo.dicom_studies import generate_study
from tests.conftest import start_server

from .conftest import STOW_TYPE, part10, stow_body

POLICY = "[features]\ndicomweb_write = true\n"
SENDERS = 8


def send_all_at_once(urls: list[str], bodies: list[bytes]) -> list[httpx.Response]:
    """POST bodies[i] to urls[i % len(urls)] from one thread each, released together."""
    start = threading.Barrier(len(bodies))
    responses: list[httpx.Response | None] = [None] * len(bodies)

    def send(position: int) -> None:
        with httpx.Client(base_url=urls[position % len(urls)], timeout=60) as http:
            start.wait()
            responses[position] = http.post("/dicom/studies", content=bodies[position],
                                            headers={"Content-Type": STOW_TYPE})

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r is not None for r in responses)
    return responses  # type: ignore[return-value]


def reasons(response: httpx.Response) -> list[int]:
    return [item["00081197"]["Value"][0] for item in response.json().get("00081198", {}).get("Value", [])]


def test_identical_concurrent_stows_all_succeed(tmp_path: Path) -> None:
    servers = [start_server(tmp_path, data_dir=tmp_path / "data", policy_toml=POLICY) for _ in range(2)]
    try:
        for round_number in range(3):
            study = generate_study(60 + round_number, series_count=1, instances_per_series=6)
            body = stow_body([part10(ds) for ds in study])
            responses = send_all_at_once([s.url for s in servers], [body] * SENDERS)
            assert [(r.status_code, reasons(r)) for r in responses] == [(200, [])] * SENDERS
            for response in responses:
                stored = [i["00081155"]["Value"][0] for i in response.json()["00081199"]["Value"]]
                assert stored == [ds.SOPInstanceUID for ds in study]
            with httpx.Client(base_url=servers[0].url) as http:
                found = http.get("/dicom/studies", params={"StudyInstanceUID": study[0].StudyInstanceUID})
                assert found.json()[0]["00201208"]["Value"] == [6]
    finally:
        for server in servers:
            server.stop()


def test_conflicting_concurrent_stows_store_one_copy(tmp_path: Path) -> None:
    servers = [start_server(tmp_path, data_dir=tmp_path / "data", policy_toml=POLICY) for _ in range(2)]
    try:
        original = generate_study(70, series_count=1, instances_per_series=1)[0]
        variants = []
        for number in range(SENDERS):
            variant = copy.deepcopy(original)
            variant.PatientName = f"Variant^{number}"
            variants.append(stow_body([part10(variant)]))
        responses = send_all_at_once([s.url for s in servers], variants)
        outcomes = sorted((r.status_code, tuple(reasons(r))) for r in responses)
        assert outcomes == [(200, ())] + [(409, (0x0111,))] * (SENDERS - 1)
        winner = variants[[r.status_code for r in responses].index(200)]
        with httpx.Client(base_url=servers[1].url) as http:
            stored = http.get(f"/dicom/studies/{original.StudyInstanceUID}/series/{original.SeriesInstanceUID}/"
                              f"instances/{original.SOPInstanceUID}", headers={"Accept": "multipart/related; "
                                                                              'type="application/dicom"'})
            assert stored.status_code == 200
        assert part10_name(stored.content) in winner
    finally:
        for server in servers:
            server.stop()


def part10_name(multipart_body: bytes) -> bytes:
    """The PatientName value inside a retrieved object ('Variant^N')."""
    start = multipart_body.index(b"Variant^")
    return multipart_body[start:start + len(b"Variant^0")]
