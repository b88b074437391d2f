"""The write path's statements for a whole batch of instances at once: lookups, journal rows, filing.

On PostgreSQL every statement is a network round trip. Asked once per instance, the ingest of one
batch of 100 made about 2,000 of them (py-spy over `slicerweb dicom import`: 85% of the storing
thread waited in psycopg). Here each question is asked once per batch, with `IN` lists of at most
`CHUNK` values, and rows are written with `executemany` (psycopg sends them as one pipeline). The
answers are those of asking instance by instance, in order: `Filed` adds what the batch files as it
goes, so a later instance sees the series an earlier one created, as it would have seen its row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from ....formats.dicom.ingest import ParsedInstance
from ...errors import Unavailable
from .database import Connection, pipelined

CHUNK = 500
"""Values per IN list: below SQLite's oldest limit on bound variables (999)."""


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start:start + CHUNK]


def _rows_in(conn: Connection, sql: str, values: Iterable[str]) -> list[Any]:
    """Rows of `sql` (which ends with `IN`) for every value, in chunks."""
    rows: list[Any] = []
    for chunk in _chunks(values):
        rows += conn.execute(f"{sql} ({', '.join('?' for _ in chunk)})", chunk).fetchall()
    return rows


def stored_digests(conn: Connection, sop_uids: Iterable[str]) -> dict[str, str]:
    """{sop_uid: digest} of the instances already indexed."""
    return {r[0]: str(r[1]) for r in _rows_in(conn, "SELECT sop_uid, digest FROM instance WHERE sop_uid IN", sop_uids)}


def pending_owners(conn: Connection, sop_uids: Iterable[str]) -> dict[str, set[str]]:
    """{sop_uid: owners} of the instances journaled right now (being stored)."""
    owners: dict[str, set[str]] = {}
    for sop_uid, owner in _rows_in(conn, "SELECT sop_uid, owner FROM pending WHERE sop_uid IN", sop_uids):
        owners.setdefault(sop_uid, set()).add(owner)
    return owners


class Filed:
    """What the index holds about a batch's study and series UIDs (series -> study, and the keys of
    both), read in two statements, then kept up to date with `add` as the batch files its instances."""

    def __init__(self, conn: Connection, batch: Iterable[ParsedInstance]) -> None:
        batch = list(batch)
        uids = {p.series_uid for p in batch} | {p.study_uid for p in batch}  # either may name the other kind
        self.study_of: dict[str, str] = {}
        self.series_pk: dict[str, Any] = {}
        for series_uid, study_uid, pk in _rows_in(
                conn, "SELECT r.series_uid, s.study_uid, r.pk FROM series r JOIN study s ON s.pk = r.study_pk "
                "WHERE r.series_uid IN", uids):
            self.study_of[series_uid], self.series_pk[series_uid] = study_uid, pk
        self.study_pk: dict[str, Any] = dict(_rows_in(conn, "SELECT study_uid, pk FROM study WHERE study_uid IN",
                                                      uids))

    def conflict(self, parsed: ParsedInstance) -> str | None:
        """Why filing `parsed` would break the hierarchy, in plain words; None if it would not.

        A series belongs to one study (as in Orthanc and dcm4chee: the index never files a series
        under two studies), and a UID names a study or a series, never both."""
        if parsed.study_uid == parsed.series_uid:
            return f"StudyInstanceUID and SeriesInstanceUID are the same ({parsed.study_uid})"
        study = self.study_of.get(parsed.series_uid)
        if study is not None and study != parsed.study_uid:
            return f"SeriesInstanceUID {parsed.series_uid} already belongs to study {study}"
        study = self.study_of.get(parsed.study_uid)
        if study is not None:
            return f"StudyInstanceUID {parsed.study_uid} is a series in this archive (of study {study})"
        if parsed.series_uid in self.study_pk:
            return f"SeriesInstanceUID {parsed.series_uid} is a study in this archive"
        return None

    def add(self, parsed: ParsedInstance, study_pk: Any, series_pk: Any) -> None:
        """`parsed`'s study and series are filed now, under these keys."""
        self.study_of[parsed.series_uid] = parsed.study_uid
        self.study_pk[parsed.study_uid] = study_pk
        self.series_pk[parsed.series_uid] = series_pk


