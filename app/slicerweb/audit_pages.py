"""Newest-first pages of the audit log for the admin console, filtered by actor, action and outcome.

The log is read backwards from a position, one block at a time, so a page costs memory for one block
plus the page's entries, never the file: `read_page` keeps at most `BLOCK_BYTES` of unparsed text and
`limit` entries, and stops after `SCAN_BUDGET_BYTES` even when the filter matched too little (the
page then says where to go on). Paging crosses into logrotate's previous file (`audit.jsonl.1`,
uncompressed thanks to `delaycompress`); older, compressed files are for `zcat | jq` on the host.

With several hosts each writes its own file (audit_files.py): a page merges them newest first by
each record's time (the writer puts it first on the line, so it is read without parsing the record),
reading each backwards one block at a time; the budget and the page bound the whole merge, and the
memory is one block per file (at most audit.MAX_SOURCES files).

A cursor names, per file, the file by inode and a byte offset in it: appends and a rename (rotation)
leave it valid, because the bytes before the offset never change. A file that appears after the first
page (a new host) joins at the next first page.

    >>> AuditFilter(action="feature").matches({"event": "feature.toggle", "subject": "alice"})
    True
"""

from __future__ import annotations

import heapq
import json
import os
import re
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .audit import MAX_SOURCES

BLOCK_BYTES = 64 << 10
SCAN_BUDGET_BYTES = 32 << 20  # per page: bounds the CPU of a filter that matches almost nothing
MAX_LINE_BYTES = 1 << 20  # longer "lines" are not ours (the writer's batches are whole lines): skipped
MAX_LIMIT = 200
OUTCOMES = ("ok", "denied", "error")
_CURSOR = re.compile(r"(\d{1,20})-(\d{1,20})")
_TIME = re.compile(rb'\{"time": ?"([^"]{1,40})"')  # the writer's compact form, or json.dumps' default
NEWEST = b"~"  # sorts after any time: a line without one is taken at once from its file
_INVERT = bytes.maketrans(bytes(range(256)), bytes(range(255, -1, -1)))  # ascending order of inverted = descending
_DENIED_STATUS = frozenset({401, 403, 429})


class BadCursor(ValueError):
    """A cursor that is malformed or names a file no longer among the readable ones."""


def outcome_of(entry: dict[str, Any]) -> str:
    """ok, denied or error: one vocabulary over the records' different fields (status, outcome, event)."""
    event = str(entry.get("event", ""))
    if event.endswith(".denied") or event == "audit.dropped":
        return "denied"
    status = entry.get("status")
    if isinstance(status, int) and not isinstance(status, bool):
        return "denied" if status in _DENIED_STATUS else "error" if status >= 400 else "ok"
    if "outcome" in entry:
        return "ok" if entry["outcome"] == "ok" else "error"
    return "ok"


@dataclass(frozen=True)
class AuditFilter:
    """actor: part of the subject (any case); action: an event or its prefix (`exec` = exec.*)."""

    actor: str = ""
    action: str = ""
    outcome: str = ""

    def may_match(self, line: bytes) -> bool:
        """Cheap test on the raw line before parsing it: the actor and action text must appear in it.

        Only for plain ASCII text, which json.dumps writes as it is (it escapes quotes, backslashes,
        control and non-ASCII characters, so those are left to `matches`)."""
        lowered = line.lower()
        return all(part.lower().encode() in lowered for part in (self.actor, self.action)
                   if part and part.isascii() and part.isprintable() and '"' not in part and "\\" not in part)

    def matches(self, entry: dict[str, Any]) -> bool:
        event = str(entry.get("event", ""))
        if self.action and event != self.action and not event.startswith(self.action + "."):
            return False
        if self.actor and self.actor.casefold() not in str(entry.get("subject", "")).casefold():
            return False
        return not self.outcome or outcome_of(entry) == self.outcome


