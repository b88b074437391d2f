"""The two databases an index can live in, behind one small interface: SQLite (the embedded default)
and PostgreSQL (`index.url = "postgresql://..."`, for several processes or hosts).

Every statement of the index is portable SQL written with `?` placeholders (index.py, search.py,
schema.py). What differs between the two lives here and nowhere else:
- connections: SQLite keeps one per thread (WAL readers run beside the writer) and one writer;
  PostgreSQL checks connections out of a psycopg pool for each call;
- the write lock that serialises writers of every process (and, for PostgreSQL, every host): SQLite's
  `BEGIN IMMEDIATE`, a transaction-scoped advisory lock on PostgreSQL;
- commit durability (`synchronous` / `synchronous_commit`), the identity column of the DDL;
- which errors mean "damaged" (503, sticky), "disk full" (507) or "unreachable" (503, retry);
- the database's clock in SQL (`now`), which leases (lease.py) are measured by.

psycopg 3 with psycopg_pool rather than asyncpg: the index is called from worker threads (blocking
DB-API style, like sqlite3), so one code path serves both databases; the pool checks a connection
before handing it out and reconnects in the background after a PostgreSQL restart.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg.errors
import psycopg_pool

from ...errors import EngineError, IndexDamaged, InsufficientStorage, Unavailable
from .outage import OutageLog

log = logging.getLogger("slicerweb.dicom.index")
CORRUPT = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
WRITE_LOCK_KEY = 0x51C3_D1C0  # the advisory lock every PostgreSQL writer of this index takes
PROBE_SECONDS = 2.0  # how long a locked SQLite index may delay a readiness probe
CHECKOUT_SECONDS = 1.0  # a caller waits at most this long for PostgreSQL before the answer is 503
RETRY_AFTER_SECONDS = 2  # what a 503 tells clients while PostgreSQL is unreachable (a restart takes seconds)
POOL_NAME = "slicerweb-index"
POOL_SIZE = 8  # at least the worker threads that call the index at once (asyncio.to_thread)
REMINDER_SECONDS = 60.0  # while PostgreSQL stays down, one log line a minute (not one per refused call)


class Cursor(Protocol):
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What the index needs of a connection: `execute` with `?` placeholders."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Cursor: ...
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Any: ...


class Database(Protocol):
    """Where the index lives."""

    dialect: str  # "sqlite" | "postgresql"
    location: str  # for messages: a path, or the URL without its password
    now: str  # an SQL expression: the database's clock, in seconds since the epoch (DOUBLE PRECISION)

    def read(self) -> Any:
        """Context manager: a connection for reads (autocommit)."""

    def transaction(self, durable: bool = True) -> Any:
        """Context manager: a write transaction, serialised with every other writer of this index."""

    def ddl(self, statement: str) -> str:
        """A schema statement in this database's dialect."""

    def has_table(self, conn: Connection, name: str) -> bool:
        """Whether the table exists (catalogues differ between the two)."""

    def continue_keys(self, conn: Connection, table: str) -> None:
        """After rows were copied in with their keys: new rows get keys above the highest one."""

    def probe(self) -> str:
        """"ok", or why the index cannot be read right now (for /readyz)."""

    def error(self, exc: Exception) -> EngineError | None:
        """The engine error `exc` stands for (None: not a database condition the engine names)."""

    def close(self) -> None: ...


