"""Compressed series for the transcoding rows: what a default-syntax retrieve costs when the archive holds
JPEG 2000 or JPEG-LS.

No JPEG 2000 or JPEG-LS encoder is installed by default (pydicom encodes only RLE without extra
packages), so each series replicates one of pydicom's bundled files with new UIDs: the same 64x64 16-bit
MR slice, stored once as JPEG 2000 lossless and once as JPEG-LS lossless, so the two rows compare the
codecs on the same pixels. Both servers get the series by STOW (the same request), then the same
retrieve: the default transfer syntax (Explicit VR Little Endian, so the server decodes every frame) and,
as the reference without decoding, `transfer-syntax=*`. Orthanc decodes JPEG 2000 only with its GDCM
plugin, which cannot stay loaded for the JPEG-LS rows (slicerweb.devstack.orthanc), so the bench restarts
Orthanc on the same storage with the plugin before the JPEG 2000 rows.
"""

from __future__ import annotations

import io
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pydicom.data
from pydicom import dcmread
from pydicom.uid import generate_uid

from .measure import Call, CheckFailed, Result, latency
from .scenarios import Budget, Scenario, stow

SOURCES = {  # row key -> pydicom test file (the same MR slice in two lossless syntaxes); JPEG-LS first:
    "jpegls": "MR_small_jpeg_ls_lossless.dcm",  # Orthanc decodes it with DCMTK
    "jpeg2000": "MR_small_jp2klossless.dcm",    # Orthanc needs its GDCM plugin (see NEEDS_GDCM)
}
NEEDS_GDCM = "stow_jpeg2000"  # the bench restarts Orthanc with the GDCM plugin before this step
LABELS = {"jpeg2000": "JPEG 2000 lossless", "jpegls": "JPEG-LS lossless"}
DEFAULT_ACCEPT = 'multipart/related; type="application/dicom"'
AS_STORED_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
# Explicit VR Little Endian as it appears in each part's File Meta (odd length: padded with NUL).
EXPLICIT_IN_META = b"1.2.840.10008.1.2.1\x00"


@dataclass(frozen=True)
class CompressedSeries:
    key: str
    directory: Path
    study_uid: str
    series_uid: str
    instances: int
    rows: int
    decoded_bytes: int    # Rows x Columns x samples x bytes, per instance: the least a decoded retrieve sends
    stored_bytes: int     # the files' total size

    @property
    def label(self) -> str:
        return LABELS[self.key]


def compressed_series(directory: Path, key: str, instances: int) -> CompressedSeries:
    """Write (once) `instances` copies of the bundled file under new UIDs (deterministic, so cached)."""
    source = Path(pydicom.data.get_testdata_file(SOURCES[key], download=False) or "")
    if not source.is_file():
        raise RuntimeError(f"pydicom's test file {SOURCES[key]} is missing")
    study_uid = generate_uid(entropy_srcs=["slicerweb-bench-compressed-study"])
    series_uid = generate_uid(entropy_srcs=["slicerweb-bench-compressed", key])
    target = directory / f"{key}-{instances}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        template = dcmread(source)
    decoded = int(template.Rows) * int(template.Columns) * int(template.get("SamplesPerPixel", 1)) \
        * int(template.BitsAllocated) // 8
    if not (target / f"{instances:05d}.dcm").exists():
        target.mkdir(parents=True, exist_ok=True)
        for number in range(1, instances + 1):
            ds = template.copy()
            sop_uid = generate_uid(entropy_srcs=["slicerweb-bench-compressed", key, str(number)])
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study_uid, series_uid, sop_uid
            ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
            ds.SeriesDescription, ds.InstanceNumber = f"bench {LABELS[key]}", number
            buffer = io.BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
            (target / f"{number:05d}.dcm").write_bytes(buffer.getvalue())
    stored = sum(path.stat().st_size for path in target.glob("*.dcm"))
    return CompressedSeries(key, target, study_uid, series_uid, instances, int(template.Rows), decoded, stored)


def series_call(url: str, accept: str, series: CompressedSeries, *,
                decoded: bool) -> Call:
    """GET the whole series over a raw socket (as the other retrieve rows do); returns instances received.

    Checks what a client would: status 200, and for the default syntax that every instance came back
    decoded (its File Meta says Explicit VR Little Endian, at least Rows x Columns x 2 bytes each), so a
    server that sends the stored bytes, or breaks off, shows as an error, not as a fast row."""
    parts = urlsplit(url)
    request = (f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: {accept}\r\n"
               "Connection: close\r\n\r\n").encode()
    address = (parts.hostname or "127.0.0.1", parts.port or 80)

    def call(_: httpx.Client) -> float:
        body = bytearray()
        try:
            with socket.create_connection(address) as sock:
                sock.sendall(request)
                while chunk := sock.recv(1 << 20):
                    body += chunk
        except OSError as exc:  # a peer that dies mid-row is an error cell, not the end of the run
            raise CheckFailed(f"{type(exc).__name__}: {exc.strerror}") from exc
        status = bytes(body[:body.find(b"\r\n")]).split()
        if len(status) < 2 or status[1] != b"200":
            raise CheckFailed(b" ".join(status).decode(errors="replace")[:40])
        if decoded:
            converted = body.count(EXPLICIT_IN_META)
            if converted < series.instances or len(body) < series.instances * series.decoded_bytes:
                raise CheckFailed(f"{converted}/{series.instances} decoded, {len(body)} bytes")
        elif len(body) < series.stored_bytes:
            raise CheckFailed(f"{len(body)} bytes, stored {series.stored_bytes}")
        return float(series.instances)

    return call


def transcoding_scenarios(series: list[CompressedSeries], budget: Budget) -> list[tuple[str, Scenario]]:
    """Per series: STOW it (not a row), then retrieve it as stored and in the default syntax."""
    rows: list[tuple[str, Scenario]] = []
    for one in series:
        rows += [(f"stow_{one.key}", _stow(one)),
                 (f"stored_{one.key}", _retrieve(one, AS_STORED_ACCEPT, budget, decoded=False)),
                 (f"transcode_{one.key}", _retrieve(one, DEFAULT_ACCEPT, budget, decoded=True))]
    return rows


def _stow(series: CompressedSeries) -> Scenario:
    def scenario(root: str) -> Result:
        return stow(root, series.directory)

    return scenario


def _retrieve(series: CompressedSeries, accept: str, budget: Budget, *, decoded: bool) -> Scenario:
    def scenario(root: str) -> Result:
        call = series_call(f"{root}/studies/{series.study_uid}/series/{series.series_uid}", accept, series,
                           decoded=decoded)
        return latency(call, reps=budget.retrieve_reps, budget=budget.seconds, unit="inst/s")

    return scenario


def transcoding_labels(series: list[CompressedSeries]) -> dict[str, str]:
    """Row key -> label for the printed table (the STOW of the series is preparation, not a row)."""
    labels: dict[str, str] = {}
    for one in series:
        size = f"{one.instances} x {one.rows}², {one.label}"
        labels[f"stored_{one.key}"] = f"series retrieve as stored ({size})"
        labels[f"transcode_{one.key}"] = f"series retrieve, default syntax: transcoded ({size})"
    return labels
