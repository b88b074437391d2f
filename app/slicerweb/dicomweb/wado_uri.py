"""WADO-URI (PS3.18 §9): `GET /dicom?requestType=WADO&studyUID=..&seriesUID=..&objectUID=..`.

- `requestType=WADO`: `contentType` chooses the answer: `application/dicom` (Part-10; `transferSyntax`
  defaults to Explicit VR Little Endian, `*` = as stored, anything else we cannot produce -> 406),
  or a rendered `image/jpeg` (the default, §9.3) / `image/png` with `rows`, `columns`,
  `windowCenter`, `windowWidth`, `imageQuality` and `frameNumber`. The Accept header is ignored
  (OHIF sends a WADO-RS frames Accept on these requests).
- The Slicer WebServer shorthand `/dicom?object=<uid>` (and `objectUID` without `requestType`)
  answers the stored Part-10 file as `application/dicom`, as the original module did.
"""

from __future__ import annotations

from quart import Blueprint, Response, request

from ..engine import errors as engine_errors
from ..engine.dicom_api import EXPLICIT_VR_LITTLE_ENDIAN, DicomService, RenderParams, StoredInstance
from ..errors import BadRequest, NotAcceptable
from ..formats.dicom.transfer import can_convert
from ..services import Services
from .wado_plan import check_renderable

RENDERED_TYPES = ("image/jpeg", "image/png")


def _positive(name: str, maximum: int) -> int | None:
    text = request.args.get(name)
    if text is None or text == "":
        return None
    if not text.isdigit() or not 1 <= int(text) <= maximum:
        raise BadRequest(f"{name} must be an integer from 1 to {maximum}", parameter=name)
    return int(text)


def _number(name: str) -> float | None:
    text = request.args.get(name)
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise BadRequest(f"{name} must be a number", parameter=name) from None


def register(bp: Blueprint, services: Services) -> None:
    """Add the WADO-URI route (`GET /dicom`) to `bp`."""
    dicom = services.engine.dicom

    @bp.get("")
    async def retrieve_wado_uri() -> Response:
        args = request.args
        request_type = args.get("requestType")
        sop = args.get("objectUID") or args.get("object")
        if request_type is not None and request_type != "WADO":
            raise BadRequest("requestType must be WADO", parameter="requestType")
        if not sop:
            raise BadRequest("objectUID is required (or the shorthand object=<SOP Instance UID>)",
                             parameter="objectUID")
        instance = await dicom.locate_instance(sop)
        for name, value in (("studyUID", instance.study_uid), ("seriesUID", instance.series_uid)):
            if args.get(name) and args[name] != value:
                raise engine_errors.NotFound(f"instance {sop} is not in {name} {args[name]}")
        if request_type is None:
            return Response(await dicom.read_instance(instance, "*"), content_type="application/dicom")
        wanted = [t.split(";")[0].strip().lower() for t in args.get("contentType", "image/jpeg").split(",")]
        for content_type in wanted:
            if content_type == "application/dicom":
                syntax = args.get("transferSyntax") or EXPLICIT_VR_LITTLE_ENDIAN
                # PS3.18 §9.4.2.4: an unsupported transfer syntax is a 406, decided before reading the file
                if syntax != "*" and not can_convert(instance.transfer_syntax, syntax):
                    raise NotAcceptable(f"instance {sop} is stored as {instance.transfer_syntax} and cannot be "
                                        f"converted to {syntax}", instance=sop,
                                        transfer_syntax=instance.transfer_syntax)
                try:
                    data = await dicom.read_instance(instance, syntax)
                except engine_errors.Unsupported as exc:
                    raise NotAcceptable(str(exc), instance=sop, transfer_syntax=instance.transfer_syntax) from exc
                return Response(data, content_type="application/dicom")
            if content_type in RENDERED_TYPES or content_type in ("image/*", "*/*"):
                media = "image/png" if content_type == "image/png" else "image/jpeg"
                return await _rendered(dicom, instance, media)
        raise NotAcceptable("contentType must be application/dicom, image/jpeg or image/png")


async def _rendered(dicom: DicomService, instance: StoredInstance, media: str) -> Response:
    rows, columns = _positive("rows", 4096), _positive("columns", 4096)
    viewport = None
    if rows or columns:
        viewport = (columns or rows or 1, rows or columns or 1)
    center, width = _number("windowCenter"), _number("windowWidth")
    if (center is None) != (width is None) or (width is not None and width <= 0):
        raise BadRequest("windowCenter and windowWidth go together (width > 0)", parameter="windowWidth")
    window = (center, width, "linear") if center is not None and width is not None else None
    quality = _positive("imageQuality", 100) or 90
    frame = _positive("frameNumber", 1 << 20) or 1
    params = RenderParams(media_type=media, quality=quality, viewport=viewport, window=window)
    check_renderable(instance)
    try:
        image = await dicom.retrieve_instance_rendered(instance.study_uid, instance.series_uid, instance.sop_uid,
                                                       frame, params)
    except engine_errors.Unsupported as exc:  # a codec refused this object's pixels: 406, not 415
        raise NotAcceptable(str(exc), instance=instance.sop_uid, transfer_syntax=instance.transfer_syntax) from exc
    return Response(image, content_type=media)
