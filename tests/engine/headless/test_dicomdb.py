"""The headless DICOM database: import, idempotence, recovery of interrupted stores, index contents.

Contract: a store interrupted after its files were renamed but before the index commit leaves no
trace after the next start; re-importing a folder changes nothing; non-DICOM files are counted and
skipped; counts and ModalitiesInStudy are maintained in the index.
"""

from __future__ import annotations

import io
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from slicerweb.demo.dicom_studies import generate_study, write_studies
from slicerweb.engine.dicom_api import SearchQuery
from slicerweb.engine.headless.dicomdb import HeadlessDicom
from slicerweb.formats.dicom.ingest import parse_instance
from tests.conftest import subprocess_env


def part10(index: int, **kwargs: object) -> list[io.BytesIO]:
    out = []
    for ds in generate_study(index, **kwargs):  # type: ignore[arg-type]
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out.append(buffer)
    return out


def test_interrupted_store_is_rolled_back_at_start(tmp_path: Path) -> None:
    db = HeadlessDicom(tmp_path / "dicom")
    sources = part10(0, series_count=1, instances_per_series=3)
    parsed = [parse_instance(s) for s in sources]
    items = [(p, db.storage.relative(db.storage.final_path(p.study_uid, p.series_uid, p.sop_uid))) for p in parsed]
    with db.index.writing():  # the first half of a store: journal, then rename; the "crash" comes next
        assert db.index.claim(items, db.storage.owner) == {}
        db.storage.place([(db.storage.write_temp(s), db.storage.absolute(rel)) for s, (_, rel) in
                          zip(sources, items, strict=True)])
    (db.storage.own_tmp / "leftover.part").write_bytes(b"half a file")
    assert len(list(db.storage.objects.rglob("*.dcm"))) == 3
    live = HeadlessDicom(tmp_path / "dicom")  # another process sharing the data directory...
    assert len(list(live.storage.objects.rglob("*.dcm"))) == 3  # ...leaves a live store in progress alone
    db.close()  # the "crash": ownership given up with the store half-done

    reopened = HeadlessDicom(tmp_path / "dicom")
    assert list(reopened.storage.objects.rglob("*.dcm")) == []
    assert not [p for p in reopened.storage.tmp.rglob("*") if p.is_file() and p.suffix != ".lock"]
    assert reopened.index.journal_owners() == set()
    live.close()
    report = reopened.store_files(part10(0, series_count=1, instances_per_series=3))  # the retry succeeds
    assert len(report.stored) == 3 and not report.failed


def test_index_maintains_counts_and_modalities(tmp_path: Path) -> None:
    db = HeadlessDicom(tmp_path / "dicom")
    db.store_files(part10(0, modality="CT", series_count=2, instances_per_series=2))
    mr = part10(0, modality="MR", series_count=1, instances_per_series=3)
    for buffer in mr:  # same study UID as the CT one, to make a mixed-modality study
        text = buffer.getvalue().replace(b"1.2.826.0.1.3680043.8.498.1.2.0.0", b"1.2.826.0.1.3680043.8.498.1.1.0.0")
        buffer.seek(0)
        buffer.truncate()
        buffer.write(text)
    db.store_files(mr)
    result = db.index.search(SearchQuery("study"))
    (study,) = result.records
    assert study["00080061"]["Value"] == ["CT", "MR"]
    assert study["00201206"]["Value"] == [3] and study["00201208"]["Value"] == [7]


def test_cli_import_is_recursive_idempotent_and_skips_non_dicom(tmp_path: Path) -> None:
    source = tmp_path / "incoming"
    written = write_studies(source, 2, series_count=1, instances_per_series=3)
    (source / "notes.txt").write_text("not DICOM")
    (source / "deep" / "er").mkdir(parents=True)
    (source / "deep" / "er" / "junk.dcm").write_bytes(b"\x00" * 300)
    command = [sys.executable, "-m", "slicerweb", "dicom", "import", str(source), "--data-dir", str(tmp_path / "d")]
    first = subprocess.run(command, capture_output=True, text=True, env=subprocess_env(), check=True)
    assert first.stdout.strip() == f"imported {written}, already present 0, skipped (not DICOM) 2, " \
                                   "refused (damaged) 0, failed 0"
    second = subprocess.run([*command, "--processes", "2"], capture_output=True, text=True, env=subprocess_env(),
                            check=True)
    assert f"imported 0, already present {written}" in second.stdout
    db = HeadlessDicom(tmp_path / "d" / "dicom")
    assert db.index.count_studies() == 2


def test_an_index_from_schema_1_is_migrated(tmp_path: Path) -> None:
    (tmp_path / "dicom").mkdir()
    with closing(sqlite3.connect(tmp_path / "dicom" / "index.sqlite")) as conn, conn:
        conn.execute("CREATE TABLE pending (path TEXT PRIMARY KEY, sop_uid TEXT NOT NULL)")
        conn.execute("INSERT INTO pending VALUES ('objects/1/2/3.dcm', '3')")
    db = HeadlessDicom(tmp_path / "dicom")  # recovery treats the owner-less journal row as a dead owner's
    assert db.index.journal_owners() == set()
    assert len(db.store_files(part10(0, series_count=1, instances_per_series=1)).stored) == 1
    db.close()


def test_import_in_small_batches_overlapping_parse_and_commit(tmp_path: Path, monkeypatch: object) -> None:
    """Many batches in flight one after another (parse of batch N+1 beside the commit of batch N):
    every file is indexed once, a copy of an instance in a later batch counts as already present,
    non-DICOM files are skipped, and the index matches the object tree."""
    from slicerweb.engine.headless.dicomdb import importer

    monkeypatch.setattr(importer, "IMPORT_BATCH", 2)  # type: ignore[attr-defined]
    source = tmp_path / "incoming"
    written = write_studies(source, 2, series_count=2, instances_per_series=3)
    copy = sorted(source.rglob("*.dcm"))[0]
    (source / "zz").mkdir()
    (source / "zz" / "again.dcm").write_bytes(copy.read_bytes())
    (source / "zz" / "junk.dcm").write_bytes(b"\x00" * 300)
    db = HeadlessDicom(tmp_path / "dicom")
    report = importer.import_directory(db, source)
    assert (report.imported, report.already_present, report.skipped, report.failed) == (written, 1, 1, 0)
    stored = {p.relative_to(tmp_path / "dicom").as_posix() for p in (tmp_path / "dicom" / "objects").rglob("*.dcm")}
    assert db.index.all_paths() == stored and len(stored) == written
    assert not list((tmp_path / "dicom" / "tmp").rglob("*.part"))
    db.close()
