"""Faults: kill -9 during STOW and during volume upload (everything acknowledged is retrievable after
the restart), disk full on a small tmpfs, a damaged index, the issuer's JWKS endpoint down.
PostgreSQL: the index is SQLite only today, so there is no database server to take down (noted)."""

from __future__ import annotations

import contextlib
import io
import random
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import httpx
from pydicom import Dataset

from slicerweb.demo.dicom_studies import generate_study
from tests.oidc import auth_policy, start_issuer

from .report import Case, Report
from .servers import AppProcess, start_app

AREA = "faults"
STOW_POLICY = "[features]\ndicomweb_write = true\n"
STOW_TYPE = 'multipart/related; type="application/dicom"; boundary=faultb0undary'


def part10(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def stow_body(parts: list[bytes]) -> bytes:
    return b"".join(b"--faultb0undary\r\nContent-Type: application/dicom\r\n\r\n" + p + b"\r\n" for p in parts) \
        + b"--faultb0undary--\r\n"


def run(scratch: Path, report: Report, *, quick: bool) -> None:
    scratch.mkdir(parents=True, exist_ok=True)
    _kill_during_stow(scratch / "kill-stow", report, rounds=2 if quick else 15)
    _kill_during_upload(scratch / "kill-upload", report, rounds=1 if quick else 5)
    _disk_full(scratch / "disk-full", report)
    _damaged_index(scratch / "index", report)
    _jwks_down(scratch / "jwks", report)
    report.note(AREA, "PostgreSQL down: not applicable (the DICOM index is SQLite only in this version)")


def _instances(seed: int, count: int, side: int = 64) -> list[Dataset]:
    return generate_study(1000 + seed, series_count=1, instances_per_series=count, rows=side, columns=side)


def _retrievable(app: AppProcess, ds: Dataset) -> bool:
    url = (f"{app.url}/dicom/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/"
           f"{ds.SOPInstanceUID}")
    response = httpx.get(url, headers={"Accept": "multipart/related; type=application/dicom"}, timeout=30)
    return response.status_code == 200 and str(ds.SOPInstanceUID).encode() in response.content


def _kill_during_stow(directory: Path, report: Report, *, rounds: int) -> None:
    data = directory / "data"
    app = start_app(directory, STOW_POLICY, data_dir=data)
    acknowledged: list[Dataset] = []
    lost: list[str] = []
    statuses: set[int] = set()
    rng = random.Random(7)
    for round_ in range(rounds):
        batch = _instances(round_, 40)
        stop = threading.Event()

        def send(app: AppProcess = app, batch: list[Dataset] = batch, stop: threading.Event = stop) -> None:
            for start in range(0, len(batch), 4):
                chunk = batch[start:start + 4]
                try:
                    response = httpx.post(f"{app.url}/dicom/studies", content=stow_body([part10(d) for d in chunk]),
                                          headers={"Content-Type": STOW_TYPE}, timeout=30)
                except httpx.HTTPError:
                    return
                statuses.add(response.status_code)
                if response.status_code == 200:
                    acknowledged.extend(chunk)
                if stop.is_set():
                    return

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(rng.uniform(0.2, 1.2))
        app.kill9()
        stop.set()
        sender.join(60)
        app = start_app(directory, STOW_POLICY, data_dir=data)
    lost = [str(d.SOPInstanceUID) for d in acknowledged if not _retrievable(app, d)]
    serving = httpx.get(f"{app.url}/dicom/studies", timeout=30).status_code
    app.stop()
    report.add(Case(AREA, f"kill -9 during STOW ({rounds} rounds)", "every acknowledged instance retrievable after "
                    "restart; the index opens", f"{len(acknowledged)} acknowledged, {len(lost)} lost; QIDO {serving}; "
                    f"STOW statuses {sorted(statuses)}", rounds, passed=not lost and serving in (200, 204)))


def _kill_during_upload(directory: Path, report: Report, *, rounds: int) -> None:
    data = directory / "data"
    app = start_app(directory, STOW_POLICY, data_dir=data)
    stored = _instances(99, 4)
    httpx.post(f"{app.url}/dicom/studies", content=stow_body([part10(d) for d in stored]),
               headers={"Content-Type": STOW_TYPE}, timeout=30).raise_for_status()
    volume = b"NRRD0004\ntype: short\ndimension: 3\nsizes: 256 256 128\nencoding: raw\nendian: little\n\n" + \
        bytes(256 * 256 * 128 * 2)
    outcomes = []
    for _ in range(rounds):
        def upload(app: AppProcess = app) -> None:
            with contextlib.suppress(httpx.HTTPError):
                outcomes.append(httpx.post(f"{app.url}/slicer/volume?id=Fault", content=_trickle(volume),
                                           timeout=60).status_code)

        sender = threading.Thread(target=upload)
        sender.start()
        time.sleep(0.5)
        app.kill9()
        sender.join(60)
        _let_leases_lapse(data)
        app = start_app(directory, STOW_POLICY, data_dir=data)
    lost = [str(d.SOPInstanceUID) for d in stored if not _retrievable(app, d)]
    version = httpx.get(f"{app.url}/slicer/system/version", timeout=30).status_code
    app.stop()  # a clean stop removes the live owner's own tmp entries; anything left is a crash leftover
    leftovers = [p.name for p in (data / "dicom" / "tmp").glob("*")] if (data / "dicom" / "tmp").exists() else []
    report.add(Case(AREA, f"kill -9 during a 16 MiB volume upload ({rounds} rounds)",
                    "restart serves; stored DICOM intact; no temp files left (the dead server's lease lapsed)",
                    f"restart {version}; {len(lost)} of {len(stored)} stored instances lost; temp files "
                    f"{leftovers or 'none'}", rounds, passed=version == 200 and not lost and not leftovers))


def _let_leases_lapse(data: Path) -> None:
    """Stand in for the 20 s a killed server's lease outlives it: recovery clears its leftovers only after
    that (engine/headless/dicomdb/lease.py), and this case is about what is cleared, not when."""
    with contextlib.closing(sqlite3.connect(data / "dicom" / "index.sqlite")) as conn, conn:
        conn.execute("UPDATE lease SET expires = 0")


def _trickle(body: bytes, chunk: int = 1 << 20):  # type: ignore[no-untyped-def]
    for start in range(0, len(body), chunk):
        yield body[start:start + chunk]
        time.sleep(0.05)


def _disk_full(directory: Path, report: Report) -> None:
    mount = directory / "tmpfs"
    mount.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        report.add(Case(AREA, "disk full (6 MiB tmpfs)", "507 JSON naming the cause", "not run: cannot mount a "
                        f"tmpfs here ({done.stderr.strip()[:100]}); run the audit as root", skipped=True))
        return
    try:
        app = start_app(directory, STOW_POLICY, data_dir=mount / "data")
        acknowledged: list[Dataset] = []
        refusals: list[str] = []
        for round_ in range(40):
            batch = _instances(200 + round_, 4, side=256)  # 4 x 128 KiB a round: full after ~12 rounds
            response = httpx.post(f"{app.url}/dicom/studies", content=stow_body([part10(d) for d in batch]),
                                  headers={"Content-Type": STOW_TYPE}, timeout=30)
            if response.status_code == 200:
                acknowledged.extend(batch)
                continue
            refusals.append(f"{response.status_code} {response.headers.get('content-type', '')}: "
                            f"{response.text[:80]}")
            break
        lost = [str(d.SOPInstanceUID) for d in acknowledged if not _retrievable(app, d)]
        serving = httpx.get(f"{app.url}/slicer/system/version", timeout=30).status_code
        app.stop()
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
    refused_507 = bool(refusals) and refusals[0].startswith("507 application/json")
    report.add(Case(AREA, "disk full (6 MiB tmpfs): STOW until refused", "507 JSON naming the cause; acknowledged "
                    "data intact; still serving", f"{len(acknowledged)} stored, then {refusals or 'never refused'}; "
                    f"{len(lost)} lost; version {serving}", len(acknowledged) + len(refusals),
                    passed=refused_507 and not lost and serving == 200, open_key="stow.disk_full_507"))


def _damaged_index(directory: Path, report: Report) -> None:
    data = directory / "data"
    app = start_app(directory, STOW_POLICY, data_dir=data)
    httpx.post(f"{app.url}/dicom/studies", content=stow_body([part10(d) for d in _instances(300, 4)]),
               headers={"Content-Type": STOW_TYPE}, timeout=30).raise_for_status()
    app.stop()
    index = data / "dicom" / "index.sqlite"
    raw = bytearray(index.read_bytes())
    raw[len(raw) // 2:len(raw) // 2 + 4096] = b"\xde\xad\xbe\xef" * 1024
    index.write_bytes(bytes(raw))
    try:
        app = start_app(directory, STOW_POLICY, data_dir=data)
    except RuntimeError as exc:
        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else ""
        clean = "Traceback" not in str(exc)
        report.add(Case(AREA, "damaged index (4 KiB of garbage mid-file)", "refuse to start with one line naming "
                        "the repair command, or serve without 5xx", f"refused to start: {message[:160]}",
                        passed=clean and "reindex" in message, open_key="index.corruption"))
        return
    statuses = [httpx.get(f"{app.url}{path}", timeout=30).status_code
                for path in ("/dicom/studies", "/dicom/series", "/dicom/instances", "/dicom/studies?PatientName=*")]
    app.stop()
    report.add(Case(AREA, "damaged index (4 KiB of garbage mid-file)", "refuse to start with one line naming the "
                    "repair command, or serve without 5xx", f"started; QIDO statuses {statuses}", len(statuses),
                    passed=all(s < 500 for s in statuses), open_key="index.corruption"))


def _jwks_down(directory: Path, report: Report) -> None:
    issuer = start_issuer(directory / "issuer")
    app = start_app(directory / "app", auth_policy(issuer))
    try:
        token = issuer.mint("slicer.read", lifetime=600)
        headers = {"Authorization": f"Bearer {token}"}
        warm = httpx.get(f"{app.url}/slicer/system/version", headers=headers, timeout=30).status_code
        issuer.stop()  # the JWKS endpoint is gone from here on
        cached = httpx.get(f"{app.url}/slicer/system/version", headers=headers, timeout=30).status_code
        rotated = issuer.keys.sign({"iss": issuer.url, "aud": issuer.audience, "sub": "x", "scope": "slicer.read",
                                    "exp": int(time.time()) + 300, "iat": int(time.time())}, {"kid": "rotated-kid"})
        started = time.monotonic()
        unknown = httpx.get(f"{app.url}/slicer/system/version", headers={"Authorization": f"Bearer {rotated}"},
                            timeout=60)
        seconds = time.monotonic() - started
    finally:
        app.stop()
        issuer.stop()
    report.add(Case(AREA, "JWKS endpoint down", "cached keys keep working (200); an unknown kid is refused "
                    "(401/503 JSON), not a 500 or a hang", f"before {warm}; cached key {cached}; unknown kid "
                    f"{unknown.status_code} in {seconds:.1f} s", 3,
                    passed=(warm, cached) == (200, 200) and unknown.status_code in (401, 503)
                    and unknown.headers.get("content-type", "").startswith("application/json")))