def claim(conn: Connection, items: list[tuple[ParsedInstance, str]], owner: str) -> dict[str, str]:
    """Journal `items` for `owner` (`DicomIndex.claim`); {sop_uid: reason} of those refused."""
    sop_uids = [parsed.sop_uid for parsed, _ in items]
    digests = stored_digests(conn, sop_uids)
    filed = Filed(conn, (parsed for parsed, _ in items))
    journaled = pending_owners(conn, sop_uids)
    refused: dict[str, str] = {}
    stale: list[tuple[str, str]] = []
    rows: list[tuple[str, str, str]] = []
    for parsed, relpath in items:
        digest = digests.get(parsed.sop_uid)
        if digest is not None:
            refused[parsed.sop_uid] = "same" if digest == parsed.digest else "different"
            continue
        conflict = filed.conflict(parsed)  # re-checked here: another process may have filed it
        if conflict is not None:
            refused[parsed.sop_uid] = f"conflict:{conflict}"
            continue
        owners = journaled.get(parsed.sop_uid, set())
        if owners - {owner}:
            refused[parsed.sop_uid] = "pending"
            continue
        if owners:  # ours, left by a store whose release failed (disk full): stale, since this process
            # claims, places and indexes under one lock
            stale.append((parsed.sop_uid, owner))
        rows.append((relpath, parsed.sop_uid, owner))
    if stale:
        conn.executemany("DELETE FROM pending WHERE sop_uid = ? AND owner = ?", stale)
    if rows:
        conn.executemany("INSERT INTO pending (path, sop_uid, owner) VALUES (?, ?, ?)", rows)
    return refused


def file_instances(conn: Connection, items: list[tuple[ParsedInstance, str]], *,
                   journaled: bool = True) -> dict[str, str]:
    """Index placed files and drop their journal rows (`DicomIndex.insert`); {sop_uid: why} of those
    left out because their UIDs now contradict the index. `journaled`: every item must still have its
    journal row; one gone was recovered by another instance (lease.py): Unavailable, nothing filed."""
    if journaled:
        present = {r[0] for r in _rows_in(conn, "SELECT path FROM pending WHERE path IN",
                                          (relpath for _, relpath in items))}
        lost = next((parsed for parsed, relpath in items if relpath not in present), None)
        if lost is not None:
            raise Unavailable(f"the store of SOP instance {lost.sop_uid} was interrupted: another instance took "
                              "over this one's unfinished stores; nothing was stored, retry", retry_after=2)
    filed = Filed(conn, (parsed for parsed, _ in items))
    patients = dict(_rows_in(conn, "SELECT patient_key, pk FROM patient WHERE patient_key IN",
                             (parsed.patient["patient_key"] for parsed, _ in items)))
    left_out: dict[str, str] = {}
    rows: dict[tuple[str, ...], list[list[Any]]] = {}  # instance rows by column list
    series_added: Counter[Any] = Counter()
    study_added: Counter[Any] = Counter()
    new_series: Counter[Any] = Counter()
    for parsed, relpath in items:
        conflict = filed.conflict(parsed)
        if conflict is not None:
            left_out[parsed.sop_uid] = conflict
            continue
        key = parsed.patient["patient_key"]
        if key not in patients:
            patients[key] = _insert(conn, "patient", parsed.patient)
        study_pk = filed.study_pk.get(parsed.study_uid)
        if study_pk is None:
            study_pk = _insert(conn, "study", {**parsed.study, "patient_pk": patients[key], "modalities": "",
                                               "num_series": 0, "num_instances": 0})
        series_pk = filed.series_pk.get(parsed.series_uid)
        if series_pk is None:
            series_pk = _insert(conn, "series", {**parsed.series, "study_pk": study_pk, "num_instances": 0,
                                                 "revision": 0})
            new_series[study_pk] += 1
        filed.add(parsed, study_pk, series_pk)
        values = {**parsed.instance, "series_pk": series_pk, "transfer_syntax": parsed.transfer_syntax,
                  "path": relpath, "size": parsed.size, "digest": parsed.digest, "pixel_offset": parsed.pixel_offset,
                  "pixel_length": parsed.pixel_length, "json": parsed.json}
        rows.setdefault(tuple(values), []).append(list(values.values()))
        series_added[series_pk] += 1
        study_added[study_pk] += 1
    with pipelined(conn):  # results unread: sent together, one round trip on PostgreSQL
        for names, values_list in rows.items():
            conn.executemany(f"INSERT INTO instance ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
                             values_list)
        if series_added:
            conn.executemany("UPDATE series SET num_instances = num_instances + ?, revision = revision + ? "
                             "WHERE pk = ?", [(n, n, pk) for pk, n in series_added.items()])
        if study_added:
            conn.executemany("UPDATE study SET num_series = num_series + ?, num_instances = num_instances + ? "
                             "WHERE pk = ?", [(new_series[pk], n, pk) for pk, n in study_added.items()])
        conn.executemany("DELETE FROM pending WHERE path = ?", [(relpath,) for _, relpath in items])
    for study_pk in new_series:
        modalities = [m for (m,) in conn.execute(
            "SELECT DISTINCT modality FROM series WHERE study_pk = ? AND modality <> '' ORDER BY modality",
            (study_pk,))]
        conn.execute("UPDATE study SET modalities = ? WHERE pk = ?", ("\\".join(modalities), study_pk))
    return left_out


def _insert(conn: Connection, table: str, values: dict[str, Any]) -> Any:
    """Insert one row; its key."""
    names = list(values)
    return conn.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)}) "
                        "RETURNING pk", [values[n] for n in names]).fetchone()[0]
