"""The parser fuzzers (tests marked `fuzz`), run by pytest with the hypothesis profile of the mode:
`quick` (60 derandomized examples each) or `audit` (3,000 random ones). One case per test."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from .report import Case, Report

AREA = "fuzzing"
REPO = Path(__file__).resolve().parents[1]


def run(scratch: Path, report: Report, *, quick: bool) -> None:
    scratch.mkdir(parents=True, exist_ok=True)
    junit = scratch / "fuzz.xml"
    profile = "quick" if quick else "audit"
    env = dict(os.environ, SLICERWEB_FUZZ=profile, PYTHONPATH=os.pathsep.join([str(REPO / "app"), str(REPO)]))
    command = [sys.executable, "-m", "pytest", "-q", "-m", "fuzz", "-p", "no:cacheprovider", f"--junitxml={junit}",
               "tests"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=7200)
    report.note(AREA, f"hypothesis profile '{profile}'; `{' '.join(command[1:])}` exited {done.returncode}")
    if not junit.exists():
        report.add(Case(AREA, "fuzz run", "a JUnit report", done.stdout[-300:] + done.stderr[-300:], passed=False))
        return
    for testcase in ElementTree.parse(junit).getroot().iter("testcase"):
        name = f"{testcase.get('classname', '').removeprefix('tests.')}::{testcase.get('name')}"
        failure = testcase.find("failure")
        if failure is None:
            failure = testcase.find("error")
        skipped = testcase.find("skipped")
        if skipped is not None:
            message = skipped.get("message", "")
            owner = message.partition("open, owner: ")[2]
            report.add(Case(AREA, name, "success or the module's 4xx error; memory bounded", message[:200],
                            passed=not owner, open_key=_open_key(name) if owner else None, skipped=not owner))
            continue
        observed = "no failing input" if failure is None else (failure.get("message") or "")[:250]
        report.add(Case(AREA, name, "success or the module's 4xx error; memory bounded", observed,
                        passed=failure is None))


def _open_key(test_name: str) -> str | None:
    """The KNOWN_OPEN key a skipped-as-open fuzz test stands for."""
    for fragment, key in (("bomb", "nrrd.{encoding}_bomb"), ("deeply_nested", "dicom.deep_sequence")):
        if fragment in test_name:
            encoding = "gzip" if "gzip" in test_name else "bzip2"
            return key.format(encoding=encoding)
    return None
