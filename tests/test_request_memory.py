"""Peak memory per hostile request stays under the bound documented in policies/README.md.

A real `slicerweb serve` subprocess runs a policy with small limits (the bound follows the policy,
not the request); before each request its kernel high-water mark (VmHWM) is reset and afterwards
the growth is read from /proc (tests/peak_rss.py). Bodies are tens of MB.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pydicom.encaps import encapsulate
from pydicom.pixels.encoders.base import get_encoder
from pydicom.uid import RLELossless

from slicerweb.demo.dicom_studies import generate_study
from slicerweb.limits import REQUEST_WORKING_BYTES
from tests.conftest import LiveServer, start_server
from tests.dicomweb.conftest import STOW_TYPE, part10, stow_body
from tests.peak_rss import PeakRss

MB = 1 << 20
MAX_VOLUME = 64 * MB
POLICY = f"""
[features]
dicomweb_write = true
[limits]
volume_upload_compressed = true
upload_max_body_bytes = {96 * MB}
max_volume_bytes = {MAX_VOLUME}
max_frames_per_request = 64
"""
OCTET_ACCEPT = 'multipart/related; type="application/octet-stream"'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    running = start_server(tmp_path_factory.mktemp("memory"), policy_toml=POLICY)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A plain HTTP server on a free loopback port serving a directory (the `url=` source)."""
    root = tmp_path_factory.mktemp("web")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", root
    httpd.shutdown()
    httpd.server_close()


def measured(server: LiveServer, send: object) -> tuple[httpx.Response, int]:
    rss = PeakRss(server.process.pid)
    rss.reset()
    response = send()  # type: ignore[operator]
    return response, rss.growth()


def nrrd(sizes: str, encoding: str, payload: bytes, directions: str = "(1,0,0) (0,1,0) (0,0,1)") -> bytes:
    return (f"NRRD0004\ntype: uint8\ndimension: 3\nspace: left-posterior-superior\nsizes: {sizes}\n"
            f"space directions: {directions}\nkinds: domain domain domain\nencoding: {encoding}\n"
            "space origin: (0,0,0)\n\n").encode() + payload


