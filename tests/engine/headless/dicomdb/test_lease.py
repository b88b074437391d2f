"""Recovery decided by a lease in the index (lease.py, recovery.py), on SQLite and on PostgreSQL: a live
owner on another host (whose process does not exist here and whose flock is free) is never recovered
while its lease is fresh, an expired one is; a process killed with -9 is recovered by the first start
after its lease expires; an owner recovered while it could not renew fails its store in flight
(nothing half-written) and goes on under a new name; renewals fail quietly while PostgreSQL is down."""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from slicerweb.demo.dicom_studies import generate_study
from slicerweb.devstack.postgres import PostgresCluster
from slicerweb.engine.errors import Unavailable
from slicerweb.engine.headless.dicomdb import HeadlessDicom
from slicerweb.engine.headless.dicomdb.database import open_database
from slicerweb.formats.dicom.ingest import ParsedInstance, parse_instance
from tests.dicomweb.conftest import part10
from tests.engine.headless.dicomdb.leases import leases, location, wait_for_expiry
from tests.postgres import fresh_schema_url
from tests.support import subprocess_env

FOREIGN_PID = 4194305  # above Linux's largest pid_max: no process here has it


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def store_index(request: pytest.FixtureRequest) -> str:
    """The `index_url` of the stores in a test: "" (SQLite in the data directory) or a PostgreSQL schema."""
    return "" if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))


def one_object(seed: int = 90) -> bytes:
    return part10(generate_study(seed, series_count=1, instances_per_series=1)[0])


def journal(db: HeadlessDicom, data: bytes, owner: str) -> tuple[ParsedInstance, str]:
    """Claim `data`'s instance as `owner` and rename its file into place: a store between place and insert."""
    parsed = parse_instance(io.BytesIO(data))
    relpath = db.storage.relative(db.storage.final_path(parsed.study_uid, parsed.series_uid, parsed.sop_uid))
    with db.index.writing():
        assert db.index.claim([(parsed, relpath)], owner) == {}
    final = db.storage.absolute(relpath)
    final.parent.mkdir(parents=True, exist_ok=True)
    final.write_bytes(data)
    return parsed, relpath


