"""/slicer/slice, threeD, screenshot, timeimage, threeDGraphics over HTTP: the WebServer module's
parameters, with its bugs fixed (offset=0, scrollTo=0 and size honoured; bad input 400 JSON; unknown
views and volumes 404 JSON), and `Content-Type: image/png` exactly.
"""

from __future__ import annotations

import asyncio
import io
import subprocess

import numpy as np
import pytest
from PIL import Image

from ..engine.headless.test_render import MARKER_RAS, RAS_PHANTOM, bright_centroid, phantom


def nrrd_of(array: np.ndarray, ijk_to_ras: np.ndarray) -> bytes:
    """A raw little-endian NRRD in RAS space of `array` [k, j, i] (what a script would POST)."""
    directions = " ".join("(" + ",".join(f"{v:g}" for v in ijk_to_ras[:3, c]) + ")" for c in range(3))
    origin = ",".join(f"{v:g}" for v in ijk_to_ras[:3, 3])
    header = (f"NRRD0004\ntype: short\ndimension: 3\nspace: right-anterior-superior\n"
              f"sizes: {array.shape[2]} {array.shape[1]} {array.shape[0]}\nspace directions: {directions}\n"
              f"kinds: domain domain domain\nendian: little\nencoding: raw\nspace origin: ({origin})\n\n")
    return header.encode() + array.astype("<i2").tobytes()


@pytest.fixture
async def client_with_phantom(make_app):
    """The phantom uploaded through `POST /slicer/volume`, as a script would load it."""
    app, _ = make_app()
    client = app.test_client()
    response = await client.post("/slicer/volume?id=Phantom", data=nrrd_of(phantom(), RAS_PHANTOM))
    assert response.status_code == 200, await response.get_data()
    return client


async def png_of(response) -> Image.Image:
    assert response.status_code == 200, await response.get_data()
    assert response.headers["Content-Type"] == "image/png"
    return Image.open(io.BytesIO(await response.get_data()))


async def error_of(response, status: int) -> str:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    body = await response.get_json()
    assert body["success"] is False
    return body["message"]


async def test_slice_shows_the_marker_at_the_offset_and_size_asked(client_with_phantom):
    response = await client_with_phantom.get(
        "/slicer/slice", query_string={"view": "red", "offset": str(MARKER_RAS[2]), "size": "128",
                                       "window": "900", "level": "550"})
    image = await png_of(response)
    assert image.size == (128, 128)
    row, col = bright_centroid(np.asarray(image.convert("L"), dtype=float))
    assert (row, col) == pytest.approx((63.5 - 2 * MARKER_RAS[1], 63.5 - 2 * MARKER_RAS[0]), abs=0.6)
    away = await png_of(await client_with_phantom.get("/slicer/slice?view=red&offset=0&window=900&level=550"))
    assert np.asarray(away.convert("L")).max() == 0  # offset=0 moved the plane off the marker
    wide = await png_of(await client_with_phantom.get("/slicer/slice?view=Yellow&size=300x200&scrollTo=0"))
    assert wide.size == (300, 200)


@pytest.mark.parametrize("query", ["orientation=oblique", "offset=abc", "scrollTo=1.5", "size=0", "size=5000",
                                   "size=12x", "window=-1", "labels=maybe", "interpolation=cubic", "offset=nan"])
async def test_slice_bad_parameters_are_400(client_with_phantom, query):
    message = await error_of(await client_with_phantom.get(f"/slicer/slice?{query}"), 400)
    assert query.split("=")[0] in message


@pytest.mark.parametrize("query", ["view=blue", "copySliceGeometryFrom=purple", "volume=NoSuchVolume",
                                   "id=vtkMRMLScalarVolumeNode7"])
async def test_slice_unknown_view_or_volume_is_404(client_with_phantom, query):
    await error_of(await client_with_phantom.get(f"/slicer/slice?{query}"), 404)


