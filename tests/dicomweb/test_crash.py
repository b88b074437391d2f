"""A crash during STOW-RS (kill -9 while uploads stream in) leaves the index consistent with the files.

Right after the kill, every indexed instance has its complete file (same SHA-256 as indexed); files
the index does not know are only journaled ones or temp files. After a restart, recovery has removed
those (once the dead server's lease has expired), and the object tree holds exactly the indexed files.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import httpx

from slicerweb.demo.dicom_studies import generate_study

from .conftest import STOW_TYPE, part10, stow_body

POLICY = "[features]\ndicomweb_write = true\n"


def indexed(db: Path) -> dict[str, str]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return dict(conn.execute("SELECT path, digest FROM instance").fetchall())


def journal(root: Path) -> set[str]:
    with closing(sqlite3.connect(f"file:{root / 'index.sqlite'}?mode=ro", uri=True)) as conn:
        return {r[0] for r in conn.execute("SELECT path FROM pending")}


def on_disk(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in (root / "objects").rglob("*.dcm")}


def test_kill_9_during_stow_leaves_index_and_files_consistent(live_server) -> None:
    server = live_server(policy_toml=POLICY)
    root = server.data_dir / "dicom"
    bodies = [stow_body([part10(ds) for ds in generate_study(100 + i, series_count=2, instances_per_series=15)])
              for i in range(12)]
    stop = threading.Event()

    def upload() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for body in bodies:
                if stop.is_set():
                    return
                try:
                    http.post("/dicom/studies", content=body, headers={"Content-Type": STOW_TYPE})
                except httpx.HTTPError:
                    return

    uploader = threading.Thread(target=upload)
    uploader.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(indexed(root / "index.sqlite")) < 30:
        time.sleep(0.01)
    while time.monotonic() < deadline and not (journal(root) or any((root / "tmp").rglob("*.part"))):
        time.sleep(0.001)  # aim the kill at a store in progress: temp files written or journaled
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(10)
    stop.set()
    uploader.join(30)

    rows = indexed(root / "index.sqlite")
    assert rows, "nothing was stored before the kill"
    for relpath, digest in rows.items():
        assert hashlib.sha256((root / relpath).read_bytes()).hexdigest() == digest, relpath
    assert on_disk(root) - set(rows) <= journal(root)

    # The dead server's lease outlives it by up to 20 s (recovery waits for it: lease.py); let that time pass.
    with closing(sqlite3.connect(root / "index.sqlite")) as conn, conn:
        conn.execute("UPDATE lease SET expires = 0")
    restarted = live_server(policy_toml=POLICY, data_dir=server.data_dir)
    rows = indexed(root / "index.sqlite")
    assert on_disk(root) == set(rows)
    assert not [p for p in (root / "tmp").rglob("*") if p.is_file() and p.suffix != ".lock"]
    assert len(list((root / "tmp").glob("*.lock"))) == 1  # only the restarted server's
    with restarted.client() as http:
        studies = http.get("/dicom/studies", params={"limit": 1000}).json()
        assert sum(s["00201208"]["Value"][0] for s in studies) == len(rows)
