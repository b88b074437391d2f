"""The arguments of the data-management commands (`data_commands.py` runs them); argparse only, so the
CLI starts without loading the engine."""

from __future__ import annotations

import argparse

DEFAULT_EXAMPLES = 5


def add_dicom_arguments(dicom_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`dicom check` and `dicom delete`."""
    check = dicom_commands.add_parser(
        "check", help="compare the index with the stored files (missing, orphan, size/hash mismatch, unparsable, "
                      "no JSON); read-only unless --repair; exit 1 when damage is found")
    check.add_argument("--repair", action="store_true",
                       help="re-index orphan files and drop the rows of missing ones (audited)")
    check.add_argument("--json", action="store_true", help="print one JSON report on stdout")
    check.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES, help="findings shown per kind")
    delete = dicom_commands.add_parser(
        "delete", help="delete a study, a series or an instance: index rows and files (audited)")
    delete.add_argument("study")
    delete.add_argument("series", nargs="?")
    delete.add_argument("instance", nargs="?")
    for parser in (check, delete):
        parser.add_argument("--policy")
        parser.add_argument("--data-dir")


def add_backup_arguments(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`backup DEST` and `restore SRC`."""
    take = commands.add_parser("backup", help="snapshot the data directory into DEST (the server may keep serving)")
    take.add_argument("destination")
    put = commands.add_parser("restore", help="restore a backup into the data directory (stop the server first)")
    put.add_argument("source")
    put.add_argument("--force", action="store_true",
                     help="restore into a data directory that holds data (it is moved aside, not deleted)")
    for parser in (take, put):
        parser.add_argument("--copy", action="store_true",
                            help="copy every file even where a hard link would do (shares no inode with the source)")
        parser.add_argument("--policy")
        parser.add_argument("--data-dir")
        parser.add_argument("--json", action="store_true", help="print one JSON report on stdout")
