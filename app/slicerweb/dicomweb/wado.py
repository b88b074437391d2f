"""WADO-RS (PS3.18 §10.4): retrieve study / series / instance and metadata; the WADO-RS route table.

Instances stream as `multipart/related; type="application/dicom"` straight from the stored files
(one file in memory at a time, large files in chunks), each part labelled with its transfer syntax,
which `wado_plan.plan_instances` chose for every part before the status line (406 otherwise).
Metadata is the engine's stored DICOM JSON with the public root substituted into BulkDataURIs.
Frames and bulk data: `wado_frames`. Rendered and thumbnails: `rendered`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from quart import Blueprint, Response, request

from ..engine import errors as engine_errors
from ..engine.dicom_api import StoredInstance
from ..errors import NotAcceptable
from ..services import Services
from . import multipart
from .accept import instance_choices, negotiate_dicom_json
from .compression import text_answer
from .qido import public_root, xml_response
from .wado_context import Wado, request_id
from .wado_frames import retrieve_bulkdata, retrieve_instance_frames
from .wado_plan import InstancePlan, guarded, plan_instances

CHUNK = 1 << 20
WHOLE_FILE = 8 << 20
INLINE_FILE = 1 << 20
BATCH_BYTES = 4 << 20
DIRECT_BYTES = 256 << 10
INSTANCE = "/studies/<study>/series/<series>/instances/<sop>"


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


async def instance_parts(wado: Wado, instances: Sequence[StoredInstance], plan: InstancePlan,
                         heads: Sequence[bytes], boundary: str,
                         converted: dict[int, bytes] | None = None) -> AsyncIterator[bytes]:
    """The multipart body; `converted` holds parts already converted (by position).

    A piece of DIRECT_BYTES or more (a stored file, a chunk of one, a converted part) is sent as it is,
    never copied into a bigger buffer (py-spy over a 512² series retrieve: the join was a third of the
    server's time); the small pieces between (delimiters, headers, small files) are gathered into
    writes of about BATCH_BYTES (fewer, larger ASGI messages)."""
    pending: list[bytes] = []
    size = 0
    ready = dict(converted or {})
    for position, (instance, syntax, head) in enumerate(zip(instances, plan.syntaxes, heads, strict=True)):
        pending.append(head)
        if syntax == instance.transfer_syntax:
            pieces: AsyncIterator[bytes] = file_chunks(instance.path, instance.size)
        else:
            data = ready.pop(position) if position in ready else await wado.dicom.read_instance(instance, syntax)
            pieces = _one(data)
        async for piece in pieces:
            if len(piece) >= DIRECT_BYTES:
                if pending:  # the head before it (and small parts before that)
                    yield b"".join(pending)
                yield piece
                pending, size = [], 0
            else:
                pending.append(piece)
                size += len(piece)
        pending.append(b"\r\n")
        if size >= BATCH_BYTES:
            yield b"".join(pending)
            pending, size = [], 0
    pending.append(multipart.closing(boundary))
    yield b"".join(pending)


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def convert_now(wado: Wado, instance: StoredInstance, syntax: str) -> bytes:
    """`instance` in `syntax`, or 406 naming it when the codec refuses it (called before the status line)."""
    try:
        return await wado.dicom.read_instance(instance, syntax)
    except engine_errors.Unsupported as exc:
        raise NotAcceptable(str(exc), instance=instance.sop_uid, transfer_syntax=instance.transfer_syntax) from exc


async def send_instances(wado: Wado, instances: list[StoredInstance], single: bool) -> Response:
    """Every instance in the syntax planned for it, as one body or multipart (406 before any byte)."""
    plan = plan_instances(instances, instance_choices(request.headers.get("Accept"), single=single))
    if not plan.multipart:
        data = await convert_now(wado, instances[0], plan.syntaxes[0])
        return Response(data, content_type=f"application/dicom; transfer-syntax={plan.syntaxes[0]}")
    # A codec may refuse one object of a syntax it decodes (a 12-bit JPEG, a damaged stream): the first part
    # that needs converting is converted before the status line, so an instance (or a series whose objects
    # share their encoding) gets its 406 instead of a cut-off 200. A later refusal is logged and counted.
    first = next((n for n, (i, syntax) in enumerate(zip(instances, plan.syntaxes, strict=True))
                  if syntax != i.transfer_syntax), None)
    converted = {} if first is None else {first: await convert_now(wado, instances[first], plan.syntaxes[first])}
    boundary = multipart.new_boundary()
    heads = [multipart.part_head(boundary, f"application/dicom; transfer-syntax={syntax}") for syntax in plan.syntaxes]
    body = guarded(instance_parts(wado, instances, plan, heads, boundary, converted), wado.services.metrics,
                   "instances", request_id())
    response = Response(body, content_type=multipart.content_type(boundary, "application/dicom"))
    if plan.as_stored(instances):
        # Sizes are known from the index: a Content-Length spares chunked framing.
        response.content_length = (sum(len(h) + i.size + 2 for h, i in zip(heads, instances, strict=True))
                                   + len(multipart.closing(boundary)))
    response.timeout = None  # a large study may take longer than Quart's default response timeout
    return response


async def retrieve_study(wado: Wado, study: str) -> Response:
    return await send_instances(wado, await wado.dicom.retrieve_study(study), single=False)


async def retrieve_series(wado: Wado, study: str, series: str) -> Response:
    return await send_instances(wado, await wado.dicom.retrieve_series(study, series), single=False)


async def retrieve_instance(wado: Wado, study: str, series: str, sop: str) -> Response:
    return await send_instances(wado, [await wado.dicom.retrieve_instance(study, series, sop)], single=True)


async def send_metadata(wado: Wado, document: Awaitable[bytes]) -> Response:
    wire = negotiate_dicom_json(request.headers.get("Accept"))  # before the engine is asked
    rooted_document = wado.rooted.get(await document, public_root(wado.services))
    if wire == "xml":
        return xml_response(json.loads(rooted_document))
    return text_answer(rooted_document, "application/dicom+json")


async def retrieve_study_metadata(wado: Wado, study: str) -> Response:
    return await send_metadata(wado, wado.dicom.retrieve_study_metadata(study))


async def retrieve_series_metadata(wado: Wado, study: str, series: str) -> Response:
    return await send_metadata(wado, wado.dicom.retrieve_series_metadata(study, series))


async def retrieve_instance_metadata(wado: Wado, study: str, series: str, sop: str) -> Response:
    return await send_metadata(wado, wado.dicom.retrieve_instance_metadata(study, series, sop))


Handler = Callable[..., Awaitable[Response]]
ROUTES: tuple[tuple[str, Handler], ...] = (
    ("/studies/<study>", retrieve_study),
    ("/studies/<study>/series/<series>", retrieve_series),
    (INSTANCE, retrieve_instance),
    ("/studies/<study>/metadata", retrieve_study_metadata),
    ("/studies/<study>/series/<series>/metadata", retrieve_series_metadata),
    (f"{INSTANCE}/metadata", retrieve_instance_metadata),
    (f"{INSTANCE}/frames/<frames>", retrieve_instance_frames),
    (f"{INSTANCE}/bulkdata/<tag>", retrieve_bulkdata),
)
"""(URL rule, handler): every WADO-RS GET route; the endpoint name is the handler's name."""


def register(bp: Blueprint, services: Services) -> None:
    """Add the WADO-RS routes to `bp`, each handler bound to this app's `Wado`."""
    wado = Wado(services)
    for rule, handler in ROUTES:
        view: Any = partial(handler, wado)
        bp.add_url_rule(rule, handler.__name__, view, methods=["GET"])
