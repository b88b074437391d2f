"""`slicerweb dicom import`: a progress bar on a terminal (a real pty), a plain summary in a pipe,
nothing with --quiet, one JSON object with --json."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from slicerweb.demo.dicom_studies import write_studies
from tests.conftest import subprocess_env


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, int]:
    directory = tmp_path / "incoming"
    written = write_studies(directory, 2, series_count=2, instances_per_series=5)
    (directory / "notes.txt").write_text("not DICOM")
    return directory, written


def command(source: Path, tmp_path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "slicerweb", "dicom", "import", str(source), "--data-dir", str(tmp_path / "d"),
            *extra]


def test_not_a_tty_prints_one_plain_summary_and_no_bar(source, tmp_path: Path) -> None:
    directory, written = source
    done = subprocess.run(command(directory, tmp_path), capture_output=True, text=True, env=subprocess_env(),
                          check=True)
    assert done.stdout == (f"imported {written}, already present 0, skipped (not DICOM) 1, refused (damaged) 0, "
                           "failed 0\n")
    assert "importing" not in done.stderr and "\r" not in done.stderr  # no bar (pydicom may warn there)


def test_quiet_prints_nothing(source, tmp_path: Path) -> None:
    directory, _ = source
    done = subprocess.run(command(directory, tmp_path, "--quiet"), capture_output=True, text=True,
                          env=subprocess_env())
    assert (done.returncode, done.stdout) == (0, "")
    assert "importing" not in done.stderr


def test_json_summary_for_scripts(source, tmp_path: Path) -> None:
    directory, written = source
    subprocess.run(command(directory, tmp_path, "--quiet"), env=subprocess_env(), check=True)
    done = subprocess.run(command(directory, tmp_path, "--json"), capture_output=True, text=True,
                          env=subprocess_env(), check=True)
    summary = json.loads(done.stdout)
    assert {k: summary[k] for k in ("files", "imported", "already_present", "skipped", "refused", "failed")} == {
        "files": written + 1, "imported": 0, "already_present": written, "skipped": 1, "refused": 0, "failed": 0}
    assert summary["instances_per_second"] > 0 and summary["seconds"] > 0
    assert "importing" not in done.stderr


def test_a_terminal_gets_a_progress_bar_with_rate_and_eta(source, tmp_path: Path) -> None:
    directory, written = source
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))  # a 120-column terminal
    process = subprocess.Popen(command(directory, tmp_path), stdin=terminal, stdout=terminal, stderr=terminal,
                               env=subprocess_env(), close_fds=True)
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    assert process.wait(60) == 0
    screen = b"".join(chunks).decode()
    files = written + 1
    last_bar = [line for line in screen.replace("\r", "\n").split("\n") if line.startswith("importing")][-1]
    assert f"{files}/{files}" in last_bar and "100%" in last_bar
    assert " inst/s" in last_bar and f"imported {written}, failed 0" in last_bar
    assert "<00:00" in last_bar  # the ETA field (remaining time) at the end
    assert f"imported {written}, already present 0, skipped (not DICOM) 1, refused (damaged) 0, failed 0" in screen
    print(screen)
