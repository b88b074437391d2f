"""One throw-away PostgreSQL cluster per test session (devstack/postgres.py) and a fresh schema per test.

The DICOMweb tests run on both indexes; `pytest --index=postgresql` runs every in-process app test (`make_app`,
`dicom_app`) on a PostgreSQL index; tests about PostgreSQL itself use the `postgres_url` fixture whatever the
option.
"""

from __future__ import annotations

import atexit
import uuid
from urllib.parse import quote

import psycopg

from slicerweb.devstack.postgres import PostgresCluster

_cluster: PostgresCluster | None = None


def session_cluster() -> PostgresCluster:
    """The session's cluster (no fsync: tests about durability use their own), started on first use,
    removed at exit."""
    global _cluster
    if _cluster is None:
        _cluster = PostgresCluster(durable=False).start()  # the tests' PostgreSQL never needs to survive a crash
        atexit.register(_cluster.destroy)
    return _cluster


def fresh_schema_url(cluster: PostgresCluster) -> str:
    """A URL whose connections see only a new, empty schema (one index per test, one server for all)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{cluster.url}&options={quote(f'-csearch_path={schema}')}"
