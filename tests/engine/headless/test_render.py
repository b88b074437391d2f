"""The headless views show what Slicer would: geometry a user would check by eye.

Phantom: 64^3 voxels of 1 mm, centred on RAS (0, 0, 0), so voxel (i, j, k) has its centre at RAS
(i - 31.5, j - 31.5, k - 31.5). A 128-pixel view fitted to it has 0.5 mm pixels, and the pixel whose
centre is at in-plane (x, y) mm from the view centre is (column 63.5 + 2x, row 63.5 - 2y).
Slicer's conventions: axial shows patient right on screen left and anterior up; sagittal shows
anterior on the left and superior up; coronal shows patient right on the left and superior up.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from slicerweb.engine.errors import Invalid, NotFound
from slicerweb.engine.headless.overlays import direction_letter
from slicerweb.engine.headless.render import HeadlessViews
from slicerweb.engine.render_api import SliceRequest, ThreeDRequest
from slicerweb.engine.scene_api import (
    ControlPoint,
    GuiState,
    MarkupsData,
    ModelData,
    RenderInputs,
    Segment,
    SegmentationData,
    VolumeData,
)

MARKER_IJK = (41, 51, 16)                 # voxel centre at RAS (9.5, 19.5, -15.5)
MARKER_RAS = (9.5, 19.5, -15.5)
RAS_PHANTOM = np.array([[1.0, 0, 0, -31.5], [0, 1, 0, -31.5], [0, 0, 1, -31.5], [0, 0, 0, 1]])


def phantom(marker: bool = True, ramp: bool = False) -> np.ndarray:
    """[k, j, i] int16: background 100 (ramp: 100 * k), the marker voxel 1000."""
    k = np.arange(64, dtype=np.int16)[:, None, None]
    array = np.broadcast_to(100 * k if ramp else np.int16(100), (64, 64, 64)).astype(np.int16)
    if marker:
        i, j, kk = MARKER_IJK
        array[kk, j, i] = 1000
    return array


def scene(*volumes: VolumeData, markups: tuple[MarkupsData, ...] = (), models: tuple[ModelData, ...] = (),
          layout: str = "FourUp") -> RenderInputs:
    return RenderInputs(volumes[0] if volumes else None, volumes, markups, models, (), GuiState(layout=layout))


def volume(array: np.ndarray | None = None, ijk_to_ras: np.ndarray = RAS_PHANTOM, name: str = "Phantom",
           node_id: str = "vtkMRMLScalarVolumeNode1") -> VolumeData:
    return VolumeData(node_id, name, phantom() if array is None else array, ijk_to_ras)


def grey(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return np.asarray(image.convert("L"), dtype=float)


def bright_centroid(pixels: np.ndarray, threshold: float | None = None) -> tuple[float, float]:
    """Centroid of the pixels brighter than `threshold` (default: half the brightest)."""
    rows, cols = np.nonzero(pixels > (pixels.max() / 2 if threshold is None else threshold))
    assert len(rows), "the marker is not in the image"
    return float(rows.mean()), float(cols.mean())


def render(views: HeadlessViews, inputs: RenderInputs, **kwargs: object) -> np.ndarray:
    kwargs.setdefault("size", (128, 128))
    kwargs.setdefault("window", 900.0)
    kwargs.setdefault("level", 550.0)  # background 100 -> black, marker 1000 -> white
    return grey(views.slice_png(SliceRequest(**kwargs), inputs))  # type: ignore[arg-type]


# Expected marker pixel (row, column) per view, from the conventions in the module docstring.
EXPECTED = {
    # axial: x = -R, y = A
    ("red", MARKER_RAS[2]): (63.5 - 2 * 19.5, 63.5 - 2 * 9.5),
    # sagittal: x = -A (posterior to the right), y = S
    ("yellow", MARKER_RAS[0]): (63.5 + 2 * 15.5, 63.5 - 2 * 19.5),
    # coronal: x = -R, y = S
    ("green", MARKER_RAS[1]): (63.5 + 2 * 15.5, 63.5 - 2 * 9.5),
}


@pytest.mark.parametrize(("view", "offset"), list(EXPECTED))
@pytest.mark.parametrize("interpolation", ["linear", "nearest"])
def test_marker_appears_where_slicer_shows_it(view, offset, interpolation):
    pixels = render(HeadlessViews(), scene(volume()), view=view, offset=offset, interpolation=interpolation)
    row, col = bright_centroid(pixels)
    assert (row, col) == pytest.approx(EXPECTED[(view, offset)], abs=0.6)


def test_offset_moves_the_plane_by_millimetres():
    views, inputs = HeadlessViews(), scene(volume(phantom(marker=False, ramp=True)))
    # value 100 * k with k = S + 31.5; window 0..6400 maps 100 per mm of S to ~4 grey levels
    def centre_value(**kwargs: object) -> float:
        return render(views, inputs, window=6400.0, level=3200.0, **kwargs)[64, 64]

    expected = {s: 255 * 100 * (s + 31.5) / 6400 for s in (-20.0, 0.0, 7.25, 30.0)}
    for s, value in expected.items():
        assert centre_value(offset=s) == pytest.approx(value, abs=1.5)
    centre_value(offset=12.0)
    assert centre_value(offset=0.0) == pytest.approx(expected[0.0], abs=1.5)  # 0 is a position, not "unset"
    assert centre_value() == pytest.approx(expected[0.0], abs=1.5)  # the view keeps its position


def test_scroll_to_spans_the_voxel_centres_and_zero_is_honoured():
    views, inputs = HeadlessViews(), scene(volume(phantom(marker=False, ramp=True)))
    kwargs = {"window": 6400.0, "level": 3200.0, "view": "green", "orientation": "axial"}
    render(views, inputs, scroll_to=0.7, **kwargs)
    assert render(views, inputs, scroll_to=0.0, **kwargs)[64, 64] == pytest.approx(0, abs=1)       # k = 0
    assert render(views, inputs, scroll_to=1.0, **kwargs)[64, 64] == pytest.approx(255 * 6300 / 6400, abs=1.5)
    assert render(views, inputs, scroll_to=0.5, **kwargs)[64, 64] == pytest.approx(255 * 3150 / 6400, abs=1.5)


def test_size_is_honoured_and_keeps_the_volume_in_view():
    views, inputs = HeadlessViews(), scene(volume())
    for width, height in ((100, 60), (37, 300), (512, 512)):
        pixels = render(views, inputs, size=(width, height), window=2.0, level=1.0, offset=0.0)
        assert pixels.shape == (height, width)
        rows, cols = np.nonzero(pixels > 128)  # the whole 64 mm square is visible and centred
        assert rows.min() > 0 or cols.min() > 0
        assert (rows.mean(), cols.mean()) == pytest.approx(((height - 1) / 2, (width - 1) / 2), abs=1)


def test_lps_volume_shows_the_same_anatomy():
    # The same voxels stored LPS-first (i runs to patient Left, j to Posterior), as NRRD files often are.
    lps_array = phantom()[:, ::-1, ::-1].copy()
    lps_matrix = np.array([[-1.0, 0, 0, 31.5], [0, -1, 0, 31.5], [0, 0, 1, -31.5], [0, 0, 0, 1]])
    for view, offset in EXPECTED:
        ras = render(HeadlessViews(), scene(volume()), view=view, offset=offset)
        lps = render(HeadlessViews(), scene(volume(lps_array, lps_matrix)), view=view, offset=offset)
        np.testing.assert_array_equal(ras, lps)


def test_oblique_volume_is_resliced_in_physical_space():
    # Volume rotated 30 degrees about S around its centre: the marker moves in RAS accordingly.
    angle = np.radians(30)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    matrix[:3, 3] = rotation @ np.array([-31.5, -31.5, -31.5])
    marker = rotation @ np.array(MARKER_RAS)
    pixels = render(HeadlessViews(), scene(volume(phantom(), matrix)), view="red", offset=float(marker[2]))
    # the rotated 64 mm square spans 64 * (cos 30 + sin 30) mm along R and A: that fills 128 pixels
    spacing = 64 * (np.cos(angle) + np.sin(angle)) / 128
    row, col = bright_centroid(pixels)
    assert (row, col) == pytest.approx((63.5 - marker[1] / spacing, 63.5 - marker[0] / spacing), abs=1.0)


def test_orientation_persists_refits_and_copy_slice_geometry():
    views, inputs = HeadlessViews(), scene(volume())
    yellow = render(views, inputs, view="yellow", offset=MARKER_RAS[0])
    red_as_sagittal = render(views, inputs, view="red", orientation="Sagittal", offset=MARKER_RAS[0])
    np.testing.assert_array_equal(red_as_sagittal, yellow)
    np.testing.assert_array_equal(render(views, inputs, view="red"), yellow)  # the view remembers
    green_copy = render(views, inputs, view="green", copy_geometry_from="yellow")
    np.testing.assert_array_equal(green_copy, yellow)


def test_unknown_view_volume_and_orientation_are_refused():
    views, inputs = HeadlessViews(), scene(volume())
    with pytest.raises(NotFound):
        views.slice_png(SliceRequest(view="blue"), inputs)
    with pytest.raises(NotFound):
        views.slice_png(SliceRequest(volume="vtkMRMLScalarVolumeNode9"), inputs)
    with pytest.raises(NotFound):
        views.slice_png(SliceRequest(copy_geometry_from="purple"), inputs)
    with pytest.raises(Invalid):
        views.slice_png(SliceRequest(orientation="oblique"), inputs)


def test_volume_chosen_by_name_and_empty_scene_is_black():
    bright = volume(np.full((4, 4, 4), 500, np.int16), np.eye(4), "Bright", "vtkMRMLScalarVolumeNode2")
    inputs = scene(volume(), bright)
    pixels = render(HeadlessViews(), inputs, volume="Bright", window=100.0, level=0.0)
    assert pixels.min() == 255  # the 4 mm cube fills the fitted view
    empty = render(HeadlessViews(), scene(), size=(30, 20))
    assert empty.shape == (20, 30) and empty.max() == 0


def test_segments_are_overlaid_in_their_colour_where_they_are():
    labelmap = np.zeros((64, 64, 64), np.uint8)
    labelmap[40:50, 40:50, 10:20] = 3  # voxels reach S 8..18, A 8..18, R -22..-12
    segmentation = SegmentationData("vtkMRMLSegmentationNode1", "Seg", labelmap, RAS_PHANTOM,
                                    (Segment("Segment_1", "Tumour", (0.0, 1.0, 0.0), 3),))
    inputs = RenderInputs(volume(), (volume(),), (), (), (segmentation,))
    png = HeadlessViews().slice_png(SliceRequest(offset=12.5, size=(128, 128), window=900.0, level=550.0), inputs)
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)
    green = np.nonzero((rgb[..., 1] > 100) & (rgb[..., 0] < 30))
    # axial: R -22..-12 is on the screen right: pixel centres 63.5 + 2 * (12..22) -> columns 88..107;
    # A 8..18 is up: 63.5 - 2 * (8..18) -> rows 28..47
    assert (green[1].min(), green[1].max()) == (88, 107)
    assert (green[0].min(), green[0].max()) == (28, 47)
    assert tuple(rgb[5, 5]) == (0, 0, 0)


def test_control_points_show_in_the_slice_that_contains_them():
    points = (ControlPoint("F-1", MARKER_RAS),)
    markups = (MarkupsData("vtkMRMLMarkupsFiducialNode1", "F", (0.0, 1.0, 0.0), 1.0, points),)
    inputs = scene(volume(phantom(marker=False)), markups=markups)
    views = HeadlessViews()

    def green_pixels(offset: float) -> tuple[np.ndarray, np.ndarray]:
        png = views.slice_png(SliceRequest(offset=offset, size=(128, 128), window=900.0, level=550.0), inputs)
        rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)
        return np.nonzero((rgb[..., 1] > 200) & (rgb[..., 0] < 50))

    rows, cols = green_pixels(MARKER_RAS[2] + 0.4)
    assert (rows.mean(), cols.mean()) == pytest.approx(EXPECTED[("red", MARKER_RAS[2])], abs=0.6)
    assert len(green_pixels(MARKER_RAS[2] + 2.0)[0]) == 0  # two slices away: not shown


def test_a_newly_active_volume_replaces_the_shown_one_until_another_is_asked_for():
    dark = volume(np.zeros((4, 4, 4), np.int16), np.eye(4), "Dark", "vtkMRMLScalarVolumeNode1")
    bright = volume(np.full((4, 4, 4), 500, np.int16), np.eye(4), "Bright", "vtkMRMLScalarVolumeNode2")
    views = HeadlessViews()

    def mean(inputs: RenderInputs, **kwargs: object) -> float:
        return float(render(views, inputs, window=100.0, level=50.0, **kwargs).mean())

    assert mean(RenderInputs(dark, (dark,), (), (), ())) == 0
    loaded = RenderInputs(bright, (dark, bright), (), (), ())  # loading Bright made it the active volume
    assert mean(loaded) == 255
    assert mean(loaded, volume="Dark") == 0
    assert mean(loaded) == 0  # the view keeps showing what it was asked to show


def test_orientation_labels_name_patient_directions():
    assert [direction_letter(np.array(v)) for v in ((1, 0, 0), (-0.9, 0.3, 0), (0, -1, 0.2), (0.1, 0, -1))] == \
        ["R", "L", "P", "I"]
    views, inputs = HeadlessViews(), scene(volume(phantom(marker=False)))
    plain = render(views, inputs, size=(200, 200))
    labelled = render(views, inputs, size=(200, 200), labels=True)
    assert (labelled[:, :20] != plain[:, :20]).any()   # R at the left edge of an axial view
    assert (labelled[90:110, 20:180] == plain[90:110, 20:180]).all()  # the anatomy is untouched


def test_three_d_looks_from_the_named_axis():
    marker_only = phantom()
    marker_only[marker_only < 1000] = 0
    inputs = scene(volume(marker_only))
    views = HeadlessViews()
    for axis, right_of_centre, below_centre in (("A", False, True), ("left", False, True), ("S", True, False),
                                                ("P", True, True), ("inferior", False, False)):
        image = np.asarray(Image.open(io.BytesIO(views.threed_png(
            ThreeDRequest(look_from_axis=axis, size=(200, 200)), inputs))).convert("L"), dtype=float)
        row, col = bright_centroid(image, threshold=240)
        # A: R=9.5 is screen left, S=-15.5 below; L: A=19.5 to the left; S: R right, A up;
        # P: R to the right; I: R left, A up.
        assert (col > 100) == right_of_centre, axis
        assert (row > 100) == below_centre, axis


def test_three_d_draws_markups_in_their_colour_and_empty_scene_is_background():
    points = (ControlPoint("F-1", (-20.0, 0.0, 20.0)),)
    markups = (MarkupsData("vtkMRMLMarkupsFiducialNode1", "F", (0.0, 1.0, 0.0), 1.0, points),)
    image = np.asarray(Image.open(io.BytesIO(HeadlessViews().threed_png(
        ThreeDRequest(look_from_axis="A", size=(200, 200)), scene(volume(), markups=markups)))))
    green = np.nonzero((image[..., 1] > 200) & (image[..., 0] < 50) & (image[..., 2] < 50))
    assert len(green[0])
    assert green[1].mean() > 100 and green[0].mean() < 100  # patient left = screen right, superior up
    empty = Image.open(io.BytesIO(HeadlessViews().threed_png(ThreeDRequest(size=(50, 40)), scene())))
    assert empty.size == (50, 40)


def test_screenshot_follows_the_recorded_layout():
    inputs = scene(volume())
    four_up = Image.open(io.BytesIO(HeadlessViews().screenshot_png(inputs))).convert("RGB")
    assert four_up.size == (800, 800)
    assert four_up.getpixel((600, 2)) == (243, 74, 51)  # the red view's bar, top right
    conventional = Image.open(io.BytesIO(HeadlessViews().screenshot_png(scene(volume(), layout="Conventional"))))
    assert conventional.size == (1200, 1200)


def test_gltf_exports_models_markups_and_boxes():
    points = (ControlPoint("F-1", (1.0, 2.0, 3.0)), ControlPoint("F-2", (4.0, 5.0, 6.0), visible=False))
    markups = (MarkupsData("vtkMRMLMarkupsFiducialNode1", "F", (1.0, 0.5, 0.5), 1.0, points),)
    tetra = ModelData("vtkMRMLModelNode1", "Tetra", np.array([[0.0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10]]),
                      np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], dtype=np.int32), (0.2, 0.4, 0.6))
    views = HeadlessViews()
    document = views.gltf(scene(volume(), markups=markups, models=(tetra,)), 0, True)
    assert document["asset"]["version"] == "2.0"
    nodes = {node["name"]: node for node in document["nodes"]}
    assert nodes["F-1"]["translation"] == [1.0, 2.0, 3.0] and "F-2" not in nodes
    assert {"Tetra", "Phantom box"} <= set(nodes)
    buffer = document["buffers"][0]
    assert len(base64.b64decode(buffer["uri"].split(",", 1)[1])) == buffer["byteLength"]
    tetra_mesh = document["meshes"][nodes["Tetra"]["mesh"]]["primitives"][0]
    position = document["accessors"][tetra_mesh["attributes"]["POSITION"]]
    assert position["count"] == 4 and position["max"] == [10.0, 10.0, 10.0]
    assert "NORMAL" in tetra_mesh["attributes"]
    without_box = views.gltf(scene(volume(), markups=markups, models=(tetra,)), 0, False)
    assert "Phantom box" not in {node["name"] for node in without_box["nodes"]}
    with pytest.raises(NotFound):
        views.gltf(scene(), 1, False)
