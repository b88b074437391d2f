"""HeadlessEngine's demo mode: the caller hands the demo studies in (the engine never imports demo/)."""

from __future__ import annotations

import asyncio
import threading
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


async def test_readiness_answers_while_every_worker_thread_of_the_loop_is_busy(tmp_path: Path) -> None:
    """A proxy's health check (Caddy's /readyz, 5 s timeout) must not queue behind request work: with every
    thread of the loop's default executor blocked (index reads, fsyncs of a STOW load), /readyz still
    answers, or the proxy takes a busy but healthy instance (maybe the last one) out of rotation."""
    engine = HeadlessEngine(tmp_path)
    await engine.start()
    loop = asyncio.get_running_loop()
    release = threading.Event()
    blocked = [loop.run_in_executor(None, release.wait) for _ in range(64)]  # more than the pool has threads
    try:
        readiness = await asyncio.wait_for(engine.readiness(), 30)
        assert readiness.problems == {}
    finally:
        release.set()
        await asyncio.gather(*blocked)
        await engine.close()
