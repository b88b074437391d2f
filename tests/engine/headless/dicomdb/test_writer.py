"""The write path's journal rules: an instance journaled by another process is decided once that
process is done (or dead), and a journal row this process left behind (a release that failed on
a full disk) never blocks the instance."""

from __future__ import annotations

import copy
import errno
import io
import threading
from pathlib import Path

import pytest

from slicerweb.demo.dicom_studies import generate_study
from slicerweb.engine.headless.dicomdb import HeadlessDicom, storage
from slicerweb.formats.dicom.ingest import parse_instance


def one_object() -> bytes:
    buffer = io.BytesIO()
    generate_study(80, series_count=1, instances_per_series=1)[0].save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def journal(db: HeadlessDicom, data: bytes, owner: str) -> str:
    """Claim `data`'s instance as `owner` would, and stop there (the store in flight)."""
    parsed = parse_instance(io.BytesIO(data))
    relpath = db.storage.relative(db.storage.final_path(parsed.study_uid, parsed.series_uid, parsed.sop_uid))
    with db.index.writing():
        assert db.index.claim([(parsed, relpath)], owner) == {}
    return relpath


def test_a_stale_journal_row_of_this_process_does_not_block_the_instance(tmp_path: Path) -> None:
    db = HeadlessDicom(tmp_path / "dicom")
    data = one_object()
    journal(db, data, db.storage.owner)  # as if the release after a failed store had failed too
    (outcome,) = db.store_files([io.BytesIO(data)]).outcomes
    assert outcome.failure_reason is None and not outcome.already_stored
    assert db.index.journal_owners() == set()
    db.close()


def test_a_store_waits_for_another_writer_and_recovers_a_dead_one(tmp_path: Path) -> None:
    other = HeadlessDicom(tmp_path / "dicom")  # another process sharing the directory
    db = HeadlessDicom(tmp_path / "dicom")
    data = one_object()
    journal(db, data, other.storage.owner)
    outcomes = []
    storing = threading.Thread(target=lambda: outcomes.extend(db.store_files([io.BytesIO(data)]).outcomes))
    storing.start()
    storing.join(0.5)
    assert storing.is_alive()  # waiting for the other writer's outcome, not answering 0x0110
    other.close()  # the other writer dies with its store half-done
    storing.join(30)
    (outcome,) = outcomes
    assert outcome.failure_reason is None and not outcome.already_stored
    assert len(db.index.all_paths()) == 1 and db.index.journal_owners() == set()
    db.close()


def test_a_series_filed_under_another_study_between_claim_and_insert_is_left_out(tmp_path: Path) -> None:
    db = HeadlessDicom(tmp_path / "dicom")
    other = HeadlessDicom(tmp_path / "dicom")  # another process sharing the directory
    mine = one_object()
    theirs = copy.deepcopy(generate_study(81, series_count=1, instances_per_series=1)[0])
    theirs.SeriesInstanceUID = parse_instance(io.BytesIO(mine)).series_uid  # same series, another study
    buffer = io.BytesIO()
    theirs.save_as(buffer, enforce_file_format=True)
    relpath = journal(db, mine, db.storage.owner)  # my claim passed...
    assert not other.store_files([buffer]).failed  # ...then theirs was filed first
    parsed = parse_instance(io.BytesIO(mine))
    with db.index.writing():
        left_out = db.index.insert([(parsed, relpath)])
    assert left_out == {parsed.sop_uid: f"SeriesInstanceUID {parsed.series_uid} already belongs to study "
                                         f"{theirs.StudyInstanceUID}"}
    assert db.index.journal_owners() == set()
    assert db.index.locate(parsed.sop_uid) is None
    other.close()
    db.close()


def test_a_failed_fsync_after_the_claim_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The claim runs while the temp files are still being synced; a sync that fails then (EIO)
    fails the store, releases the journal rows and leaves no file, and the next store succeeds."""
    db = HeadlessDicom(tmp_path / "dicom")
    data = one_object()

    def failing(path: Path) -> None:
        raise OSError(errno.EIO, "Input/output error", str(path))

    with monkeypatch.context() as patched:
        patched.setattr(storage, "fsync_path", failing)
        with pytest.raises(OSError, match="Input/output error"):
            db.store_files([io.BytesIO(data)])
    assert db.index.journal_owners() == set() and db.index.all_paths() == set()
    assert not any(db.storage.objects.rglob("*.dcm")) and not any(db.storage.own_tmp.iterdir())
    (outcome,) = db.store_files([io.BytesIO(data)]).outcomes
    assert outcome.failure_reason is None and not outcome.already_stored
    db.close()
