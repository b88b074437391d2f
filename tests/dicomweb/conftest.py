"""Fixtures for the DICOMweb tests: an in-process app over a database holding generated studies, each test
once over SQLite and once over PostgreSQL (`[sqlite]`/`[postgresql]` in its id; `--index` picks one).

`dicom_app(**policy)` -> DicomApp(client, engine, studies): the demo CT and MR studies (index 0, 1)
plus study 2 (CT, 3 series x 4 instances) and study 3 (MR, 1 x 3), all from the deterministic
generator, so UIDs and names are known in advance.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pydicom import Dataset
from quart.testing import QuartClient

from slicerweb.demo.dicom_studies import generate_study
from slicerweb.engine.dicom_api import StowPart
from slicerweb.engine.headless import HeadlessEngine

EXTRA_STUDIES = ((2, "CT", 3, 4), (3, "MR", 1, 3))
INDEXES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every in-process DICOMweb test runs on both indexes (issue 13: the whole DICOMweb suite passes on
    PostgreSQL as on SQLite), unless `--index` picks one."""
    if "index_url" in metafunc.fixturenames and metafunc.config.getoption("--index") is None:
        metafunc.parametrize("index_url", INDEXES, indirect=True)


def part10(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@dataclass
class DicomApp:
    client: QuartClient
    engine: HeadlessEngine
    studies: dict[int, list[Dataset]]

    def study_uid(self, index: int) -> str:
        return str(self.studies[index][0].StudyInstanceUID)

    def first(self, index: int) -> Dataset:
        return self.studies[index][0]


def stow_body(datasets: list[bytes], boundary: str = "b0undary") -> bytes:
    out = b""
    for data in datasets:
        out += f"\r\n--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data
    return out + f"\r\n--{boundary}--".encode()


STOW_TYPE = 'multipart/related; type="application/dicom"; boundary="b0undary"'


@pytest.fixture
async def dicom_app(make_app: Callable[..., Any], make_policy: Callable[..., Any]) -> AsyncIterator[
        Callable[..., Any]]:
    contexts: list[Any] = []

    async def factory(**policy: Any) -> DicomApp:
        app, engine = make_app(make_policy(**policy), demo=True)
        context = app.test_app()
        test_app = await context.__aenter__()
        contexts.append(context)
        studies = {0: generate_study(0, modality="CT"), 1: generate_study(1, modality="MR")}
        for index, modality, series, instances in EXTRA_STUDIES:
            studies[index] = generate_study(index, modality=modality, series_count=series,
                                            instances_per_series=instances)
            parts = [StowPart("application/dicom", io.BytesIO(part10(ds))) for ds in studies[index]]
            report = await engine.dicom.store_instances(parts)
            assert not report.failed
        return DicomApp(test_app.test_client(), engine, studies)

    yield factory
    for context in contexts:
        await context.__aexit__(None, None, None)