class SqliteDatabase:
    """One SQLite file in WAL mode: a connection per reading thread, one writer connection."""

    dialect = "sqlite"
    now = "((julianday('now') - 2440587.5) * 86400.0)"  # one host's clock: a SQLite index is never shared

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self.writer = self._connect(synchronous="FULL")

    def _connect(self, synchronous: str = "NORMAL") -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA case_sensitive_like=ON")  # LIKE as in PostgreSQL; PN uses folded columns
        return conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            with self._readers_lock:
                self._readers.append(conn)
        yield conn

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """`durable=False` skips the WAL fsync at commit (the next durable commit syncs it too)."""
        conn = self.writer
        conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def ddl(self, statement: str) -> str:
        return statement

    def has_table(self, conn: Connection, name: str) -> bool:
        return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() \
            is not None

    def continue_keys(self, conn: Connection, table: str) -> None:
        return None  # INTEGER PRIMARY KEY always continues after the highest key

    def probe(self) -> str:
        # A fresh read-only connection: the long-lived ones keep working on an unlinked file, so they
        # cannot tell that the index has gone; mode=ro never creates a missing one.
        if not self.path.is_file():
            return f"index file {self.path.name} is missing"
        try:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=PROBE_SECONDS)
            try:
                conn.execute("SELECT 1 FROM study LIMIT 1").fetchall()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            return f"index unreachable: {exc}"
        return "ok"

    def error(self, exc: Exception) -> EngineError | None:
        if not isinstance(exc, sqlite3.DatabaseError):
            return None
        code = getattr(exc, "sqlite_errorcode", None)
        if code in CORRUPT:
            return IndexDamaged(self.path, f"damaged ({exc})")
        if code == sqlite3.SQLITE_FULL:
            return InsufficientStorage(f"insufficient storage: the disk holding the DICOM index is full ({exc}); "
                                       "nothing was stored")
        return None

    def close_readers(self) -> None:
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    def close(self) -> None:
        self.close_readers()
        self.writer.close()

    def seal(self) -> None:
        """Checkpoint the WAL into the file and close: the file then stands alone (to be renamed)."""
        self.close_readers()  # leaving WAL mode needs the only connection
        self.writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.writer.execute("PRAGMA journal_mode=DELETE")
        self.close()


