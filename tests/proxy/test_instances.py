"""Two app instances over one PostgreSQL index and one storage directory, behind real nginx and Caddy.

Under a 4-client load (two readers, two STOW writers) one instance is killed with -9: every GET that
starts after the kill succeeds (the proxy skips the dead instance and retries idempotent requests on the
other; only a response the dead one was already sending can be cut off), every STOW that was acknowledged
is found and retrievable afterwards, and /slicer (one scene) stays with the designated instance.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from slicerweb.demo.dicom_studies import generate_study
from slicerweb.devstack.stack import Stack, start_stack
from tests.dicomweb.conftest import STOW_TYPE, part10, stow_body
from tests.oidc import RunningIssuer
from tests.proxy.fronts import PROXIES, stack_client
from tests.proxy.test_edge import bearer, stack_policy

pytestmark = [pytest.mark.proxy, pytest.mark.postgresql]


@pytest.fixture(params=PROXIES)
def stack(request: pytest.FixtureRequest, issuer: RunningIssuer,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(request.param, tmp_path_factory.mktemp(request.param), stack_policy(issuer),
                          instances=2, index="postgresql")
    yield running
    running.stop()


def test_kill_9_of_one_instance_under_load(stack: Stack, issuer: RunningIssuer) -> None:
    read, write = bearer(issuer, "dicomweb.read"), bearer(issuer, "dicomweb.read dicomweb.write")
    with stack_client(stack) as http:
        seed = http.post("/dicom/studies", content=stow_body([part10(ds) for ds in generate_study(900)]),
                         headers={"Content-Type": STOW_TYPE, **write})
        assert seed.status_code == 200, seed.text
    seeded = str(generate_study(900)[0].StudyInstanceUID)
    stop = threading.Event()
    read_errors: list[str] = []
    cut_in_flight: list[str] = []  # responses the killed instance was already sending: no proxy can retry those
    killed_at = [float("inf")]
    reads = [0]
    acknowledged: list[str] = []

    def reader() -> None:
        with stack_client(stack) as http:
            while not stop.is_set():
                for path in ("/dicom/studies", f"/dicom/studies/{seeded}/metadata"):
                    started = time.monotonic()
                    try:
                        answer = http.get(path, headers=read)
                        if answer.status_code != 200:
                            read_errors.append(f"{path}: {answer.status_code} {answer.text[:200]}")
                    except httpx.TransportError as exc:
                        (cut_in_flight if started < killed_at[0] else read_errors).append(f"{path}: {exc!r}")
                    reads[0] += 1

    def writer(first: int) -> None:
        with stack_client(stack) as http:
            number = first
            while not stop.is_set():
                study = generate_study(number, series_count=1, instances_per_series=3)
                try:
                    answer = http.post("/dicom/studies", content=stow_body([part10(ds) for ds in study]),
                                       headers={"Content-Type": STOW_TYPE, **write})
                    if answer.status_code == 200 and "00081198" not in answer.json():
                        acknowledged.append(str(study[0].StudyInstanceUID))
                except httpx.HTTPError:
                    pass  # not acknowledged: the client cannot know, and must not count on it
                number += 2

    threads = [threading.Thread(target=reader) for _ in range(2)]
    threads += [threading.Thread(target=writer, args=(1000 + n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(3)
        victim = stack.processes["app-2"]
        killed_at[0] = time.monotonic()
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
        time.sleep(4)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert reads[0] > 20 and len(acknowledged) > 2, (reads, acknowledged)
    # Every GET that started after the kill succeeded (the proxy skipped or retried the dead instance); one
    # already being answered by it when it died may be cut off (at most one per reader).
    assert read_errors == []
    assert len(cut_in_flight) <= 2, cut_in_flight
    with stack_client(stack) as http:
        found = {s["0020000D"]["Value"][0] for s in http.get("/dicom/studies?limit=1000", headers=read).json()}
        assert set(acknowledged) <= found
        for study_uid in acknowledged:
            metadata = http.get(f"/dicom/studies/{study_uid}/metadata", headers=read)
            assert metadata.status_code == 200, (metadata.status_code, metadata.headers, metadata.text[:300])
            assert len(metadata.json()) == 3
        scene = http.get("/slicer/system/version", headers=bearer(issuer, "slicer.read"))
        assert scene.status_code == 200  # /slicer lives on the designated instance, which still runs