def assert_json_error(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert words in response.json()["message"]


def test_a_frame_list_repeating_one_frame_is_refused_without_building_the_answer(server: LiveServer) -> None:
    """Used to build the whole answer in memory: 2,000 x 128 KiB -> peak RSS +754 MiB."""
    ds = generate_study(60, series_count=1, instances_per_series=1)[0]
    ds.Rows = ds.Columns = 256
    ds.NumberOfFrames = 64
    ds.PixelData = np.arange(64 * 256 * 256, dtype=np.uint16).tobytes()
    with server.client() as client:
        stored = client.post("/dicom/studies", content=stow_body([part10(ds)]), headers={"Content-Type": STOW_TYPE})
        assert stored.status_code == 200, stored.text
        base = (f"/dicom/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
                f"/instances/{ds.SOPInstanceUID}/frames/")
        response, growth = measured(server, lambda: client.get(base + ",".join(["1"] * 2000),
                                                                headers={"Accept": OCTET_ACCEPT}))
        assert_json_error(response, 400, "limits.max_frames_per_request")
        assert growth < REQUEST_WORKING_BYTES
        # every frame once (8 MiB of answer) streams within the same bound
        everything = ",".join(str(n) for n in range(64, 0, -1))
        response, growth = measured(server, lambda: client.get(base + everything, headers={"Accept": OCTET_ACCEPT}))
        assert response.status_code == 200
        assert len(response.content) > 64 * 256 * 256 * 2
        assert growth < REQUEST_WORKING_BYTES, f"{growth / MB:.1f} MiB"


def test_a_gzip_bomb_announcing_more_than_the_policy_allows_is_refused_before_inflating(server: LiveServer) -> None:
    bomb = gzip.compress(bytes(100 * MB), 9)  # ~100 KB
    with server.client() as client:
        for sizes in ("1000 1000 100", "100000 100000 100000"):
            response, growth = measured(server, lambda s=sizes: client.post("/slicer/volume?id=bomb",
                                                                            content=nrrd(s, "gzip", bomb)))
            assert_json_error(response, 413, "limits.max_volume_bytes")
            assert growth < REQUEST_WORKING_BYTES, f"{sizes}: {growth / MB:.1f} MiB"


def test_a_bzip2_bomb_within_the_size_limit_stops_at_the_ratio_limit(server: LiveServer) -> None:
    bomb = bz2.compress(bytes(MAX_VOLUME))  # a few dozen bytes announcing 64 MiB
    with server.client() as client:
        response, growth = measured(server, lambda: client.post("/slicer/volume?id=bomb",
                                                                content=nrrd("1024 1024 64", "bzip2", bomb)))
        assert_json_error(response, 400, "limits.max_compression_ratio")
        assert growth < REQUEST_WORKING_BYTES, f"{growth / MB:.1f} MiB"  # the buffer's pages were never touched
        assert client.get("/slicer/mrml/names").json() == []  # nothing reached the scene


@pytest.mark.parametrize("how", ["url", "localfile"])
def test_mrml_loads_of_a_compressed_bomb_follow_the_policy(server: LiveServer, web: tuple[str, Path],
                                                           how: str) -> None:
    """`POST /slicer/mrml?url=` of a 1 MB compressed file used to take 2.3 GB whatever the policy."""
    url, root = web
    (root / "bomb.nrrd").write_bytes(nrrd("1000 1000 200", "gzip", gzip.compress(bytes(200 * MB), 9)))
    source = f"url={url}/bomb.nrrd" if how == "url" else f"localfile={root / 'bomb.nrrd'}"
    with server.client() as client:
        response, growth = measured(server, lambda: client.post(f"/slicer/mrml?filetype=VolumeFile&{source}"))
        assert_json_error(response, 413, "limits.max_volume_bytes")
        assert growth < REQUEST_WORKING_BYTES, f"{growth / MB:.1f} MiB"


def test_a_raw_volume_upload_holds_one_copy_of_its_voxels(server: LiveServer) -> None:
    """Used to hold about twice the body (the body, then a copy)."""
    voxels = np.random.default_rng(1).integers(0, 255, MAX_VOLUME, dtype=np.uint8).tobytes()
    body = nrrd("1024 1024 64", "raw", voxels)
    with server.client() as client:
        response, growth = measured(server, lambda: client.post("/slicer/volume?id=big", content=body))
        assert response.status_code == 200, response.text
        assert growth < MAX_VOLUME + REQUEST_WORKING_BYTES, f"{growth / MB:.1f} MiB"
        downloaded = client.get("/slicer/volume?id=big")
        assert downloaded.content.endswith(voxels)
        assert client.delete("/slicer/mrml?id=" + response.json()["id"]).status_code == 200


def test_stow_parts_are_spooled_not_held(server: LiveServer) -> None:
    """12 parts of 4 MiB used to sit in memory (parts under 16 MiB were not spooled)."""
    body = stow_body([bytes(4 * MB)] * 12)
    with server.client() as client:
        response, growth = measured(server, lambda: client.post("/dicom/studies", content=body,
                                                                headers={"Content-Type": STOW_TYPE}))
        assert response.status_code == 409  # zero bytes are no DICOM: every part fails, with a reason
        assert len(response.json()["00081198"]["Value"]) == 12
        assert growth < REQUEST_WORKING_BYTES, f"{growth / MB:.1f} MiB"


def test_a_slowly_decoded_upload_is_paced_not_buffered(server: LiveServer) -> None:
    """bzip2 inflates slower than loopback delivers: the unread body used to pile up in Quart's
    buffer (a 64 MiB volume took +192 MiB); now the socket waits (body_pacing.py)."""
    voxels = np.random.default_rng(2).integers(0, 256, 16 * MB, dtype=np.uint8).tobytes()
    body = nrrd("1024 1024 16", "bzip2", bz2.compress(voxels, 1))
    with server.client() as client:
        response, growth = measured(server, lambda: client.post("/slicer/volume?id=paced", content=body))
        assert response.status_code == 200, response.text
        assert growth < len(voxels) + REQUEST_WORKING_BYTES, f"{growth / MB:.1f} MiB"
        assert client.get("/slicer/volume?id=paced").content.endswith(voxels)
        assert client.delete("/slicer/mrml?id=" + response.json()["id"]).status_code == 200


def rle_series_object(seed: int, frames: int, side: int, noisy: bool) -> tuple[bytes, str]:
    """An RLE Lossless object of `frames` 16-bit frames (`noisy`: random pixels, else zeros: a few KB per
    frame that decode to side x side x 2 bytes each) and its instance URL path."""
    ds = generate_study(seed, series_count=1, instances_per_series=1)[0]
    ds.Rows = ds.Columns = side
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    pixels = (np.random.default_rng(seed).integers(0, 4096, (frames, side, side), dtype=np.uint16) if noisy
              else np.zeros((frames, side, side), np.uint16))
    encoder = get_encoder(RLELossless)
    opts: dict[str, Any] = {"rows": side, "columns": side, "samples_per_pixel": 1, "bits_allocated": 16,
                            "bits_stored": 16, "pixel_representation": 0, "photometric_interpretation": "MONOCHROME2",
                            "number_of_frames": 1}
    fragments = [encoder.encode(pixels[n], **opts) for n in range(frames if noisy else 1)]
    ds.NumberOfFrames = frames
    ds.PixelData = encapsulate(fragments if noisy else fragments * frames)
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = RLELossless
    path = f"/dicom/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    return part10(ds), path


def test_a_conversion_past_the_volume_limit_is_refused_before_decoding(server: LiveServer) -> None:
    """180 tiny RLE frames that decode to 90 MiB (under the 96 MiB upload limit, over max_volume_bytes):
    a default retrieve is 406 without decoding; all 64 frames a request may ask stream within the
    working bound (they used to be decoded all at once: the whole 90 MiB array per batch of frames)."""
    data, path = rle_series_object(61, 180, 512, noisy=False)
    with server.client() as client:
        stored = client.post("/dicom/studies", content=stow_body([data]), headers={"Content-Type": STOW_TYPE})
        assert stored.status_code == 200, stored.text
        response, growth = measured(server, lambda: client.get(path, headers={"Accept": "application/dicom"}))
        assert_json_error(response, 406, "limits.max_volume_bytes")
        assert growth < REQUEST_WORKING_BYTES, f"{growth / MB:.1f} MiB"
        frames = ",".join(str(n) for n in range(1, 65))
        response, growth = measured(server, lambda: client.get(f"{path}/frames/{frames}",
                                                                headers={"Accept": OCTET_ACCEPT}))
        assert response.status_code == 200
        assert len(response.content) > 64 * 512 * 512 * 2
        assert growth < REQUEST_WORKING_BYTES, f"{growth / MB:.1f} MiB"


def test_a_conversion_within_the_limit_holds_about_its_output(server: LiveServer) -> None:
    """A 16 MiB multi-frame RLE object converted to Explicit VR Little Endian: decoded a frame at a time."""
    data, path = rle_series_object(62, 64, 256, noisy=True)
    with server.client() as client:
        stored = client.post("/dicom/studies", content=stow_body([data]), headers={"Content-Type": STOW_TYPE})
        assert stored.status_code == 200, stored.text
        response, growth = measured(server, lambda: client.get(path, headers={"Accept": "application/dicom"}))
        assert response.status_code == 200, response.text
        assert len(response.content) > 64 * 256 * 256 * 2
        assert growth < MAX_VOLUME + REQUEST_WORKING_BYTES, f"{growth / MB:.1f} MiB"
        print(f"16 MiB conversion: peak RSS growth {growth / MB:.1f} MiB")
def test_stored_json_matching_and_gzip_answers_hold_one_page(server: LiveServer) -> None:
    """QIDO keys matched on stored JSON read candidates one at a time (memory: the page), and a gzip
    answer holds its document plus one compressed piece, whatever the client asks."""
    datasets = generate_study(71, series_count=1, instances_per_series=300)  # 61, 62: the conversion tests
    st, se = datasets[0].StudyInstanceUID, datasets[0].SeriesInstanceUID
    with server.client() as client:
        stored = client.post("/dicom/studies", content=stow_body([part10(ds) for ds in datasets]),
                             headers={"Content-Type": STOW_TYPE})
        assert stored.status_code == 200, stored.text
        # Scoped to the study: other tests of this module store CT instances in the same server.
        hostile = {"ImageType": "*A*X*I*A*L*", "RequestAttributesSequence.ScheduledProcedureStepID": "*",
                   "includefield": "all", "limit": "1000000", "StudyInstanceUID": st}
        response, growth = measured(server, lambda: client.get("/dicom/instances", params=hostile,
                                                                headers={"Accept-Encoding": "gzip"}))
        assert response.status_code == 200 and response.headers["Content-Encoding"] == "gzip"
        assert len(response.json()) == 300
        assert growth < REQUEST_WORKING_BYTES, f"{growth / MB:.1f} MiB"
        response, growth = measured(server, lambda: client.get(f"/dicom/studies/{st}/series/{se}/metadata",
                                                                headers={"Accept-Encoding": "gzip"}))
        assert response.status_code == 200 and response.headers["Content-Encoding"] == "gzip"
        assert len(response.json()) == 300
        assert growth < REQUEST_WORKING_BYTES, f"{growth / MB:.1f} MiB"
