"""STOW-RS (PS3.18 §10.5): `POST /dicom/studies[/{study}]` with multipart/related DICOM parts.

Gated by the `dicomweb_write` feature (policy `features.dicomweb_write`, off by default; 403 JSON
when off) and by the guard's `dicomweb_write` action; the body limit is
`limits.upload_max_body_bytes` (`@upload`) and it must arrive within `limits.body_timeout` (408
JSON beyond). The body is streamed into spooled parts (memory up to `multipart.SPOOL_BYTES`, then an
anonymous temporary file), then the engine stores them atomically (fsynced file, rename, one index
transaction).

Response (`Content-Type: application/dicom+json` exactly, which dicomweb-client requires):
ReferencedSOPSequence (0008,1199) for stored instances, FailedSOPSequence (0008,1198) with a
FailureReason (0008,1197) and the reason in words (ErrorComment (0000,0902), as dcm4chee sends it)
for the others, RetrieveURL of the study when there is one. The same reasons are summarised in one
bounded `Warning` header (warning_header.py): 101 failed parts must not make 101 header lines.
Status: 200 all stored, 202 some stored, 409 none stored. A framing error (not multipart, no
boundary, truncated body, no parts) is a 400/415 JSON error and stores nothing.

Duplicates: an instance already stored with identical bytes is reported as stored (nothing
changes); one with the same SOP Instance UID but different bytes fails with 0x0111 (Duplicate
SOP Instance) and the stored copy is kept.
"""

from __future__ import annotations

import json
from typing import Any

from quart import Blueprint, Response, request

from ..engine.dicom_api import StoreOutcome, StoreReport, StowPart
from ..errors import BadRequest, Forbidden, UnsupportedMediaType
from ..limits import body_chunks, upload
from ..services import Services
from . import multipart
from .dicomjson import retrieve_url
from .qido import add_warnings, public_root

DICOM_TYPES = ("application/dicom", "*/*", "")


def stow_response(report: StoreReport, root: str) -> tuple[dict[str, Any], int]:
    """The response dataset and status for a store report."""
    body: dict[str, Any] = {}
    studies = {o.study_uid for o in report.stored}
    if len(studies) == 1:
        body["00081190"] = {"vr": "UR", "Value": [retrieve_url(root, next(iter(studies)))]}
    if report.failed:
        body["00081198"] = {"vr": "SQ", "Value": [_failed_item(o) for o in report.failed]}
    if report.stored:
        body["00081199"] = {"vr": "SQ", "Value": [_stored_item(o, root) for o in report.stored]}
    status = 200 if not report.failed else (202 if report.stored else 409)
    return body, status


def _uid(value: str) -> dict[str, Any]:
    return {"vr": "UI", "Value": [value]} if value else {"vr": "UI"}


def _error_comment(detail: str) -> dict[str, Any]:
    """ErrorComment is LO: at most 64 characters, no backslash (pydicom and strict clients check)."""
    text = detail.replace("\\", "/")
    return {"vr": "LO", "Value": [text if len(text) <= 64 else text[:61] + "..."]}


def _failed_item(outcome: StoreOutcome) -> dict[str, Any]:
    item = {"00000902": _error_comment(outcome.detail)} if outcome.detail else {}
    return {**item, "00081150": _uid(outcome.sop_class_uid), "00081155": _uid(outcome.sop_instance_uid),
            "00081197": {"vr": "US", "Value": [outcome.failure_reason]}}


def _stored_item(outcome: StoreOutcome, root: str) -> dict[str, Any]:
    url = retrieve_url(root, outcome.study_uid, outcome.series_uid, outcome.sop_instance_uid)
    return {"00081150": _uid(outcome.sop_class_uid), "00081155": _uid(outcome.sop_instance_uid),
            "00081190": {"vr": "UR", "Value": [url]}}


def register(bp: Blueprint, services: Services) -> None:
    """Add the STOW-RS routes to `bp`."""
    dicom = services.engine.dicom

    async def store(study: str | None) -> Response:
        if not await services.flags.enabled("dicomweb_write"):
            raise Forbidden("STOW-RS is disabled on this server (policy features.dicomweb_write)")
        content_type = request.headers.get("Content-Type", "")
        media_type, _params = multipart.parse_content_type(content_type)
        if media_type == "application/dicom":  # single-part convenience (as Google's API accepts)
            spooled = multipart.Part("application/dicom", multipart.spool())
            try:
                async for chunk in body_chunks():
                    spooled.data.write(chunk)
            except BaseException:  # refused mid-body (413, 408) or the client went away: drop the spool now
                spooled.data.close()
                raise
            spooled.data.seek(0)
            parts = [spooled]
        else:
            boundary, part_type = multipart.boundary_of(content_type)
            if part_type not in ("application/dicom", "*/*"):
                raise UnsupportedMediaType(f"only application/dicom parts can be stored, not {part_type!r}")
            parts = await multipart.read_parts(body_chunks(), boundary)
        try:
            if not parts:
                raise BadRequest("the multipart body holds no parts")
            accepted = [p for p in parts if p.content_type.split(";")[0].strip().lower() in DICOM_TYPES]
            report = await dicom.store_instances([StowPart(p.content_type, p.data) for p in accepted], study)
        finally:
            for part in parts:
                part.data.close()
        rejected = [StoreOutcome("", "", "", "", 0xC000, f"part of type {p.content_type!r} is not application/dicom")
                    for p in parts if p not in accepted]
        report = StoreReport([*report.outcomes, *rejected])
        for outcome in report.outcomes:
            kind = "failed" if outcome.failure_reason is not None else \
                "already_stored" if outcome.already_stored else "stored"
            reason = f"0x{outcome.failure_reason:04X}" if outcome.failure_reason is not None else ""
            services.metrics.stored_instances.labels(kind, reason).inc()
        body, status = stow_response(report, public_root(services))
        response = Response(json.dumps(body).encode(), status=status)
        response.headers["Content-Type"] = "application/dicom+json"
        add_warnings(response, [f"{o.sop_instance_uid or 'part'}: {o.detail}" for o in report.outcomes if o.detail])
        return response

    @bp.post("/studies")
    @upload
    async def store_instances() -> Response:
        return await store(None)

    @bp.post("/studies/<study>")
    @upload
    async def store_study_instances(study: str) -> Response:
        return await store(study)
