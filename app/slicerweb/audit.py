"""Append-only audit log: one JSON object per line for every privileged act and every denial.

Writes happen on one writer thread, never on the caller's (the event loop): `record()` queues a line
and returns; the writer takes everything queued, appends it with a single `write()` on an
`O_APPEND` descriptor (lines from several processes never interleave) and fsyncs once for the
whole batch (group commit). So a flood of bad tokens costs one fsync per batch, not one per denial
on the loop, and valid requests keep their latency (bench/auth_flood).

Durability: a privileged act is durable before its response: the after-request hook awaits
`durable()`, which returns once every line queued so far (the act's own records included) is
fsynced. Denials are batched: a crash can lose the last few milliseconds of them. Nothing is dropped
silently: when `MAX_QUEUED_LINES` denials are waiting (the disk has stalled), further denials are
counted and the count is written as an `audit.dropped` record; other records always queue.
Never logs tokens or exec source: only the source's SHA-256 and size. Every record names the instance
that wrote it (`<host>:<pid>`); with several hosts each writes its own file (audit_files.py), and
`sources()` lists them all for readers.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import glob
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .instance import instance_id

MAX_QUEUED_LINES = 65536
MAX_WRITE_BYTES = 1 << 20  # one write() per MiB of lines: appends stay atomic
MAX_SOURCES = 64  # files a reader merges (hosts): the newest ones; each costs one read block per page
IDLE_EXIT_SECONDS = 5.0  # the writer thread ends when idle; the next record starts it again
RETRY_SECONDS = 1.0

log = logging.getLogger("slicerweb.audit")
_open_logs: weakref.WeakSet[AuditLog] = weakref.WeakSet()


class AuditLog:
    """Writer for `<data_dir>/audit.jsonl` (or the policy's audit.path; audit_files.open_audit_log)."""

    def __init__(self, path: Path, *, siblings: str | None = None) -> None:
        """`siblings`: a glob naming the other hosts' files beside this one (`sources()`), if any."""
        self.path = Path(path)
        self.siblings = siblings
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.commits = 0  # fsyncs done: fewer than records under load (group commit)
        self._cond = threading.Condition()
        self._pending: list[bytes] = []
        self._queued = 0  # sequence number of the last queued line
        self._written = 0  # sequence number of the last fsynced line
        self._dropped = 0
        self._error: OSError | None = None
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._thread: threading.Thread | None = None
        _open_logs.add(self)
        self.observers: list[Callable[[dict[str, Any]], None]] = []  # e.g. metrics counting denials

    def record(self, event: str, *, droppable: bool = False, **fields: Any) -> dict[str, Any]:
        """Queue one record (time, event, then the fields) and return it; written within milliseconds.

        `droppable` (denials): when the queue is full the record is counted, not queued.
        """
        now = time.time()
        entry = {"time": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
                 "event": event, "instance": instance_id(), **fields}
        line = (json.dumps(entry, default=str, separators=(",", ":")) + "\n").encode()
        with self._cond:
            if droppable and len(self._pending) >= MAX_QUEUED_LINES:
                self._dropped += 1
            else:
                self._pending.append(line)
                self._queued += 1
                self._start_writer()
                self._cond.notify_all()
        for observe in self.observers:
            observe(entry)
        return entry

    async def durable(self) -> None:
        """Wait until every record queued so far is fsynced (raises the write's OSError if it failed)."""
        loop = asyncio.get_running_loop()
        with self._cond:
            if self._written >= self._queued:
                return
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append((self._queued, loop, future))
        await future

    def flush(self, timeout: float | None = 30.0) -> None:
        """Block until every record queued so far is fsynced (CLI, shutdown, tests); a write that keeps
        failing raises its OSError after `timeout`."""
        with self._cond:
            target = self._queued
            if not self._cond.wait_for(lambda: self._written >= target, timeout):
                raise self._error or TimeoutError(f"audit log {self.path}: not written after {timeout} s")

    def sources(self) -> list[Path]:
        """The files readers merge: this one and the other hosts' (at most MAX_SOURCES, newest first)."""
        if self.siblings is None:
            return [self.path]
        found = {Path(name) for name in glob.glob(self.siblings) if os.path.isfile(name)}
        found.discard(self.path)
        newest = sorted(found, key=_modified, reverse=True)[:MAX_SOURCES - 1]
        return [self.path, *newest]

    def read(self) -> list[dict[str, Any]]:
        """All records (for tests and the admin view), after flushing this writer's queue."""
        self.flush()
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def _start_writer(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="slicerweb-audit", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._cond.wait_for(lambda: self._pending or self._dropped, IDLE_EXIT_SECONDS):
                    self._thread = None
                    return
                batch, self._pending = self._pending, []
                dropped, self._dropped = self._dropped, 0
                target = self._queued
            if dropped:
                batch.append(_dropped_line(dropped))
            try:
                self._append(batch)
            except OSError as exc:
                log.error("audit log %s: write failed (%s); retrying", self.path, exc)
                with self._cond:
                    self._pending[:0] = [line for line in batch if b'"event":"audit.dropped"' not in line]
                    self._dropped += dropped
                    self._error = exc
                    self._wake(target, exc)
                    self._cond.notify_all()
                time.sleep(RETRY_SECONDS)
                continue
            with self._cond:
                self._written, self._error = target, None
                self._wake(target, None)
                self._cond.notify_all()

    def _append(self, batch: list[bytes]) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            chunk: list[bytes] = []
            size = 0
            for line in [*batch, b""]:
                if chunk and (not line or size + len(line) > MAX_WRITE_BYTES):
                    os.write(fd, b"".join(chunk))
                    chunk, size = [], 0
                if line:
                    chunk.append(line)
                    size += len(line)
            os.fsync(fd)
            self.commits += 1
        finally:
            os.close(fd)

    def _wake(self, target: int, error: OSError | None) -> None:
        """Resolve the waiters up to `target` (all of them with `error` if the write failed)."""
        keep = []
        for sequence, loop, future in self._waiters:
            if sequence <= target or error is not None:
                with contextlib.suppress(RuntimeError):  # that loop has closed: nobody waits any more
                    loop.call_soon_threadsafe(_settle, future, error)
            else:
                keep.append((sequence, loop, future))
        self._waiters = keep


def _settle(future: asyncio.Future[None], error: OSError | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # rotated away just now
        return 0.0


def _dropped_line(count: int) -> bytes:
    entry = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": "audit.dropped",
             "instance": instance_id(), "count": count,
             "reason": f"audit queue full ({MAX_QUEUED_LINES} lines): denials counted, not written"}
    return (json.dumps(entry, separators=(",", ":")) + "\n").encode()


@atexit.register
def _flush_all() -> None:
    """A CLI command's records are on disk before the process exits."""
    for audit in list(_open_logs):
        with contextlib.suppress(OSError):
            audit.flush(timeout=10)
