"""`slicerweb backup` during a STOW load and `slicerweb restore`: a live server keeps storing from
several clients while the backup runs; the restored data directory, served by a second server,
answers QIDO and WADO exactly as the original does for everything the backup holds, and the
backup's index references only files present in it. Restore refuses a data directory holding data
unless --force, which moves that data aside. Real servers, real HTTP, the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from slicerweb.demo.dicom_studies import generate_study
from tests.conftest import LiveServer
from tests.dicomweb.conftest import STOW_TYPE, part10, stow_body
from tests.support import subprocess_env

POLICY = "[features]\ndicomweb_write = true\n"
SENDERS = 3


def slicerweb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "slicerweb", *args], env=subprocess_env(), capture_output=True,
                          text=True, timeout=120)


class StowLoad:
    """SENDERS clients, each storing whole studies (one STOW request each) until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stop = threading.Event()
        self.stored: list[int] = []
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self.send, args=(n,)) for n in range(SENDERS)]

    def send(self, sender: int) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as http:
            index = 100 + sender
            while not self.stop.is_set():
                body = stow_body([part10(ds) for ds in generate_study(index, series_count=2,
                                                                        instances_per_series=3)])
                response = http.post("/dicom/studies", content=body, headers={"Content-Type": STOW_TYPE})
                if response.status_code != 200:
                    self.failures.append(f"{response.status_code} {response.text[:200]}")
                self.stored.append(index)
                index += SENDERS

    def wait_for(self, count: int) -> None:
        while len(self.stored) < count and not self.failures:
            self.stop.wait(0.05)


def same_everywhere(original: httpx.Client, restored: httpx.Client, path: str, **kw: Any) -> Any:
    """GET `path` from both; the bodies (with each server's own base URL taken out) must be equal."""
    answers = []
    for http in (original, restored):
        response = http.get(path, **kw)
        assert response.status_code == 200, (path, response.text)
        body = response.content.replace(str(http.base_url).rstrip("/").encode(), b"BASE")
        answers.append((response.headers["content-type"], body))
    assert answers[0] == answers[1], path
    return json.loads(answers[0][1]) if answers[0][0].startswith("application/dicom+json") else answers[0][1]


def test_a_backup_taken_during_a_stow_load_restores_to_the_same_answers(
        live_server: Callable[..., LiveServer], tmp_path: Path) -> None:
    original = live_server(policy_toml=POLICY)
    load = StowLoad(original.url)
    for thread in load.threads:
        thread.start()
    try:
        load.wait_for(4)
        taken = slicerweb("backup", str(tmp_path / "backup"), "--data-dir", str(original.data_dir), "--json")
        at_backup = len(load.stored)
        load.wait_for(at_backup + 3)  # the server kept storing after the snapshot
    finally:
        load.stop.set()
        for thread in load.threads:
            thread.join(60)
    assert taken.returncode == 0, taken.stderr
    assert not load.failures
    report = json.loads(taken.stdout)
    assert report["instances"] == 6 * report["studies"] and report["studies"] >= 4  # whole studies only
    assert report["left_out"] == 0 and report["files_linked"] + report["files_copied"] == report["instances"]

    restored_dir = tmp_path / "restored"
    put = slicerweb("restore", str(tmp_path / "backup"), "--data-dir", str(restored_dir))
    assert put.returncode == 0, put.stderr
    assert f"{report['instances']} instances in {report['studies']} studies" in put.stdout
    restored = live_server(policy_toml=POLICY, data_dir=restored_dir)
    with original.client() as left, restored.client() as right:
        studies = right.get("/dicom/studies", params={"limit": 1000}).json()
        assert len(studies) == report["studies"]
        assert len(left.get("/dicom/studies", params={"limit": 1000}).json()) > len(studies)
        for study in studies:
            uid = study["0020000D"]["Value"][0]
            same_everywhere(left, right, "/dicom/studies", params={"StudyInstanceUID": uid, "includefield": "all"})
            same_everywhere(left, right, f"/dicom/studies/{uid}/series")
            same_everywhere(left, right, f"/dicom/studies/{uid}/metadata")
            for instance in same_everywhere(left, right, f"/dicom/studies/{uid}/instances"):
                series, sop = instance["0020000E"]["Value"][0], instance["00080018"]["Value"][0]
                same_everywhere(left, right, "/dicom", params={
                    "requestType": "WADO", "studyUID": uid, "seriesUID": series, "objectUID": sop,
                    "contentType": "application/dicom"})
    check = slicerweb("dicom", "check", "--data-dir", str(restored_dir), "--json")
    assert check.returncode == 0, check.stdout + check.stderr
    assert json.loads(check.stdout)["instances"] == report["instances"]


def test_backup_leaves_out_what_has_no_file_and_restore_never_overwrites_silently(
        live_server: Callable[..., LiveServer], tmp_path: Path) -> None:
    server = live_server(policy_toml=POLICY)
    with server.client() as http:
        for index in (1, 2):
            body = stow_body([part10(ds) for ds in generate_study(index, series_count=1, instances_per_series=2)])
            assert http.post("/dicom/studies", content=body, headers={"Content-Type": STOW_TYPE}).status_code == 200
    gone = sorted((server.data_dir / "dicom" / "objects").rglob("*.dcm"))[0]
    gone.unlink()  # damage: the backup must not reference a file it does not hold
    taken = slicerweb("backup", str(tmp_path / "backup"), "--data-dir", str(server.data_dir), "--json")
    assert taken.returncode == 0, taken.stderr
    assert (json.loads(taken.stdout)["instances"], json.loads(taken.stdout)["left_out"]) == (3, 1)
    linked = next((tmp_path / "backup" / "dicom" / "objects").rglob("*.dcm"))
    assert linked.stat().st_nlink == 2  # same file system: hard-linked with the live file
    again = slicerweb("backup", str(tmp_path / "backup"), "--data-dir", str(server.data_dir))
    assert again.returncode == 2 and "is not empty" in again.stderr and again.stderr.count("\n") == 1

    refused = slicerweb("restore", str(tmp_path / "backup"), "--data-dir", str(server.data_dir))
    assert refused.returncode == 2 and "--force" in refused.stderr and "Traceback" not in refused.stderr
    busy = slicerweb("restore", str(tmp_path / "backup"), "--data-dir", str(server.data_dir), "--force")
    assert busy.returncode == 2 and "in use" in busy.stderr  # the server still holds the database
    server.stop()
    forced = slicerweb("restore", str(tmp_path / "backup"), "--data-dir", str(server.data_dir), "--force", "--copy",
                       "--json")
    assert forced.returncode == 0, forced.stderr
    assert (json.loads(forced.stdout)["files_copied"], json.loads(forced.stdout)["files_linked"]) == (3, 0)
    restored_file = next((server.data_dir / "dicom" / "objects").rglob("*.dcm"))
    assert restored_file.stat().st_nlink == 1  # a copy: shares no inode with the backup
    (aside,) = server.data_dir.glob("replaced-*")
    assert len(list((aside / "dicom" / "objects").rglob("*.dcm"))) == 3  # moved, not deleted
    check = slicerweb("dicom", "check", "--data-dir", str(server.data_dir), "--json")
    assert check.returncode == 0 and json.loads(check.stdout)["instances"] == 3
    events = [json.loads(line)["event"] for line in (server.data_dir / "audit.jsonl").read_text().splitlines()]
    assert events[-1] == "backup.restore"
