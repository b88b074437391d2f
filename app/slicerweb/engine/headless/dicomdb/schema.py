"""The DICOM index schema: patient -> study -> series -> instance, plus the pending-file journal.

Portable SQL: the same statements run on PostgreSQL, where `database.PostgresDatabase.ddl` writes
`pk INTEGER PRIMARY KEY` as an identity column and INTEGER as BIGINT. `MIGRATIONS[v]` brings a
version v-1 index to v; they run once, under the write lock, when an index of an older version opens.
Every attribute QIDO can
match or return by default is a column, and the counts and ModalitiesInStudy are maintained on
insert, so no search opens a file. `instance.json` is the instance's DICOM JSON (bulk data as
BulkDataURI), so metadata never parses a file either. `*_lc` columns hold case-folded person names
for case-insensitive matching; `*_tokens` hold " token token " for fuzzy (token-prefix) matching.

`pending` lists files renamed into place whose index transaction has not committed yet, with the
process (owner) storing them; recovery deletes those of dead owners (they were never visible), so
files and index always agree. `lease` says which owners are alive (lease.py): a row per owner,
renewed while it runs; times are seconds since the epoch by the database's clock.
"""

from __future__ import annotations

SCHEMA_VERSION = 3

LEASE_TABLE = """CREATE TABLE IF NOT EXISTS lease (
        owner TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started DOUBLE PRECISION NOT NULL,
        expires DOUBLE PRECISION NOT NULL)"""

DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS meta (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS patient (
        pk INTEGER PRIMARY KEY,
        patient_key TEXT NOT NULL UNIQUE,
        patient_id TEXT NOT NULL,
        issuer TEXT NOT NULL,
        patient_name TEXT NOT NULL,
        patient_name_lc TEXT NOT NULL,
        patient_name_tokens TEXT NOT NULL,
        birth_date TEXT NOT NULL,
        sex TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS patient_id_idx ON patient (patient_id)",
    "CREATE INDEX IF NOT EXISTS patient_name_idx ON patient (patient_name_lc)",
    """CREATE TABLE IF NOT EXISTS study (
        pk INTEGER PRIMARY KEY,
        patient_pk INTEGER NOT NULL REFERENCES patient (pk),
        study_uid TEXT NOT NULL UNIQUE,
        study_date TEXT NOT NULL,
        study_time TEXT NOT NULL,
        accession TEXT NOT NULL,
        referring_name TEXT NOT NULL,
        referring_name_lc TEXT NOT NULL,
        referring_name_tokens TEXT NOT NULL,
        timezone TEXT NOT NULL,
        study_description TEXT NOT NULL,
        institution TEXT NOT NULL,
        study_id TEXT NOT NULL,
        charset TEXT NOT NULL,
        modalities TEXT NOT NULL,
        num_series INTEGER NOT NULL,
        num_instances INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS study_patient_idx ON study (patient_pk)",
    "CREATE INDEX IF NOT EXISTS study_date_idx ON study (study_date)",
    "CREATE INDEX IF NOT EXISTS study_accession_idx ON study (accession)",
    """CREATE TABLE IF NOT EXISTS series (
        pk INTEGER PRIMARY KEY,
        study_pk INTEGER NOT NULL REFERENCES study (pk),
        series_uid TEXT NOT NULL UNIQUE,
        modality TEXT NOT NULL,
        series_date TEXT NOT NULL,
        series_time TEXT NOT NULL,
        series_description TEXT NOT NULL,
        body_part TEXT NOT NULL,
        laterality TEXT NOT NULL,
        series_number INTEGER,
        pps_start_date TEXT NOT NULL,
        pps_start_time TEXT NOT NULL,
        num_instances INTEGER NOT NULL,
        revision INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS series_study_idx ON series (study_pk, series_number, pk)",
    "CREATE INDEX IF NOT EXISTS series_modality_idx ON series (modality)",
    """CREATE TABLE IF NOT EXISTS instance (
        pk INTEGER PRIMARY KEY,
        series_pk INTEGER NOT NULL REFERENCES series (pk),
        sop_uid TEXT NOT NULL UNIQUE,
        sop_class TEXT NOT NULL,
        content_date TEXT NOT NULL,
        content_time TEXT NOT NULL,
        instance_number INTEGER,
        n_rows INTEGER,
        n_columns INTEGER,
        bits_allocated INTEGER,
        number_of_frames INTEGER,
        samples_per_pixel INTEGER,
        transfer_syntax TEXT NOT NULL,
        path TEXT NOT NULL,
        size BIGINT NOT NULL,
        digest TEXT NOT NULL,
        pixel_offset BIGINT,
        pixel_length BIGINT,
        json TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS instance_series_idx ON instance (series_pk, instance_number, pk)",
    """CREATE TABLE IF NOT EXISTS pending (
        path TEXT PRIMARY KEY,
        sop_uid TEXT NOT NULL,
        owner TEXT NOT NULL)""",
    LEASE_TABLE,
)

MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: ("ALTER TABLE pending ADD COLUMN owner TEXT NOT NULL DEFAULT ''",),  # schema 1 had no journal owners
    3: (LEASE_TABLE,),  # recovery by lease, not flock (lease.py); DDL creates it too: IF NOT EXISTS
}