@dataclass(frozen=True)
class Position:
    """Read backwards from `offset` in the file whose inode is `inode`."""

    inode: int
    offset: int

    def token(self) -> str:
        return f"{self.inode}-{self.offset}"

    @staticmethod
    def parse(token: str) -> Position:
        match = _CURSOR.fullmatch(token)
        if match is None:
            raise BadCursor("cursor must be the 'next' value of a previous page")
        return Position(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class Cursor:
    """Where each merged file's next page starts; its token is the positions joined by dots."""

    positions: tuple[Position, ...]

    def token(self) -> str:
        return ".".join(p.token() for p in self.positions)

    @staticmethod
    def parse(token: str) -> Cursor:
        parts = token.split(".")
        if not 0 < len(parts) <= MAX_SOURCES:
            raise BadCursor("cursor must be the 'next' value of a previous page")
        return Cursor(tuple(Position.parse(part) for part in parts))


@dataclass(frozen=True)
class AuditPage:
    entries: list[dict[str, Any]]
    next: Cursor | None  # where the next (older) page starts; None: nothing older
    scanned_bytes: int


def audit_files(path: Path) -> list[Path]:
    """The log and logrotate's previous file, newest first (those that exist)."""
    return [p for p in (path, path.with_name(path.name + ".1")) if p.is_file()]


class _Stream:
    """One host's log (the file, then its rotated `.1`) read backwards; `head` is its next line."""

    def __init__(self, files: list[Path], offset: int | None) -> None:
        self.files = files
        self.inodes = [f.stat().st_ino for f in files]
        self.index = 0
        self.key = NEWEST
        self.head: tuple[int, bytes] | None = None
        self._lines = _lines_backwards(files[0], _complete_end(files[0]) if offset is None else offset)
        self.advance()

    def advance(self) -> None:
        """Read the next (older) line into `head` (None at the end of the last file) and its time key."""
        while (line := next(self._lines, None)) is None and self.index + 1 < len(self.files):
            self._lines.close()
            self.index += 1
            self._lines = _lines_backwards(self.files[self.index], self.files[self.index].stat().st_size)
        self.head = line
        if line is not None:
            match = _TIME.match(line[1])
            if match and match.group(1) < self.key:
                # The lowest time so far: a file's lines are in append order, which the processes of one
                # host sharing it can leave a few milliseconds off time order. A key that never goes back
                # up keeps the merge exact: it adds no disorder beyond what each file holds.
                self.key = match.group(1)

    def position(self) -> Position:
        """Where this stream resumes: just after its unread head (offset 0 once exhausted)."""
        if self.head is None:
            return Position(self.inodes[self.index], 0)
        start, line = self.head
        return Position(self.inodes[self.index], start + len(line))

    def close(self) -> None:
        self._lines.close()


def _streams(sources: Sequence[Path], cursor: Cursor | None) -> list[_Stream]:
    """The merged files' streams: from their newest complete line, or where `cursor` left them."""
    chains = [files for files in map(audit_files, sources) if files]
    if cursor is None:
        return [_Stream(files, None) for files in chains]
    by_inode = {f.stat().st_ino: files[i:] for files in chains for i, f in enumerate(files)}
    missing = [p for p in cursor.positions if p.inode not in by_inode]
    if missing:
        raise BadCursor("that page is no longer available (the log was rotated); start from the newest")
    return [_Stream(by_inode[p.inode], p.offset) for p in cursor.positions]


def read_page(sources: Path | Sequence[Path], query: AuditFilter, limit: int,
              cursor: Cursor | Position | None = None) -> AuditPage:
    """Up to `limit` matching entries of the merged `sources`, newest first, starting at `cursor` (None: the
    newest entry of each)."""
    if isinstance(sources, Path):
        sources = [sources]
    if isinstance(cursor, Position):
        cursor = Cursor((cursor,))
    streams = _streams(list(sources)[:MAX_SOURCES], cursor)
    entries: list[dict[str, Any]] = []
    scanned = 0
    # A min-heap of inverted time keys: its top is the file whose next line is the newest of all.
    heap = [(s.key.translate(_INVERT), n, s) for n, s in enumerate(streams) if s.head is not None]
    heapq.heapify(heap)
    try:
        while heap and len(entries) < limit and scanned < SCAN_BUDGET_BYTES:
            _, n, stream = heap[0]
            line = stream.head[1] if stream.head is not None else b""
            scanned += len(line) + 1
            entry = _parse(line) if query.may_match(line) else None
            if entry is not None and query.matches(entry):
                entries.append({**entry, "outcome": outcome_of(entry)})
            stream.advance()
            if stream.head is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (stream.key.translate(_INVERT), n, stream))
        more = any(s.head is not None for s in streams)
        return AuditPage(entries, Cursor(tuple(s.position() for s in streams)) if more else None, scanned)
    finally:
        for stream in streams:
            stream.close()


def _complete_end(path: Path) -> int:
    """Size up to the last newline: a batch being appended right now is left for the next look."""
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        position = size
        while position > 0:
            step = min(BLOCK_BYTES, position)
            handle.seek(position - step)
            block = handle.read(step)
            newline = block.rfind(b"\n")
            if newline >= 0:
                return position - step + newline + 1
            position -= step
            if size - position > MAX_LINE_BYTES:
                break
    return 0


def _lines_backwards(path: Path, end: int) -> Generator[tuple[int, bytes], None, None]:
    """(start offset, line without newline) of each line before `end`, last first, one block in memory."""
    with path.open("rb") as handle:
        end = min(end, handle.seek(0, os.SEEK_END))
        position = end
        tail = b""  # the part of a line that began in an earlier (lower) block
        while position > 0:
            step = min(BLOCK_BYTES, position)
            position -= step
            handle.seek(position)
            block = handle.read(step) + tail
            lines = block.split(b"\n")
            tail = lines[0]
            cursor = position + len(block)
            for line in reversed(lines[1:]):
                cursor -= len(line) + 1
                if line:
                    yield cursor + 1, line
            if len(tail) > MAX_LINE_BYTES:
                tail = b""  # not a record of ours: skip it rather than hold it
        if tail:
            yield 0, tail


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        entry = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    return entry if isinstance(entry, dict) else None