async def test_empty_scene_answers_blank_images(make_app):
    client = make_app()[0].test_client()
    blank = await png_of(await client.get("/slicer/slice?size=64x32"))
    assert blank.size == (64, 32) and np.asarray(blank.convert("L")).max() == 0
    assert (await png_of(await client.get("/slicer/threeD?size=40"))).size == (40, 40)
    assert (await png_of(await client.get("/slicer/screenshot"))).size == (800, 800)
    document = await (await client.get("/slicer/threeDGraphics")).get_json()
    assert document["asset"]["version"] == "2.0"


async def test_three_d_axes_and_bad_axis(client_with_phantom):
    for axis in ("L", "R", "A", "P", "I", "S", "left", "anterior", "inferior"):
        image = await png_of(await client_with_phantom.get(f"/slicer/threeD?lookFromAxis={axis}&size=64"))
        assert image.size == (64, 64)
    await error_of(await client_with_phantom.get("/slicer/threeD?lookFromAxis=x"), 400)
    await error_of(await client_with_phantom.get("/slicer/threeD?rendering=surface"), 400)


async def test_three_d_graphics_format_widget_and_box(client_with_phantom):
    response = await client_with_phantom.get("/slicer/threeDGraphics?format=glTF&boxVisible=true")
    assert response.headers["Content-Type"] == "application/json"
    document = await response.get_json()
    assert "Phantom box" in {node["name"] for node in document["nodes"]}
    await error_of(await client_with_phantom.get("/slicer/threeDGraphics?format=obj"), 400)
    await error_of(await client_with_phantom.get("/slicer/threeDGraphics?widgetIndex=one"), 400)
    await error_of(await client_with_phantom.get("/slicer/threeDGraphics?widgetIndex=3"), 404)


async def test_timeimage_shows_the_time_in_a_border_of_the_colour(make_app):
    client = make_app()[0].test_client()
    first = await png_of(await client.get("/slicer/timeimage"))
    assert first.size == (128, 32) and first.mode == "RGBA"
    assert first.getpixel((1, 1)) == (0x33, 0x33, 0x33, 204)  # default colour 333 at 80%
    await asyncio.sleep(0.03)
    second = await png_of(await client.get("/slicer/timeimage"))
    assert first.tobytes() != second.tobytes()  # the time moved on by at least 1/100 s
    red = await png_of(await client.get("/slicer/timeimage?color=f00"))
    assert red.getpixel((1, 1)) == (255, 0, 0, 204)
    assert {red.getpixel((x, 1))[3] for x in range(128)} == {0, 204}  # dashed: dashes and gaps
    await error_of(await client.get("/slicer/timeimage?color=red"), 400)


async def test_sample_head_is_in_view_after_loading(make_app):
    client = make_app()[0].test_client()
    assert (await client.get("/slicer/sampledata?name=MRHead")).status_code == 200
    axial = np.asarray((await png_of(await client.get("/slicer/slice?view=red&size=256"))).convert("L"))
    # Brain in the middle (the midline itself is grey matter and ventricle), air in the corner.
    assert axial[108:148, 108:148].mean() > 150 and axial[:20, :20].mean() < 20
    threed = np.asarray((await png_of(await client.get("/slicer/threeD?lookFromAxis=A&size=128"))).convert("RGB"))
    assert (threed[64, 64] != threed[2, 64]).any()  # the head, not the background, in the middle


async def test_screenshot_follows_the_gui_layout(make_app):
    client = make_app()[0].test_client()
    assert (await client.put("/slicer/gui?viewersLayout=OneUpRedSlice")).status_code == 200
    shot = (await png_of(await client.get("/slicer/screenshot"))).convert("RGB")
    assert shot.size == (800, 800)
    assert {shot.getpixel((x, 2)) for x in (10, 400, 790)} == {(243, 74, 51)}  # one red view, full width


def test_curl_gets_a_png_from_a_live_server(live_server, tmp_path):
    server = live_server()
    out = tmp_path / "slice.png"
    result = subprocess.run(["curl", "-s", "-o", str(out), "-w", "%{http_code} %{content_type}",
                             f"{server.url}/slicer/slice?view=green&size=64x48&scrollTo=0"],
                            capture_output=True, text=True, timeout=30, check=True)
    assert result.stdout == "200 image/png"
    with Image.open(out) as image:
        assert image.size == (64, 48)
