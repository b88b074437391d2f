"""RenderService mapped onto Slicer's views (`slicer.app.layoutManager()`), as the WebServer module does.

The same calls as the original handlers, with its documented-but-ignored parameters honoured:
- slice: the slice logic's blend output (background/foreground/label layers, no annotations),
  after copySliceGeometryFrom, orientation (FitSliceToAll on a change), scrollTo over
  GetVolumeSliceBounds of the background volume, and SetSliceOffset; `0` is a value, not "unset".
  `size` scales the image (smooth, aspect kept, centre-cropped to exactly the size asked for).
  `window`/`level` set the background volume's display node (as the Volumes module would; they
  persist). `labels` and `interpolation` are headless-only and ignored here.
- threeD: ctkVTKRenderView.lookFromAxis on 3D widget 0, then the render window read through
  vtkWindowToImageFilter (back buffer) as the original did: under Qt 6, CTK composites OpenGL content
  separately (CTK Libs/Widgets/ctkWidgetsUtils.cpp ~62-80), so `QWidget.grab()` of a 3D view can be black.
- screenshot: the main window after all views are rendered, through ctk.ctkWidgetsUtils.grabWidget, which
  paints each OpenGL view's framebuffer into the grab (CTK Libs/Widgets/ctkWidgetsUtils.cpp ~55-82; Slicer
  grabs its main window so in DICOMLib/DICOMExportScene.py ~96); a plain grab() leaves 3D views black.
- threeDGraphics: vtkGLTFExporter on the 3D widget's render window (inline data, normals), the
  view box shown only during the export when asked.

Every call runs on the Qt main thread through `MainThreadDispatcher`. `qt` and `vtk` are the modules
of the running Slicer, passed in by `SlicerEngine` (they exist only inside Slicer).
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

from ..errors import NotFound, Unsupported
from ..render_api import SLICE_VIEWS, SliceRequest, ThreeDRequest
from .mainthread import Dispatcher

# ctkAxesWidget::Axis values, in the original's order: None, Right, Left, Superior, Inferior, Anterior, Posterior.
AXES = ("none", "r", "l", "s", "i", "a", "p")
PNG_QUALITY = 90  # Qt's PNG "quality" is inverse zlib effort: 90 ~ zlib level 1 (fast, interactive)


class SlicerRendering:
    """The RenderService half of SlicerScene."""

    _slicer: ModuleType
    _main: Dispatcher
    _qt: ModuleType | None
    _vtk: ModuleType | None
    _ctk: ModuleType | None

    # --- helpers (main thread) -------------------------------------------------------------------

    def _slice_widget(self, view: str) -> Any:
        if view.lower() not in SLICE_VIEWS:
            raise NotFound(f"no slice view {view!r} (views: {', '.join(SLICE_VIEWS)})")
        widget = self._slicer.app.layoutManager().sliceWidget(view.capitalize())
        if widget is None:
            raise NotFound(f"slice view {view!r} is not in the current layout")
        return widget

    def _png(self, image: Any, size: tuple[int, int] | None) -> bytes:
        """PNG bytes of a QImage, scaled to `size` (aspect kept, centre-cropped) when given."""
        qt = self._require("qt", self._qt)
        if size is not None:
            width, height = size
            scaled = image.scaled(width, height, qt.Qt.KeepAspectRatioByExpanding, qt.Qt.SmoothTransformation)
            image = scaled.copy((scaled.width() - width) // 2, (scaled.height() - height) // 2, width, height)
        data = qt.QByteArray()
        buffer = qt.QBuffer(data)
        buffer.open(qt.QIODevice.WriteOnly)
        image.save(buffer, "PNG", PNG_QUALITY)
        buffer.close()
        return bytes(data.data())

    @staticmethod
    def _require(name: str, module: ModuleType | None) -> ModuleType:
        if module is None:
            raise Unsupported(f"this Slicer engine was started without the {name} module")
        return module

    # --- slice ------------------------------------------------------------------------------------

    def _render_slice(self, request: SliceRequest) -> bytes:
        slicer, qt = self._slicer, self._require("qt", self._qt)
        logic = self._slice_widget(request.view).sliceLogic()
        slice_node = logic.GetSliceNode()
        if request.volume is not None:
            volume = slicer.mrmlScene.GetNodeByID(request.volume) or slicer.mrmlScene.GetFirstNodeByName(request.volume)
            if volume is None or not volume.IsA("vtkMRMLScalarVolumeNode"):
                raise NotFound(f"no volume with id or name {request.volume!r}")
            logic.GetSliceCompositeNode().SetBackgroundVolumeID(volume.GetID())
        if request.copy_geometry_from is not None:
            other = self._slice_widget(request.copy_geometry_from).sliceLogic().GetSliceNode()
            # technique of vtkMRMLSliceLinkLogic, as the original
            slice_node.GetSliceToRAS().DeepCopy(other.GetSliceToRAS())
            fov, other_fov = slice_node.GetFieldOfView(), other.GetFieldOfView()
            slice_node.SetFieldOfView(other_fov[0], other_fov[0] * fov[1] / fov[0], fov[2])
            slice_node.UpdateMatrices()
        if request.orientation is not None:
            previous = slice_node.GetOrientationString().lower()
            slice_node.SetOrientation(request.orientation.capitalize())
            if request.orientation.lower() != previous:
                logic.FitSliceToAll()
        background = logic.GetBackgroundLayer().GetVolumeNode()
        if request.scroll_to is not None and background is not None:
            bounds = [0.0] * 6
            logic.GetVolumeSliceBounds(background, bounds)
            logic.SetSliceOffset(bounds[4] + request.scroll_to * (bounds[5] - bounds[4]))
        if request.offset is not None:
            logic.SetSliceOffset(request.offset)
        if background is not None and (request.window is not None or request.level is not None):
            display = background.GetDisplayNode()
            display.SetAutoWindowLevel(False)
            display.SetWindowLevel(request.window if request.window is not None else display.GetWindow(),
                                   request.level if request.level is not None else display.GetLevel())
        logic.GetBlend().Update(0)
        image_data = logic.GetBlend().GetOutputDataObject(0)
        image = qt.QImage()
        slicer.qMRMLUtils().vtkImageDataToQImage(image_data, image)
        return self._png(image, request.size)

    async def render_slice(self, request: SliceRequest) -> bytes:
        return await self._main.call(self._render_slice, request)

    # --- 3D view, screenshot, glTF ------------------------------------------------------------------

    def _render_threed(self, request: ThreeDRequest) -> bytes:
        view = self._slicer.app.layoutManager().threeDWidget(0).threeDView()
        if request.look_from_axis is not None:
            view.lookFromAxis(AXES.index(request.look_from_axis.strip()[:1].lower()))
        view.forceRender()
        # SlicerRequestHandler.threeD (~1071-1075): vtkWindowToImageFilter on the render window, back buffer.
        capture = self._require("vtk", self._vtk).vtkWindowToImageFilter()
        capture.SetInput(view.renderWindow())
        capture.SetReadFrontBuffer(0)
        capture.Update()
        image = self._require("qt", self._qt).QImage()
        self._slicer.qMRMLUtils().vtkImageDataToQImage(capture.GetOutput(), image)
        return self._png(image, request.size)

    async def render_threed(self, request: ThreeDRequest) -> bytes:
        return await self._main.call(self._render_threed, request)

    def _screenshot(self) -> bytes:
        self._slicer.app.processEvents()
        self._slicer.util.forceRenderAllViews()
        window = self._slicer.util.mainWindow()
        if self._ctk is not None:
            return self._png(self._ctk.ctkWidgetsUtils.grabWidget(window), None)
        return self._png(window.grab().toImage(), None)

    async def screenshot(self) -> bytes:
        return await self._main.call(self._screenshot)

    def _export_gltf(self, widget_index: int, box_visible: bool) -> dict[str, Any]:
        vtk = self._require("vtk", self._vtk)
        layout_manager = self._slicer.app.layoutManager()
        if not 0 <= widget_index < layout_manager.threeDViewCount:
            raise NotFound(f"no 3D view {widget_index}")
        widget = layout_manager.threeDWidget(widget_index)
        view_node = widget.mrmlViewNode()
        box_was_visible = view_node.GetBoxVisible()
        view_node.SetBoxVisible(box_visible)
        try:
            exporter = vtk.vtkGLTFExporter()
            exporter.SetInlineData(True)
            exporter.SetSaveNormal(True)
            exporter.SetRenderWindow(widget.threeDView().renderWindow())
            document: dict[str, Any] = json.loads(exporter.WriteToString())
        finally:
            view_node.SetBoxVisible(box_was_visible)
        return document

    async def export_gltf(self, widget_index: int = 0, box_visible: bool = False) -> dict[str, Any]:
        return await self._main.call(self._export_gltf, widget_index, box_visible)
