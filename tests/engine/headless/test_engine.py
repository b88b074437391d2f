"""HeadlessEngine's demo mode: the caller hands the demo studies in (the engine never imports demo/)."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from slicerweb.demo import demo_instances
from slicerweb.engine.dicom_api import SearchQuery
from slicerweb.engine.headless import HeadlessEngine


async def test_demo_studies_seed_an_empty_database_once(tmp_path: Path) -> None:
    calls: list[int] = []

    def studies() -> list[BinaryIO]:
        calls.append(1)
        return demo_instances()

    engine = HeadlessEngine(tmp_path, demo_studies=studies)
    await engine.start()
    found = (await engine.dicom.search_for_studies(SearchQuery(level="study"))).records
    assert sorted(s["00080061"]["Value"][0] for s in found) == ["CT", "MR"]
    assert [n.name for n in await engine.scene.volumes()] == ["MRHead"]
    await engine.close()

    again = HeadlessEngine(tmp_path, demo_studies=studies)
    await again.start()  # the database has studies: the demo content is not even generated
    assert calls == [1]
    assert (await again.dicom.search_for_studies(SearchQuery(level="study"))).total == 2
    await again.close()


async def test_without_demo_studies_the_database_stays_empty(tmp_path: Path) -> None:
    engine = HeadlessEngine(tmp_path)
    await engine.start()
    assert (await engine.dicom.search_for_studies(SearchQuery(level="study"))).total == 0
    await engine.close()
