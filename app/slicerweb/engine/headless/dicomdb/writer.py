"""The write path of the headless DICOM database: parse, check, write, journal, rename, index.

`store_files` refuses what would corrupt the archive before writing anything (damaged objects,
UIDs contradicting the hierarchy, a damaged index), then writes fsynced temp files, journals their
final paths (`claim`), renames them into place and indexes them in one transaction. A full disk is
InsufficientStorage (507) with nothing left behind.

Several processes may share the data directory. When another one is storing the same SOP instance
right now (its journal row exists), this writer waits for that store's outcome (bounded by
`PENDING_WAIT_SECONDS`) and then applies the duplicate rule, so identical bytes always succeed and
different bytes fail with 0x0111; a writer that died meanwhile is recovered.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from pathlib import Path
from typing import BinaryIO

from ....formats.dicom.ingest import ParsedInstance, Refusal, parse_or_error
from ...dicom_api import (
    FAILURE_DATASET_MISMATCH,
    FAILURE_DUPLICATE,
    FAILURE_PROCESSING,
    FAILURE_STUDY_MISMATCH,
    StoreOutcome,
    StoreReport,
)
from ...errors import IndexDamaged, InsufficientStorage
from .hierarchy import RequestHierarchy
from .index import DicomIndex
from .recovery import recover
from .storage import DISK_FULL, Storage

PENDING_WAIT_SECONDS = 30.0
"""How long a store waits for another process storing the same instance before giving up (0x0110)."""
Accepted = tuple[int, ParsedInstance, Path]
"""(position in the request, parsed instance, synced temp file)."""


class Writer:
    """Stores objects into `storage` and `index` atomically."""

    def __init__(self, storage: Storage, index: DicomIndex, max_pixel_bytes: int) -> None:
        self.storage = storage
        self.index = index
        self.max_pixel_bytes = max_pixel_bytes

    def recover(self) -> None:
        """Undo the interrupted stores of dead processes: temp files, and renamed files whose index
        commit never happened. Live processes sharing the data directory are left alone (recovery.py)."""
        recover(self.index, self.storage)

    def store_files(self, sources: list[BinaryIO], study_uid: str | None = None,
                    parsed_sources: list[ParsedInstance | Refusal] | None = None) -> StoreReport:
        """Parse, check, write (fsynced temp), journal, rename and index `sources`; report each one.

        `parsed_sources` (one ParsedInstance or Refusal per source) skips parsing here; the
        import uses it to parse in worker processes.
        """
        if self.index.damaged is not None:  # never write into an index known to be damaged
            raise IndexDamaged(self.index.path, self.index.damaged)
        try:
            return self._store_files(sources, study_uid, parsed_sources)
        except OSError as exc:
            if exc.errno not in DISK_FULL:
                raise
            raise InsufficientStorage(f"insufficient storage: {DISK_FULL[exc.errno]} while storing DICOM "
                                      "objects; nothing was stored") from exc

    def _store_files(self, sources: list[BinaryIO], study_uid: str | None,
                     parsed_sources: list[ParsedInstance | Refusal] | None) -> StoreReport:
        outcomes: list[StoreOutcome | None] = [None] * len(sources)
        accepted: list[Accepted] = []
        syncing: list[Future[None]] = []
        seen: set[str] = set()
        hierarchy = RequestHierarchy()
        candidates: list[tuple[int, ParsedInstance, BinaryIO]] = []
        try:
            for position, source in enumerate(sources):
                parsed = parsed_sources[position] if parsed_sources is not None else \
                    parse_or_error(source, self.max_pixel_bytes)
                if isinstance(parsed, Refusal):
                    outcomes[position] = StoreOutcome(parsed.sop_class, parsed.sop_uid, parsed.study_uid,
                                                      parsed.series_uid, parsed.failure_reason, parsed.message)
                    continue
                if study_uid is not None and parsed.study_uid != study_uid:
                    outcomes[position] = _outcome(parsed, FAILURE_STUDY_MISMATCH,
                                                  f"StudyInstanceUID {parsed.study_uid} is not {study_uid}")
                    continue
                if parsed.sop_uid in seen:
                    outcomes[position] = _outcome(parsed, FAILURE_DUPLICATE, "SOP instance sent twice in one request")
                    continue
                seen.add(parsed.sop_uid)
                candidates.append((position, parsed, source))
            # A cheap early answer for the whole batch in one read; claim() re-checks under the lock.
            digests, conflicts = self.index.screen([parsed for _, parsed, _ in candidates]) if candidates \
                else ({}, {})
            for position, parsed, source in candidates:
                stored_digest = digests.get(parsed.sop_uid)
                if stored_digest is not None:
                    outcomes[position] = _duplicate(parsed, stored_digest)
                    continue
                conflict = hierarchy.conflict(parsed) or conflicts.get(parsed.sop_uid)
                if conflict is not None:
                    outcomes[position] = _outcome(parsed, FAILURE_DATASET_MISMATCH, conflict)
                    continue
                hierarchy.add(parsed)
                temp = self.storage.write_temp(parsed.normalized or source)
                accepted.append((position, parsed, temp))
                syncing.append(self.storage.sync_later(temp))
            self._commit_when_free(accepted, outcomes, syncing)
        finally:
            for done in syncing:
                done.exception()  # never unlink a file a sync thread still has open
            for _, _, temp in accepted:
                temp.unlink(missing_ok=True)
        return StoreReport([o for o in outcomes if o is not None])

    def _commit_when_free(self, accepted: list[Accepted], outcomes: list[StoreOutcome | None],
                          syncing: list[Future[None]]) -> None:
        """Commit `accepted` once `syncing` (their temp files' fsyncs) is done; instances another
        process is storing right now are retried once it is done (or dead), until PENDING_WAIT_SECONDS."""
        deadline = time.monotonic() + PENDING_WAIT_SECONDS
        delay = 0.005
        waiting = self._commit(accepted, outcomes, syncing)
        while waiting:
            if time.monotonic() >= deadline:
                for position, parsed, _ in waiting:
                    outcomes[position] = _outcome(parsed, FAILURE_PROCESSING, "this SOP instance was still being "
                                                  f"stored by another request after {PENDING_WAIT_SECONDS:.0f} s")
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
            self.recover()  # a writer that died mid-store leaves its journal rows to us
            waiting = self._commit(waiting, outcomes, syncing)

    def _commit(self, accepted: list[Accepted], outcomes: list[StoreOutcome | None],
                syncing: list[Future[None]]) -> list[Accepted]:
        """Claim, place and index `accepted`; return those another process is storing right now.

        The journal needs no synced temp file, only the renames do: the claim runs while the fsyncs
        finish, and `syncing` is waited for (its errors raised) between the claim and the renames."""
        waiting: list[Accepted] = []
        if not accepted:
            return waiting
        items = [(parsed, self.storage.relative(self.storage.final_path(parsed.study_uid, parsed.series_uid,
                                                                          parsed.sop_uid)))
                 for _, parsed, _ in accepted]
        with self.index.writing():
            refused = self.index.claim(items, self.storage.owner)
            placed: list[tuple[ParsedInstance, str]] = []
            moves: list[tuple[Path, Path]] = []
            try:
                for (position, parsed, temp), item in zip(accepted, items, strict=True):
                    reason = refused.get(parsed.sop_uid)
                    if reason is not None and reason.startswith("conflict:"):
                        outcomes[position] = _outcome(parsed, FAILURE_DATASET_MISMATCH,
                                                      reason.removeprefix("conflict:"))
                    elif reason == "pending":
                        waiting.append((position, parsed, temp))  # decided after the other store
                    elif reason is not None:
                        outcomes[position] = _duplicate(parsed, parsed.digest if reason == "same" else "")
                    else:
                        moves.append((temp, self.storage.absolute(item[1])))
                        placed.append(item)
                        outcomes[position] = _outcome(parsed, None)
                for done in syncing:
                    done.result()  # every temp file durable before any rename
                self.storage.place(moves)
                left_out = self.index.insert(placed)
            except BaseException:
                for _, relpath in placed:
                    self.storage.absolute(relpath).unlink(missing_ok=True)
                self.index.release(relpath for parsed, relpath in items if parsed.sop_uid not in refused)
                raise
        for (position, parsed, _), (_, relpath) in zip(accepted, items, strict=True):
            if parsed.sop_uid in left_out:  # filed under another study by another process meanwhile
                self.storage.absolute(relpath).unlink(missing_ok=True)
                outcomes[position] = _outcome(parsed, FAILURE_DATASET_MISMATCH, left_out[parsed.sop_uid])
        return waiting


def _outcome(parsed: ParsedInstance, reason: int | None, detail: str = "", already: bool = False) -> StoreOutcome:
    return StoreOutcome(parsed.sop_class, parsed.sop_uid, parsed.study_uid, parsed.series_uid, reason, detail,
                        already)


def _duplicate(parsed: ParsedInstance, stored_digest: str) -> StoreOutcome:
    """The documented duplicate rule: identical bytes succeed unchanged; different bytes fail (0x0111)."""
    if stored_digest == parsed.digest:
        return _outcome(parsed, None, "", already=True)
    return _outcome(parsed, FAILURE_DUPLICATE, "a different object with this SOPInstanceUID is already stored")
