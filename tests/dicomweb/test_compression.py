"""Content-Encoding: gzip for large DICOM JSON answers, negotiated by Accept-Encoding (RFC 9110 §12.5.3).

Big QIDO and metadata answers are gzip-compressed for clients that accept it (and decompress to
exactly the uncompressed answer), small ones are not unless identity is refused, nothing acceptable
is a 406, every such answer says `Vary: Accept-Encoding`, and DICOM objects and frames never are.
Real clients (requests, curl --compressed) read them.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess

import pytest
import requests

from slicerweb.dicomweb.compression import GZIP_THRESHOLD, choose
from slicerweb.errors import NotAcceptable

BIG, SMALL = GZIP_THRESHOLD, GZIP_THRESHOLD - 1


@pytest.mark.parametrize(("header", "size", "coding"), [
    (None, BIG, "identity"),
    ("gzip", BIG, "gzip"),
    ("gzip", SMALL, "identity"),
    ("gzip, deflate, br", BIG, "gzip"),
    ("x-gzip", BIG, "gzip"),
    ("GZIP ; q=0.8", BIG, "gzip"),
    ("gzip;q=0", BIG, "identity"),
    ("gzip;q=0.5, identity", BIG, "identity"),  # the client prefers it uncompressed
    ("*", BIG, "gzip"),
    ("br", BIG, "identity"),
    ("gzip, identity;q=0", SMALL, "gzip"),  # identity refused: even a small answer is compressed
    ("*;q=0, gzip", SMALL, "gzip"),
    ("gzip;q=nonsense", BIG, "identity"),
])
def test_choose(header: str | None, size: int, coding: str) -> None:
    assert choose(header, size) == coding


@pytest.mark.parametrize("header", ["identity;q=0", "*;q=0", "gzip;q=0, identity;q=0", "br, identity;q=0"])
def test_nothing_acceptable_is_406(header: str) -> None:
    with pytest.raises(NotAcceptable, match="no acceptable content coding"):
        choose(header, BIG)


async def test_large_qido_and_metadata_answers_are_gzip(dicom_app) -> None:
    app = await dicom_app()
    st, se = app.study_uid(0), app.first(0).SeriesInstanceUID
    for path in ("/dicom/instances", f"/dicom/studies/{st}/series/{se}/metadata"):
        plain = await app.client.get(path)
        assert "Content-Encoding" not in plain.headers and plain.headers["Vary"] == "Accept-Encoding"
        identity = await plain.get_data()
        assert len(identity) >= GZIP_THRESHOLD
        packed = await app.client.get(path, headers={"Accept-Encoding": "gzip, deflate"})
        assert packed.status_code == 200 and packed.headers["Content-Encoding"] == "gzip"
        assert packed.headers["Vary"] == "Accept-Encoding"
        assert packed.headers["Content-Type"] == "application/dicom+json"
        body = await packed.get_data()
        assert len(body) < len(identity) / 3
        assert json.loads(gzip.decompress(body)) == json.loads(identity)
    refused = await app.client.get("/dicom/instances", headers={"Accept-Encoding": "identity;q=0"})
    assert refused.status_code == 406 and (await refused.get_json())["code"] == "not_acceptable"


async def test_small_answers_and_dicom_objects_are_not_compressed(dicom_app) -> None:
    app = await dicom_app()
    small = await app.client.get("/dicom/studies", query_string={"StudyInstanceUID": app.study_uid(3)},
                                 headers={"Accept-Encoding": "gzip"})
    assert small.status_code == 200 and "Content-Encoding" not in small.headers
    assert small.headers["Vary"] == "Accept-Encoding" and len(await small.get_json()) == 1
    ds = app.first(2)
    base = f"/dicom/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    for path in (base, f"{base}/frames/1", f"/dicom/studies/{ds.StudyInstanceUID}"):
        response = await app.client.get(path, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200 and "Content-Encoding" not in response.headers, path


def test_real_clients_read_compressed_answers(live_server) -> None:
    server = live_server(args=["--demo"])
    url = f"{server.url}/dicom/instances"
    answer = requests.get(url, timeout=30)  # requests asks for gzip and decompresses
    assert answer.status_code == 200 and answer.headers["Content-Encoding"] == "gzip"
    assert answer.headers.get("Transfer-Encoding") == "chunked"  # streamed: no Content-Length up front
    records = answer.json()
    assert len(records) == 40 and all("00080018" in r for r in records)
    curl = shutil.which("curl")
    assert curl, "curl is a system dependency (deploy/install-system-deps)"
    done = subprocess.run([curl, "-sS", "--compressed", url], capture_output=True, timeout=30)
    assert done.returncode == 0 and json.loads(done.stdout) == records
