"""POST /slicer/volume: a header's sizes and geometry are checked before anything is allocated.

Absurd headers are 400/413 JSON naming the problem and the scene is untouched; geometry that passes
renders (slice, threeD, screenshot answer 200, never 500).
"""

from __future__ import annotations

import gzip

import pytest

from slicerweb.formats.voxels import DEFAULT_LIMITS

MB = 1 << 20


def nrrd(sizes: str = "4 4 4", directions: str = "(1,0,0) (0,1,0) (0,0,1)", origin: str = "(0,0,0)",
         encoding: str = "raw", payload: bytes | None = None) -> bytes:
    head = (f"NRRD0004\ntype: uint8\ndimension: 3\nspace: left-posterior-superior\nsizes: {sizes}\n"
            f"space directions: {directions}\nkinds: domain domain domain\nencoding: {encoding}\n"
            f"space origin: {origin}\n\n").encode()
    return head + (payload if payload is not None else bytes(64))


@pytest.fixture
async def client(make_app, make_policy):
    app, _ = make_app(make_policy(limits__volume_upload_compressed=True, limits__max_volume_bytes=8 * MB))
    async with app.test_app() as test_app:
        yield test_app.test_client()


@pytest.mark.parametrize(("body", "status", "words"), [
    (nrrd(sizes="4.5 4 4"), 400, "sizes must be whole numbers"),
    (nrrd(sizes="4 -4 4"), 400, "between 1 and"),
    (nrrd(sizes="4294967296 4294967296 4294967296"), 400, "between 1 and"),
    (nrrd(sizes="2147483648 2147483648 2147483648"), 400, "overflows 64 bits"),
    (nrrd(sizes="2147483647 2147483647 2147483647"), 400, "overflows 64 bits"),
    (nrrd(sizes="1024 1024 1024"), 413, "limits.max_volume_bytes"),
    (nrrd(sizes="1024 1024 1024", encoding="gzip", payload=gzip.compress(bytes(MB))), 413, "limits.max_volume_bytes"),
    (nrrd(directions="(1e308,0,0) (0,1e308,0) (0,0,1e308)"), 400, "beyond 1e+09 mm"),
    (nrrd(directions="(1e300,0,0) (0,1,0) (0,0,1)"), 400, "beyond 1e+09 mm"),
    (nrrd(origin="(1e308,0,0)"), 400, "beyond 1e+09 mm"),
    (nrrd(directions="(nan,0,0) (0,1,0) (0,0,1)"), 400, "finite"),
])
async def test_absurd_headers_are_refused_with_json_naming_the_problem(client, body: bytes, status: int,
                                                                       words: str) -> None:
    response = await client.post("/slicer/volume?id=absurd", data=body)
    assert response.status_code == status, await response.get_data()
    assert response.headers["Content-Type"] == "application/json"
    assert words in (await response.get_json())["message"]
    assert await (await client.get("/slicer/mrml/names")).get_json() == []


async def test_large_but_finite_geometry_still_renders(client) -> None:
    """1 km voxels are silly but representable: every view answers an image, never a 500."""
    body = nrrd(directions="(1e6,0,0) (0,1e6,0) (0,0,1e6)", origin="(1e8,-1e8,0)")
    assert (await client.post("/slicer/volume?id=wide", data=body)).status_code == 200
    for path in ("/slicer/slice?view=red", "/slicer/slice?view=green&offset=1e7", "/slicer/threeD?lookFromAxis=L",
                 "/slicer/screenshot"):
        response = await client.get(path)
        assert response.status_code == 200, (path, await response.get_data())
        assert response.headers["Content-Type"] == "image/png"


def test_the_default_volume_limit_matches_the_default_upload_limit() -> None:
    assert DEFAULT_LIMITS.max_bytes == 4 << 30
