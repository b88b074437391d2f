"""`slicerweb serve --workers N`: a supervisor and N worker processes on one socket (supervisor.py, worker_role.py,
serve_command.py, engine/headless/scene_share.py). Real processes, real HTTP over loopback TCP.

Contract: both workers accept connections on the one URL printed; `/slicer` answers the same whichever worker
accepts the connection (worker 0 holds the scene); a feature switch made through one worker is in force on all
within a second, and a STOW through one is found by QIDO through the other; a worker killed with -9 is
restarted, and GETs that start after the kill all succeed; its restart recovers a dead owner's leftovers but
never a running sibling's files; SIGHUP reopens the access log in every worker; SIGTERM and DELETE
/slicer/system (through any worker) stop every worker and exit 0 with no process left, and a supervisor killed
with -9 leaves no worker serving; a damaged index is one line and exit 2, not
a restart loop; systemd hears the supervisor only, and no WATCHDOG=1 while a worker's loop is stuck;
`--workers 1` is one process, as before.

The module's tests share one 2-worker server (starting one costs seconds); the SIGTERM test, last, stops it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import numpy as np
import pytest

from slicerweb.demo.dicom_studies import generate_study
from slicerweb.engine.headless.dicomdb import HeadlessDicom
from slicerweb.features import CACHE_SECONDS
from slicerweb.limits import REQUEST_WORKING_BYTES
from tests.conftest import LiveServer, start_server, subprocess_env
from tests.dicomweb.conftest import STOW_TYPE, part10, stow_body
from tests.peak_rss import PeakRss
from tests.slicer_api.test_views import nrrd_of
from tests.test_sd_notify import receive

POLICY = """
[features]
dicomweb_write = true
exec_toggle = true

[logging]
access_log_path = "{log}"
"""


def children(pid: int) -> set[int]:
    """The live (not zombie) child processes of `pid`, from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.add(int(entry.name))
    return found


def gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie has closed its sockets: it serves nothing)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def wait_for(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def worker_of(client: httpx.Client) -> dict[str, int]:
    """{"index": i, "pid": p} of the worker holding this client's connection (one connection per client)."""
    worker: dict[str, int] = client.get("/readyz").json()["worker"]
    return worker


def connections(url: str, workers: int = 2, at_least: int = 8, limit: int = 400) -> Iterator[
        tuple[httpx.Client, dict[str, int]]]:
    """New connections (one per client) with the worker each landed on, until every worker index was seen and
    at least `at_least` were made. The kernel hands each new connection to whichever worker accepts first."""
    seen: set[int] = set()
    for made in range(limit):
        if made >= at_least and len(seen) == workers:
            return
        with httpx.Client(base_url=url, timeout=30, limits=httpx.Limits(max_connections=1)) as client:
            worker = worker_of(client)
            seen.add(worker["index"])
            yield client, worker
    raise AssertionError(f"only workers {seen} accepted {limit} connections")


def on_worker(url: str, index: int) -> Iterator[httpx.Client]:
    """A client whose one connection landed on worker `index`."""
    for client, worker in connections(url, limit=400):
        if worker["index"] == index:
            yield client
            return


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("workers")
    running = start_server(tmp, policy_toml=POLICY.format(log=tmp / "access.log"), args=["--workers", "2"])
    yield running
    running.stop()


def test_both_workers_accept_on_the_one_url_and_the_supervisor_only_supervises(server: LiveServer) -> None:
    workers = children(server.process.pid)
    assert len(workers) == 2
    answered = {worker["index"]: worker["pid"] for _, worker in connections(server.url)}
    assert set(answered) == {0, 1} and set(answered.values()) == workers
    assert server.process.pid not in answered.values()


def test_a_volume_put_through_one_worker_reads_back_the_same_through_every_worker(server: LiveServer) -> None:
    voxels = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    for client in on_worker(server.url, 1):  # stored by a worker that does not hold the scene
        put = client.post("/slicer/volume?id=shared", content=nrrd_of(voxels, np.eye(4)))
        assert put.status_code == 200 and put.json()["name"] == "shared"
    reads, pids = [], set()
    for client, worker in connections(server.url, at_least=10):
        pids.add(worker["pid"])
        got = client.get("/slicer/volume?id=shared")
        assert got.status_code == 200 and got.headers["Content-Type"] == "application/octet-stream"
        reads.append(got.content)
        assert client.get("/slicer/mrml/names").json() == ["shared"]
    assert len(pids) == 2
    assert all(body == reads[0] for body in reads)
    assert np.frombuffer(reads[0][-voxels.nbytes:], dtype=np.int16).tolist() == voxels.ravel().tolist()


def test_a_switch_made_through_one_worker_is_in_force_on_all_within_a_second(server: LiveServer) -> None:
    for client in on_worker(server.url, 0):
        switched = client.put("/admin/features/exec", json={"enabled": True, "minutes": 5})
        assert switched.status_code == 200 and switched.json()["enabled"] is True
    time.sleep(CACHE_SECONDS + 0.2)  # each worker rereads the shared store at least this often
    try:
        answers = set()
        for client, worker in connections(server.url):
            ran = client.post("/slicer/exec", content=b"__execResult = {'nodes': len(slicer.util.getNodes())}")
            assert ran.status_code == 200, (worker, ran.text)
            failed = client.post("/slicer/exec", content=b"1/0")
            assert failed.status_code == 500
            answers.add((ran.text, failed.json()["message"]))
        # the same answers from both: the scene is worker 0's, and a failure keeps its own name
        assert len(answers) == 1 and next(iter(answers))[1] == "ZeroDivisionError: division by zero"
    finally:
        with httpx.Client(base_url=server.url) as client:
            assert client.delete("/admin/features/exec").status_code == 200
    time.sleep(CACHE_SECONDS + 0.2)
    for client, _ in connections(server.url):
        assert client.post("/slicer/exec", content=b"1").status_code == 403


def test_a_volume_crossing_to_worker_0_is_held_once_in_each_process(server: LiveServer) -> None:
    """The bridge sends an array's memory as it is and rebuilds it over the received frame (pickle protocol 5
    out-of-band buffers): a PUT through worker 1 costs each process one copy of the voxels, as in one process.
    (In-band pickles held about four copies in each.)"""
    mib = 1 << 20
    voxels = (np.arange(32 * mib // 2) % 4000).astype(np.int16).reshape(128, 256, 512)
    body = nrrd_of(voxels, np.eye(4))
    for owner in on_worker(server.url, 0):
        holder = PeakRss(worker_of(owner)["pid"])
    for client in on_worker(server.url, 1):
        sibling = PeakRss(worker_of(client)["pid"])
        holder.reset()
        sibling.reset()
        put = client.post("/slicer/volume?id=big", content=body)
        assert put.status_code == 200, put.text
        assert holder.growth() < voxels.nbytes + REQUEST_WORKING_BYTES, f"worker 0: {holder.growth() / mib:.0f} MiB"
        assert sibling.growth() < voxels.nbytes + REQUEST_WORKING_BYTES, f"worker 1: {sibling.growth() / mib:.0f} MiB"
        holder.reset()
        got = client.get("/slicer/volume?id=big")
        assert got.content.endswith(voxels.tobytes())
        assert holder.growth() < REQUEST_WORKING_BYTES, f"worker 0 sending: {holder.growth() / mib:.0f} MiB"
        assert client.delete("/slicer/mrml?id=" + put.json()["id"]).status_code == 200


def test_stow_through_one_worker_is_found_by_qido_on_the_other(server: LiveServer) -> None:
    study = generate_study(41, series_count=1, instances_per_series=2, rows=8, columns=8)
    uid = str(study[0].StudyInstanceUID)
    for client in on_worker(server.url, 1):
        stored = client.post("/dicom/studies", content=stow_body([part10(ds) for ds in study]),
                             headers={"Content-Type": STOW_TYPE})
        assert stored.status_code == 200, stored.text
    for client in on_worker(server.url, 0):
        found = client.get("/dicom/studies", params={"StudyInstanceUID": uid})
        assert found.status_code == 200
        assert [s["0020000D"]["Value"] for s in found.json()] == [[uid]]
        assert client.get(f"/dicom/studies/{uid}/series").json()[0]["00201209"]["Value"] == [2]


def readyz_answers(metrics: str) -> float:
    """How many GET /readyz were answered 200, from a Prometheus text exposition."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith("slicerweb_http_requests_total{") and 'route="/readyz"' in line
               and 'status="200"' in line)


def test_metrics_from_any_worker_count_every_worker(server: LiveServer) -> None:
    def scrape() -> float:
        with httpx.Client(base_url=server.url, timeout=30) as client:  # no /readyz on this connection
            return readyz_answers(client.get("/metrics").text)

    before = scrape()
    made = len(list(connections(server.url)))  # one /readyz each, on both workers
    # each worker alone answered fewer than `made`: only the merged count (any worker's scrape) reaches it
    wait_for(lambda: scrape() == before + made, "the merged count")
    assert {scrape() for _ in range(6)} == {before + made}


def test_sighup_reopens_the_access_log_in_every_worker(server: LiveServer) -> None:
    log = server.data_dir.parent / "access.log"
    wait_for(log.exists, "an access log")
    log.rename(log.with_suffix(".log.1"))
    reopened = server.log().count("log files reopened (SIGHUP)")
    server.process.send_signal(signal.SIGHUP)
    wait_for(lambda: server.log().count("log files reopened (SIGHUP)") == reopened + 2, "both workers reopened")
    for client, worker in connections(server.url):
        assert client.get(f"/after-hup-by-{worker['index']}").status_code == 404
    lines = log.read_text()
    assert "/after-hup-by-0" in lines and "/after-hup-by-1" in lines
    assert "after-hup" not in log.with_suffix(".log.1").read_text()
    assert server.process.poll() is None


def test_a_worker_killed_with_9_is_restarted_and_gets_that_start_after_it_succeed(server: LiveServer) -> None:
    """Worker 0 (the scene's): /dicom GETs that start after it died all succeed on worker 1; /slicer there
    answers 503 with Retry-After until worker 0 is back (with an empty scene, as a restarted process)."""
    for client in on_worker(server.url, 0):
        victim = worker_of(client)["pid"]
    results: list[tuple[float, str]] = []  # (start time, "ok" or the error)
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:  # a new connection per request, no retry
                with httpx.Client(base_url=server.url, timeout=30) as client:
                    answer = client.get("/dicom/studies")
                results.append((started, "ok" if answer.status_code == 200 else f"status {answer.status_code}"))
            except httpx.TransportError as exc:
                results.append((started, f"{type(exc).__name__}"))

    clients = [threading.Thread(target=load) for _ in range(3)]
    for thread in clients:
        thread.start()
    try:
        wait_for(lambda: len(results) >= 10, "some load")
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: gone(victim), "the worker to die")
        died = time.monotonic()
        with httpx.Client(base_url=server.url, timeout=30) as client:  # only worker 1 accepts now
            away = client.get("/slicer/mrml/names")
        assert away.status_code == 503 and away.headers["Content-Type"] == "application/json"
        assert away.headers["Retry-After"] == "1" and "worker 0" in away.json()["message"]
        wait_for(lambda: len(children(server.process.pid) - {victim}) == 2, "a new worker 0")
        wait_for(lambda: " is ready" in server.log().rsplit("killed by SIGKILL", 1)[-1], "the new worker ready")
        count = len(results)
        wait_for(lambda: len(results) >= count + 10, "load after the restart")
    finally:
        stop.set()
        for thread in clients:
            thread.join(60)
    after = [outcome for started, outcome in results if started > died]
    assert after and set(after) == {"ok"}, after
    assert f"worker 0 (pid {victim}) killed by SIGKILL; restarting it in 0.5 s" in server.log()
    for client, _ in connections(server.url):
        assert client.get("/slicer/mrml/names").json() == []


def test_a_restarted_worker_recovers_dead_leftovers_but_never_a_running_siblings(server: LiveServer) -> None:
    tmp = server.data_dir / "dicom" / "tmp"
    for client in on_worker(server.url, 0):
        sibling = worker_of(client)["pid"]
    for client in on_worker(server.url, 1):
        victim = worker_of(client)["pid"]
    (lock,) = [p for p in tmp.iterdir() if p.suffix == ".lock" and p.name.startswith(f"{sibling}-")]
    owner = tmp / lock.stem  # its temp directory is made at its first store (storage.py)
    owner.mkdir(exist_ok=True)
    in_flight = owner / "in-flight.part"  # a store of worker 0 in progress
    in_flight.write_bytes(b"DICM")
    dead = tmp / "999999-0123456789ab"  # a process that died mid-store: its lock file is free
    dead.mkdir()
    (dead / "leftover.part").write_bytes(b"DICM")
    (tmp / "999999-0123456789ab.lock").touch()
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: gone(victim) and len(children(server.process.pid) - {victim}) == 2, "a new worker 1")
    wait_for(lambda: not dead.exists(), "the dead owner's leftovers recovered")
    assert in_flight.read_bytes() == b"DICM"
    in_flight.unlink()


def test_sigterm_stops_every_worker_and_exits_0(server: LiveServer) -> None:
    workers = children(server.process.pid)
    assert len(workers) == 2
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(20) == 0
    assert all(gone(pid) for pid in workers)


def test_workers_of_a_supervisor_killed_with_9_stop_by_themselves(tmp_path: Path) -> None:
    """No orphan keeps serving on the socket: each worker's next report finds no reader and it stops."""
    server = start_server(tmp_path, args=["--workers", "2"])
    workers = children(server.process.pid)
    command = (Path("/proc") / str(min(workers)) / "cmdline").read_bytes().split(b"\0")
    private = Path(command[command.index(b"--worker-dir") + 1].decode())  # a killed supervisor cannot remove it
    try:
        assert len(workers) == 2
        server.process.kill()
        server.process.wait(10)
        wait_for(lambda: all(gone(pid) for pid in workers), "the workers to stop")
    finally:
        for pid in workers:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
        server.stop()
        shutil.rmtree(private, ignore_errors=True)


def test_a_damaged_index_is_one_line_and_exit_2_not_a_restart_loop(tmp_path: Path) -> None:
    data = tmp_path / "data"
    HeadlessDicom(data / "dicom").close()
    with closing(sqlite3.connect(data / "dicom" / "index.sqlite")) as conn, conn:
        conn.execute("UPDATE meta SET value = '99' WHERE name = 'schema'")
    refused = subprocess.run([sys.executable, "-m", "slicerweb", "serve", "--port", "0", "--data-dir", str(data),
                              "--workers", "2"], capture_output=True, text=True, env=subprocess_env(), timeout=60)
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert lines[0].startswith("slicerweb: the DICOM index") and "slicerweb dicom reindex" in lines[0]
    assert "serving on" not in refused.stdout


def test_systemd_hears_the_supervisor_only_and_delete_system_through_a_worker_stops_all(tmp_path: Path) -> None:
    """READY=1 once both are ready, WATCHDOG=1 from the supervisor's PID only (NotifyAccess=main), none while a
    worker's loop is stuck (SIGSTOP) and again once it answers; DELETE /slicer/system through worker 1 stops
    the whole server: STOPPING=1, exit 0, no worker left."""
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        sock.settimeout(30)
        server = start_server(tmp_path, args=["--workers", "2"],
                              env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "1000000"})
        try:
            workers = children(server.process.pid)
            ready = receive(sock, "READY=1")
            assert f"STATUS=serving on {server.url}/ with 2 workers" in ready[-1].split("\n")
            senders = set()
            for _ in range(3):
                message, ancillary, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(12))
                senders.add(int.from_bytes(ancillary[0][2][:4], sys.byteorder))
                assert message.split(b"\n")[0] == b"WATCHDOG=1" and b"STATUS=2 workers ready" in message
            assert senders == {server.process.pid}
            for client in on_worker(server.url, 1):
                stuck = worker_of(client)["pid"]
            os.kill(stuck, signal.SIGSTOP)  # its event loop stops: no more `alive` reports
            try:
                while True:  # pings still in flight, then the STATUS naming the stuck worker, and no ping
                    message = sock.recv(4096).decode()
                    if "worker 1 not answering" in message:
                        break
                assert "WATCHDOG=1" not in message.split("\n")
            finally:
                os.kill(stuck, signal.SIGCONT)
            receive(sock, "WATCHDOG=1")  # it answers again: the pings resume
            for client in on_worker(server.url, 1):
                assert client.delete("/slicer/system").json() == {"success": True}
            assert server.process.wait(20) == 0
        finally:
            server.stop()
        receive(sock, "STOPPING=1")
    assert all(gone(pid) for pid in workers)


def test_one_worker_is_one_process_as_before(live_server) -> None:
    server = live_server(args=["--workers", "1"])
    with server.client() as client:
        ready = client.get("/readyz").json()
    assert "worker" not in ready and ready["status"] == "ready"
    assert children(server.process.pid) == set()
