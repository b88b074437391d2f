"""The data-management commands: `dicom check`, `dicom delete`, `backup`, `restore` (their arguments:
`data_arguments.py`).

Each prints what it did (counts, bytes, time) and writes the privileged acts (a repair, a delete, a
backup, a restore) to the audit log as the local operator. Exit status: 0 done (and, for `check`,
no damage left), 1 damage found, 2 refused (one line on stderr saying why).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from .audit_files import open_audit_log
from .engine.dicom_api import CheckReport
from .engine.errors import EngineError
from .engine.headless.dicomdb import HeadlessDicom
from .engine.headless.dicomdb.backup import SnapshotReport, backup, restore
from .engine.headless.dicomdb.health import INDEX_FILE
from .policy import Policy, data_dir_of


def run(policy: Policy, args: argparse.Namespace) -> int:
    """Dispatch one of the commands above; engine refusals print one line and exit 2."""
    if policy.index.url and args.command in ("backup", "restore"):
        print(f"slicerweb: {args.command} covers a SQLite index; with index.url (PostgreSQL) back up the database "
              "with pg_dump and the object files with your file-system tools (deploy/README.md, section 8)",
              file=sys.stderr)
        return 2
    try:
        if args.command == "backup":
            return _backup(policy, Path(args.destination), args.json, link=not args.copy)
        if args.command == "restore":
            return _restore(policy, Path(args.source), args.force, args.json, link=not args.copy)
        if args.dicom_command == "check":
            return _check(policy, args.repair, args.json, max(args.examples, 0))
        return _delete(policy, args.study, args.series, args.instance)
    except EngineError as exc:
        print(f"slicerweb: {exc}", file=sys.stderr)
        return 2


def _audit(policy: Policy, event: str, **fields: Any) -> None:
    audit = open_audit_log(policy)
    audit.record(event, subject=f"local:{getpass.getuser()}", via="cli", **fields)
    audit.flush()


def _open(policy: Policy, *, startup_checks: bool) -> HeadlessDicom | None:
    root = data_dir_of(policy) / "dicom"
    if not policy.index.url and not (root / INDEX_FILE).is_file():
        print(f"slicerweb: no DICOM database in {data_dir_of(policy)} (no {root / INDEX_FILE})", file=sys.stderr)
        return None
    return HeadlessDicom(root, startup_checks=startup_checks, index_url=policy.index.url)


def _check(policy: Policy, repair: bool, as_json: bool, examples: int) -> int:
    # No start-up checks: recovery would change things (a plain check is read-only) and the file
    # count would refuse the very damage this reports.
    dicom = _open(policy, startup_checks=False)
    if dicom is None:
        return 2
    try:
        report = dicom.check_now(repair=repair)
    finally:
        dicom.close()
    if repair:
        _audit(policy, "dicom.check", repair=True, counts=report.counts(),
               repaired=sum(f.repaired for f in report.findings), data_dir=str(data_dir_of(policy)))
    if as_json:
        print(json.dumps(report.as_json(examples)))
    else:
        _print_check(report, dicom.root, examples)
    return 1 if report.damaged else 0


def _print_check(report: CheckReport, root: Path, examples: int) -> None:
    print(f"checked {root}: {report.instances} instances indexed, {report.files} files, "
          f"{report.in_flight} store(s)/delete(s) in flight")
    summary = report.as_json(examples)
    for kind, count in report.counts().items():
        repaired = sum(f.repaired for f in report.findings if f.kind == kind)
        print(f"  {kind:<16} {count}" + (f" ({repaired} repaired)" if repaired else ""))
    if summary["examples"]:
        print(f"first {examples} of each kind:")
        for example in summary["examples"]:
            uid = f" [{example['sop_uid']}]" if example["sop_uid"] else ""
            print(f"  {example['kind']}: {example['path']}{uid}: {example['detail']}")
    left = sum(not f.repaired for f in report.findings)
    print("no damage found" if not report.findings else
          f"{len(report.findings)} finding(s), {left} not repaired"
          + ("" if report.repaired or not left else " (--repair fixes orphans and missing files; "
             "slicerweb dicom reindex rebuilds from the files)"))


def _delete(policy: Policy, study: str, series: str | None, instance: str | None) -> int:
    dicom = _open(policy, startup_checks=True)
    if dicom is None:
        return 2
    try:
        report = dicom.delete_now(study, series, instance)
    finally:
        dicom.close()
    _audit(policy, "dicom.delete", **report.as_json())
    print(f"deleted {instance or series or study}: {report.studies} study(ies), {report.series} series, "
          f"{report.instances} instance(s), {_size(report.bytes)}")
    return 0


def _backup(policy: Policy, destination: Path, as_json: bool, *, link: bool) -> int:
    report = backup(data_dir_of(policy), destination, link=link)
    _audit(policy, "backup.create", destination=str(destination), instances=report.instances, bytes=report.bytes)
    _print_snapshot("backed up", report, as_json)
    return 0


def _restore(policy: Policy, source: Path, force: bool, as_json: bool, *, link: bool) -> int:
    report = restore(source, data_dir_of(policy), force=force, link=link)
    _audit(policy, "backup.restore", source=str(source), instances=report.instances, bytes=report.bytes,
           moved_aside=report.moved_aside)
    _print_snapshot("restored", report, as_json)
    return 0


def _print_snapshot(verb: str, report: SnapshotReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.as_json()))
        return
    extras = [name for name, present in (("feature state", report.features), ("audit log", report.audit_log))
              if present]
    print(f"{verb} {report.source} -> {report.destination}: {report.instances} instances in {report.studies} "
          f"studies, {report.files_linked + report.files_copied} files ({report.files_linked} hard-linked, "
          f"{report.files_copied} copied), {_size(report.bytes)}"
          + (f", {' and '.join(extras)}" if extras else "") + f", in {report.seconds:.1f} s")
    if report.left_out:
        print(f"  {report.left_out} instance(s) deleted while the backup ran were left out")
    if report.moved_aside:
        print(f"  what the data directory held before is in {report.moved_aside}")


def _size(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]  # int bytes become a float of the larger unit
    return f"{count} bytes"
