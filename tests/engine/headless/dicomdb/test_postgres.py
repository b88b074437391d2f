"""The PostgreSQL index (`index.url`): shared by several instances, created once, and a database that
goes away is a 503 with Retry-After for as long as it is away, never a hang, a 500 or a restart."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from slicerweb.demo.dicom_studies import generate_study
from slicerweb.devstack.postgres import PostgresCluster
from slicerweb.engine.dicom_api import SearchQuery, StowPart
from slicerweb.engine.headless import HeadlessEngine
from slicerweb.engine.headless.dicomdb import HeadlessDicom
from slicerweb.engine.headless.dicomdb.index import DicomIndex
from slicerweb.engine.headless.dicomdb.schema import SCHEMA_VERSION
from slicerweb.engine.protocol import FeatureOverride
from tests.dicomweb.conftest import STOW_TYPE, part10, stow_body
from tests.postgres import fresh_schema_url
from tests.support import subprocess_env

pytestmark = pytest.mark.postgresql


def parts(index: int, instances: int = 3) -> list[StowPart]:
    return [StowPart("application/dicom", io.BytesIO(part10(ds)))
            for ds in generate_study(index, series_count=1, instances_per_series=instances)]


def test_instances_created_together_make_the_schema_once(postgres_url: str) -> None:
    """Four first starts at the same moment: one creates the tables, the others find them (no error)."""
    errors: list[BaseException] = []
    indexes: list[DicomIndex] = []

    def open_one() -> None:
        try:
            indexes.append(DicomIndex(postgres_url))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchall() == [(str(SCHEMA_VERSION),)]
    for index in indexes:
        index.close()


async def test_two_instances_share_one_index_and_one_storage(tmp_path: Path, postgres_url: str) -> None:
    """Stored through one instance, found and retrieved through the other at once; the same object
    stored through both is there once; different bytes under the same UID fail with 0x0111."""
    first = HeadlessDicom(tmp_path / "dicom", index_url=postgres_url)
    second = HeadlessDicom(tmp_path / "dicom", index_url=postgres_url)
    try:
        report = await first.store_instances(parts(7))
        assert len(report.stored) == 3 and not report.failed
        found = await second.search_for_instances(SearchQuery("instance"))
        assert found.total == 3
        study = generate_study(7, series_count=1, instances_per_series=3)[0]
        frames = await second.retrieve_instance_frames(str(study.StudyInstanceUID), str(study.SeriesInstanceUID),
                                                       str(study.SOPInstanceUID), [1], None)
        assert frames[0].data == study.PixelData[:len(frames[0].data)]
        again = await second.store_instances(parts(7))
        assert not again.failed  # identical duplicates succeed
        changed = generate_study(7, series_count=1, instances_per_series=1)[0]
        changed.PatientName = "Someone^Else"
        conflict = await second.store_instances([StowPart("application/dicom", io.BytesIO(part10(changed)))])
        assert [f.failure_reason for f in conflict.failed] == [0x0111]
        assert (await first.search_for_instances(SearchQuery("instance"))).total == 3
    finally:
        first.close()
        second.close()


def test_postgresql_down_is_503_with_retry_after_then_recovers(tmp_path: Path, live_server) -> None:
    """Stop PostgreSQL under a running server: /dicom answers 503 JSON with Retry-After promptly; start
    it again: the same server serves and stores again, without a restart. Its log says so in two lines
    (down, with the reason; back), not one warning per refused call."""
    cluster = PostgresCluster().start()  # durable: an immediate stop loses no acknowledged commit
    try:
        url = fresh_schema_url(cluster)
        server = live_server(policy_toml=f'[features]\ndicomweb_write = true\n[index]\nurl = "{url}"\n')
        body = stow_body([part10(ds) for ds in generate_study(3, series_count=1, instances_per_series=2)])
        with server.client() as http:
            assert http.post("/dicom/studies", content=body, headers={"Content-Type": STOW_TYPE}).status_code == 200
            assert len(http.get("/dicom/studies").json()) == 1
            cluster.stop("immediate")
            started = time.monotonic()
            down = http.get("/dicom/studies")
            waited = time.monotonic() - started
            assert down.status_code == 503, down.text
            assert down.headers["Content-Type"] == "application/json"
            assert down.headers["Retry-After"] == "2"
            assert down.json()["message"] == "the DICOM index (PostgreSQL) is unreachable; retry shortly"
            assert "/tmp" not in down.text  # where the database lives is the operator's business
            assert waited < 10, f"a request waited {waited:.1f} s for a database that is down"
            refused = http.post("/dicom/studies", content=stow_body([part10(generate_study(4)[0])]),
                                headers={"Content-Type": STOW_TYPE})
            assert refused.status_code == 503
            for _ in range(4):
                assert http.get("/dicom/studies").status_code == 503
            assert http.get("/livez").status_code == 200  # the process itself is fine
            cluster.start()
            deadline = time.monotonic() + 30
            while (answer := http.get("/dicom/studies")).status_code == 503:
                assert time.monotonic() < deadline, f"no recovery after PostgreSQL came back: {answer.text}"
                time.sleep(0.2)
            assert len(answer.json()) == 1  # the acknowledged study survived the database's crash
            again = http.post("/dicom/studies", content=stow_body([part10(generate_study(4)[0])]),
                              headers={"Content-Type": STOW_TYPE})
            assert again.status_code == 200
            assert len(http.get("/dicom/studies").json()) == 2
        lines = [line for line in map(json.loads, filter(None, server.log().splitlines())) if "logger" in line]
        warnings = [line for line in lines if line["level"] == "warning"]
        assert len(warnings) == 1, warnings  # every refused call and lease renewal: one line, not hundreds
        assert warnings[0]["message"].startswith(f"DICOM index {url.split('?')[0]}")  # where (no password in it)
        assert " unreachable: " in warnings[0]["message"]  # and why, in the driver's words
        assert warnings[0]["message"].endswith("; its calls are refused (503) until it is back")
        back = [line for line in lines if " is back after " in line["message"]]
        assert len(back) == 1 and back[0]["level"] == "info", back
    finally:
        cluster.destroy()


async def test_migrate_index_moves_a_sqlite_archive_to_postgresql(tmp_path: Path, postgres_url: str) -> None:
    """`slicerweb dicom migrate-index --to URL`: the same QIDO answers and objects from PostgreSQL, new
    stores continue after the copied keys; a second run into the now non-empty target is refused."""
    data = tmp_path / "data"
    sqlite = HeadlessDicom(data / "dicom")
    for index in (1, 2):
        assert not (await sqlite.store_instances(parts(index, instances=4))).failed
    before = {level: (await sqlite.search_for_instances(SearchQuery(level, include_all=True))).records
              for level in ("study", "series", "instance")}
    sqlite.close()
    command = [sys.executable, "-m", "slicerweb", "dicom", "migrate-index", "--to", postgres_url,
               "--data-dir", str(data)]
    done = subprocess.run(command, capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "2 patient rows, 2 study rows, 2 series rows, 8 instance rows" in done.stdout
    moved = HeadlessDicom(data / "dicom", index_url=postgres_url)
    try:
        after = {level: (await moved.search_for_instances(SearchQuery(level, include_all=True))).records
                 for level in ("study", "series", "instance")}
        assert after == before
        assert not (await moved.store_instances(parts(3))).failed  # keys continue past the copied ones
        assert (await moved.search_for_instances(SearchQuery("instance"))).total == 11
    finally:
        moved.close()
    again = subprocess.run(command, capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert again.returncode == 2
    assert again.stderr.strip() == ("slicerweb: the target index is not empty (table patient has rows); "
                                    "migrate into an empty database")


async def test_a_nul_inside_an_indexed_value_is_stored_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    """SQLite stores NUL in text, PostgreSQL refuses it: the index drops it from indexed columns."""
    dicom = HeadlessDicom(tmp_path / "dicom", index_url=postgres_url)
    try:
        ds = generate_study(5, series_count=1, instances_per_series=1)[0]
        ds.PatientName = "Doe\x00^Jane"
        report = await dicom.store_instances([StowPart("application/dicom", io.BytesIO(part10(ds)))])
        assert not report.failed
        found = await dicom.search_for_studies(SearchQuery("study"))
        assert found.records[0]["00100010"]["Value"] == [{"Alphabetic": "Doe^Jane"}]
    finally:
        dicom.close()


def test_readyz_and_metrics_follow_postgresql(live_server) -> None:
    """/readyz names the index while PostgreSQL is down (and /metrics still answers), 200 once it is back."""
    cluster = PostgresCluster().start()  # durable: an immediate stop loses no acknowledged commit
    try:
        server = live_server(policy_toml=f'[index]\nurl = "{fresh_schema_url(cluster)}"\n')
        with server.client() as http:
            assert http.get("/readyz").status_code == 200
            cluster.stop("immediate")
            down = http.get("/readyz")
            assert down.status_code == 503
            assert down.json()["checks"]["index"].startswith("index unreachable (PostgreSQL)")
            assert http.get("/metrics").status_code == 200
            cluster.start()
            deadline = time.monotonic() + 30
            while (ready := http.get("/readyz")).status_code != 200:
                assert time.monotonic() < deadline, ready.text
                time.sleep(0.2)
    finally:
        cluster.destroy()


async def test_feature_switches_live_in_the_postgresql_index(tmp_path: Path, postgres_url: str) -> None:
    """Two instances with their own data directories (two hosts) but one index: a switch made on one is in
    force on the other at once, and its expiry is reported by exactly one of them."""
    first = HeadlessEngine(tmp_path / "host-a", index_url=postgres_url)
    second = HeadlessEngine(tmp_path / "host-b", index_url=postgres_url)
    try:
        now = time.time()
        override = FeatureOverride("exec", True, now + 0.5, "admin", now)
        assert await first.features.set_override(override) is None
        assert (await second.features.overrides(time.time()))["exec"] == override
        assert not (tmp_path / "host-b" / "features.sqlite").exists()  # nothing per host
        await asyncio.sleep(0.6)
        expired = [*await first.features.expire(time.time()), *await second.features.expire(time.time())]
        assert [o.name for o in expired] == ["exec"]
        assert await second.features.overrides(time.time()) == {}
    finally:
        await first.close()
        await second.close()
