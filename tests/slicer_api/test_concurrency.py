"""Concurrency contract: a long exec does not stall other clients, and a reader never sees a half-updated
volume while uploads replace it (each answer is one complete version)."""

from __future__ import annotations

import threading

import httpx
import numpy as np

from slicerweb.formats.nrrd import iter_nrrd


def test_long_exec_does_not_stall_other_requests(live_server, tmp_path):
    server = live_server(args=["--enable-exec"])
    release = tmp_path / "release"
    code = (f"import time, pathlib\nwhile not pathlib.Path({str(release)!r}).exists():\n    time.sleep(0.01)\n"
            "__execResult = {'done': True}")
    outcome: dict[str, object] = {}

    def run_exec() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            outcome["reply"] = http.post("/slicer/exec", content=code).json()

    worker = threading.Thread(target=run_exec)
    worker.start()
    try:
        with server.client() as http:
            assert http.get("/slicer/system/version").status_code == 200
            assert http.get("/slicer/sampledata?name=MRHead").status_code == 200
            assert http.get("/slicer/mrml/names").json() == ["MRHead"]
            assert len(http.get("/slicer/volume").content) > 17_000_000
            assert worker.is_alive() and "reply" not in outcome  # the exec is still running meanwhile
    finally:
        release.touch()
        worker.join(60)
    assert outcome["reply"] == {"done": True}


def test_readers_see_whole_versions_during_uploads(live_server):
    server = live_server()
    versions = [b"".join(iter_nrrd(np.full((8, 64, 64), value, np.int16), np.diag([1.0 + value] * 3 + [1.0])))
                for value in range(1, 4)]
    with server.client() as http:
        assert http.post("/slicer/volume?id=V", content=versions[0]).status_code == 200
    stop = threading.Event()

    def upload() -> None:
        with server.client() as http:
            while not stop.is_set():
                for body in versions:
                    assert http.post("/slicer/volume?id=V", content=body).status_code == 200

    writer = threading.Thread(target=upload)
    writer.start()
    try:
        with server.client() as http:
            for _ in range(30):
                assert http.get("/slicer/volume?id=V").content in versions
    finally:
        stop.set()
        writer.join(60)
