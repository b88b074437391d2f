"""WADO-RS frames and bulk data (PS3.18 §10.4.1.1.5, §10.4.1.1.4).

Frames are served as stored when the client accepts that (`transfer-syntax=*`, `type="*/*"`, the
matching image type), else as uncompressed Explicit VR Little Endian when the stored syntax can be
decoded (`wado_plan.plan_frames`), else 406, all decided before the status line. A frame list holds
each frame once and at most `limits.max_frames_per_request` of them, and the parts stream a batch of
frames at a time, so one request never holds more than a batch (or one large frame).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

from quart import Response, request

from ..engine import errors as engine_errors
from ..engine.dicom_api import Frame
from ..errors import BadRequest, NotAcceptable
from ..formats.dicom.transfer import OCTET_STREAM
from . import multipart
from .accept import frame_choices
from .wado_context import Wado, request_id
from .wado_plan import guarded, plan_frames

BATCH_BYTES = 4 << 20
FRAME_LIST = re.compile(r"^\d+(,\d+)*$")
HEX_TAG = re.compile(r"[0-9A-Fa-f]{8}")


def parse_frames(text: str, limit: int) -> list[int]:
    """'3,1,2' -> [3, 1, 2]: at most `limit` frame numbers >= 1, each listed once (400 otherwise).

    Bounding the list bounds the answer by the instance's own pixel data, whatever the URL repeats.
    """
    if not FRAME_LIST.match(text):
        raise BadRequest(f"frame list {text[:80]!r} must be comma-separated frame numbers >= 1", parameter="frames")
    count = text.count(",") + 1
    if count > limit:
        raise BadRequest(f"{count} frames asked in one request; at most {limit} "
                         f"(limits.max_frames_per_request = {limit})", parameter="frames")
    numbers = [int(n) for n in text.split(",")]
    if min(numbers) < 1:
        raise BadRequest(f"frame list {text[:80]!r} must be comma-separated frame numbers >= 1", parameter="frames")
    seen: set[int] = set()
    for number in numbers:
        if number in seen:
            raise BadRequest(f"frame {number} is listed more than once", parameter="frames")
        seen.add(number)
    return numbers


async def frame_parts(read: Callable[[list[int]], Awaitable[list[Frame]]], numbers: list[int], first: Frame,
                      boundary: str, part_type: str) -> AsyncIterator[bytes]:
    """The multipart body of `numbers`, read and sent about BATCH_BYTES of frames at a time (memory:
    one batch, or one frame when a frame is larger)."""
    yield multipart.part_head(boundary, part_type, content_length=str(len(first.data))) + first.data + b"\r\n"
    batch = max(1, BATCH_BYTES // max(1, len(first.data)))
    rest = numbers[1:]
    for start in range(0, len(rest), batch):
        pieces: list[bytes] = []
        for frame in await read(rest[start:start + batch]):
            pieces += (multipart.part_head(boundary, part_type, content_length=str(len(frame.data))), frame.data,
                       b"\r\n")
        yield b"".join(pieces)
    yield multipart.closing(boundary)


async def retrieve_instance_frames(wado: Wado, study: str, series: str, sop: str, frames: str) -> Response:
    numbers = parse_frames(frames, int(wado.services.policy.limits.max_frames_per_request))
    instance = await wado.dicom.retrieve_instance(study, series, sop)
    plan = plan_frames(frame_choices(request.headers.get("Accept"), single=len(numbers) == 1), instance)

    async def read_frames(wanted: list[int]) -> list[Frame]:
        try:
            return await wado.dicom.retrieve_instance_frames(study, series, sop, wanted, plan.syntax)
        except engine_errors.Unsupported as exc:
            raise NotAcceptable(str(exc), instance=sop, transfer_syntax=instance.transfer_syntax) from exc

    # The first frame and the highest number first: a number out of range is a 404 before any part.
    first = await read_frames(sorted({numbers[0], max(numbers)}, key=numbers.index))
    part_type = f"{plan.media_type}; transfer-syntax={plan.label}"
    if not plan.multipart:
        return Response(first[0].data, content_type=part_type)
    boundary = multipart.new_boundary()
    body = guarded(frame_parts(read_frames, numbers, first[0], boundary, part_type), wado.services.metrics,
                   "frames", request_id())
    response = Response(body, content_type=multipart.content_type(boundary, plan.media_type, plan.label))
    response.timeout = None  # many large frames may take longer than Quart's default response timeout
    return response


async def retrieve_bulkdata(wado: Wado, study: str, series: str, sop: str, tag: str) -> Response:
    if not HEX_TAG.fullmatch(tag):
        raise BadRequest(f"bulk data tag {tag!r} must be 8 hex digits", parameter="tag")
    choice = next((c for c in frame_choices(request.headers.get("Accept"), single=True)
                   if c.multipart or c.media_type in (OCTET_STREAM, "*/*")), None)
    if choice is None:
        raise NotAcceptable(f'acceptable media types: multipart/related; type="{OCTET_STREAM}" or {OCTET_STREAM}')
    data = await wado.dicom.retrieve_bulkdata(study, series, sop, int(tag, 16))  # whole, before the status line
    if not choice.multipart:
        return Response(data, content_type=OCTET_STREAM)
    boundary = multipart.new_boundary()
    return Response(multipart.encode(boundary, [(OCTET_STREAM, data)]),
                    content_type=multipart.content_type(boundary, OCTET_STREAM))
