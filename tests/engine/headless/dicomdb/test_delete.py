"""Deleting from the headless database: rows and files go together, the counts of what remains stay
right, and a process killed between the index commit and the file removal leaves nothing visible
and is finished by the next start-up's recovery."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from slicerweb.demo.dicom_studies import generate_study
from slicerweb.engine.dicom_api import Match, RenderParams, SearchQuery
from slicerweb.engine.errors import Invalid, NotFound
from slicerweb.engine.headless.dicomdb import HeadlessDicom
from slicerweb.engine.headless.dicomdb.health import object_files
from tests.engine.headless.dicomdb.leases import wait_for_expiry
from tests.support import subprocess_env


def stored(db: HeadlessDicom, *studies: int) -> dict[int, list[str]]:
    """Store generated studies (2 series x 3 instances each); their SOP UIDs by study."""
    uids: dict[int, list[str]] = {}
    for index in studies:
        sources: list[BinaryIO] = []
        for ds in generate_study(index, series_count=2, instances_per_series=3):
            buffer = io.BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
            sources.append(buffer)
        report = db.store_files(sources)
        assert not report.failed
        uids[index] = [o.sop_instance_uid for o in report.stored]
    return uids


def rows(db: HeadlessDicom, table: str) -> int:
    with db.index.db.read() as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def study_record(db: HeadlessDicom, study_uid: str) -> dict[str, Any]:
    (record,) = db.index.search(SearchQuery("study", matches=(
        Match(0x0020000D, "StudyInstanceUID", "single", (study_uid,)),))).records
    return record


def test_deleting_a_study_leaves_no_row_and_no_file(tmp_path: Path) -> None:
    db = HeadlessDicom(tmp_path / "dicom")
    stored(db, 0, 1)
    study = generate_study(0)[0].StudyInstanceUID
    before = sum(p.stat().st_size for p in object_files(db.storage.objects) if study in str(p))
    report = db.delete_now(study)
    assert (report.studies, report.series, report.instances, report.bytes) == (1, 2, 6, before)
    assert not [p for p in object_files(db.storage.objects) if study in str(p)]
    assert not (db.storage.objects / study).exists()  # the emptied folders go too
    assert (rows(db, "study"), rows(db, "series"), rows(db, "instance"), rows(db, "pending")) == (1, 2, 6, 0)
    assert db.index.instances(study) == []
    assert len(object_files(db.storage.objects)) == 6  # the other study is untouched
    db.close()


def test_deleting_a_series_or_an_instance_keeps_the_counts_of_what_remains(tmp_path: Path) -> None:
    db = HeadlessDicom(tmp_path / "dicom")
    stored(db, 0)
    instances = generate_study(0, series_count=2, instances_per_series=3)
    first, second = instances[0], instances[3]
    study = first.StudyInstanceUID
    report = db.delete_now(study, first.SeriesInstanceUID)
    assert (report.studies, report.series, report.instances) == (0, 1, 3)
    report = db.delete_now(study, second.SeriesInstanceUID, second.SOPInstanceUID)
    assert (report.studies, report.series, report.instances) == (0, 0, 1)
    record = study_record(db, study)
    assert record["00201206"]["Value"] == [1]  # NumberOfStudyRelatedSeries
    assert record["00201208"]["Value"] == [2]  # NumberOfStudyRelatedInstances
    assert len(object_files(db.storage.objects)) == 2 and rows(db, "instance") == 2
    with pytest.raises(NotFound):
        db.delete_now(study, second.SeriesInstanceUID, second.SOPInstanceUID)
    db.close()


def test_unknown_and_malformed_uids(tmp_path: Path) -> None:
    db = HeadlessDicom(tmp_path / "dicom")
    stored(db, 0)
    with pytest.raises(NotFound, match=r"study 1\.2\.3 not found"):
        db.delete_now("1.2.3")
    with pytest.raises(Invalid, match="not a valid UID"):
        db.delete_now("../objects")
    assert rows(db, "instance") == 6
    db.close()


CRASH = """
import os, sys
from pathlib import Path
from slicerweb.engine.headless.dicomdb import HeadlessDicom
from slicerweb.engine.headless.dicomdb.delete import unindex
db = HeadlessDicom(Path(sys.argv[1]), lease_seconds=1)
with db.index.writing():
    unindex(db.index, db.storage.owner, sys.argv[2])
    os._exit(9)  # killed after the index commit, before a single file is removed
"""


def test_a_delete_killed_before_removing_files_is_invisible_and_finished_at_start_up(tmp_path: Path) -> None:
    db = HeadlessDicom(tmp_path / "dicom")
    stored(db, 0, 1)
    db.close()
    study = generate_study(0)[0].StudyInstanceUID
    crashed = subprocess.run([sys.executable, "-c", CRASH, str(tmp_path / "dicom"), study],
                             env=subprocess_env(), capture_output=True, text=True, timeout=60)
    assert crashed.returncode == 9, crashed.stderr
    assert len([p for p in object_files(tmp_path / "dicom" / "objects") if study in str(p)]) == 6  # files left
    wait_for_expiry(tmp_path / "dicom")  # its lease outlives it by a second
    db = HeadlessDicom(tmp_path / "dicom")  # start-up: recovery removes the journaled files
    assert db.index.instances(study) == []
    assert not [p for p in object_files(db.storage.objects) if study in str(p)]
    assert (rows(db, "instance"), rows(db, "pending")) == (6, 0)
    db.close()


async def test_another_process_forgets_a_deleted_instance_it_had_cached(tmp_path: Path) -> None:
    """Two servers share the data directory; one deletes what the other had just served (its row
    cache still holds it): the other answers NotFound, not a server error."""
    serving = HeadlessDicom(tmp_path / "dicom")
    stored(serving, 0)
    ds = generate_study(0, series_count=2, instances_per_series=3)[0]
    uids = (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    assert len(await serving.retrieve_instance_frames(*uids, [1], None)) == 1  # row cached now
    deleting = HeadlessDicom(tmp_path / "dicom")
    deleting.delete_now(ds.StudyInstanceUID)
    with pytest.raises(NotFound, match=f"instance {ds.SOPInstanceUID} not found"):
        await serving.retrieve_instance_frames(*uids, [1], None)
    with pytest.raises(NotFound):
        await serving.retrieve_bulkdata(*uids, 0x7FE00010)
    with pytest.raises(NotFound):
        await serving.retrieve_instance_rendered(*uids, 1, RenderParams())
    with pytest.raises(NotFound):
        await serving.retrieve_instance(*uids)
    deleting.close()
    serving.close()
