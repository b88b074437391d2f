"""POST /admin/api/dicom/check: the DICOM integrity check (`slicerweb dicom check`) for the admin console.

Mounted by the admin family (admin scope; every call audited by the privileged-act hook). Body,
optional: `{"repair": false, "examples": 5}`. Answer: 200 JSON `CheckReport.as_json` (counts per
kind, the first `examples` findings of each kind, `damaged`), whether or not damage was found: the
check ran, its verdict is in the body. A repair is also audited as `dicom.check` with its counts.
Read-only unless `repair`; safe while the server serves (see `engine/headless/dicomdb/check.py`).
"""

from __future__ import annotations

import json
from typing import Any

from quart import Blueprint, Response, jsonify, request

from .errors import BadRequest
from .request_context import current
from .services import Services

DEFAULT_EXAMPLES = 5
MAX_EXAMPLES = 1000


def register(bp: Blueprint, services: Services) -> None:
    """Add the check route to the admin blueprint `bp` (prefix /admin)."""

    @bp.post("/api/dicom/check")
    async def check_dicom() -> Response:
        repair, examples = parse_options(await request.get_data(cache=False))
        report = await services.engine.dicom.check(repair)
        if repair:
            context = current()
            services.audit.record("dicom.check", subject=context.subject, client=context.client,
                                  request_id=context.request_id, via="http", repair=True, counts=report.counts(),
                                  repaired=sum(f.repaired for f in report.findings))
        return jsonify(report.as_json(examples))


def parse_options(raw: str | bytes) -> tuple[bool, int]:
    """(repair, examples) from an optional JSON body; 400 naming what is wrong."""
    if not raw.strip():
        return False, DEFAULT_EXAMPLES
    try:
        body: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict) or set(body) - {"repair", "examples"}:
        raise BadRequest('body must be empty or JSON like {"repair": false, "examples": 5}')
    repair, examples = body.get("repair", False), body.get("examples", DEFAULT_EXAMPLES)
    if not isinstance(repair, bool):
        raise BadRequest("repair must be true or false")
    if isinstance(examples, bool) or not isinstance(examples, int) or not 0 <= examples <= MAX_EXAMPLES:
        raise BadRequest(f"examples must be an integer from 0 to {MAX_EXAMPLES}")
    return repair, examples
