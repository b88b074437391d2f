"""`dicom check` finds each kind of damage made on purpose, changes nothing unless asked, and
`repair` fixes what it says it fixes (orphans re-indexed, rows of missing files dropped) and
nothing else; a check beside a store in progress reports no damage."""

from __future__ import annotations

import io
import shutil
import threading
from pathlib import Path
from typing import BinaryIO

import pytest

from slicerweb.demo.dicom_studies import generate_study
from slicerweb.engine.dicom_api import CheckReport
from slicerweb.engine.headless.dicomdb import HeadlessDicom
from slicerweb.engine.headless.dicomdb import check as check_module
from slicerweb.engine.headless.dicomdb.health import object_files


def sources(index: int, series: int = 2, instances: int = 3) -> list[BinaryIO]:
    out: list[BinaryIO] = []
    for ds in generate_study(index, series_count=series, instances_per_series=instances):
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out.append(buffer)
    return out


def state(db: HeadlessDicom) -> tuple[list[tuple[str, int]], list[tuple[object, ...]]]:
    """Every file (path, size) and every instance row: to show a plain check changes nothing."""
    files = sorted((str(p), p.stat().st_size) for p in object_files(db.storage.objects))
    with db.index.db.read() as conn:
        rows = conn.execute("SELECT sop_uid, path, size, digest, json FROM instance ORDER BY sop_uid").fetchall()
    return files, list(rows)


def path_of(db: HeadlessDicom, sop_uid: str) -> Path:
    row = db.index.locate(sop_uid)
    assert row is not None
    return db.storage.absolute(row.path)


def damage(db: HeadlessDicom, tmp_path: Path) -> dict[str, str]:
    """One of each kind of damage; returns kind -> the SOP UID (or path) damaged."""
    sops = [o.sop_instance_uid for o in db.store_files(sources(0)).stored]
    missing, bigger, flipped, garbled, jsonless = sops[:5]
    path_of(db, missing).unlink()
    with path_of(db, bigger).open("ab") as handle:
        handle.write(b"\0\0")
    data = bytearray(path_of(db, flipped).read_bytes())
    data[-1] ^= 0xFF  # last pixel byte: same size, still parses
    path_of(db, flipped).write_bytes(bytes(data))
    path_of(db, garbled).write_bytes(b"not DICOM at all")
    with db.index.writing(), db.index.transaction() as conn:
        conn.execute("UPDATE instance SET json = '' WHERE sop_uid = ?", (jsonless,))
    # An orphan: another study's instance placed where a store would put it, never indexed.
    other = HeadlessDicom(tmp_path / "other")
    (outcome,) = other.store_files(sources(1, 1, 1)).stored
    orphan = other.storage.final_path(outcome.study_uid, outcome.series_uid, outcome.sop_instance_uid)
    target = db.storage.objects / orphan.relative_to(other.storage.objects)
    target.parent.mkdir(parents=True)
    shutil.copy(orphan, target)
    other.close()
    junk = db.storage.objects / "junk" / "x.dcm"
    junk.parent.mkdir()
    junk.write_bytes(b"\0" * 300)
    return {"missing_file": missing, "size_mismatch": bigger, "hash_mismatch": flipped, "garbled": garbled,
            "missing_json": jsonless, "orphan_file": outcome.sop_instance_uid}


def kinds(report: CheckReport) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for finding in report.findings:
        found.setdefault(finding.kind, []).append(finding.sop_uid or finding.path)
    return found


def test_check_finds_each_kind_of_damage_and_changes_nothing(tmp_path: Path) -> None:
    db = HeadlessDicom(tmp_path / "dicom")
    made = damage(db, tmp_path)
    before = state(db)
    report = db.check_now()
    assert kinds(report) == {
        "missing_file": [made["missing_file"]], "size_mismatch": [made["size_mismatch"]],
        "hash_mismatch": [made["hash_mismatch"]], "missing_json": [made["missing_json"]],
        "orphan_file": [made["orphan_file"]], "unparsable_file": sorted([made["garbled"], "objects/junk/x.dcm"])}
    assert report.counts() == {"missing_file": 1, "orphan_file": 1, "size_mismatch": 1, "hash_mismatch": 1,
                               "unparsable_file": 2, "missing_json": 1}
    assert (report.instances, report.files, report.damaged, report.repaired) == (6, 7, True, False)
    assert not any(f.repaired for f in report.findings)
    assert state(db) == before  # read-only
    summary = report.as_json(examples=1)
    assert summary["counts"]["unparsable_file"] == 2
    assert [e["kind"] for e in summary["examples"]].count("unparsable_file") == 1  # the first N of each kind
    db.close()


def test_repair_reindexes_orphans_and_drops_rows_of_missing_files_only(tmp_path: Path) -> None:
    db = HeadlessDicom(tmp_path / "dicom")
    made = damage(db, tmp_path)
    report = db.check_now(repair=True)
    repaired = {f.kind: f.sop_uid for f in report.findings if f.repaired}
    assert repaired == {"missing_file": made["missing_file"], "orphan_file": made["orphan_file"]}
    assert db.index.locate(made["missing_file"]) is None
    assert db.index.locate(made["orphan_file"]) is not None  # searchable and retrievable again
    after = db.check_now()
    assert sorted(kinds(after)) == ["hash_mismatch", "missing_json", "size_mismatch", "unparsable_file"]
    assert after.counts()["missing_file"] == after.counts()["orphan_file"] == 0
    assert after.instances == 6  # 6 stored - 1 missing + 1 orphan
    db.close()


def test_a_clean_database_and_a_store_in_progress_report_nothing(tmp_path: Path) -> None:
    db = HeadlessDicom(tmp_path / "dicom")
    db.store_files(sources(0))
    assert db.check_now().findings == () and not db.check_now().damaged
    other = HeadlessDicom(tmp_path / "dicom")  # a second process storing while this one checks
    failed: list[object] = []

    def store() -> None:
        for index in range(10, 22):
            failed.extend(other.store_files(sources(index, 1, 4)).failed)

    storing = threading.Thread(target=store)
    storing.start()
    reports = []
    while storing.is_alive():
        reports.append(db.check_now())
    storing.join()
    assert not failed
    assert [r.findings for r in reports] == [()] * len(reports)
    assert db.check_now().instances == 6 + 12 * 4
    other.close()
    db.close()


def test_a_store_between_the_snapshot_and_the_walk_is_not_an_orphan(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk runs unlocked after the row snapshot: a file another process stores in between is
    on disk but not in the snapshot; the confirmation under the lock must not call it an orphan."""
    db = HeadlessDicom(tmp_path / "dicom")
    db.store_files(sources(0))
    other = HeadlessDicom(tmp_path / "dicom")
    def store_then_walk(objects: Path) -> list[Path]:
        assert not other.store_files(sources(1, 1, 2)).failed  # after the snapshot, before the walk
        return object_files(objects)

    monkeypatch.setattr(check_module, "object_files", store_then_walk)
    report = db.check_now()
    assert report.findings == () and report.files == 8 and report.instances == 6
    other.close()
    db.close()
