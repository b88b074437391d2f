"""Logs for operations: console lines are JSON objects (journald) when stderr is not a terminal or with
`--log-format json`, text with `--log-format text`; the access log can have its own file; after the
files are renamed (logrotate) a SIGHUP makes a live server write to new files while requests keep
coming, and every line is whole and in exactly one of the two files (none lost, none split)."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from slicerweb.log_output import JsonLineFormatter
from tests.conftest import LiveServer
from tests.support import settled_audit


def json_lines(path: Path) -> list[dict[str, object]]:
    """Every line of `path` as JSON (fails on a split or partial line)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    assert text == "" or text.endswith("\n"), f"{path} ends mid-line"
    return [json.loads(line) for line in text.splitlines()]


def wait_until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the load stopped"
        time.sleep(0.05)


def test_a_record_with_an_exception_is_one_json_line() -> None:
    try:
        raise ValueError('bad "value"\nsecond line')
    except ValueError:
        record = logging.getLogger("slicerweb.test").makeRecord(
            "slicerweb.test", logging.ERROR, __file__, 1, "failed for %s", ("alice",), sys.exc_info())
    line = JsonLineFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "error" and entry["logger"] == "slicerweb.test" and entry["message"] == "failed for alice"
    assert entry["exception"].startswith("Traceback") and 'ValueError: bad "value"' in entry["exception"]
    assert entry["time"].endswith("+00:00")


def test_console_lines_are_json_when_not_a_terminal(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(args=["--no-access-log"])
    server.stop()
    lines = [line for line in server.log().splitlines() if line.strip()]
    assert lines, "the server logged nothing"
    entries = [json.loads(line) for line in lines]  # every line, Hypercorn's own included
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    assert any(e["logger"].startswith("hypercorn") and "Running on" in e["message"] for e in entries), entries


def test_text_console_lines_on_request(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(args=["--no-access-log", "--log-format", "text"])
    server.stop()
    lines = [line for line in server.log().splitlines() if line.strip()]
    assert any("Running on" in line for line in lines) and not any(line.startswith("{") for line in lines)


def test_sighup_after_rename_moves_both_logs_to_new_files(live_server: Callable[..., LiveServer],
                                                          tmp_path: Path) -> None:
    access = tmp_path / "logs" / "access.jsonl"
    server = live_server(policy_toml=f'[logging]\naccess_log_path = "{access}"\n')
    audit = server.data_dir / "audit.jsonl"
    sent = 0
    stop = threading.Event()

    def load() -> None:  # exec is off: each POST is one access line and one exec.denied audit record
        nonlocal sent
        with server.client() as http:
            while not stop.is_set():
                assert http.post("/slicer/exec", content="__execResult = {}").status_code == 403
                sent += 1

    worker = threading.Thread(target=load)
    worker.start()
    try:
        wait_until(lambda: sent >= 40)
        settled_audit(audit, until=lambda events: len(events) >= 20)
        access.rename(access.with_name("access.jsonl.1"))
        audit.rename(audit.with_name("audit.jsonl.1"))
        server.process.send_signal(signal.SIGHUP)
        at_hangup = sent
        wait_until(lambda: sent >= at_hangup + 40)
    finally:
        stop.set()
        worker.join(30)
    assert server.process.poll() is None, "SIGHUP stopped the server"
    with server.client() as http:
        assert http.get("/slicer/system/version").status_code == 200

    old_access, new_access = json_lines(access.with_name("access.jsonl.1")), json_lines(access)
    posts = [e for e in old_access + new_access if e["path"] == "/slicer/exec"]
    assert len(posts) == sent and len({e["request_id"] for e in posts}) == sent
    assert len([e for e in new_access if e["path"] == "/slicer/exec"]) >= 30
    settled_audit(audit, until=lambda events: len(events) + len(json_lines(audit.with_name("audit.jsonl.1"))) >= sent)
    old_audit, new_audit = json_lines(audit.with_name("audit.jsonl.1")), json_lines(audit)
    denied = [e for e in old_audit + new_audit if e["event"] == "exec.denied"]
    assert len(denied) == sent and len({e["request_id"] for e in denied}) == sent
    assert len(old_audit) >= 20 and len(new_audit) >= 30
    assert audit.stat().st_mode & 0o777 == 0o600


def test_sighup_without_a_log_file_is_harmless(live_server: Callable[..., LiveServer]) -> None:
    server = live_server()
    server.process.send_signal(signal.SIGHUP)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.get("/slicer/system/version").status_code == 200
    assert server.process.poll() is None
