"""Deciding a WADO-RS answer before its first byte (PS3.18 §8.7.3), and reporting one cut off after it.

Every part gets its representation before the status line is sent: the client's acceptable choices
are tried in preference order, and `formats.dicom.transfer.can_convert(stored, target)` says whether
a part can be made in a target syntax (`transfer-syntax=*` takes it as stored). When one part has no
acceptable representation the whole answer is a 406 naming that instance and its stored syntax:
never `200` and then a broken body. What can still fail later (a file gone from disk, a codec
refusing one damaged object) is logged with the request id, counted in
`slicerweb_dicomweb_stream_failures_total`, and ends the connection so the client sees a cut-off
answer instead of a short one that looks complete.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from ..engine.dicom_api import EXPLICIT_VR_LITTLE_ENDIAN, StoredInstance
from ..errors import NotAcceptable
from ..formats.dicom.transfer import OCTET_STREAM, can_convert, frame_media_type, native_transfer_syntax
from ..metrics import AppMetrics
from ..response_aborted import ResponseAborted
from .accept import FrameChoice, InstanceChoice

log = logging.getLogger("slicerweb.dicomweb")


@dataclass(frozen=True)
class InstancePlan:
    """How a retrieve answers: multipart or one body, and the transfer syntax of each instance's part."""

    multipart: bool
    syntaxes: tuple[str, ...]

    def as_stored(self, instances: Sequence[StoredInstance]) -> bool:
        """Every part goes out byte for byte as stored (so the body's length is known)."""
        return all(s == i.transfer_syntax for s, i in zip(self.syntaxes, instances, strict=True))


def _syntax_for(instance: StoredInstance, choices: Sequence[InstanceChoice]) -> str | None:
    """The first acceptable syntax `instance` can be sent in (None: none)."""
    for choice in choices:
        if choice.transfer_syntax == "*":
            return instance.transfer_syntax
        if can_convert(instance.transfer_syntax, choice.transfer_syntax):
            return choice.transfer_syntax
    return None


def plan_instances(instances: Sequence[StoredInstance], choices: Sequence[InstanceChoice]) -> InstancePlan:
    """Each instance's transfer syntax under the client's choices, or 406 naming the first that has none.

    The framing (multipart or one body) is the preferred one under which every instance can be sent.
    """
    refused: tuple[StoredInstance, list[str]] | None = None
    for multipart in dict.fromkeys(c.multipart for c in choices):
        framed = [c for c in choices if c.multipart == multipart]
        syntaxes: list[str] = []
        for instance in instances:
            syntax = _syntax_for(instance, framed)
            if syntax is None:
                refused = refused or (instance, [c.transfer_syntax for c in framed])
                break
            syntaxes.append(syntax)
        else:
            return InstancePlan(multipart, tuple(syntaxes))
    assert refused is not None  # choices is never empty (accept.instance_choices)
    instance, asked = refused
    raise NotAcceptable(f"instance {instance.sop_uid} is stored as {instance.transfer_syntax} and cannot be "
                        f"converted to {' or '.join(asked)}; ask for transfer-syntax=* to receive it as stored",
                        instance=instance.sop_uid, transfer_syntax=instance.transfer_syntax)


@dataclass(frozen=True)
class FramePlan:
    """Frames: the syntax asked of the engine (None = uncompressed, "*" = as stored), the part media
    type, the transfer-syntax label, and the framing."""

    syntax: str | None
    media_type: str
    label: str
    multipart: bool


def plan_frames(choices: Sequence[FrameChoice], instance: StoredInstance) -> FramePlan:
    """The first acceptable frame representation `instance` can give, or 406 naming the instance."""
    stored = instance.transfer_syntax
    native = native_transfer_syntax(stored)
    native_type = frame_media_type(native)
    decodable = can_convert(stored, EXPLICIT_VR_LITTLE_ENDIAN)
    for choice in choices:
        ts, media = choice.transfer_syntax, choice.media_type
        if media == "*/*":
            if ts in (None, "*", native):
                return FramePlan("*", native_type, native, choice.multipart)
            if ts == EXPLICIT_VR_LITTLE_ENDIAN and decodable:
                return FramePlan(ts, OCTET_STREAM, ts, choice.multipart)
        elif media == OCTET_STREAM:
            if ts in ("*", native):
                return FramePlan("*", OCTET_STREAM, native, choice.multipart)
            if ts in (None, EXPLICIT_VR_LITTLE_ENDIAN) and decodable:
                return FramePlan(None, OCTET_STREAM, EXPLICIT_VR_LITTLE_ENDIAN, choice.multipart)
        elif media == native_type and ts in (None, "*", native):
            return FramePlan("*", media, native, choice.multipart)
    offered = f'multipart/related; type="{native_type}"; transfer-syntax=*'
    if decodable:
        offered = f'multipart/related; type="{OCTET_STREAM}" (uncompressed) or {offered}'
    raise NotAcceptable(f"no acceptable media type for the frames of instance {instance.sop_uid}, stored as "
                        f"{stored}; acceptable: {offered}", instance=instance.sop_uid, transfer_syntax=stored)


def check_renderable(instance: StoredInstance) -> None:
    """406 naming the instance when no installed codec decodes its pixels (rendered, thumbnail, WADO-URI)."""
    if not can_convert(instance.transfer_syntax, EXPLICIT_VR_LITTLE_ENDIAN):
        raise NotAcceptable(f"instance {instance.sop_uid} is stored as {instance.transfer_syntax}, which no "
                            "installed codec decodes: it cannot be rendered", instance=instance.sop_uid,
                            transfer_syntax=instance.transfer_syntax)


async def guarded(body: AsyncIterator[bytes], metrics: AppMetrics, kind: str, request_id: str) -> AsyncIterator[bytes]:
    """`body`, with a failure while streaming logged (one line, with the request id), counted, and
    turned into ResponseAborted (the client sees the connection end before the body does)."""
    try:
        async for chunk in body:
            yield chunk
    except Exception as exc:
        log.error("request %s: %s answer cut off after its status line: %s: %s", request_id, kind,
                  type(exc).__name__, exc)
        metrics.stream_failures.labels(kind).inc()
        raise ResponseAborted(f"request {request_id}: {kind} answer cut off") from None
