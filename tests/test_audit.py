"""The audit log (audit.py): written off the caller's thread, group-committed, durable on request,
never dropping a line silently, and complete after a flood of denials through a real server.

Before the writer thread, `record()` opened, wrote and fsynced on the caller's thread: a stalled audit
file (here a FIFO nobody reads) stalled the event loop, and a flood of bad tokens paid one fsync each.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from slicerweb import audit as audit_module
from slicerweb.audit import AuditLog
from tests.conftest import LiveServer, start_server
from tests.oidc import RunningIssuer, auth_policy
from tests.support import settled_audit


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def unstall(path: Path) -> bytes:
    """Read what the writer pushed into the FIFO, then replace the FIFO by nothing (a regular file next)."""
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    received = b""
    deadline = time.monotonic() + 10
    try:
        while b"\n" not in received and time.monotonic() < deadline:
            try:
                received += os.read(reader, 65536)
            except BlockingIOError:
                time.sleep(0.05)
        path.unlink()
    finally:
        os.close(reader)
    return received


def test_record_does_not_wait_for_a_stalled_disk(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    os.mkfifo(path)  # opening it for writing blocks until someone reads: a stalled disk
    audit = AuditLog(path)
    returned = threading.Event()

    def deny() -> None:
        audit.record("access.denied", droppable=True, reason="bad token")
        returned.set()

    threading.Thread(target=deny, daemon=True).start()
    try:
        assert returned.wait(10), "record() blocked its caller on the audit file"
    finally:
        assert b'"event":"access.denied"' in unstall(path)
    audit.flush()  # the FIFO could not be fsynced: the batch is written again to the real file
    assert [e["event"] for e in lines(path)] == ["access.denied"]


def test_a_full_queue_counts_denials_and_keeps_everything_else(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_module, "MAX_QUEUED_LINES", 10)
    path = tmp_path / "audit.jsonl"
    os.mkfifo(path)
    audit = AuditLog(path)
    for n in range(25):
        audit.record("access.denied", droppable=True, n=n)
    audit.record("feature.toggle", feature="exec")  # a privileged act is never dropped
    unstall(path)
    audit.flush()
    events = lines(path)
    denials = [e for e in events if e["event"] == "access.denied"]
    dropped = sum(int(e["count"]) for e in events if e["event"] == "audit.dropped")  # type: ignore[call-overload]
    assert dropped > 0 and len(denials) + dropped == 25
    assert [e["event"] for e in events].count("feature.toggle") == 1


def test_records_from_many_threads_are_all_written_with_group_commit(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")

    def burst(thread: int) -> None:
        for n in range(500):
            audit.record("access.denied", droppable=True, thread=thread, n=n)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(burst, range(4)))
    events = audit.read()
    assert len(events) == 2000
    for thread in range(4):
        assert [e["n"] for e in events if e["thread"] == thread] == list(range(500))  # order kept
    assert audit.commits < 2000  # one fsync per batch, not per line


async def test_durable_waits_until_the_line_is_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path)
    audit.record("slicer_write", subject="alice", status=200)
    await audit.durable()
    assert [e["event"] for e in lines(path)] == ["slicer_write"]


@pytest.fixture
def server(issuer: RunningIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("app"), policy_toml=auth_policy(issuer).replace(
        "failure_limit = 1000", "failure_limit = 0"))
    yield live
    live.stop()


def test_every_denial_of_a_flood_is_in_the_audit_file(server: LiveServer, issuer: RunningIssuer) -> None:
    def attempt(n: int) -> str:
        with server.client() as http:
            response = http.get("/dicom/studies", headers={"Authorization": f"Bearer forged-{n}"})
            assert response.status_code == 401
            return str(response.headers["x-request-id"])

    with ThreadPoolExecutor(8) as pool:
        request_ids = set(pool.map(attempt, range(300)))
    with server.client() as http:
        ok = http.get("/dicom/studies", headers={"Authorization": f"Bearer {issuer.mint('dicomweb.read')}"})
        assert ok.status_code in (200, 204)
    def denied_ids(events: list[dict[str, object]]) -> set[object]:
        return {e["request_id"] for e in events if e["event"] == "access.denied" and e["status"] == 401}

    denied = denied_ids(settled_audit(server.data_dir / "audit.jsonl",
                                      until=lambda events: request_ids <= denied_ids(events)))
    assert len(request_ids) == 300 and request_ids <= denied