class _Portable:
    """A psycopg connection that takes the index's `?` placeholders.

    PostgreSQL text cannot hold NUL, which SQLite stores: a hostile object's NUL inside an indexed
    value is dropped (never valid in a DICOM text value; the stored JSON escapes it as \\u0000)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        return self._conn.execute(_placeholders(sql), _text_values(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        # psycopg sends the rows as one pipeline: one round trip for the batch, not one per row
        with self._conn.cursor() as cursor:
            cursor.executemany(_placeholders(sql), [_text_values(row) for row in rows])

    def pipeline(self) -> AbstractContextManager[Any]:
        return self._conn.pipeline()


def pipelined(conn: Connection) -> AbstractContextManager[Any]:
    """A block whose statements' results are not read: on PostgreSQL they go out as one pipeline (one
    round trip at the end of the block); SQLite runs in-process, so there it changes nothing."""
    return conn.pipeline() if isinstance(conn, _Portable) else nullcontext()


def _text_values(params: Sequence[Any]) -> list[Any]:
    return [p.replace("\x00", "") if isinstance(p, str) and "\x00" in p else p for p in params]


@functools.lru_cache(maxsize=512)
def _placeholders(sql: str) -> str:
    # The index's statements hold no `?` or `%` inside literals (values are always bound), so a plain
    # replacement is exact; `%` is doubled because psycopg reads `%s` placeholders.
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresDatabase:
    """A PostgreSQL database reached through a psycopg connection pool."""

    dialect = "postgresql"
    now = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"  # the server's clock: one for all hosts

    def __init__(self, url: str, *, reminder_seconds: float = REMINDER_SECONDS) -> None:
        """`reminder_seconds`: how often an outage is logged again while it lasts (the first refusal and
        the return are logged once each)."""
        self.url = url
        self.location = redacted(url)
        self.outage = OutageLog(log, f"DICOM index {self.location}", reminder_seconds)
        self._pool_noise = _PoolNoise(POOL_NAME)
        logging.getLogger("psycopg.pool").addFilter(self._pool_noise)
        self.pool = psycopg_pool.ConnectionPool(
            url, min_size=1, max_size=POOL_SIZE, open=False, timeout=CHECKOUT_SECONDS,
            check=psycopg_pool.ConnectionPool.check_connection, reconnect_timeout=0,
            kwargs={"autocommit": True, "connect_timeout": 2}, name=POOL_NAME)
        self.pool.open(wait=False)

    @contextmanager
    def read(self) -> Iterator[_Portable]:
        with self.pool.connection() as conn:
            self.outage.reached()
            yield _Portable(conn)

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[_Portable]:
        with self.pool.connection() as conn, conn.transaction():
            self.outage.reached()
            if not durable:
                conn.execute("SET LOCAL synchronous_commit = off")
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
            yield _Portable(conn)

    def ddl(self, statement: str) -> str:
        return (statement.replace("pk INTEGER PRIMARY KEY", "pk BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
                .replace(" INTEGER", " BIGINT"))

    def has_table(self, conn: Connection, name: str) -> bool:
        return conn.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() "
                            "AND table_name = ?", (name,)).fetchone() is not None

    def continue_keys(self, conn: Connection, table: str) -> None:
        # An identity column's sequence does not see explicitly inserted keys: move it past them.
        conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'pk'), "
                     f"COALESCE((SELECT MAX(pk) FROM {table}), 0) + 1, false)")

    def error(self, exc: Exception) -> EngineError | None:
        if isinstance(exc, psycopg.errors.DiskFull):
            return InsufficientStorage(f"insufficient storage: the PostgreSQL server of the DICOM index is out of "
                                       f"disk ({exc}); nothing was stored")
        if isinstance(exc, psycopg_pool.PoolTimeout | psycopg.OperationalError):
            # Clients learn that the index is down, never where it lives; the operator's log says why
            # (once when it goes, a reminder a minute, once when it is back: outage.py).
            reason = self._pool_noise.last_failure if isinstance(exc, psycopg_pool.PoolTimeout) else None
            self.outage.refused(reason or _first_line(exc))
            return Unavailable("the DICOM index (PostgreSQL) is unreachable; retry shortly",
                               retry_after=RETRY_AFTER_SECONDS)
        return None

    def probe(self) -> str:
        try:
            with self.read() as conn:
                conn.execute("SELECT 1 FROM study LIMIT 1").fetchall()
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            return f"index unreachable (PostgreSQL): {_first_line(exc)}"
        return "ok"

    def close(self) -> None:
        self.pool.close()
        logging.getLogger("psycopg.pool").removeFilter(self._pool_noise)


class _PoolNoise(logging.Filter):
    """Drops psycopg_pool's warning for each failed (re)connection of our pool: hundreds a minute while
    PostgreSQL is down, which `OutageLog` reports in a few lines instead; keeps the last one's reason."""

    def __init__(self, pool_name: str) -> None:
        super().__init__()
        self._marks = (f"error connecting in '{pool_name}'", f"reconnection attempt in pool '{pool_name}'")
        self.last_failure: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith(self._marks):
            return True
        if message.startswith(self._marks[0]):  # "error connecting in 'x': connection is bad: <why>"
            self.last_failure = message.split(": ", 1)[-1].splitlines()[0].removeprefix("connection is bad: ")
        return False


def _first_line(exc: BaseException) -> str:
    """The first line of an error's text (psycopg's carry hints on further lines), or its type."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def redacted(url: str) -> str:
    """`url` without its password (in the user part or a `password=` parameter), for messages and logs.

        >>> redacted("postgresql://app:s3cret@db/slicerweb?password=x&sslmode=require")
        'postgresql://app:***@db/slicerweb?password=***&sslmode=require'
    """
    parts = urlsplit(url)
    if parts.password is not None:
        parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@"))
    query = "&".join(f"{item.split('=', 1)[0]}=***" if item.split("=", 1)[0].lower() == "password" else item
                     for item in parts.query.split("&")) if parts.query else ""
    return urlunsplit(parts._replace(query=query))


def open_database(location: str | Path) -> Database:
    """The database an index URL or path names: `postgresql://...`, else a SQLite file path."""
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(text)
    return SqliteDatabase(Path(text))
