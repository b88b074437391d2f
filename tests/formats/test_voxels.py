"""formats/voxels.py and read_nrrd: every encoding pynrrd reads, decoded into one buffer within the limits."""

from __future__ import annotations

import bz2
import gzip
import zlib
from pathlib import Path

import numpy as np
import pytest

from slicerweb.engine.errors import Forbidden, Invalid, TooLarge, Unsupported
from slicerweb.engine.file_access import FileAccess
from slicerweb.engine.headless import files
from slicerweb.engine.headless.segmentation_io import write_segmentation
from slicerweb.engine.headless.store import SceneStore
from slicerweb.engine.scene_api import Segment
from slicerweb.formats.nrrd import read_nrrd
from slicerweb.formats.voxels import VoxelLimits, VoxelSink, expected_bytes, parse_sizes

MB = 1 << 20
# more than one inflate piece (1 MiB) of output, incompressible then highly compressible
DATA = np.random.default_rng(3).integers(0, 255, MB, dtype=np.uint8).tobytes() + bytes(MB + 4096)
ENCODED = {
    "gzip": gzip.compress(DATA),
    "gz": zlib.compress(DATA),  # NRRD readers accept a zlib stream under 'gzip' too
    "bzip2": bz2.compress(DATA),
}


@pytest.mark.parametrize("encoding", ["raw", "gzip", "gz", "bzip2"])
@pytest.mark.parametrize("step", [997, 1 << 16, 1 << 30])
def test_any_chunking_decodes_the_same_bytes(encoding: str, step: int) -> None:
    encoded = ENCODED.get(encoding, DATA)
    sink = VoxelSink(len(DATA), encoding, VoxelLimits())
    for start in range(0, len(encoded), step):
        sink.write(encoded[start:start + step])
    assert bytes(sink.finish()) == DATA


def test_concatenated_gzip_members_and_zero_padding_are_one_stream() -> None:
    sink = VoxelSink(len(DATA), "gzip", VoxelLimits())
    sink.write(gzip.compress(DATA[:MB]) + gzip.compress(DATA[MB:]) + bytes(512))
    assert bytes(sink.finish()) == DATA


@pytest.mark.parametrize("encoding", ["gzip", "bzip2"])
def test_more_data_than_announced_stops_at_the_announced_size(encoding: str) -> None:
    sink = VoxelSink(MB, encoding, VoxelLimits())
    with pytest.raises(Invalid, match="announces 1048576 bytes of voxels, the data holds more"):
        sink.write(ENCODED[encoding])
    assert sink.filled <= MB


def test_a_bomb_stops_at_the_ratio_before_the_announced_size() -> None:
    sink = VoxelSink(16 * MB, "bzip2", VoxelLimits(max_ratio=100))
    with pytest.raises(Invalid, match=r"expands more than 100:1 \(limits.max_compression_ratio\)"):
        sink.write(bz2.compress(bytes(16 * MB)))
    assert sink.filled <= 2 * MB  # one piece past the grace allowance


