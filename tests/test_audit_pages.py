"""Audit pages (`audit_pages.py`): newest first, cursor paging that survives appends and a rotation
(continuing into audit.jsonl.1), a batch being appended (no newline yet) left for later, foreign or
oversized lines skipped, and memory bounded by a block and a page: a filter matching nothing in a
48 MiB log stops at the scan budget, and the live server's peak RSS barely moves."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from slicerweb.audit_pages import SCAN_BUDGET_BYTES, AuditFilter, BadCursor, Cursor, Position, outcome_of, read_page
from tests.conftest import LiveServer
from tests.peak_rss import PeakRss


def record(number: int, **fields: object) -> bytes:
    entry = {"time": f"2026-12-03T00:00:{number % 60:02d}.000+00:00", "event": "exec.denied",
             "subject": "alice", "n": number, **fields}
    return (json.dumps(entry) + "\n").encode()


def write(path: Path, numbers: range, **fields: object) -> None:
    with path.open("ab") as handle:
        for number in numbers:
            handle.write(record(number, **fields))


def numbers(entries: list[dict[str, object]]) -> list[object]:
    return [entry["n"] for entry in entries]


def test_pages_newest_first_and_cursor_survives_appends(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write(log, range(10))
    first = read_page(log, AuditFilter(), 4)
    assert numbers(first.entries) == [9, 8, 7, 6] and first.next is not None
    write(log, range(10, 15))  # new lines after the first page do not shift the next one
    second = read_page(log, AuditFilter(), 4, first.next)
    assert numbers(second.entries) == [5, 4, 3, 2]
    last = read_page(log, AuditFilter(), 4, second.next)
    assert numbers(last.entries) == [1, 0] and last.next is None
    assert numbers(read_page(log, AuditFilter(), 3).entries) == [14, 13, 12]


def test_paging_continues_into_the_rotated_file(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write(log, range(6))
    page = read_page(log, AuditFilter(), 4)
    log.rename(tmp_path / "audit.jsonl.1")  # logrotate: rename; the writer then creates a new file
    write(log, range(6, 9))
    after = read_page(log, AuditFilter(), 4, page.next)  # the cursor names the old file by inode
    assert numbers(after.entries) == [1, 0] and after.next is None
    fresh = read_page(log, AuditFilter(), 5)
    assert numbers(fresh.entries) == [8, 7, 6, 5, 4]
    assert numbers(read_page(log, AuditFilter(), 5, fresh.next).entries) == [3, 2, 1, 0]


def test_a_cursor_into_a_file_rotated_away_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write(log, range(4))
    page = read_page(log, AuditFilter(), 2)
    assert page.next is not None
    log.rename(tmp_path / "audit.jsonl.1")
    (tmp_path / "audit.jsonl.1").rename(tmp_path / "audit.jsonl.2")
    write(log, range(4, 6))
    with pytest.raises(BadCursor, match="rotated"):
        read_page(log, AuditFilter(), 2, page.next)
    with pytest.raises(BadCursor):
        Position.parse("12-x")


def test_partial_foreign_and_oversized_lines(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write(log, range(2))
    with log.open("ab") as handle:
        handle.write(b"not json\n[1, 2]\n" + b"x" * (3 << 20) + b"\n")
    write(log, range(2, 4))
    with log.open("ab") as handle:
        handle.write(record(99)[:-10])  # a batch being appended: no newline yet
    assert numbers(read_page(log, AuditFilter(), 10).entries) == [3, 2, 1, 0]


def test_filters_and_outcomes(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write(log, range(3))
    write(log, range(3, 5), event="feature.toggle", subject="Bob")
    write(log, range(5, 7), event="admin", subject="bob", status=200)
    write(log, range(7, 8), event="exec.run", outcome="error")
    assert numbers(read_page(log, AuditFilter(action="feature"), 9).entries) == [4, 3]
    assert numbers(read_page(log, AuditFilter(action="exec"), 9).entries) == [7, 2, 1, 0]
    assert numbers(read_page(log, AuditFilter(action="exec.run"), 9).entries) == [7]
    assert numbers(read_page(log, AuditFilter(action="exe"), 9).entries) == []  # a prefix of a name part only
    assert numbers(read_page(log, AuditFilter(actor="bob"), 9).entries) == [6, 5, 4, 3]
    assert numbers(read_page(log, AuditFilter(outcome="denied"), 9).entries) == [2, 1, 0]
    assert numbers(read_page(log, AuditFilter(outcome="error"), 9).entries) == [7]
    assert numbers(read_page(log, AuditFilter(actor="bob", outcome="ok"), 9).entries) == [6, 5, 4, 3]
    assert outcome_of({"event": "access.denied", "status": 401}) == "denied"
    assert outcome_of({"event": "slicer_write", "status": 500}) == "error"


def test_a_filter_matching_nothing_stops_at_the_scan_budget(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    block = b"".join(record(n) for n in range(1000))
    with log.open("wb") as handle:
        while handle.tell() < SCAN_BUDGET_BYTES + (8 << 20):
            handle.write(block)
    page = read_page(log, AuditFilter(actor="nobody"), 50)
    assert page.entries == [] and page.next is not None
    assert SCAN_BUDGET_BYTES <= page.scanned_bytes < SCAN_BUDGET_BYTES + (1 << 20)
    rest = read_page(log, AuditFilter(actor="nobody"), 50, page.next)
    assert rest.entries == [] and rest.next is None


def test_paging_a_large_log_keeps_the_servers_memory_flat(live_server: Callable[..., LiveServer],
                                                          tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    block = b"".join(record(n) for n in range(1000))
    with (data / "audit.jsonl").open("wb") as handle:
        while handle.tell() < 48 << 20:
            handle.write(block)
    page, growth = page_matching_nothing(live_server(data_dir=data))
    assert page["scanned_bytes"] >= SCAN_BUDGET_BYTES
    print(f"peak RSS growth paging a 48 MiB log: {growth / 2**20:.1f} MiB")
    assert growth < 16 << 20, f"peak RSS grew {growth >> 20} MiB over a 48 MiB log"


def page_matching_nothing(server: LiveServer) -> tuple[dict[str, Any], int]:
    """The admin API's first page for a filter no record matches (the whole scan budget read), and how
    much the server's peak RSS grew while answering it (the route warmed up first)."""
    peak = PeakRss(server.process.pid)
    with server.client() as http:
        assert http.get("/admin/api/audit", params={"limit": "1"}).status_code == 200
        peak.reset()
        response = http.get("/admin/api/audit", params={"actor": "nobody", "limit": "200"})
    assert response.status_code == 200 and response.json()["entries"] == []
    return response.json(), peak.growth()


