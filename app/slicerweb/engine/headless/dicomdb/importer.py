"""`slicerweb dicom import DIR`: index a folder of Part-10 files into the headless database.

Recursive; files that are not DICOM are counted and skipped; objects refused for their content
(truncated, pixel data shorter than declared) are counted and listed with the reason; idempotent
(an instance already stored with the same bytes counts as already present). Files are parsed in
worker processes when asked, a few batches ahead, while this process copies, syncs and indexes
them in batch transactions (one batch is parsed while the previous one is written, synced and
committed).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import BinaryIO

from ....formats.dicom.ingest import ParsedInstance, Refusal, parse_or_error
from ...dicom_api import ImportReport, StoreReport
from .service import HeadlessDicom

IMPORT_BATCH = 100
AHEAD = 4


def import_directory(db: HeadlessDicom, directory: Path, processes: int = 1,
                     progress: Callable[[int, ImportReport], None] | None = None) -> ImportReport:
    """Index every DICOM file under `directory` (recursive); non-DICOM files are counted and skipped.

    With `processes > 1`, files are parsed in that many worker processes while this one copies,
    syncs and indexes them. `progress(files_in_batch, totals_so_far)` is called after each batch.
    """
    imported = present = skipped = failed = 0
    refusals: list[tuple[str, str]] = []
    pool = ProcessPoolExecutor(processes, mp_context=get_context("spawn")) if processes > 1 else None
    # Batch N is written, synced and committed in this thread while batch N+1 is parsed here: the
    # parsing (CPU) overlaps the fsync waits. Batches commit in order, one at a time.
    storer = ThreadPoolExecutor(1, thread_name_prefix="dicom-import")
    storing: Future[tuple[list[Path], list[ParsedInstance | Refusal], StoreReport]] | None = None

    def store(batch: list[Path], handles: list[BinaryIO], parsed: list[ParsedInstance | Refusal]) -> tuple[
            list[Path], list[ParsedInstance | Refusal], StoreReport]:
        try:
            return batch, parsed, db.store_files(list(handles), parsed_sources=parsed)
        finally:
            for handle in handles:
                handle.close()

    def count(stored: tuple[list[Path], list[ParsedInstance | Refusal], StoreReport]) -> None:
        nonlocal imported, present, skipped, failed
        batch, parsed, report = stored
        for path, parse, outcome in zip(batch, parsed, report.outcomes, strict=True):
            if isinstance(parse, Refusal):
                if parse.readable:
                    refusals.append((str(path), parse.message))
                else:
                    skipped += 1
            elif outcome.failure_reason is None:
                present += outcome.already_stored
                imported += not outcome.already_stored
            else:
                failed += 1
        if progress is not None:
            progress(len(report.outcomes), ImportReport(imported, present, skipped, failed))

    try:
        batches = _batches(_walk(Path(directory)), IMPORT_BATCH)
        parsing = _parse_batches(pool, batches) if pool else ((b, None) for b in batches)
        for batch, parsed in parsing:
            handles: list[BinaryIO] = [open(path, "rb") for path in batch]  # noqa: SIM115 - closed by store()
            try:
                if parsed is None:
                    parsed = [parse_or_error(handle) for handle in handles]
            except BaseException:
                for handle in handles:
                    handle.close()
                raise
            if storing is not None:
                count(storing.result())
            storing = storer.submit(store, batch, handles, parsed)
        if storing is not None:
            count(storing.result())
            storing = None
    finally:
        if storing is not None:
            storing.exception()  # let the batch in flight finish (or fail) before returning
        storer.shutdown(wait=True)
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return ImportReport(imported=imported, already_present=present, skipped=skipped, failed=failed,
                        refused=len(refusals), refusals=tuple(refusals))


def _parse_paths(paths: list[Path]) -> list[ParsedInstance | Refusal]:
    """Worker-process side of a parallel import."""
    out = []
    for path in paths:
        with open(path, "rb") as handle:
            out.append(parse_or_error(handle))
    return out


def _parse_batches(pool: ProcessPoolExecutor, batches: Iterator[list[Path]]) -> Iterator[
        tuple[list[Path], list[ParsedInstance | Refusal]]]:
    """Parse batches in the pool, a few ahead of the consumer, in order."""
    window: deque[tuple[list[Path], Future[list[ParsedInstance | Refusal]]]] = deque()
    for batch in batches:
        window.append((batch, pool.submit(_parse_paths, batch)))
        if len(window) > AHEAD:
            done, future = window.popleft()
            yield done, future.result()
    while window:
        done, future = window.popleft()
        yield done, future.result()


def _walk(directory: Path) -> Iterator[Path]:
    for folder, _dirs, files in os.walk(directory):
        for name in sorted(files):
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                yield path


def _batches(paths: Iterator[Path], size: int) -> Iterator[list[Path]]:
    batch: list[Path] = []
    for path in paths:
        batch.append(path)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
