"""`cli.py`: every `slicerweb` subcommand as a person types it (the venv's console script, a real process).

Contract: each subcommand's happy path prints what it did and exits 0; a bad argument or a refused
request prints one line starting `slicerweb` naming the problem and exits 2, never a traceback.
(argparse's own refusals print the usage first; their last line is the one naming the problem.)
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from slicerweb.demo.dicom_studies import write_studies
from slicerweb.version import __version__
from tests.support import REPO, subprocess_env

SLICERWEB = Path(sys.executable).with_name("slicerweb")  # what `make venv` installs as .venv/bin/slicerweb


def slicerweb(*args: str, cwd: Path | None = None, stdin: str = "") -> subprocess.CompletedProcess[str]:
    assert SLICERWEB.is_file(), f"{SLICERWEB} is missing: run `make venv`"
    return subprocess.run([str(SLICERWEB), *args], capture_output=True, text=True, input=stdin,
                          env=subprocess_env(), cwd=cwd or REPO, timeout=120)


def assert_one_line_refusal(done: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit 2, one error line (argparse: after its usage lines), no traceback; returns that line."""
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr and done.stdout == ""
    line = done.stderr.splitlines()[-1]
    assert line.startswith("slicerweb"), done.stderr
    for word in words:
        assert word in line, (word, line)
    if not line.startswith(("usage:", "slicerweb: error:")) and "error: argument" not in line:
        assert done.stderr.count("\n") == 1, done.stderr  # our own refusals are exactly one line
    return line


def test_version() -> None:
    done = slicerweb("--version")
    assert done.returncode == 0 and done.stdout == f"slicerweb {__version__}\n"


def test_no_subcommand_names_the_choices() -> None:
    line = assert_one_line_refusal(slicerweb(), "the following arguments are required: command")
    assert line.startswith("slicerweb: error:")


def test_check_policy_accepts_each_shipped_policy() -> None:
    for name, summary in (("default", "127.0.0.1:2016, auth none"), ("dev", "auth none")):
        done = slicerweb("check-policy", f"policies/{name}.toml")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"policies/{name}.toml: ok (") and summary in done.stdout


def test_check_policy_names_file_key_and_value(tmp_path: Path) -> None:
    bad = tmp_path / "site.toml"
    bad.write_text("[limits]\nmax_body_bytes = \"big\"\n")
    line = assert_one_line_refusal(slicerweb("check-policy", str(bad)), str(bad), "limits.max_body_bytes", "'big'")
    assert line.startswith(f"slicerweb: {bad}:2:")
    assert_one_line_refusal(slicerweb("check-policy", str(tmp_path / "missing.toml")), "missing.toml")


def test_serve_answers_then_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen([str(SLICERWEB), "serve", "--port", "0", "--data-dir", str(tmp_path / "data"),
                                "--no-log-console", "--no-access-log"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=subprocess_env(), cwd=tmp_path)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith(f"SlicerWeb {__version__} serving on http://127.0.0.1:"), first
        url = first.strip().rsplit(" ", 1)[1]
        version = httpx.get(f"{url}/slicer/system/version", timeout=10)
        assert version.status_code == 200 and version.json()["applicationName"] == "SlicerWeb"
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        _, stderr = process.communicate()
    assert "Traceback" not in stderr


@pytest.mark.parametrize(("args", "words"), [
    (["--certfile", "cert.pem"], ["--certfile and --keyfile go together"]),
    (["--port", "twenty"], ["argument --port", "invalid int value: 'twenty'"]),
    (["--host", "0.0.0.0"], ["server.host", "without authentication is refused"]),
    (["--certfile", "missing.pem", "--keyfile", "key.pem"], ["cannot use the certificate missing.pem", "key.pem"]),
    (["--certfile", "missing.pem", "--keyfile", "key.pem", "--workers", "2"], ["cannot use the certificate"]),
])
def test_serve_refuses_a_bad_argument_in_one_line(tmp_path: Path, args: list[str], words: list[str]) -> None:
    done = slicerweb("serve", "--port", "0", "--data-dir", str(tmp_path / "data"), "--no-log-console", *args,
                     cwd=tmp_path)
    assert_one_line_refusal(done, *words)


def test_feature_show_on_reset_are_audited(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    assert slicerweb("feature", "exec", "show", "--data-dir", data).stdout == "exec: off\n"
    switched = slicerweb("feature", "exec", "on", "--minutes", "5", "--data-dir", data)
    assert switched.returncode == 0 and switched.stdout.startswith("exec: on (until ")
    assert slicerweb("feature", "exec", "show", "--data-dir", data).stdout.startswith("exec: on (until ")
    assert slicerweb("feature", "exec", "reset", "--data-dir", data).stdout == "exec: off\n"
    audit = [json.loads(line) for line in (tmp_path / "data" / "audit.jsonl").read_text().splitlines()]
    toggles = [(r["event"], r["new"], r["via"]) for r in audit if r.get("feature") == "exec"]
    assert toggles == [("feature.toggle", True, "cli"), ("feature.reset", False, "cli")]
    assert all(str(r["subject"]).startswith("local:") for r in audit if r.get("feature") == "exec")


def test_feature_refusals_are_one_line(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    assert_one_line_refusal(slicerweb("feature", "teleport", "on", "--data-dir", data),
                            "argument name: invalid choice: 'teleport'")
    assert_one_line_refusal(slicerweb("feature", "exec", "on", "--minutes", "600", "--data-dir", data),
                            "minutes must be between 0 and 60", "features.exec_toggle_max_minutes")
    policy = tmp_path / "closed.toml"
    policy.write_text("[features]\ndicomweb = false\n")
    assert_one_line_refusal(slicerweb("feature", "dicomweb", "on", "--policy", str(policy), "--data-dir", data),
                            "dicomweb is disabled by the policy")


def test_dicom_import_then_reindex(tmp_path: Path) -> None:
    write_studies(tmp_path / "incoming", 2, series_count=1, instances_per_series=2)
    (tmp_path / "incoming" / "notes.txt").write_text("not DICOM")
    data = str(tmp_path / "data")
    imported = slicerweb("dicom", "import", str(tmp_path / "incoming"), "--data-dir", data, "--json")
    assert imported.returncode == 0, imported.stderr
    summary = json.loads(imported.stdout)
    assert (summary["files"], summary["imported"], summary["skipped"], summary["failed"]) == (5, 4, 1, 0)
    again = json.loads(slicerweb("dicom", "import", str(tmp_path / "incoming"), "--data-dir", data, "--json").stdout)
    assert again["imported"] == 0 and again["already_present"] == 4
    reindexed = slicerweb("dicom", "reindex", "--data-dir", data)
    assert reindexed.returncode == 0, reindexed.stderr
    assert reindexed.stdout.startswith(f"reindexed {tmp_path / 'data' / 'dicom'}: 4 instances in 2 studies; "
                                       "0 file(s) set aside in ")


def test_dicom_refusals_are_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    assert_one_line_refusal(slicerweb("dicom", "import", str(missing), "--data-dir", str(tmp_path / "d")),
                            f"{missing} is not a directory")
    assert_one_line_refusal(slicerweb("dicom", "shuffle"), "argument dicom_command: invalid choice: 'shuffle'")


def test_issuer_hash_password_and_its_refusal() -> None:
    done = slicerweb("issuer", "hash-password", stdin="a long password\n")
    assert done.returncode == 0 and done.stdout.startswith("scrypt$") and "long password" not in done.stdout
    assert_one_line_refusal(slicerweb("issuer", "--audience", "https://slicerweb.local"),
                            "--keys FILE and --audience URI are required")