def sql(root: Path, index_url: str, statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    db = open_database(location(root, index_url))
    try:
        with db.read() as conn:
            cursor = conn.execute(statement.replace("NOW", db.now), params)
            return [tuple(row) for row in cursor.fetchall()] if statement.startswith("SELECT") else []
    finally:
        db.close()


def pending(root: Path, index_url: str) -> list[tuple[object, ...]]:
    return sql(root, index_url, "SELECT path, owner FROM pending")


def test_a_live_owner_on_another_host_is_left_alone_until_its_lease_expires(tmp_path: Path, store_index: str) -> None:
    root = tmp_path / "dicom"
    first = HeadlessDicom(root, index_url=store_index)
    owner = f"{FOREIGN_PID}-foreignhost1"  # an instance on host-b, storing right now
    sql(root, store_index, "INSERT INTO lease (owner, host, pid, started, expires) VALUES (?, ?, ?, NOW, NOW + 3600)",
        (owner, "host-b.example", FOREIGN_PID))
    _parsed, relpath = journal(first, one_object(), owner)
    (root / "tmp" / owner).mkdir()
    (root / "tmp" / owner / "next.part").write_bytes(b"half a file")
    (root / "tmp" / f"{owner}.lock").touch()  # its flock is not held from here (NFS: another host's lock)
    first.close()

    second = HeadlessDicom(root, index_url=store_index)  # start-up recovery: the lease is fresh
    second.recover()
    assert (root / relpath).is_file() and (root / "tmp" / owner / "next.part").is_file()
    assert pending(root, store_index) == [(relpath, owner)]
    assert leases(root, store_index)[owner] == ("host-b.example", FOREIGN_PID, True)

    sql(root, store_index, "UPDATE lease SET expires = NOW - 1 WHERE owner = ?", (owner,))  # host-b went away
    second.recover()
    assert not (root / relpath).exists() and not (root / "tmp" / owner).exists()
    assert not (root / "tmp" / f"{owner}.lock").exists()
    assert pending(root, store_index) == [] and owner not in leases(root, store_index)
    (outcome,) = second.store_files([io.BytesIO(one_object())]).outcomes  # nothing blocks the instance now
    assert outcome.failure_reason is None and not outcome.already_stored
    second.close()


KILLED = """
import io, sys, time
from pathlib import Path
from slicerweb.engine.headless.dicomdb import HeadlessDicom
from tests.engine.headless.dicomdb.test_lease import journal, one_object
db = HeadlessDicom(Path(sys.argv[1]), index_url=sys.argv[2], lease_seconds=3)
_, relpath = journal(db, one_object(), db.storage.owner)
db.storage.write_temp(io.BytesIO(b"half a file"))
print(db.storage.owner, relpath, flush=True)
time.sleep(600)
"""


def test_a_killed_owner_is_recovered_by_the_first_start_after_its_lease_expires(tmp_path: Path,
                                                                                store_index: str) -> None:
    root = tmp_path / "dicom"
    HeadlessDicom(root, index_url=store_index).close()  # the schema exists before the child starts
    with subprocess.Popen([sys.executable, "-c", KILLED, str(root), store_index], stdout=subprocess.PIPE, text=True,
                          env=subprocess_env()) as child:
        assert child.stdout is not None
        owner, relpath = child.stdout.readline().split()
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        child.stdout.close()
    assert (root / "tmp" / owner).is_dir() and (root / relpath).is_file()

    early = HeadlessDicom(root, index_url=store_index)  # its flock is free, but its lease still runs
    if leases(root, store_index)[owner][2]:  # still fresh once recovery is done (3 s: nearly always)
        assert (root / relpath).is_file() and pending(root, store_index) == [(relpath, owner)]
    early.close()

    wait_for_expiry(root, store_index)
    after = HeadlessDicom(root, index_url=store_index)
    assert not (root / relpath).exists() and not (root / "tmp" / owner).exists()
    assert pending(root, store_index) == [] and leases(root, store_index).keys() == {after.storage.owner}
    after.close()


def test_an_owner_recovered_while_it_could_not_renew_stores_nothing_half_and_goes_on_as_another(
        tmp_path: Path, store_index: str) -> None:
    root = tmp_path / "dicom"
    alive = HeadlessDicom(root, index_url=store_index)
    old_owner = alive.storage.owner
    data = one_object()
    parsed, relpath = journal(alive, data, old_owner)  # its store is between rename and index commit...
    sql(root, store_index, "UPDATE lease SET expires = NOW - 1 WHERE owner = ?", (old_owner,))  # ...when it lapses
    (root / "tmp" / f"{old_owner}.lock").unlink()  # and its flock proves nothing (another host, NFS)
    other = HeadlessDicom(root, index_url=store_index)  # and another instance starts and recovers it
    assert not (root / relpath).exists() and pending(root, store_index) == []

    with alive.index.writing(), pytest.raises(Unavailable, match="another instance took over"):
        alive.index.insert([(parsed, relpath)])  # the fence: its journal row is gone
    assert alive.index.locate(parsed.sop_uid) is None  # never a row without its file

    alive.lease.renew()  # its next renewal finds the row gone
    assert alive.storage.owner != old_owner and alive.lease.owner == alive.storage.owner
    assert set(leases(root, store_index)) == {alive.storage.owner, other.storage.owner}
    (outcome,) = alive.store_files([io.BytesIO(data)]).outcomes
    assert outcome.failure_reason is None
    assert other.index.locate(parsed.sop_uid) is not None and (root / relpath).is_file()
    alive.close()
    other.close()


@pytest.mark.postgresql
def test_renewals_fail_quietly_while_postgresql_is_down_and_resume_on_return(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The lease lapses during the outage: stores are refused (503) rather than risk being recovered
    mid-write; the server keeps running, logs the outage once, and its lease is renewed on return."""
    cluster = PostgresCluster().start()
    try:
        url = fresh_schema_url(cluster)
        db = HeadlessDicom(tmp_path / "dicom", index_url=url, lease_seconds=2)
        owner = db.storage.owner
        caplog.set_level(logging.INFO, logger="slicerweb.dicom")
        cluster.stop("immediate")
        deadline = time.monotonic() + 30
        while db.lease.held():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(1.2)  # a few more failed renewals (one a second)
        with pytest.raises(Unavailable):
            db.store_files([io.BytesIO(one_object())])
        cluster.start()
        deadline = time.monotonic() + 30
        while not db.lease.held():
            assert time.monotonic() < deadline, "the lease was not renewed after PostgreSQL came back"
            time.sleep(0.1)
        assert db.storage.owner == owner  # nobody recovered it meanwhile: the same owner goes on
        assert not db.store_files([io.BytesIO(one_object())]).failed
        messages = [r.getMessage() for r in caplog.records if r.name.startswith("slicerweb.dicom")]
        ours = [m for m in messages if url in m or owner in m]  # not another test's leftovers
        assert len([m for m in ours if "unreachable:" in m]) == 1, ours
        assert len([m for m in ours if " is back after " in m]) == 1, ours
        assert all("renewal failed" not in m for m in ours)
        db.close()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT COUNT(*) FROM lease").fetchone() == (0,)  # a clean close deletes it
    finally:
        cluster.destroy()


def test_the_process_id_in_a_lease_is_this_process(tmp_path: Path) -> None:
    db = HeadlessDicom(tmp_path / "dicom")
    host, pid, fresh = leases(tmp_path / "dicom")[db.storage.owner]
    assert (pid, fresh) == (os.getpid(), True) and host
    db.close()
    assert leases(tmp_path / "dicom") == {}
