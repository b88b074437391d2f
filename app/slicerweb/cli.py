"""The `slicerweb` command: serve | check-policy | feature | issuer | dicom import/reindex/check/delete/
migrate-index | backup | restore.

Start-up problems (bad policy, no free port, unreadable certificate, a damaged DICOM index) print
one line and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from .data_arguments import add_backup_arguments, add_dicom_arguments
from .engine.errors import Conflict, IndexDamaged, Unavailable
from .features import TOGGLEABLE, FeatureFlags, FeatureRefused
from .policy import Policy, PolicyError, data_dir_of, default_policy, load_policy
from .version import __version__
from .worker_role import add_role_arguments

log = logging.getLogger("slicerweb")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slicerweb", description=__doc__)
    parser.add_argument("--version", action="version", version=f"slicerweb {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the server (headless engine)")
    serve.add_argument("--policy", help="policy TOML file (default: closed built-in defaults)")
    serve.add_argument("--host", help="bind address (overrides server.host)")
    serve.add_argument("--port", type=int, help="first port to try (default 2016; 0 = any free port)")
    serve.add_argument("--unix-socket", help="listen on this Unix socket instead (behind a proxy)")
    serve.add_argument("--workers", type=int,
                       help="worker processes sharing the socket (overrides server.workers; 1-64, default 1)")
    serve.add_argument("--data-dir", help="data directory (overrides server.data_dir)")
    serve.add_argument("--docroot", help="static pages directory (overrides server.docroot)")
    serve.add_argument("--certfile", help="TLS certificate (PEM) for serving HTTPS directly")
    serve.add_argument("--keyfile", help="TLS private key (PEM)")
    serve.add_argument("--demo", action="store_true", help="load demo volumes and a DICOM study")
    serve.add_argument("--enable-exec", action="store_true",
                       help="turn exec on (local operator; loopback-only policies)")
    serve.add_argument("--log-console", dest="console", action=argparse.BooleanOptionalAction,
                       default=None, help="log messages to the console")
    serve.add_argument("--access-log", dest="access_log", action=argparse.BooleanOptionalAction,
                       default=None, help="write JSON access-log lines")
    serve.add_argument("--log-format", dest="log_format", choices=("auto", "json", "text"),
                       help="console log lines: json (journald), text, or auto = json unless stderr is a terminal")
    add_role_arguments(serve)

    check = commands.add_parser("check-policy", help="validate a policy file and print problems")
    check.add_argument("file")

    feature = commands.add_parser("feature", help="switch a feature at runtime (local operator, audited)")
    feature.add_argument("name", choices=TOGGLEABLE)
    feature.add_argument("state", choices=("on", "off", "reset", "show"))
    feature.add_argument("--minutes", type=float, help="turn off again after this long (exec: default 15)")
    feature.add_argument("--policy")
    feature.add_argument("--data-dir")

    # Listed for --help only: main() hands `issuer ...` to the issuer's own parser (dev-only code, never
    # imported by the other commands).
    commands.add_parser("issuer", help="run the local OIDC test issuer (development and tests only; "
                                       "`slicerweb issuer --help` for its options)")
    dicom = commands.add_parser("dicom", help="manage the DICOM database (headless engine)")
    dicom_commands = dicom.add_subparsers(dest="dicom_command", required=True)
    dicom_import = dicom_commands.add_parser(
        "import", help="index every DICOM file under DIR (recursive; non-DICOM files are skipped and counted)")
    dicom_import.add_argument("directory")
    dicom_import.add_argument("--policy")
    dicom_import.add_argument("--data-dir")
    dicom_import.add_argument("--processes", type=int, default=1,
                              help="parse in this many worker processes (helps with large files on many cores)")
    dicom_reindex = dicom_commands.add_parser(
        "reindex", help="rebuild the index from the stored files (the server must be stopped); damaged files "
                        "are moved to quarantine/")
    dicom_reindex.add_argument("--policy")
    dicom_reindex.add_argument("--data-dir")
    add_dicom_arguments(dicom_commands)
    add_backup_arguments(commands)
    dicom_migrate = dicom_commands.add_parser(
        "migrate-index", help="copy the SQLite index into an empty PostgreSQL database (the server must be "
                              "stopped); then set index.url in the policy")
    dicom_migrate.add_argument("--to", required=True, metavar="URL", help="postgresql://user@host/database")
    dicom_migrate.add_argument("--policy")
    dicom_migrate.add_argument("--data-dir")
    shown = dicom_import.add_mutually_exclusive_group()
    shown.add_argument("--quiet", action="store_true", help="print nothing but errors (the exit status tells)")
    shown.add_argument("--json", action="store_true", help="print one JSON summary on stdout (no progress bar)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["issuer"]:
        return _issuer(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if args.command == "check-policy":
            policy = load_policy(args.file)
            print(f"{args.file}: ok ({policy.server.host}:{policy.server.port}, auth {policy.auth.mode})")
            return 0
        policy = _policy(args)
    except PolicyError as exc:
        print(f"slicerweb: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "feature":
            return asyncio.run(_feature(policy, args))
        if args.command == "dicom" and args.dicom_command == "reindex":
            return _dicom_reindex(policy)
        if args.command in ("backup", "restore") or (args.command == "dicom" and
                                                       args.dicom_command in ("check", "delete")):
            from . import data_commands  # engine and SQLite only: no Quart to start

            return data_commands.run(policy, args)
        if args.command == "dicom" and args.dicom_command == "migrate-index":
            return _dicom_migrate_index(policy, args.to)
        if args.command == "dicom":
            return _dicom_import(policy, Path(args.directory), args.processes, quiet=args.quiet,
                                    as_json=args.json)
        from .serve_command import serve

        return serve(policy, args, argv, demo_studies=_demo_studies() if args.demo else None)
    except IndexDamaged as exc:
        data_dir = data_dir_of(policy)
        print(f"slicerweb: the DICOM index {exc.path} is {exc.problem}; stop every server using {data_dir} and "
              f"run: slicerweb dicom reindex --data-dir {data_dir}", file=sys.stderr)
        return 2
    except (Unavailable, Conflict) as exc:
        print(f"slicerweb: {exc}", file=sys.stderr)
        return 2


def _issuer(argv: list[str]) -> int:
    """`slicerweb issuer ...`: the development issuer. Imported only here, so no other command (and no
    server) loads dev-only code (tests/test_import_rules.py)."""
    from .issuer import command

    return command.main(argv)


def _policy(args: argparse.Namespace) -> Policy:
    policy = load_policy(args.policy) if args.policy else default_policy()
    changes = {}
    for option, key in (("host", "server.host"), ("port", "server.port"), ("data_dir", "server.data_dir"),
                        ("workers", "server.workers"),
                        ("docroot", "server.docroot"), ("unix_socket", "server.unix_socket"),
                        ("console", "logging.console"), ("access_log", "logging.access_log"),
                        ("log_format", "logging.format")):
        value = getattr(args, option, None)
        if value is not None:
            changes[key] = value
    return policy.replace(**changes) if changes else policy


def _demo_studies() -> Callable[[], list[BinaryIO]]:
    """The demo DICOM content for `serve --demo`. The one place runtime code reaches demo/, and only when
    asked: imported here so a server started without --demo never loads it (tests/test_import_rules.py)."""
    from .demo import demo_instances

    return demo_instances


def _dicom_import(policy: Policy, directory: Path, processes: int, *, quiet: bool = False,
                  as_json: bool = False) -> int:
    if not directory.is_dir():
        print(f"slicerweb: {directory} is not a directory", file=sys.stderr)
        return 2
    from .engine.headless.dicomdb import HeadlessDicom
    from .engine.headless.dicomdb.importer import import_directory
    from .import_progress import ImportProgress, count_files

    progress = ImportProgress(count_files(directory), quiet=quiet, as_json=as_json)
    dicom = HeadlessDicom(data_dir_of(policy) / "dicom", index_url=policy.index.url)
    try:
        report = import_directory(dicom, directory, processes=processes, progress=progress)
    finally:
        dicom.close()
        progress.bar.close()
    if not quiet:
        for path, reason in report.refusals:
            print(f"slicerweb: refused {path}: {reason}", file=sys.stderr)
    progress.finish(report)
    return 1 if report.failed or report.refused else 0


def _dicom_migrate_index(policy: Policy, url: str) -> int:
    from .engine.headless.dicomdb.migrate import migrate_index

    if not url.startswith(("postgresql://", "postgres://")):
        print(f"slicerweb: --to takes a postgresql:// URL, not {url!r}", file=sys.stderr)
        return 2
    report = migrate_index(data_dir_of(policy) / "dicom", url)
    counts = ", ".join(f"{n} {table} rows" for table, n in report.rows.items())
    print(f"copied the index of {data_dir_of(policy)} into {report.target}: {counts}; "
          "now set index.url in the policy to that URL and start the server")
    return 0


def _dicom_reindex(policy: Policy) -> int:
    from .engine.headless.dicomdb.reindex import reindex

    if policy.index.url:
        print("slicerweb: dicom reindex rebuilds a SQLite index; this policy's index is PostgreSQL (index.url)",
              file=sys.stderr)
        return 2

    report = reindex(data_dir_of(policy) / "dicom")
    for path, reason in report.set_aside:
        print(f"slicerweb: set aside {path}: {reason}", file=sys.stderr)
    print(f"reindexed {report.root}: {report.instances} instances in {report.studies} studies; "
          f"{len(report.set_aside)} file(s) set aside in {report.quarantine}"
          + (f"; previous index kept as {report.previous}" if report.previous else ""))
    return 0


async def _feature(policy: Policy, args: argparse.Namespace) -> int:
    from .audit_files import open_audit_log
    from .engine.headless import HeadlessEngine

    data_dir = data_dir_of(policy)
    engine = HeadlessEngine(data_dir, index_url=policy.index.url)
    audit = open_audit_log(policy)
    flags = FeatureFlags(policy, engine.features, audit)
    actor = f"local:{getpass.getuser()}"
    try:
        if args.state == "show":
            state = await flags.state(args.name)
        elif args.state == "reset":
            state = await flags.reset(args.name, actor=actor, via="cli")
        else:
            state = await flags.set(args.name, args.state == "on", actor=actor, minutes=args.minutes, via="cli")
    except FeatureRefused as exc:
        print(f"slicerweb: {exc}", file=sys.stderr)
        return 2
    print(f"{state.name}: {'on' if state.enabled else 'off'}"
          + (f" (until {state.override.expires_at:.0f})" if state.override and state.override.expires_at else ""))
    return 0
