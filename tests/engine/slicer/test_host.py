"""SlicerWebHost inside a stand-in Slicer whose main loop holds the GIL while idle (tests/slicer_standin).

What a user of a real Slicer would see: with the GUI idle, every request is answered (the design before
issue 17 stalled on the first one: bench/slicer_mainloop shows it, and prints the latency figures); the
version is Slicer's (`slicer.app.revision`); DICOMweb metadata and WADO-RS parts come from Slicer's DICOM
database with the stored transfer syntax; the panel's exec checkbox reaches the server, audited; stopping
ends the server process. No timing is asserted: only that all requests complete within generous timeouts.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from slicerweb.demo.dicom_studies import generate_study, write_studies
from slicerweb.engine.slicer.host import SlicerWebHost
from tests.support import subprocess_env

REPO = Path(__file__).resolve().parents[3]


class StandInSlicer:
    def __init__(self, tmp: Path) -> None:
        write_studies(tmp / "db", 2, series_count=2, instances_per_series=3)
        self.data = tmp / "data"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.slicer_standin", "--dicom", str(tmp / "db"), "--data", str(self.data)],
            cwd=REPO, env=subprocess_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), self.url

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self) -> dict[str, object]:
        self.command("stop")
        out = self.proc.communicate(timeout=60)[0].strip().splitlines()
        return json.loads(out[-1])


@pytest.fixture(scope="module")
def slicer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandInSlicer]:
    stand_in = StandInSlicer(tmp_path_factory.mktemp("standin"))
    yield stand_in
    if stand_in.proc.poll() is None:
        stand_in.proc.kill()
        stand_in.proc.communicate()


def test_requests_are_answered_while_slicer_idles_holding_the_gil(slicer: StandInSlicer) -> None:
    study = generate_study(0, series_count=2, instances_per_series=3)
    metadata = f"dicom/studies/{study[0].StudyInstanceUID}/series/{study[0].SeriesInstanceUID}/metadata"
    with httpx.Client(base_url=slicer.url, timeout=30) as client:
        versions = [client.get("slicer/system/version") for _ in range(200)]
        documents = [client.get(metadata) for _ in range(50)]
    assert {v.status_code for v in versions} == {200}
    # revision is slicer.app.revision (the stand-in has repositoryRevision "583e9b37d50e" too)
    assert {(v.json()["revision"], v.json()["engine"]) for v in versions} == {("33333", "slicer")}
    assert {d.status_code for d in documents} == {200}
    assert all(d.headers["content-type"] == "application/dicom+json" for d in documents)
    sops = {doc["00080018"]["Value"][0] for d in documents for doc in d.json()}
    assert sops == {ds.SOPInstanceUID for ds in study[:3]}


def test_wado_parts_carry_the_stored_transfer_syntax(slicer: StandInSlicer) -> None:
    ds = generate_study(0, series_count=2, instances_per_series=3)[4]
    url = f"dicom/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    response = httpx.get(slicer.url + url, timeout=30,
                         headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
    assert response.status_code == 200
    part_headers = response.content.split(b"\r\n\r\n", 1)[0].decode()
    assert f"transfer-syntax={ds.file_meta.TransferSyntaxUID}" in part_headers


def test_exec_toggle_from_the_panel_reaches_the_server_audited(slicer: StandInSlicer) -> None:
    code = "__execResult = {'json': json.dumps([1]), 'qt': qt is not None}"
    with httpx.Client(base_url=slicer.url, timeout=30) as client:
        assert client.post("slicer/exec", content=code).status_code == 403
        slicer.command("exec on")
        for _ in range(200):  # the toggle travels over the bridge; wait for it, boundedly
            response = client.post("slicer/exec", content=code)
            if response.status_code != 403:
                break
            client.get("slicer/system/version")
    assert response.status_code == 200 and response.json() == {"json": "[1]", "qt": True}
    records = [json.loads(line) for line in (slicer.data / "audit.jsonl").read_text().splitlines()]
    toggle = next(r for r in records if r.get("event") == "feature.toggle")
    assert (toggle["subject"], toggle["new"], toggle["via"]) == ("stand-in-operator", True, "gui")


def test_stop_ends_the_server_process(slicer: StandInSlicer) -> None:
    url = slicer.url
    summary = slicer.stop()
    *toggles, last = summary["notes"]
    assert last == "the SlicerWeb server process ended"  # seen on the bridge (EOF), notifier switched off
    assert set(toggles) <= {"exec is on"}  # the toggle's note, when the exec test ran first
    assert slicer.proc.returncode == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "slicer/system/version", timeout=5)


def test_only_the_connection_presenting_the_token_becomes_the_bridge() -> None:
    host = SlicerWebHost(SimpleNamespace(), SimpleNamespace())
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        stranger = socket.create_connection(("127.0.0.1", port))
        stranger.sendall(b"0" * 64 + b"\n")
        server = socket.create_connection(("127.0.0.1", port))
        server.sendall(b"ab" * 32 + b"\n")
        bridge = host._accept(listener, "ab" * 32)
    assert bridge.getpeername() == server.getsockname()
    assert stranger.recv(1) == b""  # turned away: closed without a word
    for sock in (bridge, stranger, server):
        sock.close()


def alive(process: Path) -> bool:
    """The process exists and is not a zombie (its parent, the killed stand-in, cannot reap it)."""
    try:
        return (process / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_server_process_ends_when_slicer_dies(tmp_path: Path) -> None:
    """Slicer crashing (no Stop pressed) closes the bridge: the server finishes and exits, no orphan keeps
    the port. Linux only (/proc lists a process's children)."""
    stand_in = StandInSlicer(tmp_path)
    pid = stand_in.proc.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert len(children) == 1
    server = Path(f"/proc/{children[0]}")
    stand_in.proc.kill()
    stand_in.proc.wait()
    for pipe in (stand_in.proc.stdin, stand_in.proc.stdout):  # the server shares them: do not wait for EOF
        assert pipe is not None
        pipe.close()
    try:
        for _ in range(300):  # bounded wait for the server's graceful exit (Hypercorn's graceful timeout is 5 s)
            if not alive(server):
                break
            time.sleep(0.1)
        assert not alive(server)
        with pytest.raises(httpx.TransportError):
            httpx.get(stand_in.url + "slicer/system/version", timeout=5)
    finally:
        if alive(server):  # the failure case: do not leave the orphan behind
            os.kill(int(children[0]), signal.SIGKILL)
