"""The benchmark harness itself (bench/dicomwebbench): bounded loops, error reporting, the ratio column.

No timing is asserted: only that loops stop at their bounds, count what the calls return, surface a
failed check instead of figures, that the table puts SlicerWeb/Orthanc throughput in the last column,
and that every benchmark request is answered as its check expects by a live SlicerWeb (tiny dataset).
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from pydicom import dcmread

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from dicomwebbench.compressed import SOURCES, compressed_series, series_call, transcoding_scenarios
from dicomwebbench.measure import CheckFailed, Result, latency, throughput
from dicomwebbench.scaling import render_scaling, worker_scaling
from dicomwebbench.scenarios import Budget, JsonCall, read_scenarios, stow
from dicomwebbench.servers import SlicerWebServer
from dicomwebbench.table import render

from slicerweb.demo.benchmark_studies import BenchmarkDataset, benchmark_dataset


def test_latency_loop_stops_at_its_repetition_bound() -> None:
    calls: list[httpx.Client] = []

    def call(client: httpx.Client) -> float:
        calls.append(client)
        return 3.0

    result = latency(call, reps=5, budget=60, warmup=1)
    assert len(calls) == 6 and len(result.latencies) == 5 and result.units == 15.0
    assert not result.error and result.throughput > 0


def test_throughput_loop_runs_exactly_total_calls_across_threads() -> None:
    clients: set[int] = set()

    def call(client: httpx.Client) -> float:
        clients.add(id(client))
        return 1.0

    result = throughput(call, concurrency=3, total=12, budget=60)
    assert result.units == 12 and len(result.latencies) == 12 and len(clients) == 3


def test_failed_check_becomes_an_error_cell() -> None:
    def call(client: httpx.Client) -> float:
        raise CheckFailed("HTTP 404")

    failed = latency(call, reps=5, budget=60)
    assert failed.error == "HTTP 404" and not failed.latencies
    assert throughput(call, concurrency=2, total=4, budget=60).error == "HTTP 404"
    ours = Result(latencies=[0.01, 0.02], units=200, elapsed=1.0)
    theirs = Result(latencies=[0.03], units=50, elapsed=1.0)
    table = render([("study list", ours, theirs), ("frame", failed, theirs)])
    study_row, frame_row = table.splitlines()[2:]
    assert study_row.split()[-1] == "4.00x" and "200 req/s" in study_row and "50.0 req/s" in study_row
    assert "ERR HTTP 404" in frame_row and frame_row.split()[-1] == "-"


def test_json_call_counts_the_first_answer_and_size_checks_the_rest() -> None:
    bodies = iter([b'[{}, {}]', b'[{}, {}]', b'[{}, {}, {}]'])
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=next(bodies)))
    with httpx.Client(transport=transport) as client:
        call = JsonCall("http://server/dicom/studies", expect=3)
        assert call(client) == 1.0 and call(client) == 1.0
        assert call.verify(Result()).error == "2 results, expected 3"
        with pytest.raises(CheckFailed, match="first answer had 8"):
            call(client)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> BenchmarkDataset:
    return benchmark_dataset(tmp_path_factory.mktemp("bench") / "data", studies=4, list_instances=5, big_instances=3,
                             big_matrix=32, stow_studies=1)


def test_every_scenario_runs_against_a_live_slicerweb(tmp_path: Path, tiny_dataset: BenchmarkDataset) -> None:
    """The benchmark's requests, on a tiny dataset, are all answered as the checks expect (no timing)."""
    data = tiny_dataset
    server = SlicerWebServer(tmp_path / "slicerweb")
    loaded, _ = server.bulk_load(data.corpus_directory)
    assert loaded == data.instances
    server.start()
    try:
        budget = Budget(reps=2, seconds=0.5, concurrency=2, retrieve_reps=1)
        for key, scenario in read_scenarios(data, budget):
            result = scenario(server.dicomweb)
            assert not result.error, (key, result.error)
            assert result.latencies and result.units > 0, key
        stored = stow(server.dicomweb, data.stow_directory)
        assert not stored.error and stored.units == data.stow_instances
    finally:
        server.stop()


