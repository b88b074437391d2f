"""Atomic file storage for Part-10 objects under `<root>/objects/<study>/<series>/<sop>.dcm`.

A new object is written to `<root>/tmp/` and fsynced (a batch's files in parallel); the index journals its final path in
`pending` (committed), the file is renamed into place, and the index transaction that makes it
visible deletes the journal row. A crash at any point leaves either a temp file (removed at start),
a journaled file (removed at start: it was never indexed) or a fully indexed object. UIDs are
checked (digits and dots only) before they become path components.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20
SYNC_THREADS = 8


class Storage:
    """The object tree and its temp directory (same file system, so rename is atomic)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.tmp = self.root / "tmp"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def final_path(self, study_uid: str, series_uid: str, sop_uid: str) -> Path:
        return self.objects / study_uid / series_uid / f"{sop_uid}.dcm"

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.root))

    def absolute(self, relative: str) -> Path:
        return self.root / relative

    def write_temp(self, source: BinaryIO) -> Path:
        """Copy `source` (from its start) into a temp file; `sync()` makes it durable."""
        source.seek(0)
        fd, name = tempfile.mkstemp(dir=self.tmp, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return Path(name)

    def sync(self, paths: list[Path]) -> None:
        """fsync temp files, several at once (the waits overlap; one journal commit serves many)."""
        if len(paths) <= 1:
            for path in paths:
                _fsync_file(path)
            return
        with ThreadPoolExecutor(min(SYNC_THREADS, len(paths))) as pool:
            list(pool.map(_fsync_file, paths))

    def place(self, moves: list[tuple[Path, Path]]) -> None:
        """Rename synced temp files into place, then fsync every directory touched (each once)."""
        touched: set[Path] = set()
        for temp, final in moves:
            if not final.parent.is_dir():
                final.parent.mkdir(parents=True, exist_ok=True)
                touched.update((final.parent.parent, final.parent.parent.parent))
            os.replace(temp, final)
            touched.add(final.parent)
        for directory in touched:
            _fsync_dir(directory)

    def clear_temp(self) -> int:
        """Remove leftovers of interrupted writes; returns how many."""
        removed = 0
        for leftover in self.tmp.iterdir():
            leftover.unlink(missing_ok=True)
            removed += 1
        return removed


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
