"""A full disk answers 507 Insufficient Storage JSON naming the cause, never a generic 500, and
leaves nothing half-written: no object file, no temp file, no index row; the server keeps serving
and stores again once there is room. The data directory (or the upload spool, TMPDIR) is a real
4 MiB tmpfs (`mount -t tmpfs`; skipped where mounting is not permitted)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from slicerweb.demo.dicom_studies import generate_study
from tests.conftest import start_server

from .conftest import STOW_TYPE, part10, stow_body

POLICY = "[features]\ndicomweb_write = true\n"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def big_study() -> bytes:
    """About 5 MiB of objects: more than the whole 4 MiB disk."""
    return stow_body([part10(ds) for ds in generate_study(50, series_count=1, instances_per_series=10,
                                                           rows=512, columns=512)])


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".dcm", ".part"))


def test_stow_onto_a_full_disk_answers_507_and_stores_nothing(tmp_path: Path, small_disk: Path) -> None:
    server = start_server(tmp_path, data_dir=small_disk / "data", policy_toml=POLICY)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            full = http.post("/dicom/studies", content=big_study(), headers={"Content-Type": STOW_TYPE})
            assert full.status_code == 507
            assert full.headers["Content-Type"] == "application/json"
            assert full.json()["code"] == "insufficient_storage"
            assert "ENOSPC" in full.json()["message"]
            assert files_under(small_disk / "data" / "dicom") == []
            assert http.get("/dicom/studies", params={"StudyInstanceUID": generate_study(50)[0].StudyInstanceUID}
                            ).status_code == 204
            small = generate_study(51, series_count=1, instances_per_series=2)
            again = http.post("/dicom/studies", content=stow_body([part10(ds) for ds in small]),
                              headers={"Content-Type": STOW_TYPE})
            assert again.status_code == 200  # room again: nothing of the failed request stayed
            assert len(files_under(small_disk / "data" / "dicom")) == 2
    finally:
        server.stop()


def test_upload_spool_on_a_full_disk_answers_507(tmp_path: Path, small_disk: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(small_disk))  # the server spools request bodies here
    server = start_server(tmp_path, policy_toml=POLICY)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            one_big_part = stow_body([part10(generate_study(52, series_count=1, instances_per_series=1,
                                                            rows=3072, columns=3072)[0])])  # 18 MiB: spooled to disk
            full = http.post("/dicom/studies", content=one_big_part, headers={"Content-Type": STOW_TYPE})
            assert full.status_code == 507
            assert full.headers["Content-Type"] == "application/json"
            assert "ENOSPC" in full.json()["message"]
            assert http.get("/slicer/system/version").status_code == 200
        assert files_under(server.data_dir / "dicom") == []
        assert [p for p in small_disk.iterdir()] == []  # the spool files are gone
    finally:
        server.stop()