def test_compressed_series_replicates_the_bundled_file_under_new_uids(tmp_path: Path) -> None:
    series = compressed_series(tmp_path, "jpeg2000", 3)
    files = sorted(series.directory.glob("*.dcm"))
    datasets = [dcmread(path) for path in files]
    assert len(files) == series.instances == 3
    assert {ds.file_meta.TransferSyntaxUID for ds in datasets} == {"1.2.840.10008.1.2.4.90"}
    assert len({ds.SOPInstanceUID for ds in datasets}) == 3
    assert all(ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID for ds in datasets)
    assert {(ds.StudyInstanceUID, ds.SeriesInstanceUID) for ds in datasets} == {(series.study_uid, series.series_uid)}
    assert series.decoded_bytes == 64 * 64 * 2
    assert compressed_series(tmp_path, "jpeg2000", 3) == series  # cached, same UIDs


def test_transcoding_rows_run_against_a_live_slicerweb(tmp_path: Path) -> None:
    """Each row is figures or an error cell (a codec this branch lacks), never an exception; a series
    sent back undecoded under the default syntax is an error, not a fast row."""
    server = SlicerWebServer(tmp_path / "slicerweb")
    server.start()
    try:
        series = [compressed_series(tmp_path, key, 2) for key in SOURCES]
        budget = Budget(reps=2, seconds=0.5, concurrency=1, retrieve_reps=1)
        results = {key: scenario(server.dicomweb) for key, scenario in transcoding_scenarios(series, budget)}
        jpeg2000 = series[list(SOURCES).index("jpeg2000")]
        undecoded = series_call(f"{server.dicomweb}/studies/{jpeg2000.study_uid}/series/{jpeg2000.series_uid}",
                                'multipart/related; type="application/dicom"; transfer-syntax=*', jpeg2000,
                                decoded=True)
        with httpx.Client() as client, pytest.raises(CheckFailed, match="0/2 decoded"):
            undecoded(client)
    finally:
        server.stop()
    assert set(results) == {f"{step}_{key}" for key in SOURCES for step in ("stow", "stored", "transcode")}
    for key in SOURCES:
        assert not results[f"stow_{key}"].error and results[f"stow_{key}"].units == 2
        # one rep of 2 instances; the warm-up is not counted
        assert not results[f"stored_{key}"].error and results[f"stored_{key}"].units == 2
    transcoded = results["transcode_jpeg2000"]
    assert transcoded.error or transcoded.units == 2


def test_scaling_block_keeps_the_best_run_and_shows_every_run() -> None:
    runs = {"study_list": {1: [Result(latencies=[0.01], units=100, elapsed=1.0),
                               Result(latencies=[0.01], units=120, elapsed=1.0)],
                           2: [Result(latencies=[0.01], units=180, elapsed=1.0), Result(error="HTTP 503")]},
            "frame": {1: [Result(error="slicerweb did not start")], 2: [Result(units=50, elapsed=1.0)]}}
    block = render_scaling(runs, Budget(concurrency=4, seconds=6)).splitlines()
    assert "4 concurrent connections for 6 s" in block[0]
    study, frame = block[3], block[4]
    assert "120 req/s [100, 120]" in study and "180 req/s [180, ERR]" in study and study.split()[-1] == "1.50x"
    assert "ERR slicerweb did not start" in frame and frame.split()[-1] == "-"


def test_json_call_after_stow_accepts_a_fuller_page_but_not_more() -> None:
    for body, error in ((b"[" + b",".join([b"{}"] * 101) + b"]", ""), (b"[{}, {}]", "2 results, expected 100 to 101")):
        transport = httpx.MockTransport(lambda request, body=body: httpx.Response(200, content=body))
        with httpx.Client(transport=transport) as client:
            call = JsonCall("http://server/dicom/studies", expect=100, up_to=101)
            call(client)
            assert call.verify(Result()).error == error


def test_scaling_block_measures_one_and_two_workers_of_a_live_slicerweb(tmp_path: Path,
                                                                        tiny_dataset: BenchmarkDataset) -> None:
    """bench/dicomweb --workers: the same data directory served by 1, then by 2 worker processes (no timing)."""
    data = tiny_dataset
    server = SlicerWebServer(tmp_path / "slicerweb", workers=2)
    server.bulk_load(data.corpus_directory, processes=1)
    runs = worker_scaling(server, data, Budget(reps=2, seconds=0.5, concurrency=2), rounds=1, log=lambda _: None)
    assert server.process is not None and server.process.poll() is not None  # stopped
    for key, by_count in runs.items():
        for count in (1, 2):
            (result,) = by_count[count]
            assert not result.error and result.units > 0, (key, count, result.error)