def test_actor_filter_finds_names_json_escapes(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write(log, range(2), subject="Müller")
    write(log, range(2, 3), subject='o"hara\\x')
    assert numbers(read_page(log, AuditFilter(actor="müller"), 9).entries) == [1, 0]
    assert numbers(read_page(log, AuditFilter(actor='O"HARA\\'), 9).entries) == [2]


def test_merging_many_hosts_files_keeps_the_servers_memory_flat(live_server: Callable[..., LiveServer],
                                                                tmp_path: Path) -> None:
    """Eight hosts' files of 8 MiB each (`{host}` in audit.path, as with index.url): a filter matching
    nothing merges them within the same scan budget and one block per file."""
    data = tmp_path / "data"
    (data / "audit").mkdir(parents=True)
    block = b"".join(record(n) for n in range(1000))
    for host in range(8):
        with (data / "audit" / f"host-{host}.jsonl").open("wb") as handle:
            while handle.tell() < 8 << 20:
                handle.write(block)
    server = live_server(data_dir=data, policy_toml=f'[audit]\npath = "{data}/audit/{{host}}.jsonl"\n')
    page, growth = page_matching_nothing(server)
    assert SCAN_BUDGET_BYTES <= page["scanned_bytes"] < SCAN_BUDGET_BYTES + (1 << 20)
    assert len(page["next"].split(".")) == 9  # every host's file, and this server's own
    print(f"peak RSS growth merging 8 x 8 MiB logs: {growth / 2**20:.1f} MiB")
    assert growth < 16 << 20, f"peak RSS grew {growth >> 20} MiB merging 64 MiB of logs"


def test_two_hosts_files_merge_newest_first_and_page_with_one_cursor(tmp_path: Path) -> None:
    host_a, host_b = tmp_path / "host-a.jsonl", tmp_path / "host-b.jsonl"
    write(host_a, range(0, 20, 2), host="a")  # even seconds on host a, odd ones on host b
    write(host_b, range(1, 20, 2), host="b")
    first = read_page([host_a, host_b], AuditFilter(), 7)
    assert numbers(first.entries) == [19, 18, 17, 16, 15, 14, 13] and first.next is not None
    write(host_b, range(20, 22), host="b")  # appends after the first page do not shift the next one
    rest = read_page([host_a, host_b], AuditFilter(), 50, Cursor.parse(first.next.token()))
    assert numbers(rest.entries) == list(range(12, -1, -1)) and rest.next is None
    assert [e["host"] for e in rest.entries[:2]] == ["a", "b"]
    host_a.rename(tmp_path / "host-a.jsonl.1")  # host a's log rotated: its cursor follows the inode
    write(host_a, range(22, 23), host="a")
    again = read_page([host_a, host_b], AuditFilter(), 50, first.next)
    assert numbers(again.entries) == list(range(12, -1, -1))
    with pytest.raises(BadCursor):
        Cursor.parse(".".join(["1-1"] * 65))
