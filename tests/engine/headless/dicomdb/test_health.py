"""The index is checked at start-up and rebuilt by `slicerweb dicom reindex`.

Contract: a missing or empty index with objects on disk, garbage inside the index, a damaged
header, a schema version this code does not know, or an index that disagrees with the stored
files makes `slicerweb serve` refuse to start with one line naming the repair command and a
non-zero exit (no traceback). `slicerweb dicom reindex --data-dir DIR` rebuilds the index from
the stored files (a new file beside, then renamed), refuses while a server holds the database,
and the server then starts with every study back. A damaged index found at run time answers
503 JSON and STOW writes nothing into it.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from slicerweb import cli
from slicerweb.demo.dicom_studies import generate_study, write_studies
from slicerweb.engine.headless.dicomdb import HeadlessDicom
from tests.conftest import start_server, subprocess_env
from tests.dicomweb.conftest import STOW_TYPE, part10, stow_body

PAGE = 4096


def slicerweb(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "slicerweb", *args], capture_output=True, text=True,
                          env=subprocess_env(), timeout=timeout)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A data directory holding 3 imported studies, made once per module."""
    base = tmp_path_factory.mktemp("archive")
    written = write_studies(base / "incoming", 3, series_count=2, instances_per_series=10)
    done = slicerweb("dicom", "import", str(base / "incoming"), "--data-dir", str(base / "data"))
    assert done.returncode == 0, done.stderr
    return base / "data", written


@pytest.fixture
def archive(tmp_path: Path, template: tuple[Path, int]) -> tuple[Path, int]:
    """A fresh copy of the template archive (its index checkpointed into its file)."""
    shutil.copytree(template[0], tmp_path / "data")
    return tmp_path / "data", template[1]


def index_of(data: Path) -> Path:
    return data / "dicom" / "index.sqlite"


def delete(index: Path) -> None:
    index.unlink()


def zero(index: Path) -> None:
    index.write_bytes(b"")


def garbage_in_the_middle(index: Path) -> None:
    size = index.stat().st_size
    assert size > 8 * PAGE
    with index.open("r+b") as fh:
        fh.seek((size // PAGE // 2) * PAGE)
        fh.write(random.Random(16).randbytes(4 * PAGE))


def truncated_header(index: Path) -> None:
    data = index.read_bytes()
    index.write_bytes(data[:60])


def unknown_schema(index: Path) -> None:
    with closing(sqlite3.connect(index)) as conn, conn:
        conn.execute("UPDATE meta SET value = '99' WHERE name = 'schema'")


def fewer_rows_than_files(index: Path) -> None:
    with closing(sqlite3.connect(index)) as conn, conn:
        conn.execute("DELETE FROM instance WHERE pk IN (SELECT pk FROM instance LIMIT 5)")


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "deleted index": (delete, "missing"),
    "zeroed index": (zero, "missing or empty"),
    "garbage in the middle": (garbage_in_the_middle, "damaged"),
    "truncated header": (truncated_header, "damaged"),
    "unknown schema version": (unknown_schema, "schema"),
    "rows and files disagree": (fewer_rows_than_files, "disagree"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_index_refuses_start_then_reindex_repairs_it(archive: tuple[Path, int], damage: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    data, written = archive
    harm, words = DAMAGE[damage]
    harm(index_of(data))

    refused = slicerweb("serve", "--port", "0", "--data-dir", str(data), timeout=20)
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr  # one line, no traceback
    assert words in lines[0]
    assert lines[0].endswith(f"run: slicerweb dicom reindex --data-dir {data}")

    assert cli.main(["dicom", "reindex", "--data-dir", str(data)]) == 0  # in-process: the same code, 3 s quicker
    repaired = capsys.readouterr()
    assert repaired.out.strip().startswith(f"reindexed {data / 'dicom'}: {written} instances in 3 studies")
    db = HeadlessDicom(data / "dicom")  # starts cleanly, everything back
    assert db.index.count_studies() == 3
    assert len(db.index.all_paths()) == written
    db.close()
    assert not list((data / "dicom").glob("index.sqlite.rebuild*"))


def test_reindex_refuses_while_the_database_is_in_use(archive: tuple[Path, int]) -> None:
    data, _ = archive
    db = HeadlessDicom(data / "dicom")
    before = index_of(data).read_bytes()
    busy = slicerweb("dicom", "reindex", "--data-dir", str(data))
    assert busy.returncode == 2
    assert busy.stderr.strip().splitlines() == [
        f"slicerweb: the DICOM database in {data / 'dicom'} is in use (a server or import is running on it); "
        "stop it first"]
    assert index_of(data).read_bytes() == before
    db.close()


def test_reindex_sets_damaged_objects_aside(archive: tuple[Path, int]) -> None:
    data, written = archive
    victim = sorted((data / "dicom" / "objects").rglob("*.dcm"))[0]
    victim.write_bytes(victim.read_bytes()[:-1000])  # cut short on disk
    done = slicerweb("dicom", "reindex", "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    assert f"{written - 1} instances in 3 studies" in done.stdout
    assert "1 file(s) set aside in" in done.stdout
    assert "truncated" in done.stderr
    aside = list((data / "dicom" / "quarantine").rglob("*.dcm"))
    assert len(aside) == 1 and not victim.exists()
    db = HeadlessDicom(data / "dicom")
    db.close()


def test_missing_index_without_objects_is_a_fresh_archive(tmp_path: Path) -> None:
    db = HeadlessDicom(tmp_path / "dicom")
    assert db.index.count_studies() == 0
    db.close()
    db = HeadlessDicom(tmp_path / "dicom")  # and it reopens
    db.close()


def test_index_damaged_at_run_time_answers_503_and_stow_writes_nothing(tmp_path: Path,
                                                                      archive: tuple[Path, int]) -> None:
    data, _ = archive
    server = start_server(tmp_path, data_dir=data, policy_toml="[features]\ndicomweb_write = true\n")
    try:
        with closing(sqlite3.connect(index_of(data))) as conn, conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = index_of(data).stat().st_size
        with index_of(data).open("r+b") as fh:  # every page but the schema page
            fh.seek(PAGE)
            fh.write(random.Random(7).randbytes(size - PAGE))
        objects = sorted((data / "dicom" / "objects").rglob("*.dcm"))
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for _ in range(2):  # consistently
                found = http.get("/dicom/studies")
                assert found.status_code == 503
                assert found.headers["Content-Type"] == "application/json"
                assert "reindex" in found.json()["message"]
            new = generate_study(30, series_count=1, instances_per_series=2)
            stow = http.post("/dicom/studies", content=stow_body([part10(ds) for ds in new]),
                             headers={"Content-Type": STOW_TYPE})
            assert stow.status_code == 503
            assert "damaged" in stow.json()["message"]
            assert http.get("/slicer/system/version").status_code == 200  # the rest keeps serving
        assert sorted((data / "dicom" / "objects").rglob("*.dcm")) == objects
        assert not list((data / "dicom" / "tmp").rglob("*.part"))
    finally:
        server.stop()
