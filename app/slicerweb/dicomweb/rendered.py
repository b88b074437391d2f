"""Rendered resources and thumbnails (PS3.18 §10.4.1.1.3, §8.3.5): consumer images from stored pixels.

Query parameters: `viewport=vw,vh[,sx,sy,sw,sh]` (the image is fitted into vw x vh), `window=
center,width[,linear|sigmoid]`, `quality=1..100` (JPEG), `accept=` (overrides the header, as
OHIF's `thumbnailDirect` sends it). A study or series rendering is its representative instance
(the middle slice of its first series). Thumbnails default to a 128x128 viewport.
"""

from __future__ import annotations

from quart import Blueprint, Response, request

from ..engine import errors as engine_errors
from ..engine.dicom_api import DicomService, RenderParams
from ..errors import BadRequest, NotAcceptable
from ..services import Services
from .accept import negotiate_rendered
from .wado_plan import check_renderable

THUMBNAIL_VIEWPORT = (128, 128)
WINDOW_FUNCTIONS = ("linear", "linear_exact", "sigmoid")


def render_params(thumbnail: bool = False) -> RenderParams:
    """Validated rendering parameters from the query string; 400 naming the bad parameter."""
    media_type = negotiate_rendered(request.headers.get("Accept"), request.args.get("accept"))
    viewport = THUMBNAIL_VIEWPORT if thumbnail else None
    text = request.args.get("viewport")
    if text:
        numbers = text.split(",")
        try:
            width, height = int(numbers[0]), int(numbers[1])
        except (ValueError, IndexError):
            raise BadRequest("viewport must be vw,vh[,sx,sy,sw,sh] (integers)", parameter="viewport") from None
        if not (0 < width <= 4096 and 0 < height <= 4096):
            raise BadRequest("viewport sizes must be between 1 and 4096", parameter="viewport")
        viewport = (width, height)
    window = None
    text = request.args.get("window")
    if text:
        pieces = text.split(",")
        try:
            center, width_value = float(pieces[0]), float(pieces[1])
        except (ValueError, IndexError):
            raise BadRequest("window must be center,width[,function]", parameter="window") from None
        function = pieces[2].strip().lower() if len(pieces) > 2 else "linear"
        if function not in WINDOW_FUNCTIONS or width_value <= 0:
            raise BadRequest("window function must be linear or sigmoid and width > 0", parameter="window")
        window = (center, width_value, function)
    quality = 90
    text = request.args.get("quality")
    if text:
        if not text.isdigit() or not 1 <= int(text) <= 100:
            raise BadRequest("quality must be an integer from 1 to 100", parameter="quality")
        quality = int(text)
    return RenderParams(media_type=media_type, quality=quality, viewport=viewport, window=window)


async def rendered(dicom: DicomService, study: str, series: str | None, sop: str | None, frame: int,
                   thumbnail: bool) -> Response:
    """Render one frame of an instance (or of a study's/series' representative instance)."""
    params = render_params(thumbnail)
    if sop is None or series is None:
        instance = await dicom.representative_instance(study, series)
    else:
        instance = await dicom.retrieve_instance(study, series, sop)
    check_renderable(instance)  # before the status line (PS3.18 §8.7.3): 406 when no codec decodes it
    try:
        image = await dicom.retrieve_instance_rendered(study, instance.series_uid, instance.sop_uid, frame, params)
    except engine_errors.Unsupported as exc:  # a codec refused this object's pixels
        raise NotAcceptable(str(exc), instance=instance.sop_uid, transfer_syntax=instance.transfer_syntax) from exc
    return Response(image, content_type=params.media_type)


def first_frame(frames: str) -> int:
    head = frames.split(",")[0]
    if not head.isdigit() or int(head) < 1:
        raise BadRequest(f"frame list {frames!r} must start with a frame number >= 1", parameter="frames")
    return int(head)


def register(bp: Blueprint, services: Services) -> None:
    """Add the rendered and thumbnail routes to `bp`."""
    for suffix, thumbnail in (("rendered", False), ("thumbnail", True)):
        _routes(bp, services.engine.dicom, suffix, thumbnail)


def _routes(bp: Blueprint, dicom: DicomService, suffix: str, thumbnail: bool) -> None:
    async def study_view(study: str) -> Response:
        return await rendered(dicom, study, None, None, 1, thumbnail)

    async def series_view(study: str, series: str) -> Response:
        return await rendered(dicom, study, series, None, 1, thumbnail)

    async def instance_view(study: str, series: str, sop: str) -> Response:
        return await rendered(dicom, study, series, sop, 1, thumbnail)

    async def frames_view(study: str, series: str, sop: str, frames: str) -> Response:
        return await rendered(dicom, study, series, sop, first_frame(frames), thumbnail)

    bp.add_url_rule(f"/studies/<study>/{suffix}", f"retrieve_study_{suffix}", study_view)
    bp.add_url_rule(f"/studies/<study>/series/<series>/{suffix}", f"retrieve_series_{suffix}", series_view)
    bp.add_url_rule(f"/studies/<study>/series/<series>/instances/<sop>/{suffix}", f"retrieve_instance_{suffix}",
                    instance_view)
    bp.add_url_rule(f"/studies/<study>/series/<series>/instances/<sop>/frames/<frames>/{suffix}",
                    f"retrieve_frames_{suffix}", frames_view)