def test_truncated_and_corrupt_data_are_invalid() -> None:
    sink = VoxelSink(len(DATA), "gzip", VoxelLimits())
    sink.write(ENCODED["gzip"][: len(ENCODED["gzip"]) // 2])
    with pytest.raises(Invalid, match="truncated data"):
        sink.finish()
    with pytest.raises(Invalid, match="corrupt"):
        VoxelSink(len(DATA), "bzip2", VoxelLimits()).write(b"BZh9" + bytes(100))
    with pytest.raises(Unsupported):
        VoxelSink(8, "zstd", VoxelLimits())


@pytest.mark.parametrize(("sizes", "error", "words"), [
    ([4, 4, 0], Invalid, "between 1 and"),
    ([1 << 31, 1 << 31, 4], Invalid, "overflows 64 bits"),
    ([(1 << 31) + 1, 1, 1], Invalid, "between 1 and"),
    ([1024, 1024, 17], TooLarge, "limits.max_volume_bytes"),
])
def test_sizes_are_checked_before_any_allocation(sizes: list[int], error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        expected_bytes(sizes, 1, VoxelLimits(max_bytes=16 * MB))


def test_sizes_must_be_written_as_whole_numbers() -> None:
    assert parse_sizes("256 256 130") == [256, 256, 130]
    for text in ("4.5 4 4", "4 4 nan", "4 4 1e3x"):
        with pytest.raises(Invalid, match="whole numbers"):
            parse_sizes(text)


def header(encoding: str, extra: str = "") -> str:
    return (f"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 1024 1026 2\nspace: left-posterior-superior\n"
            f"space directions: (1,0,0) (0,1,0) (0,0,1)\nencoding: {encoding}\n{extra}")


@pytest.mark.parametrize("encoding", ["raw", "gzip", "bzip2"])
def test_read_nrrd_attached_and_detached(tmp_path: Path, encoding: str) -> None:
    payload = ENCODED.get(encoding, DATA)
    (tmp_path / "a.nrrd").write_bytes(header(encoding).encode() + b"\n" + payload)
    (tmp_path / "b.raw").write_bytes(payload)
    (tmp_path / "b.nhdr").write_text(header(encoding, "data file: b.raw\n"))
    for name in ("a.nrrd", "b.nhdr"):
        image = read_nrrd(tmp_path / name)
        assert image.array.shape == (2, 1026, 1024)
        assert image.array.tobytes() == DATA


def test_read_nrrd_skips_and_ascii(tmp_path: Path) -> None:
    (tmp_path / "tail.raw").write_bytes(b"junk header of another format" + DATA)
    (tmp_path / "tail.nhdr").write_text(header("raw", "data file: tail.raw\nbyte skip: -1\n"))
    assert read_nrrd(tmp_path / "tail.nhdr").array.tobytes() == DATA
    (tmp_path / "lines.raw").write_bytes(b"line one\nline two\n" + DATA)
    (tmp_path / "lines.nhdr").write_text(header("raw", "data file: lines.raw\nline skip: 2\n"))
    assert read_nrrd(tmp_path / "lines.nhdr").array.tobytes() == DATA
    values = np.arange(24, dtype=np.int16)
    text = ("NRRD0004\ntype: short\ndimension: 3\nsizes: 2 3 4\nencoding: ascii\n\n"
            + " ".join(str(v) for v in values) + "\n")
    (tmp_path / "small.nrrd").write_text(text)
    assert np.array_equal(read_nrrd(tmp_path / "small.nrrd").array.reshape(-1), values)


def test_read_nrrd_refuses_before_allocating(tmp_path: Path) -> None:
    limits = VoxelLimits(max_bytes=MB, max_ratio=1100)
    (tmp_path / "big.nrrd").write_bytes(header("gzip").encode() + b"\n" + ENCODED["gzip"])
    with pytest.raises(TooLarge, match=r"limits\.max_volume_bytes"):
        read_nrrd(tmp_path / "big.nrrd", limits=limits)
    (tmp_path / "odd.nrrd").write_bytes(header("raw").replace("sizes: 1024 1026 2", "sizes: 4.5 4 4").encode()
                                        + b"\n" + bytes(64))
    with pytest.raises(Invalid, match="whole numbers"):
        read_nrrd(tmp_path / "odd.nrrd")


def test_segmentation_files_get_the_same_limits_and_path_checks(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    labelmap = np.zeros((4, 64, 64), dtype=np.uint8)
    labelmap[1:3, 10:20, 10:20] = 1
    write_segmentation(allowed / "s.seg.nrrd", labelmap, np.eye(4), (Segment("Segment_1", "tumor", (1.0, 0, 0), 1),),
                       compress=True)
    access = FileAccess((str(allowed),))
    assert files.load(SceneStore(), allowed / "s.seg.nrrd", "SegmentationFile", {}, access)[0].name == "s"
    with pytest.raises(TooLarge, match=r"limits\.max_volume_bytes"):
        files.load(SceneStore(), allowed / "s.seg.nrrd", "SegmentationFile", {}, access, VoxelLimits(max_bytes=1024))
    # a detached header inside the allowed directory may not read data from outside it
    (tmp_path / "secret.raw").write_bytes(bytes(4 * 64 * 64))
    (allowed / "d.seg.nhdr").write_text("NRRD0004\ntype: uint8\ndimension: 3\nsizes: 64 64 4\nencoding: raw\n"
                                        "data file: ../secret.raw\n")
    with pytest.raises(Forbidden):
        files.load(SceneStore(), allowed / "d.seg.nhdr", "SegmentationFile", {}, access)
