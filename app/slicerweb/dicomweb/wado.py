"""WADO-RS (PS3.18 §10.4): retrieve study / series / instance, metadata, frames and bulk data.

Instances stream as `multipart/related; type="application/dicom"` straight from the stored files
(one file in memory at a time, large files in chunks), each part labelled with its transfer syntax.
Metadata is the engine's stored DICOM JSON with the public root substituted into BulkDataURIs.
Frames are served as stored when the client accepts that (`transfer-syntax=*`, `type="*/*"`, the
matching image type), else as uncompressed Explicit VR Little Endian, else 406. A frame list holds
each frame once and at most `limits.max_frames_per_request` of them, and the parts stream a batch
of frames at a time, so one request never holds more than a batch (or one large frame).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable

from quart import Blueprint, Response, request

from ..engine import errors as engine_errors
from ..engine.dicom_api import EXPLICIT_VR_LITTLE_ENDIAN, Frame, StoredInstance
from ..errors import BadRequest, NotAcceptable
from ..formats.dicom.transfer import OCTET_STREAM as OCTET
from ..formats.dicom.transfer import frame_media_type, native_transfer_syntax
from ..services import Services
from . import multipart
from .accept import FrameChoice, frame_choices, negotiate_dicom_json, negotiate_instances
from .dicomjson import with_root
from .qido import public_root, xml_response

CHUNK = 1 << 20
WHOLE_FILE = 8 << 20
INLINE_FILE = 1 << 20
BATCH_BYTES = 4 << 20
FRAME_LIST = re.compile(r"^\d+(,\d+)*$")
def pick_frame_syntax(choices: list[FrameChoice], stored: str) -> tuple[str | None, str, str, bool]:
    """(syntax asked of the engine, part media type, part transfer-syntax label, multipart) or 406."""
    native = native_transfer_syntax(stored)
    native_type = frame_media_type(native)
    for choice in choices:
        ts, media = choice.transfer_syntax, choice.media_type
        if media == "*/*":
            if ts in (None, "*", native):
                return "*", native_type, native, choice.multipart
            if ts == EXPLICIT_VR_LITTLE_ENDIAN:
                return ts, OCTET, ts, choice.multipart
        elif media == OCTET:
            if ts in ("*", native):
                return "*", OCTET, native, choice.multipart
            if ts in (None, EXPLICIT_VR_LITTLE_ENDIAN):
                return None, OCTET, EXPLICIT_VR_LITTLE_ENDIAN, choice.multipart
        elif media == native_type and ts in (None, "*", native):
            return "*", media, native, choice.multipart
    raise NotAcceptable(f"no acceptable media type for frames stored as {stored}; accepted: "
                        f'multipart/related; type="{OCTET}" (uncompressed) or type="{native_type}"; '
                        "transfer-syntax=*")


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


async def file_chunks(path: str, size: int) -> AsyncIterator[bytes]:
    """A stored file's bytes: small files read inline (a page-cache read is cheaper than a thread
    hop), mid-sized ones whole in a worker thread, large ones in 1 MiB chunks."""
    if size <= INLINE_FILE:
        yield _read_all(path)
        return
    if size <= WHOLE_FILE:
        yield await asyncio.to_thread(_read_all, path)
        return
    handle = await asyncio.to_thread(open, path, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk
    finally:
        handle.close()


def _read_all(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


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


class RootedDocuments:
    """Remembers the last few (document, public root) substitutions: warm metadata is a lookup."""

    def __init__(self, entries: int = 32) -> None:
        self._items: OrderedDict[tuple[int, str], tuple[bytes, bytes]] = OrderedDict()
        self._entries = entries

    def get(self, document: bytes, root: str) -> bytes:
        key = (id(document), root)
        hit = self._items.get(key)
        if hit is not None and hit[0] is document:
            self._items.move_to_end(key)
            return hit[1]
        value = with_root(document, root)
        self._items[key] = (document, value)
        while len(self._items) > self._entries:
            self._items.popitem(last=False)
        return value


def register(bp: Blueprint, services: Services) -> None:
    """Add the WADO-RS routes to `bp`."""
    dicom = services.engine.dicom
    rooted = RootedDocuments()

    async def send_instances(instances: list[StoredInstance], single: bool) -> Response:
        choice = negotiate_instances(request.headers.get("Accept"), single=single)
        target = choice.transfer_syntax
        if target not in ("*", EXPLICIT_VR_LITTLE_ENDIAN) and any(i.transfer_syntax != target for i in instances):
            raise NotAcceptable(f"cannot convert the stored objects to transfer syntax {target}; "
                                "ask for transfer-syntax=* or 1.2.840.10008.1.2.1")
        if not choice.multipart:
            data = await _converted(instances[0], target)
            return Response(data, content_type=f"application/dicom; transfer-syntax={_label(instances[0], target)}")
        boundary = multipart.new_boundary()

        heads = [multipart.part_head(boundary, f"application/dicom; transfer-syntax={_label(i, target)}")
                 for i in instances]

        async def body() -> AsyncIterator[bytes]:
            # Parts are gathered into writes of about BATCH_BYTES: fewer, larger ASGI messages.
            pending: list[bytes] = []
            size = 0
            for instance, head in zip(instances, heads, strict=True):
                label = _label(instance, target)
                pending.append(head)
                if label == instance.transfer_syntax:
                    async for chunk in file_chunks(instance.path, instance.size):
                        pending.append(chunk)
                        size += len(chunk)
                else:
                    pending.append(await dicom.read_instance(instance, label))
                    size += len(pending[-1])
                pending.append(b"\r\n")
                if size >= BATCH_BYTES:
                    yield b"".join(pending)
                    pending, size = [], 0
            pending.append(multipart.closing(boundary))
            yield b"".join(pending)

        response = Response(body(), content_type=multipart.content_type(boundary, "application/dicom"))
        if target == "*" or all(i.transfer_syntax == target for i in instances):
            # Sizes are known from the index: a Content-Length spares chunked framing.
            response.content_length = (sum(len(h) + i.size + 2 for h, i in zip(heads, instances, strict=True))
                                       + len(multipart.closing(boundary)))
        response.timeout = None  # a large study may take longer than Quart's default response timeout
        return response

    def _label(instance: StoredInstance, target: str) -> str:
        return instance.transfer_syntax if target == "*" else target

    async def _converted(instance: StoredInstance, target: str) -> bytes:
        try:
            return await dicom.read_instance(instance, _label(instance, target))
        except engine_errors.Unsupported as exc:
            raise NotAcceptable(str(exc)) from exc

    @bp.get("/studies/<study>")
    async def retrieve_study(study: str) -> Response:
        return await send_instances(await dicom.retrieve_study(study), single=False)

    @bp.get("/studies/<study>/series/<series>")
    async def retrieve_series(study: str, series: str) -> Response:
        return await send_instances(await dicom.retrieve_series(study, series), single=False)

    @bp.get("/studies/<study>/series/<series>/instances/<sop>")
    async def retrieve_instance(study: str, series: str, sop: str) -> Response:
        return await send_instances([await dicom.retrieve_instance(study, series, sop)], single=True)

    async def send_metadata(document: bytes) -> Response:
        wire = negotiate_dicom_json(request.headers.get("Accept"))
        rooted_document = rooted.get(document, public_root(services))
        if wire == "xml":
            return xml_response(json.loads(rooted_document))
        return Response(rooted_document, content_type="application/dicom+json")

    @bp.get("/studies/<study>/metadata")
    async def retrieve_study_metadata(study: str) -> Response:
        negotiate_dicom_json(request.headers.get("Accept"))
        return await send_metadata(await dicom.retrieve_study_metadata(study))

    @bp.get("/studies/<study>/series/<series>/metadata")
    async def retrieve_series_metadata(study: str, series: str) -> Response:
        negotiate_dicom_json(request.headers.get("Accept"))
        return await send_metadata(await dicom.retrieve_series_metadata(study, series))

    @bp.get("/studies/<study>/series/<series>/instances/<sop>/metadata")
    async def retrieve_instance_metadata(study: str, series: str, sop: str) -> Response:
        negotiate_dicom_json(request.headers.get("Accept"))
        return await send_metadata(await dicom.retrieve_instance_metadata(study, series, sop))

    @bp.get("/studies/<study>/series/<series>/instances/<sop>/frames/<frames>")
    async def retrieve_instance_frames(study: str, series: str, sop: str, frames: str) -> Response:
        numbers = parse_frames(frames, int(services.policy.limits.max_frames_per_request))
        instance = await dicom.retrieve_instance(study, series, sop)
        choices = frame_choices(request.headers.get("Accept"), single=len(numbers) == 1)
        syntax, media, label, as_multipart = pick_frame_syntax(choices, instance.transfer_syntax)
        async def read_frames(wanted: list[int]) -> list[Frame]:
            try:
                return await dicom.retrieve_instance_frames(study, series, sop, wanted, syntax)
            except engine_errors.Unsupported as exc:
                raise NotAcceptable(str(exc)) from exc

        # The first frame and the highest number first: a number out of range is a 404 before any part.
        first = await read_frames(sorted({numbers[0], max(numbers)}, key=numbers.index))
        part_type = f"{media}; transfer-syntax={label}"
        if not as_multipart:
            return Response(first[0].data, content_type=part_type)
        boundary = multipart.new_boundary()
        response = Response(frame_parts(read_frames, numbers, first[0], boundary, part_type),
                            content_type=multipart.content_type(boundary, media, label))
        response.timeout = None  # many large frames may take longer than Quart's default response timeout
        return response

    @bp.get("/studies/<study>/series/<series>/instances/<sop>/bulkdata/<tag>")
    async def retrieve_bulkdata(study: str, series: str, sop: str, tag: str) -> Response:
        if not re.fullmatch(r"[0-9A-Fa-f]{8}", tag):
            raise BadRequest(f"bulk data tag {tag!r} must be 8 hex digits", parameter="tag")
        choices = frame_choices(request.headers.get("Accept"), single=True)
        if not any(c.multipart or c.media_type in (OCTET, "*/*") for c in choices):
            raise NotAcceptable(f'acceptable media types: multipart/related; type="{OCTET}" or {OCTET}')
        data = await dicom.retrieve_bulkdata(study, series, sop, int(tag, 16))
        if not choices[0].multipart:
            return Response(data, content_type=OCTET)
        boundary = multipart.new_boundary()
        return Response(multipart.encode(boundary, [(OCTET, data)]),
                        content_type=multipart.content_type(boundary, OCTET))
