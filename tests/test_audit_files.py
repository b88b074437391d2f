"""Where the audit log goes (audit_files.py) and how several instances share it: one host keeps
`<data_dir>/audit.jsonl`; with `index.url` each host writes `<data_dir>/audit/<host>.jsonl`. Processes
on two hosts (UTS namespaces: real host names) and two on one host write at once: every line is whole
and names its instance, and the admin API pages through the merged log newest first."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from slicerweb.audit_files import open_audit_log
from slicerweb.audit_pages import AuditFilter, read_page
from slicerweb.instance import host_name
from slicerweb.policy import default_policy
from tests.conftest import LiveServer
from tests.support import subprocess_env

RECORDS = 1500
WRITER = """
import sys
from slicerweb.audit_files import open_audit_log
from slicerweb.policy import load_policy
audit = open_audit_log(load_policy(sys.argv[1]))
for n in range(int(sys.argv[2])):
    audit.record("test.write", droppable=False, subject=sys.argv[3], n=n, pad="x" * 3000)
    if n % 50 == 0:
        audit.flush()  # many small appends, racing the other writers'
audit.flush()
"""
needs_namespaces = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                                      reason="host names of their own need root and unshare (util-linux)")


def disorder(entries: list[dict[str, object]]) -> float:
    """How far a newest-first sequence goes back up in time: the largest t[j] - min(t[:j]), in seconds."""
    worst, lowest = 0.0, float("inf")
    for entry in entries:
        moment = datetime.fromisoformat(str(entry["time"])).timestamp()
        worst, lowest = max(worst, moment - lowest), min(lowest, moment)
    return worst


def on_host(host: str) -> list[str]:
    """A command prefix running the rest in a UTS namespace whose host name is `host`."""
    return ["unshare", "--uts", "--", "sh", "-c", f'hostname {host} && exec "$@"', "sh"]


def test_one_host_keeps_one_file_and_several_hosts_get_one_each(tmp_path: Path) -> None:
    single = default_policy().replace(**{"server.data_dir": str(tmp_path)})
    audit = open_audit_log(single)
    assert audit.path == tmp_path / "audit.jsonl" and audit.sources() == [audit.path]
    shared = single.replace(**{"index.url": "postgresql://slicerweb@db.lan/slicerweb"})
    audit = open_audit_log(shared)
    assert audit.path == tmp_path / "audit" / f"{host_name()}.jsonl"
    for name in ("other-host.jsonl", "other-host.jsonl.1", "notes.txt"):
        (tmp_path / "audit" / name).write_text("{}\n")
    assert audit.sources() == [audit.path, tmp_path / "audit" / "other-host.jsonl"]  # rotated .1: via audit_files
    custom = single.replace(**{"audit.path": str(tmp_path / "logs[1]" / "audit-{host}.jsonl")})
    audit = open_audit_log(custom)
    assert audit.path == tmp_path / "logs[1]" / f"audit-{host_name()}.jsonl"
    audit.record("test.write", subject="alice")
    audit.flush()
    (entry,) = audit.read()
    assert entry["instance"] == f"{host_name()}:{os.getpid()}"
    (tmp_path / "logs[1]" / "audit-b.jsonl").write_text("{}\n")
    assert len(audit.sources()) == 2  # brackets in the directory are not a glob


@needs_namespaces
def test_instances_on_two_hosts_write_whole_lines_to_their_own_files(tmp_path: Path) -> None:
    data = tmp_path / "data"
    policy = tmp_path / "policy.toml"
    policy.write_text(f'[server]\ndata_dir = "{data}"\n[index]\nurl = "postgresql://slicerweb@db.lan/slicerweb"\n')
    writers = [(host, subject) for host, subject in (("host-a", "a1"), ("host-a", "a2"), ("host-b", "b1"))]
    children = [subprocess.Popen([*on_host(host), sys.executable, "-c", WRITER, str(policy), str(RECORDS), subject],
                                 env=subprocess_env()) for host, subject in writers]
    assert [child.wait(120) for child in children] == [0, 0, 0]
    assert sorted(p.name for p in (data / "audit").iterdir()) == ["host-a.jsonl", "host-b.jsonl"]
    by_subject: dict[str, list[dict[str, object]]] = {}
    for name in ("host-a", "host-b"):
        lines = (data / "audit" / f"{name}.jsonl").read_bytes().split(b"\n")
        assert lines[-1] == b""
        for line in lines[:-1]:
            entry = json.loads(line)  # whole: never two writers' bytes in one line
            assert str(entry["instance"]).startswith(f"{name}:") and len(str(entry["pad"])) == 3000
            by_subject.setdefault(str(entry["subject"]), []).append(entry)
    assert {s: [e["n"] for e in entries] for s, entries in by_subject.items()} == {
        s: list(range(RECORDS)) for _host, s in writers}
    assert len({by_subject["a1"][0]["instance"], by_subject["a2"][0]["instance"]}) == 2  # two pids on host-a

    sources = sorted((data / "audit").glob("*.jsonl"))
    merged, page = [], read_page(sources, AuditFilter(), 250)
    while True:
        merged.extend(page.entries)
        if page.next is None:
            break
        page = read_page(sources, AuditFilter(), 250, page.next)
    assert len(merged) == 3 * RECORDS
    for _host, subject in writers:  # each writer's records newest first
        assert [e["n"] for e in merged if e["subject"] == subject] == list(range(RECORDS - 1, -1, -1))
    # Newest first across the hosts' files: the merge adds no disorder to what the files hold (two processes
    # of host-a append to one file in the order of their writes, which may be milliseconds off time order).
    files = [[json.loads(line) for line in reversed(p.read_text().splitlines())] for p in sources]
    assert disorder(merged) <= max(map(disorder, files))


@needs_namespaces
@pytest.mark.postgresql
def test_the_admin_api_shows_every_hosts_records_in_time_order(live_server: Callable[..., LiveServer],
                                                               tmp_path: Path, postgres_url: str) -> None:
    data = tmp_path / "data"
    policy = tmp_path / "writer.toml"
    policy.write_text(f'[server]\ndata_dir = "{data}"\n[index]\nurl = "{postgres_url}"\n')
    for host, subject in (("host-b", "bob"), ("host-c", "carol")):  # the other instances' records
        done = subprocess.run([*on_host(host), sys.executable, "-c", WRITER, str(policy), "60", subject],
                              env=subprocess_env(), timeout=120)
        assert done.returncode == 0
    server = live_server(policy_toml=f'[index]\nurl = "{postgres_url}"\n', data_dir=data, prefix=on_host("host-a"))
    with server.client() as http:
        for _ in range(3):  # this instance's own records: denials, on host-a
            assert http.post("/slicer/exec", content="__execResult = {}").status_code == 403
        entries: list[dict[str, object]] = []
        params = {"limit": "50"}
        while True:
            answer = http.get("/admin/api/audit", params=params)
            assert answer.status_code == 200, answer.text
            entries += answer.json()["entries"]
            if answer.json()["next"] is None:
                break
            params = {"limit": "50", "before": answer.json()["next"]}
        hosts = {str(e["instance"]).split(":")[0] for e in entries}
        assert hosts == {"host-a", "host-b", "host-c"}
        assert len([e for e in entries if e["event"] == "test.write"]) == 120
        assert len([e for e in entries if e["event"] == "exec.denied"]) >= 1  # fsynced in batches, may lag
        times = [str(e["time"]) for e in entries]
        assert times == sorted(times, reverse=True)
        assert (data / "audit" / "host-a.jsonl").is_file() and not (data / "audit.jsonl").exists()
