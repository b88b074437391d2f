"""The data-management commands as an operator types them: `dicom check` (summary, exit status for
cron, --json, --repair audited), `dicom delete` (prints and audits what went), and one clear line
with exit 2 for what they refuse."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import BinaryIO

from slicerweb.demo.dicom_studies import generate_study
from slicerweb.engine.headless.dicomdb import HeadlessDicom
from tests.support import subprocess_env


def slicerweb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "slicerweb", *args], env=subprocess_env(), capture_output=True,
                          text=True, timeout=120)


def filled(data_dir: Path) -> list[str]:
    """A data directory with one study (2 series x 2 instances); its SOP UIDs."""
    db = HeadlessDicom(data_dir / "dicom")
    sources: list[BinaryIO] = []
    for ds in generate_study(3, series_count=2, instances_per_series=2):
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        sources.append(buffer)
    report = db.store_files(sources)
    db.close()
    return [o.sop_instance_uid for o in report.stored]


def audit_events(data_dir: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (data_dir / "audit.jsonl").read_text().splitlines()]


def test_check_exit_status_summary_and_repair(tmp_path: Path) -> None:
    data = tmp_path / "data"
    filled(data)
    clean = slicerweb("dicom", "check", "--data-dir", str(data))
    assert clean.returncode == 0, clean.stderr
    assert "4 instances indexed, 4 files" in clean.stdout and "no damage found" in clean.stdout
    victim = sorted((data / "dicom" / "objects").rglob("*.dcm"))[0]
    victim.unlink()
    damaged = slicerweb("dicom", "check", "--data-dir", str(data))
    assert damaged.returncode == 1
    assert "  missing_file     1" in damaged.stdout and victim.name in damaged.stdout
    assert not (data / "audit.jsonl").exists()  # a plain check is read-only, nothing to audit
    repaired = slicerweb("dicom", "check", "--repair", "--json", "--data-dir", str(data))
    assert repaired.returncode == 0, repaired.stdout
    report = json.loads(repaired.stdout)
    assert (report["counts"]["missing_file"], report["repaired"], report["instances"]) == (1, 1, 4)
    (event,) = audit_events(data)
    assert event["event"] == "dicom.check" and event["repaired"] == 1 and str(event["subject"]).startswith("local:")
    assert slicerweb("dicom", "check", "--data-dir", str(data)).returncode == 0


def test_delete_prints_and_audits_what_went(tmp_path: Path) -> None:
    data = tmp_path / "data"
    filled(data)
    study = generate_study(3)[0].StudyInstanceUID
    deleted = slicerweb("dicom", "delete", study, "--data-dir", str(data))
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.startswith(f"deleted {study}: 1 study(ies), 2 series, 4 instance(s), ")
    assert not list((data / "dicom" / "objects").rglob("*.dcm"))
    (event,) = audit_events(data)
    assert event["event"] == "dicom.delete" and event["study"] == study
    counts = event["deleted"]
    assert isinstance(counts, dict) and (counts["studies"], counts["series"], counts["instances"]) == (1, 2, 4)
    assert counts["bytes"] > 4 * 64 * 64 * 2  # four 64 x 64 16-bit images and their headers
    again = slicerweb("dicom", "delete", study, "--data-dir", str(data))
    assert (again.returncode, again.stderr) == (2, f"slicerweb: study {study} not found\n")
    nothing = slicerweb("dicom", "check", "--data-dir", str(tmp_path / "empty"))
    assert nothing.returncode == 2 and nothing.stderr.startswith("slicerweb: no DICOM database in ")
    assert not (tmp_path / "empty").exists()  # a check never creates a database
