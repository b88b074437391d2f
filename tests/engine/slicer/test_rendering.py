"""The Slicer engine's view calls, against a thin stand-in of `slicer`/`qt` that records what is called.

What it pins down: the calls the WebServer module makes, on the main thread, in its order, with its
bugs fixed (`offset=0` and `scrollTo=0` reach SetSliceOffset, `size` scales the image) and the
lookFromAxis letters mapped to ctkAxesWidget's numbering (None, R, L, S, I, A, P).
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from slicerweb.engine.errors import NotFound
from slicerweb.engine.render_api import SliceRequest, ThreeDRequest
from slicerweb.engine.slicer import SlicerEngine

from .test_mainthread import main_loop  # noqa: F401  # the stand-in Qt main loop fixture


class Recorder:
    """Any attribute is a method that records (name, args, thread) and returns `returns.get(name)`."""

    def __init__(self, calls: list[tuple], **returns: object) -> None:
        self._calls, self._returns = calls, returns

    def __getattr__(self, name: str):
        def method(*args: object) -> object:
            self._calls.append((name, args, threading.current_thread().name))
            value = self._returns.get(name)
            return value(*args) if callable(value) else value
        return method


class FakeImage:
    def __init__(self, calls: list[tuple], width: int = 640, height: int = 480) -> None:
        self.calls, self.size = calls, (width, height)

    def width(self) -> int:
        return self.size[0]

    def height(self) -> int:
        return self.size[1]

    def scaled(self, width: int, height: int, *_: object) -> FakeImage:
        self.calls.append(("scaled", (width, height), threading.current_thread().name))
        scale = max(width / self.size[0], height / self.size[1])
        return FakeImage(self.calls, round(self.size[0] * scale), round(self.size[1] * scale))

    def copy(self, x: int, y: int, width: int, height: int) -> FakeImage:
        self.calls.append(("copy", (x, y, width, height), threading.current_thread().name))
        return FakeImage(self.calls, width, height)

    def save(self, buffer: SimpleNamespace, fmt: str, quality: int) -> bool:
        buffer.data.payload = f"{fmt} {self.size[0]}x{self.size[1]}".encode()
        return True


class FakeByteArray:
    payload = b""

    def data(self) -> bytes:
        return self.payload


def fake_qt(calls: list[tuple]) -> SimpleNamespace:
    return SimpleNamespace(
        Qt=SimpleNamespace(KeepAspectRatioByExpanding=2, SmoothTransformation=1),
        QIODevice=SimpleNamespace(WriteOnly=2),
        QImage=lambda: FakeImage(calls),
        QByteArray=FakeByteArray,
        QBuffer=lambda data: SimpleNamespace(data=data, open=lambda mode: True, close=lambda: None),
    )


@pytest.fixture
def stand_in(tmp_path, main_loop):  # noqa: F811
    calls: list[tuple] = []
    slice_node = Recorder(calls, GetOrientationString="Axial", GetSliceToRAS=Recorder(calls),
                          GetFieldOfView=(200.0, 150.0, 1.0))
    background = Recorder(calls)

    def bounds(node: object, out: list[float]) -> None:
        out[:] = [-90.0, 90.0, -120.0, 100.0, -70.0, 80.0]

    logic = Recorder(calls, GetSliceNode=slice_node, GetBackgroundLayer=Recorder(calls, GetVolumeNode=background),
                     GetVolumeSliceBounds=bounds, GetBlend=Recorder(calls, GetOutputDataObject="image-data"))
    widgets = {"Red": Recorder(calls, sliceLogic=logic), "Yellow": Recorder(calls, sliceLogic=logic)}
    # Under Qt 6, CTK composites OpenGL widget content separately (CTK Libs/Widgets/ctkWidgetsUtils.cpp ~62-80):
    # QWidget.grab() of the 3D view gives a black 0x0-content image; only the render window has the pixels.
    view = Recorder(calls, grab=SimpleNamespace(toImage=lambda: FakeImage(calls, 1, 1)),
                    renderWindow="render-window")
    layout = SimpleNamespace(sliceWidget=lambda name: widgets.get(name),
                             threeDWidget=lambda index: SimpleNamespace(threeDView=lambda: view))
    window = Recorder(calls, grab=SimpleNamespace(toImage=lambda: FakeImage(calls, 1, 1)))  # GL views black
    slicer = SimpleNamespace(app=Recorder(calls, layoutManager=layout), qMRMLUtils=lambda: Recorder(calls),
                             util=Recorder(calls, mainWindow=window))
    vtk = SimpleNamespace(vtkWindowToImageFilter=lambda: Recorder(calls, GetOutput="window-pixels"))
    # ctk.ctkWidgetsUtils.grabWidget paints every OpenGL view into the grab (CTK ctkWidgetsUtils.cpp ~55-82)
    ctk = SimpleNamespace(ctkWidgetsUtils=SimpleNamespace(grabWidget=lambda widget: FakeImage(calls, 1280, 800)))
    engine = SlicerEngine(slicer, fake_qt(calls), main_loop.dispatcher, tmp_path, vtk=vtk, ctk=ctk)
    return engine, calls


def called(calls: list[tuple], *names: str) -> list[tuple]:
    return [(name, args) for name, args, _ in calls if name in names]


async def test_slice_applies_parameters_in_order_on_the_main_thread(stand_in):
    engine, calls = stand_in
    png = await engine.scene.render_slice(SliceRequest(view="red", copy_geometry_from="yellow",
                                                       orientation="sagittal", scroll_to=0.0, offset=0.0))
    assert png == b"PNG 640x480"
    order = called(calls, "DeepCopy", "SetOrientation", "FitSliceToAll", "SetSliceOffset")
    assert [name for name, _ in order][:1] == ["DeepCopy"]  # the other view's SliceToRAS
    assert order[1:] == [
        ("SetOrientation", ("Sagittal",)),
        ("FitSliceToAll", ()),
        ("SetSliceOffset", (-70.0,)),   # scrollTo=0: the lowest slice bound, not "unset"
        ("SetSliceOffset", (0.0,)),     # offset=0 is a position
    ]
    assert {thread for *_, thread in calls} == {"stand-in-main"}


async def test_slice_same_orientation_keeps_the_view_and_size_scales(stand_in):
    engine, calls = stand_in
    png = await engine.scene.render_slice(SliceRequest(view="Red", orientation="axial", size=(256, 256)))
    assert called(calls, "FitSliceToAll") == []
    # 640x480 grabbed -> 341x256 scaled -> the centre 256x256 cut out
    assert called(calls, "scaled", "copy") == [("scaled", (256, 256)), ("copy", (42, 0, 256, 256))]
    assert png == b"PNG 256x256"


async def test_slice_view_missing_from_the_layout_is_not_found(stand_in):
    engine, _ = stand_in
    with pytest.raises(NotFound):
        await engine.scene.render_slice(SliceRequest(view="green"))


@pytest.mark.parametrize(("axis", "number"), [("R", 1), ("left", 2), ("S", 3), ("i", 4), ("anterior", 5), ("P", 6)])
async def test_three_d_look_from_axis_uses_ctk_numbering(stand_in, axis, number):
    engine, calls = stand_in
    assert await engine.scene.render_threed(ThreeDRequest(look_from_axis=axis)) == b"PNG 640x480"
    assert called(calls, "lookFromAxis", "forceRender") == [("lookFromAxis", (number,)), ("forceRender", ())]


async def test_three_d_reads_the_render_window_as_the_original(stand_in):
    """vtkWindowToImageFilter on the render window, back buffer (SlicerRequestHandler.py ~1071-1075)."""
    engine, calls = stand_in
    await engine.scene.render_threed(ThreeDRequest())
    assert called(calls, "SetInput", "SetReadFrontBuffer", "Update") == [
        ("SetInput", ("render-window",)), ("SetReadFrontBuffer", (0,)), ("Update", ())]
    assert [args[0] for name, args in called(calls, "vtkImageDataToQImage")] == ["window-pixels"]


async def test_screenshot_includes_the_opengl_views(stand_in):
    engine, calls = stand_in
    assert await engine.scene.screenshot() == b"PNG 1280x800"
    assert [name for name, _ in called(calls, "processEvents", "forceRenderAllViews")] == [
        "processEvents", "forceRenderAllViews"]
